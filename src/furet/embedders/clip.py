"""OpenAI CLIP ViT-B/32 through transformers' ``CLIPModel``: images and English texts in one
512-d space, so text queries ("a red tractor") rank images.

Features are the projected embeddings (``get_image_features`` / ``get_text_features``),
L2-normalised, so an image-text score is their cosine. Preprocessing follows the folder's
``preprocessor_config.json`` (the hub's: short side 224 bicubic, centre crop 224, CLIP mean/std).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from furet.embedders.base import EmbedderSpec
from furet.embedders.device import (
    auto_batch_size,
    pick_dtype,
    resolve_device,
    transformer_bytes_per_item,
)
from furet.embedders.hf_base import HubEmbedder
from furet.embedders.hf_weights import (
    OPENAI_CLIP_MEAN,
    OPENAI_CLIP_STD,
    HubWeights,
    ImageTransform,
    folder_spec,
    load_pretrained,
    locate_model_dir,
    missing_model_error,
    read_image_transform,
)
from furet.embedders.registry import register_embedder

log = logging.getLogger(__name__)

DEFAULT_TRANSFORM = ImageTransform(
    shortest_edge=224, resize_hw=None, crop=224, mean=OPENAI_CLIP_MEAN, std=OPENAI_CLIP_STD
)
CLIP_B32 = HubWeights("clip-vit-b32", "openai/clip-vit-base-patch32")
SPEC = EmbedderSpec(
    name=CLIP_B32.name,
    dim=512,
    input_size=DEFAULT_TRANSFORM.size,
    mean=DEFAULT_TRANSFORM.pixel_mean,
    std=DEFAULT_TRANSFORM.pixel_std,
    weights=f"Hugging Face {CLIP_B32.repo_id} (local folder or HF cache)",
    has_text=True,
    description="OpenAI CLIP ViT-B/32, 512-d image and English text embeddings",
    extra={"hf_repo": CLIP_B32.repo_id},
)


def pooled(out: Any) -> torch.Tensor:
    """Features from ``get_*_features``: a tensor before transformers 5, an output object after."""
    if isinstance(out, torch.Tensor):
        return out
    for name in ("pooler_output", "image_embeds", "text_embeds"):
        value = getattr(out, name, None)
        if isinstance(value, torch.Tensor):
            return value
    raise TypeError(f"no pooled features in {type(out).__name__}")


def vision_bytes_per_item(vision_config: Any, size: int, dtype: torch.dtype) -> int:
    """Peak activation bytes of one image through a CLIP vision tower at side ``size``."""
    tokens = (size // int(vision_config.patch_size)) ** 2 + 1
    return transformer_bytes_per_item(
        tokens,
        int(vision_config.hidden_size),
        int(vision_config.num_attention_heads),
        int(vision_config.intermediate_size),
        dtype,
    )


def load_tokenizer(model_dir: Path, weights: HubWeights, model_path: Path | None) -> Any:
    """The tokenizer saved in ``model_dir``, or a ``ModelUnavailableError``."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise missing_model_error(weights, model_path, detail=f"tokenizer: {exc}") from exc


class ClipImageTower(torch.nn.Module):
    """CLIP's vision transformer and projection: ``(n, 3, S, S)`` -> ``(n, projection_dim)``."""

    def __init__(self, vision_model: torch.nn.Module, projection: torch.nn.Module):
        super().__init__()
        self.vision_model = vision_model
        self.visual_projection = projection

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        pooled_output = self.vision_model(pixel_values=pixel_values).pooler_output
        return self.visual_projection(pooled_output)


def load_image_tower(
    model_dir: Path, weights: HubWeights = CLIP_B32, model_path: Path | None = None
) -> tuple[ClipImageTower, Any]:
    """``(image tower, CLIPConfig)`` of a ``CLIPModel`` folder; the text tower is dropped.

    Loading the whole ``CLIPModel`` is deliberate: ``CLIPVisionModelWithProjection`` read from a
    ``CLIPModel`` folder loses ``projection_dim`` and silently re-initialises the projection.
    """
    from transformers import CLIPModel

    model = load_pretrained(CLIPModel, model_dir, weights, model_path)
    return ClipImageTower(model.vision_model, model.visual_projection).eval(), model.config


class ClipEmbedder(HubEmbedder):
    """Image and text towers of a local ``CLIPModel`` folder (``spec.has_text`` is True)."""

    def __init__(
        self,
        spec: EmbedderSpec = SPEC,
        weights: HubWeights = CLIP_B32,
        model_path: Path | None = None,
        device: str = "cpu",
        precision: str = "auto",
        batch_size: int | None = None,
    ):
        from transformers import CLIPModel

        self.device = resolve_device(device)
        self.dtype = pick_dtype(self.device, precision)
        model_dir = locate_model_dir(weights, model_path)
        model = load_pretrained(CLIPModel, model_dir, weights, model_path)
        self.tokenizer = load_tokenizer(model_dir, weights, model_path)
        self.model_dir = model_dir
        self.model = model.eval().to(device=self.device, dtype=self.dtype)
        self.transform = read_image_transform(model_dir, DEFAULT_TRANSFORM)
        config = model.config
        self.spec = folder_spec(spec, config.projection_dim, self.transform, model_dir)
        self.max_text_tokens = int(config.text_config.max_position_embeddings)
        per_image = vision_bytes_per_item(config.vision_config, self.transform.size, self.dtype)
        self.batch_size = batch_size or auto_batch_size(self.device, per_image)
        tc = config.text_config
        per_text = transformer_bytes_per_item(
            self.max_text_tokens,
            int(tc.hidden_size),
            int(tc.num_attention_heads),
            int(tc.intermediate_size),
            self.dtype,
        )
        self.text_batch_size = batch_size or auto_batch_size(self.device, per_text)

    def _image_forward(self, x: torch.Tensor) -> torch.Tensor:
        return pooled(self.model.get_image_features(pixel_values=x))

    def _text_forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return pooled(self.model.get_text_features(input_ids=ids, attention_mask=mask))

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """``n`` texts -> ``(n, dim) float32`` L2-normalised; longer texts are truncated."""
        return self._embed_tokens(texts, self._text_forward)


@register_embedder(SPEC)
def _build(model_path: Path | None, device: str) -> ClipEmbedder:
    return ClipEmbedder(SPEC, CLIP_B32, model_path, device)
