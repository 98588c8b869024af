"""DINOv2 ViT-S/14 and ViT-B/14 (Meta, self-supervised) through transformers' ``Dinov2Model``.

Features: the CLS token after the final layer norm (``pooler_output``), L2-normalised: 384-d
for ``dinov2-small``, 768-d for ``dinov2-base``. The DINOv2 paper uses the CLS token for
instance retrieval; concatenating the mean patch token (their linear-probe recipe) doubles the
vectors, hence the scan cost and the disk, for a gain that a linear head on CLS mostly recovers.

Preprocessing follows the model folder's ``preprocessor_config.json`` (the hub's: short side
256 bicubic, centre crop 224, ImageNet mean/std).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from furet.embedders.base import EmbedderSpec
from furet.embedders.device import (
    auto_batch_size,
    module_bytes,
    pick_dtype,
    resolve_device,
    transformer_bytes_per_item,
)
from furet.embedders.hf_base import HubEmbedder
from furet.embedders.hf_weights import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    HubWeights,
    ImageTransform,
    folder_spec,
    load_pretrained,
    locate_model_dir,
    read_image_transform,
)
from furet.embedders.registry import register_embedder
from furet.errors import FuretError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

DEFAULT_TRANSFORM = ImageTransform(
    shortest_edge=256, resize_hw=None, crop=224, mean=IMAGENET_MEAN, std=IMAGENET_STD
)


def _spec(weights: HubWeights, dim: int, arch: str) -> EmbedderSpec:
    return EmbedderSpec(
        name=weights.name,
        dim=dim,
        input_size=DEFAULT_TRANSFORM.size,
        mean=DEFAULT_TRANSFORM.pixel_mean,
        std=DEFAULT_TRANSFORM.pixel_std,
        weights=f"Hugging Face {weights.repo_id} (local folder or HF cache)",
        description=f"DINOv2 {arch}, self-supervised, {dim}-d CLS token (fine-grained similarity)",
        extra={"hf_repo": weights.repo_id, "features": "cls"},
    )


SMALL = HubWeights("dinov2-small", "facebook/dinov2-small")
BASE = HubWeights("dinov2-base", "facebook/dinov2-base")
SMALL_SPEC = _spec(SMALL, 384, "ViT-S/14")
BASE_SPEC = _spec(BASE, 768, "ViT-B/14")


class Dinov2Embedder(HubEmbedder):
    """Image-only embedder over a local ``Dinov2Model`` folder.

    ``spec`` describes the loaded weights (dimension and preprocessing read from the folder), so
    a folder holding other DINOv2 sizes still yields self-consistent vectors.
    """

    def __init__(
        self,
        spec: EmbedderSpec,
        weights: HubWeights,
        model_path: Path | None = None,
        device: str = "cpu",
        precision: str = "auto",
        batch_size: int | None = None,
    ):
        from transformers import Dinov2Model

        self.device = resolve_device(device)
        self.dtype = pick_dtype(self.device, precision)
        model_dir = locate_model_dir(weights, model_path)
        model = load_pretrained(Dinov2Model, model_dir, weights, model_path)
        self.model_dir = model_dir
        self.model = model.eval().to(device=self.device, dtype=self.dtype)
        self.transform = read_image_transform(model_dir, DEFAULT_TRANSFORM)
        config = model.config
        self.spec = folder_spec(spec, config.hidden_size, self.transform, model_dir)
        tokens = (self.transform.size // int(config.patch_size)) ** 2 + 1
        hidden = int(config.hidden_size)
        mlp = getattr(config, "intermediate_size", None) or int(hidden * config.mlp_ratio)
        per_item = transformer_bytes_per_item(
            tokens, hidden, int(config.num_attention_heads), int(mlp), self.dtype
        )
        self.batch_size = batch_size or auto_batch_size(self.device, per_item)
        log.info(
            "%s on %s (%s), batch %d, %.0f MB of weights",
            spec.name,
            self.device,
            self.dtype,
            self.batch_size,
            module_bytes(self.model) / 1e6,
        )

    def _image_forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values=x).pooler_output  # the CLS token, after the layer norm

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        raise FuretError(
            f"{self.spec.name} is an image-only model: text queries need clip-vit-b32 or mclip"
        )


@register_embedder(SMALL_SPEC)
def _build_small(model_path: Path | None, device: str) -> Dinov2Embedder:
    return Dinov2Embedder(SMALL_SPEC, SMALL, model_path, device)


@register_embedder(BASE_SPEC)
def _build_base(model_path: Path | None, device: str) -> Dinov2Embedder:
    return Dinov2Embedder(BASE_SPEC, BASE, model_path, device)
