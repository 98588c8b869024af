"""Power normalisation: an image's vector is the signed square root of its features, re-normalised.

Average-pooled CNN features are bursty: a few dimensions (textures, colours that fill the
image) dominate the cosine similarity. ``sign(x) |x|^0.5`` (Perronnin et al., "Improving the
Fisher kernel", 2010; Jegou et al., "Aggregating local descriptors", 2012) evens them out; it
needs no statistics of the collection, so a space's vectors stay independent of each other. The
vectors form a space of their own (``<model>-pn``), not comparable with the plain model's.

Measured with the simulated user (``benchmarks/learning.py``, 5 rounds x 15): on the 8 tuning
labels of oxford-flowers17 it lifted every mode (Search's shown precision +0.010, Most useful's
+0.016, their test AP +0.005 to +0.008).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from furet.embedders.base import DerivedSpace, Embedder, EmbedderSpec, l2_normalise

SUFFIX = "-pn"
#: The exponent (0.5: the signed square root).
POWER = 0.5


def power_normalise(x: np.ndarray, power: float = POWER) -> np.ndarray:
    """``(n, d)`` -> ``(n, d) float32``: ``sign(x) |x|^power``, L2-normalised. The result does
    not depend on the scale of each row, so it may be applied to stored unit vectors."""
    x = np.asarray(x, dtype=np.float32)
    return l2_normalise(np.sign(x) * np.abs(x) ** np.float32(power))


def power_spec(spec: EmbedderSpec) -> EmbedderSpec:
    """The spec of ``spec``'s model with power normalisation of its vectors."""
    return replace(
        spec,
        name=spec.name + SUFFIX,
        description=f"{spec.name}, power-normalised (signed square root; same inference)",
        extra={**spec.extra, "power": str(POWER), "base": spec.name},
    )


class PowerNormalised(DerivedSpace):
    """Wraps an image embedder: ``power_normalise(v(x))``."""

    def __init__(self, inner: Embedder):
        super().__init__(inner, power_spec(inner.spec))

    def embed_batch(self, batch: np.ndarray) -> np.ndarray:
        """``(n, 3, S, S) float32 -> (n, dim) float32``, L2-normalised."""
        return power_normalise(self.inner.embed_batch(batch))
