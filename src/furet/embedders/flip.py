"""Test-time flip averaging: an image's vector is the mean of its own and its mirror image's.

Image features of a CNN are not mirror-invariant; averaging the two views is the cheapest
test-time augmentation (twice the inference, the same preprocessing and dimension). The vectors
form a space of their own (``<model>-flip``): they are not comparable with the plain model's.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from furet.embedders.base import DerivedSpace, Embedder, EmbedderSpec, l2_normalise

SUFFIX = "-flip"


def flip_spec(spec: EmbedderSpec) -> EmbedderSpec:
    """The spec of ``spec``'s model with flip averaging at embedding time."""
    return replace(
        spec,
        name=spec.name + SUFFIX,
        description=f"{spec.name} averaged with the mirror image (2x the inference)",
        extra={**spec.extra, "tta": "hflip", "base": spec.name},
    )


class FlipAveraged(DerivedSpace):
    """Wraps an image embedder: ``(v(x) + v(mirror x)) / 2``, re-normalised."""

    def __init__(self, inner: Embedder):
        super().__init__(inner, flip_spec(inner.spec))

    def embed_batch(self, batch: np.ndarray) -> np.ndarray:
        """``(n, 3, S, S) float32 -> (n, dim) float32``, L2-normalised."""
        # Two calls of n rather than one of 2n: small batches are the fast ones on a CPU.
        plain = self.inner.embed_batch(batch)
        mirrored = self.inner.embed_batch(np.ascontiguousarray(batch[..., ::-1]))
        return l2_normalise(plain + mirrored)
