"""What the Hugging Face embedders share: preprocessing by the folder's transform, batched
image features, and tokenised text batches."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from furet.embedders.base import EmbedderSpec, l2_normalise
from furet.embedders.device import run_batched
from furet.embedders.hf_weights import ImageTransform

if TYPE_CHECKING:
    import torch


class HubEmbedder:
    """Base of the transformers-backed embedders; subclasses load their weights in ``__init__``
    (setting the attributes below) and define ``_image_forward``."""

    spec: EmbedderSpec
    transform: ImageTransform
    device: torch.device
    dtype: torch.dtype
    batch_size: int
    tokenizer: Any = None
    text_batch_size: int = 1
    max_text_tokens: int = 0

    def _image_forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def preprocess(self, image: Image.Image) -> np.ndarray:
        """RGB image -> ``(3, S, S) float32``, resized, cropped, normalised as the weights want."""
        return self.transform(image)

    def embed_batch(self, batch: np.ndarray) -> np.ndarray:
        """``(n, 3, S, S) float32`` -> ``(n, dim) float32`` L2-normalised image features."""
        return run_batched(
            self._image_forward,
            batch,
            device=self.device,
            dtype=self.dtype,
            batch_size=self.batch_size,
            dim=self.spec.dim,
        )

    def _embed_tokens(
        self, texts: list[str], encode: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    ) -> np.ndarray:
        """Tokenise ``texts`` in batches (truncated to the model's length) and run
        ``encode(input_ids, attention_mask) -> (b, dim)``; ``(n, dim) float32`` L2-normalised."""
        import torch

        outs = [np.zeros((0, self.spec.dim), np.float32)]
        with torch.inference_mode():
            for start in range(0, len(texts), self.text_batch_size):
                tokens = self.tokenizer(
                    list(texts[start : start + self.text_batch_size]),
                    padding=True,
                    truncation=True,
                    max_length=self.max_text_tokens,
                    return_tensors="pt",
                )
                ids = tokens["input_ids"].to(self.device)
                mask = tokens["attention_mask"].to(self.device)
                outs.append(encode(ids, mask).float().cpu().numpy())
        return l2_normalise(np.concatenate(outs, axis=0))
