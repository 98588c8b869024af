"""Multilingual CLIP (M-CLIP "XLM-Roberta-Large-Vit-B-32"): an XLM-R text encoder plus a linear
projection trained to land on OpenAI CLIP ViT-B/32's text embeddings, paired with CLIP ViT-B/32's
image tower. Text queries in ~100 languages then rank images in the 512-d CLIP space.

The hub repo stores a custom ``MultilingualCLIP`` module (keys ``transformer.*`` and
``LinearTransformation.*``) that transformers cannot load by itself; this module rebuilds it from
transformers' ``XLMRobertaModel``, so the ``multilingual-clip`` package is not needed. Text
features are the attention-masked mean of the last hidden states, projected, as M-CLIP does.

Folders: the text model at ``$FURET_MODEL_DIR/mclip`` (or ``model_path``, or the HF cache); the
image tower at ``<text folder>/clip-vit-b32``, at ``clip-vit-b32`` beside the text folder, or
wherever ``clip-vit-b32`` itself is found.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from furet.embedders.base import EmbedderSpec
from furet.embedders.clip import (
    CLIP_B32,
    DEFAULT_TRANSFORM,
    load_image_tower,
    vision_bytes_per_item,
)
from furet.embedders.device import (
    auto_batch_size,
    pick_dtype,
    resolve_device,
    transformer_bytes_per_item,
)
from furet.embedders.hf_base import HubEmbedder
from furet.embedders.hf_weights import (
    HubWeights,
    default_local_dir,
    download_instructions,
    find_model_dir,
    folder_spec,
    missing_model_error,
    read_image_transform,
    read_json,
)
from furet.embedders.registry import register_embedder
from furet.errors import FuretError, ModelUnavailableError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

MCLIP = HubWeights(
    "mclip",
    "M-CLIP/XLM-Roberta-Large-Vit-B-32",
    include=("*.json", "*.bin", "*.safetensors", "*.model"),
)
#: Where the tokenizer is looked for when the M-CLIP folder lacks one.
XLMR_TOKENIZER = HubWeights("xlm-roberta-large", "FacebookAI/xlm-roberta-large")

SPEC = EmbedderSpec(
    name=MCLIP.name,
    dim=512,
    input_size=DEFAULT_TRANSFORM.size,
    mean=DEFAULT_TRANSFORM.pixel_mean,
    std=DEFAULT_TRANSFORM.pixel_std,
    weights=f"Hugging Face {MCLIP.repo_id} + {CLIP_B32.repo_id} (local folders or HF cache)",
    has_text=True,
    description="Multilingual CLIP: XLM-R Large text encoder on CLIP ViT-B/32, 512-d",
    extra={"hf_repo": MCLIP.repo_id, "image_hf_repo": CLIP_B32.repo_id},
)

# The M-CLIP config names its base model instead of carrying its architecture.
_XLMR_BASES: dict[str, dict[str, Any]] = {
    "xlm-roberta-large": {
        "vocab_size": 250002,
        "hidden_size": 1024,
        "num_hidden_layers": 24,
        "num_attention_heads": 16,
        "intermediate_size": 4096,
        "max_position_embeddings": 514,
        "type_vocab_size": 1,
        "layer_norm_eps": 1e-5,
        "hidden_act": "gelu",
        "pad_token_id": 1,
        "bos_token_id": 0,
        "eos_token_id": 2,
    },
}
_XLMR_BASES["FacebookAI/xlm-roberta-large"] = _XLMR_BASES["xlm-roberta-large"]
_XLMR_KEYS = (*_XLMR_BASES["xlm-roberta-large"], "hidden_dropout_prob", "initializer_range")


def xlmr_config_fields(config: dict[str, Any]) -> dict[str, Any]:
    """XLM-R architecture of an M-CLIP ``config.json``: its ``modelBase``'s, overridden by any
    XLM-R keys at top level or under ``text_config``."""
    base = config.get("modelBase") or config.get("model_base") or ""
    fields = dict(_XLMR_BASES.get(base, {}))
    fields.update({k: config[k] for k in _XLMR_KEYS if k in config})
    fields.update(config.get("text_config") or {})
    if "hidden_size" not in fields:
        raise FuretError(
            f"M-CLIP base model {base!r} is unknown: add its XLM-R config keys (hidden_size, "
            "num_hidden_layers, ...) under 'text_config' in config.json"
        )
    return fields


def load_state_dict(model_dir: Path) -> dict[str, torch.Tensor]:
    """The tensors of ``model.safetensors`` or ``pytorch_model.bin`` in ``model_dir``."""
    import torch

    if (model_dir / "model.safetensors").is_file():
        from safetensors.torch import load_file

        return load_file(str(model_dir / "model.safetensors"))
    if (model_dir / "pytorch_model.bin").is_file():
        state = torch.load(model_dir / "pytorch_model.bin", map_location="cpu", weights_only=True)
        return dict(state)
    raise FileNotFoundError(f"no model.safetensors or pytorch_model.bin in {model_dir}")


def _strip(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def load_text_tower(model_dir: Path) -> tuple[Any, torch.nn.Linear]:
    """``(XLMRobertaModel, projection)`` from an M-CLIP folder; mismatched weights raise."""
    import torch
    from transformers import XLMRobertaConfig, XLMRobertaModel

    fields = xlmr_config_fields(read_json(model_dir / "config.json"))
    state = load_state_dict(model_dir)
    encoder_state, proj_state = (
        _strip(state, "transformer."),
        _strip(state, "LinearTransformation."),
    )
    if not encoder_state or "weight" not in proj_state:
        raise FuretError(
            f"{model_dir} is not an M-CLIP checkpoint: expected transformer.* and "
            "LinearTransformation.* weights"
        )
    # The checkpoint has no use for XLM-R's pooler: M-CLIP averages the token states instead.
    encoder = XLMRobertaModel(XLMRobertaConfig(**fields), add_pooling_layer=False)
    missing, unexpected = encoder.load_state_dict(encoder_state, strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    unexpected = [
        k for k in unexpected if not (k.startswith("pooler.") or k.endswith("position_ids"))
    ]
    if missing or unexpected:
        raise FuretError(
            f"M-CLIP weights in {model_dir} do not fit XLM-R {fields.get('hidden_size')}-d: "
            f"missing {missing[:3]}, unexpected {unexpected[:3]}"
        )
    out_dim, in_dim = proj_state["weight"].shape
    projection = torch.nn.Linear(int(in_dim), int(out_dim))
    projection.load_state_dict(proj_state)
    return encoder, projection


def load_mclip_tokenizer(model_dir: Path, model_path: Path | None) -> Any:
    """The XLM-R tokenizer of the M-CLIP folder, else of ``xlm-roberta-large`` in the HF cache."""
    import transformers

    # Without a tokenizer_class, AutoTokenizer consults config.json, whose "M-CLIP" model type
    # it does not know: the explicit XLM-R class is the fallback.
    xlmr_class = (
        getattr(transformers, "XLMRobertaTokenizerFast", None) or transformers.XLMRobertaTokenizer
    )
    fallback = find_model_dir(XLMR_TOKENIZER)
    errors: list[str] = []
    for folder in [model_dir, *([fallback] if fallback else [])]:
        for loader in (transformers.AutoTokenizer, xlmr_class):
            try:
                return loader.from_pretrained(folder, local_files_only=True)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                errors.append(f"{folder}: {exc}")
    raise missing_model_error(MCLIP, model_path, detail="no usable tokenizer: " + errors[0])


def locate_image_tower(text_dir: Path) -> Path:
    """The CLIP ViT-B/32 folder paired with the M-CLIP text folder ``text_dir``."""
    for candidate in (text_dir / CLIP_B32.name, text_dir.parent / CLIP_B32.name):
        if (candidate / "config.json").is_file():
            return candidate
    found = find_model_dir(CLIP_B32)
    if found is None:
        raise missing_model_error(
            CLIP_B32,
            None,
            detail=f"mclip needs the CLIP ViT-B/32 image tower; also looked in {text_dir}",
        )
    return found


class MclipEmbedder(HubEmbedder):
    """Multilingual text tower (XLM-R + projection) and CLIP ViT-B/32 image tower."""

    def __init__(
        self,
        spec: EmbedderSpec = SPEC,
        model_path: Path | None = None,
        device: str = "cpu",
        precision: str = "auto",
        batch_size: int | None = None,
    ):
        self.device = resolve_device(device)
        self.dtype = pick_dtype(self.device, precision)
        text_dir = find_model_dir(MCLIP, model_path)
        if text_dir is None:
            error = missing_model_error(MCLIP, model_path)
            if find_model_dir(CLIP_B32) is not None:
                raise error
            raise ModelUnavailableError(
                f"{error}\nmclip also needs the CLIP ViT-B/32 image tower (put it at "
                f"{default_local_dir(CLIP_B32.name)}):\n{download_instructions(CLIP_B32)}"
            )
        image_dir = locate_image_tower(text_dir)
        try:
            encoder, projection = load_text_tower(text_dir)
        except OSError as exc:
            raise missing_model_error(MCLIP, model_path, detail=str(exc)) from exc
        vision, clip_config = load_image_tower(image_dir)
        if projection.out_features != clip_config.projection_dim:
            raise FuretError(
                f"M-CLIP in {text_dir} projects to {projection.out_features}-d but the image "
                f"tower in {image_dir} gives {clip_config.projection_dim}-d: they are not a pair"
            )
        self.tokenizer = load_mclip_tokenizer(text_dir, model_path)
        self.text_dir, self.image_dir = text_dir, image_dir
        self.encoder = encoder.eval().to(device=self.device, dtype=self.dtype)
        self.projection = projection.eval().to(device=self.device, dtype=self.dtype)
        self.vision = vision.eval().to(device=self.device, dtype=self.dtype)
        self.transform = read_image_transform(image_dir, DEFAULT_TRANSFORM)
        self.spec = folder_spec(spec, projection.out_features, self.transform, text_dir)
        # RoBERTa position ids start after the padding index: two positions are never usable.
        self.max_text_tokens = int(encoder.config.max_position_embeddings) - 2
        per_image = vision_bytes_per_item(
            clip_config.vision_config, self.transform.size, self.dtype
        )
        self.batch_size = batch_size or auto_batch_size(self.device, per_image)
        ec = encoder.config
        # Sized for 64 tokens: queries are short, and padding is per batch.
        per_text = transformer_bytes_per_item(
            64,
            int(ec.hidden_size),
            int(ec.num_attention_heads),
            int(ec.intermediate_size),
            self.dtype,
        )
        self.text_batch_size = batch_size or auto_batch_size(self.device, per_text)

    def _image_forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.vision(x)

    def _text_forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        states = self.encoder(input_ids=ids, attention_mask=mask)[0]
        weights = mask.unsqueeze(2).to(states.dtype)
        mean = (states * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1)
        return self.projection(mean)

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """``n`` texts in any XLM-R language -> ``(n, dim) float32`` L2-normalised."""
        return self._embed_tokens(texts, self._text_forward)


@register_embedder(SPEC)
def _build(model_path: Path | None, device: str) -> MclipEmbedder:
    return MclipEmbedder(SPEC, model_path, device)
