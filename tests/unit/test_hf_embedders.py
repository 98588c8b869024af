"""DINOv2, CLIP and M-CLIP embedders, loaded through the real furet code from tiny randomly
initialised models that these tests build and save themselves (no network, no real weights).

The tiny-model builders at the top are also used by tests/contract/test_embedders.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from furet.embedders import create_embedder, get_spec
from furet.embedders.device import (
    auto_batch_size,
    available_memory,
    pick_dtype,
    resolve_device,
    run_batched,
    transformer_bytes_per_item,
)
from furet.embedders.hf_weights import (
    MODEL_DIR_ENV,
    HubWeights,
    ImageTransform,
    find_model_dir,
    read_image_transform,
)
from furet.errors import FuretError, InvalidInputError, ModelUnavailableError

WORDS = [
    "a",
    "photo",
    "of",
    "the",
    "cat",
    "dog",
    "flower",
    "red",
    "yellow",
    "field",
    "une",
    "photo",
    "d'",
    "un",
    "chat",
    "chien",
    "fleur",
    "rouge",
    "jaune",
    "champ",
    "ein",
    "foto",
    "einer",
    "katze",
    "blume",
]
SPECIALS = ["[PAD]", "[UNK]", "<s>", "</s>"]
TINY_PROJECTION = 16


def build_tokenizer(folder: Path) -> None:
    """A word-level tokenizer (``<s> words </s>``, pad id 0) saved as a fast tokenizer."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate([*SPECIALS, *dict.fromkeys(WORDS)])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", vocab["<s>"]), ("</s>", vocab["</s>"])]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="[PAD]",
        unk_token="[UNK]",
    )
    fast.save_pretrained(folder)


def vocab_size() -> int:
    return len(SPECIALS) + len(dict.fromkeys(WORDS))


def write_processor(
    folder: Path, shortest_edge: int, crop: int, mean: list[float], std: list[float]
) -> None:
    """A ``preprocessor_config.json`` in the layout the hub's image processors save."""
    config = {
        "do_resize": True,
        "size": {"shortest_edge": shortest_edge},
        "resample": 3,
        "do_center_crop": True,
        "crop_size": {"height": crop, "width": crop},
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "image_mean": mean,
        "image_std": std,
        "image_processor_type": "BitImageProcessor",
    }
    (folder / "preprocessor_config.json").write_text(json.dumps(config))


def build_tiny_dinov2(folder: Path) -> Path:
    from transformers import Dinov2Config, Dinov2Model

    torch.manual_seed(0)
    config = Dinov2Config(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        mlp_ratio=2,
        image_size=56,
        patch_size=14,
    )
    Dinov2Model(config).save_pretrained(folder)
    write_processor(folder, 64, 56, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    return folder


def build_tiny_clip(folder: Path) -> Path:
    from transformers import CLIPConfig, CLIPModel

    torch.manual_seed(1)
    text = {
        "vocab_size": vocab_size(),
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "max_position_embeddings": 16,
        "pad_token_id": 0,
        "bos_token_id": 2,
        "eos_token_id": 3,
    }
    vision = {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "image_size": 32,
        "patch_size": 8,
    }
    config = CLIPConfig(text_config=text, vision_config=vision, projection_dim=TINY_PROJECTION)
    CLIPModel(config).save_pretrained(folder)
    build_tokenizer(folder)
    write_processor(
        folder, 32, 32, [0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711]
    )
    return folder


def build_tiny_mclip(folder: Path) -> Path:
    """Saved like the hub's M-CLIP repo: custom config, ``transformer.*`` and
    ``LinearTransformation.*`` tensors in ``pytorch_model.bin``, XLM-R keys at top level."""
    from transformers import XLMRobertaConfig, XLMRobertaModel

    torch.manual_seed(2)
    xlmr = {
        "vocab_size": vocab_size(),
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "max_position_embeddings": 40,
        "type_vocab_size": 1,
        "pad_token_id": 0,
    }
    encoder = XLMRobertaModel(XLMRobertaConfig(**xlmr))
    projection = torch.nn.Linear(32, TINY_PROJECTION)
    state = {f"transformer.{k}": v for k, v in encoder.state_dict().items()}
    state.update({f"LinearTransformation.{k}": v for k, v in projection.state_dict().items()})
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(state, folder / "pytorch_model.bin")
    config = {
        "model_type": "M-CLIP",
        "architectures": ["MultilingualCLIP"],
        "modelBase": "tiny-xlm-roberta",
        "transformerDimensions": 32,
        "numDims": TINY_PROJECTION,
        **xlmr,
    }
    (folder / "config.json").write_text(json.dumps(config))
    build_tokenizer(folder)
    return folder


def build_tiny_models(root: Path) -> Path:
    """``root/<furet name>/`` for every Hugging Face embedder, as under ``$FURET_MODEL_DIR``."""
    build_tiny_dinov2(root / "dinov2-small")
    build_tiny_dinov2(root / "dinov2-base")
    build_tiny_clip(root / "clip-vit-b32")
    build_tiny_mclip(root / "mclip")
    return root


def sample_images(n: int, seed: int = 0) -> list[Image.Image]:
    """Random RGB images of varied, non-square sizes."""
    rng = np.random.default_rng(seed)
    sizes = [(80, 60), (45, 90), (64, 64), (120, 70), (33, 50)]
    return [
        Image.fromarray(rng.integers(0, 256, (*sizes[i % 5][::-1], 3), dtype=np.uint8))
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_models(tmp_path_factory.mktemp("models"))


@pytest.fixture
def no_model_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty FURET_MODEL_DIR and HF cache, so nothing real is found."""
    monkeypatch.setenv(MODEL_DIR_ENV, str(tmp_path / "models"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    return tmp_path


def _batch(embedder: object, images: list[Image.Image]) -> np.ndarray:
    return np.stack([embedder.preprocess(im) for im in images])  # type: ignore[attr-defined]


# -- DINOv2 ---------------------------------------------------------------------------------


def test_dinov2_embeds_unit_vectors_with_the_folder_spec(tiny_root: Path) -> None:
    emb = create_embedder("dinov2-small", model_path=tiny_root / "dinov2-small")
    assert emb.spec.dim == 32 and emb.spec.input_size == 56
    assert get_spec("dinov2-small").dim == 384 and get_spec("dinov2-base").dim == 768
    x = _batch(emb, sample_images(3))
    assert x.shape == (3, 3, 56, 56) and x.dtype == np.float32
    v = emb.embed_batch(x)
    assert v.shape == (3, 32) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    with pytest.raises(FuretError, match="image-only"):
        emb.embed_texts(["a cat"])


def test_dinov2_features_are_the_cls_token(tiny_root: Path) -> None:
    from transformers import Dinov2Model

    emb = create_embedder("dinov2-small", model_path=tiny_root / "dinov2-small")
    x = _batch(emb, sample_images(2))
    ref = Dinov2Model.from_pretrained(tiny_root / "dinov2-small").eval()
    with torch.no_grad():
        cls = ref(pixel_values=torch.from_numpy(x)).last_hidden_state[:, 0].numpy()
    cls /= np.linalg.norm(cls, axis=1, keepdims=True)
    np.testing.assert_allclose(emb.embed_batch(x), cls, atol=1e-5)


def test_preprocess_matches_the_transformers_processor(tiny_root: Path) -> None:
    transformers = pytest.importorskip("transformers")
    processor_class = getattr(transformers, "BitImageProcessor", None)
    if processor_class is None:
        pytest.skip("no BitImageProcessor in this transformers")
    try:
        processor = processor_class.from_pretrained(tiny_root / "dinov2-small")
    except (ImportError, OSError, ValueError) as exc:
        pytest.skip(f"processor unavailable: {exc}")
    emb = create_embedder("dinov2-small", model_path=tiny_root / "dinov2-small")
    for image in sample_images(4, seed=3):
        ours = emb.preprocess(image)
        theirs = np.asarray(processor(images=image, return_tensors="np")["pixel_values"][0])
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, atol=1e-4)


def test_embed_batch_chunks_large_batches(tiny_root: Path) -> None:
    emb = create_embedder("dinov2-small", model_path=tiny_root / "dinov2-small")
    x = _batch(emb, sample_images(5))
    whole = emb.embed_batch(x)
    old = emb.batch_size  # type: ignore[attr-defined]
    try:
        emb.batch_size = 2  # type: ignore[attr-defined]
        np.testing.assert_allclose(emb.embed_batch(x), whole, atol=1e-5)
    finally:
        emb.batch_size = old  # type: ignore[attr-defined]
    assert emb.embed_batch(x[:0]).shape == (0, emb.spec.dim)


# -- CLIP and M-CLIP ------------------------------------------------------------------------


def test_clip_images_and_texts_share_a_space(tiny_root: Path) -> None:
    emb = create_embedder("clip-vit-b32", model_path=tiny_root / "clip-vit-b32")
    assert emb.spec.has_text and emb.spec.dim == TINY_PROJECTION
    image = emb.embed_batch(_batch(emb, sample_images(1)))
    texts = emb.embed_texts(["a photo of a cat", "a red flower in a yellow field"])
    assert image.shape == (1, TINY_PROJECTION) and texts.shape == (2, TINY_PROJECTION)
    np.testing.assert_allclose(np.linalg.norm(texts, axis=1), 1.0, atol=1e-5)
    cos = texts @ image[0]
    assert np.all(np.isfinite(cos)) and np.all(np.abs(cos) <= 1 + 1e-5)
    assert not np.allclose(texts[0], texts[1])
    assert emb.embed_texts([]).shape == (0, TINY_PROJECTION)


def test_clip_text_features_match_transformers(tiny_root: Path) -> None:
    from transformers import AutoTokenizer, CLIPModel

    emb = create_embedder("clip-vit-b32", model_path=tiny_root / "clip-vit-b32")
    ref = CLIPModel.from_pretrained(tiny_root / "clip-vit-b32").eval()
    tok = AutoTokenizer.from_pretrained(tiny_root / "clip-vit-b32")
    inputs = tok(["the cat", "a photo of the red dog"], padding=True, return_tensors="pt")
    with torch.no_grad():
        out = ref.get_text_features(**inputs)
    feats = (out if isinstance(out, torch.Tensor) else out.pooler_output).numpy()
    feats /= np.linalg.norm(feats, axis=1, keepdims=True)
    np.testing.assert_allclose(
        emb.embed_texts(["the cat", "a photo of the red dog"]), feats, atol=1e-5
    )


def test_mclip_texts_in_several_languages_meet_clip_images(tiny_root: Path) -> None:
    emb = create_embedder("mclip", model_path=tiny_root / "mclip")
    clip = create_embedder("clip-vit-b32", model_path=tiny_root / "clip-vit-b32")
    assert emb.spec.has_text and emb.spec.dim == TINY_PROJECTION
    x = _batch(emb, sample_images(2))
    # The image tower is CLIP's, found beside the mclip folder.
    np.testing.assert_allclose(emb.embed_batch(x), clip.embed_batch(x), atol=1e-5)
    texts = emb.embed_texts(["une photo d' un chat", "ein foto einer katze", "a red flower"])
    assert texts.shape == (3, TINY_PROJECTION)
    np.testing.assert_allclose(np.linalg.norm(texts, axis=1), 1.0, atol=1e-5)
    assert np.all(np.isfinite(texts @ emb.embed_batch(x).T))


def test_mclip_text_is_the_masked_mean_projected(tiny_root: Path) -> None:
    emb = create_embedder("mclip", model_path=tiny_root / "mclip")
    # Padding must not move a text's vector: alone or next to a longer text, same result.
    alone = emb.embed_texts(["chat"])
    padded = emb.embed_texts(["chat", "une photo d' un chien rouge dans un champ jaune"])
    np.testing.assert_allclose(padded[0], alone[0], atol=1e-5)


def test_mclip_finds_everything_under_furet_model_dir(
    tiny_root: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(MODEL_DIR_ENV, str(tiny_root))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    from furet.embedders.mclip import MclipEmbedder

    emb = MclipEmbedder()
    assert emb.text_dir == tiny_root / "mclip"
    assert emb.image_dir == tiny_root / "clip-vit-b32"


def test_mclip_without_image_tower_names_clip_download(tiny_root: Path, no_model_env: Path) -> None:
    import shutil

    alone = no_model_env / "alone" / "mclip"
    shutil.copytree(tiny_root / "mclip", alone)
    from furet.embedders.mclip import MclipEmbedder

    with pytest.raises(ModelUnavailableError, match="openai/clip-vit-base-patch32"):
        MclipEmbedder(model_path=alone)


def test_xlmr_architecture_of_the_real_mclip_config() -> None:
    from furet.embedders.mclip import xlmr_config_fields

    real = {
        "model_type": "M-CLIP",
        "modelBase": "xlm-roberta-large",
        "transformerDimensions": 1024,
        "numDims": 512,
    }
    fields = xlmr_config_fields(real)
    assert fields["hidden_size"] == 1024 and fields["num_hidden_layers"] == 24
    assert fields["vocab_size"] == 250002
    with pytest.raises(FuretError, match="text_config"):
        xlmr_config_fields({"modelBase": "some-other-base"})


# -- locating weights -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "repo"),
    [
        ("dinov2-small", "facebook/dinov2-small"),
        ("dinov2-base", "facebook/dinov2-base"),
        ("clip-vit-b32", "openai/clip-vit-base-patch32"),
        ("mclip", "M-CLIP/XLM-Roberta-Large-Vit-B-32"),
    ],
)
def test_missing_weights_say_what_to_download(name: str, repo: str, no_model_env: Path) -> None:
    with pytest.raises(ModelUnavailableError) as info:
        create_embedder(name)
    message = str(info.value)
    assert f"hf download {repo}" in message
    assert str(no_model_env / "models" / name) in message
    assert "snapshot_download" in message
    if name == "mclip":
        assert "hf download openai/clip-vit-base-patch32" in message


def test_explicit_model_path_is_authoritative(tiny_root: Path, no_model_env: Path) -> None:
    with pytest.raises(ModelUnavailableError, match="nowhere"):
        create_embedder("dinov2-small", model_path=no_model_env / "nowhere")
    # A FURET_MODEL_DIR-like parent works too.
    emb = create_embedder("dinov2-small", model_path=tiny_root)
    assert emb.model_dir == tiny_root / "dinov2-small"  # type: ignore[attr-defined]


def test_weights_found_in_the_hugging_face_cache(tiny_root: Path, no_model_env: Path) -> None:
    import shutil

    repo = no_model_env / "hf" / "hub" / "models--facebook--dinov2-small"
    shutil.copytree(tiny_root / "dinov2-small", repo / "snapshots" / "abc123")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    weights = HubWeights("dinov2-small", "facebook/dinov2-small")
    assert find_model_dir(weights) == repo / "snapshots" / "abc123"
    from furet.embedders.dinov2 import SMALL_SPEC, Dinov2Embedder

    emb = Dinov2Embedder(SMALL_SPEC, weights)
    assert emb.embed_batch(_batch(emb, sample_images(1))).shape == (1, 32)


def test_corrupt_weights_are_reported_as_unavailable(tmp_path: Path) -> None:
    folder = tmp_path / "dinov2-small"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "dinov2"}))
    with pytest.raises(ModelUnavailableError, match="hf download facebook/dinov2-small"):
        create_embedder("dinov2-small", model_path=folder)


def test_weights_that_do_not_fit_their_config_are_refused(tiny_root: Path, tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "dinov2-small"
    shutil.copytree(tiny_root / "dinov2-small", folder)
    config = json.loads((folder / "config.json").read_text())
    config["hidden_size"] = 64
    (folder / "config.json").write_text(json.dumps(config))
    # transformers would re-initialise the misfits at random; furet refuses instead.
    with pytest.raises(ModelUnavailableError, match="dinov2-small"):
        create_embedder("dinov2-small", model_path=folder)


def test_registering_does_not_import_transformers() -> None:
    code = (
        "import sys; from furet.embedders import list_embedders; list_embedders(); "
        "print('transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- preprocessing config -------------------------------------------------------------------


def test_image_transform_defaults_and_overrides(tmp_path: Path) -> None:
    default = ImageTransform(
        shortest_edge=256, resize_hw=None, crop=224, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25)
    )
    assert read_image_transform(tmp_path, default) == default
    (tmp_path / "preprocessor_config.json").write_text(
        json.dumps(
            {
                "size": {"height": 48, "width": 48},
                "do_center_crop": False,
                "image_mean": 0.5,
                "image_std": [0.5, 0.5, 0.5],
            }
        )
    )
    t = read_image_transform(tmp_path, default)
    assert t.size == 48 and t.crop is None and t.resize_hw == (48, 48)
    assert t.pixel_mean == pytest.approx((127.5,) * 3)
    out = t(Image.new("RGB", (100, 30), (255, 0, 128)))
    assert out.shape == (3, 48, 48) and out.dtype == np.float32
    np.testing.assert_allclose(out[:, 0, 0], [1.0, -1.0, (128 / 255 - 0.5) / 0.5], atol=1e-5)
    (tmp_path / "preprocessor_config.json").write_text(
        json.dumps({"crop_size": {"height": 32, "width": 48}})
    )
    with pytest.raises(FuretError, match="square"):
        read_image_transform(tmp_path, default)


# -- device, dtype, batch size --------------------------------------------------------------


def test_device_choice_on_cpu() -> None:
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(InvalidInputError):
        resolve_device("tpu")
    assert pick_dtype(torch.device("cpu")) == torch.float32
    assert pick_dtype(torch.device("cpu"), "bf16") == torch.bfloat16
    with pytest.raises(InvalidInputError):
        pick_dtype(torch.device("cpu"), "fp16")
    with pytest.raises(InvalidInputError):
        pick_dtype(torch.device("cpu"), "fp8")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error without a GPU")
def test_cuda_without_gpu_is_a_clear_error(tiny_root: Path) -> None:
    with pytest.raises(InvalidInputError, match="--device cpu"):
        resolve_device("cuda")
    with pytest.raises(InvalidInputError, match="CUDA"):
        create_embedder("dinov2-small", model_path=tiny_root / "dinov2-small", device="cuda")


def test_batch_size_follows_free_memory() -> None:
    cpu = torch.device("cpu")
    assert available_memory(cpu) > 0
    per_item = transformer_bytes_per_item(257, 384, 6, 1536, torch.float32)
    size = auto_batch_size(cpu, per_item)
    assert 1 <= size <= 32 and size & (size - 1) == 0
    assert auto_batch_size(cpu, 1 << 50) == 1
    assert auto_batch_size(cpu, 1, maximum=8) == 8


def test_run_batched_normalises_and_keeps_order() -> None:
    x = np.arange(12, dtype=np.float32).reshape(6, 2) + 1

    def forward(t: torch.Tensor) -> torch.Tensor:
        return t * 2

    out = run_batched(
        forward, x, device=torch.device("cpu"), dtype=torch.float32, batch_size=4, dim=2
    )
    np.testing.assert_allclose(out, x / np.linalg.norm(x, axis=1, keepdims=True), atol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_half_precision_matches_cpu(tiny_root: Path) -> None:
    from furet.embedders.dinov2 import SMALL, SMALL_SPEC, Dinov2Embedder

    cpu = Dinov2Embedder(SMALL_SPEC, SMALL, tiny_root / "dinov2-small", "cpu")
    gpu = Dinov2Embedder(SMALL_SPEC, SMALL, tiny_root / "dinov2-small", "cuda")
    assert gpu.dtype in (torch.float16, torch.bfloat16)
    assert auto_batch_size(gpu.device, 1 << 20) >= 1
    x = _batch(cpu, sample_images(4))
    v = gpu.embed_batch(x)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-3)
    assert np.all(np.sum(v * cpu.embed_batch(x), axis=1) > 0.99)
    clip = create_embedder("clip-vit-b32", model_path=tiny_root / "clip-vit-b32", device="cuda")
    assert clip.embed_texts(["a cat"]).shape == (1, TINY_PROJECTION)
