"""The embedder seam: a spec that travels with the weights, and the Protocol adapters implement."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class EmbedderSpec:
    """What must travel with a model's weights.

    ``dim`` is the length of the output vectors; ``input_size`` the square side fed to the
    network; ``mean``/``std`` the per-channel normalisation applied to pixels in [0, 255].
    """

    name: str
    dim: int
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    weights: str
    has_text: bool = False
    description: str = ""
    extra: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class Embedder(Protocol):
    """Turns images (and, for text-image models, texts) into L2-normalised vectors.

    ``preprocess`` runs in worker threads (decode-side), ``embed_batch`` in the inference thread.
    """

    spec: EmbedderSpec

    def preprocess(self, image: Image.Image) -> np.ndarray:
        """One RGB image -> ``(3, S, S) float32`` network input."""
        ...

    def embed_batch(self, batch: np.ndarray) -> np.ndarray:
        """``(n, 3, S, S) float32`` -> ``(n, dim) float32``, L2-normalised rows."""
        ...

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """``n`` texts -> ``(n, dim) float32`` L2-normalised; raises for image-only models."""
        ...


def l2_normalise(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` scaled to unit length (zero rows stay zero). ``(n, d) -> (n, d) float32``."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def center_crop_resize(image: Image.Image, size: int, resize: int | None = None) -> Image.Image:
    """Resize the short side to ``resize`` (default ``size * 256 / 224``), crop the centre."""
    resize = resize or round(size * 256 / 224)
    w, h = image.size
    scale = resize / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    image = image.resize((nw, nh), Image.Resampling.BILINEAR)
    left, top = (nw - size) // 2, (nh - size) // 2
    return image.crop((left, top, left + size, top + size))


def to_chw(image: Image.Image, spec: EmbedderSpec) -> np.ndarray:
    """RGB image already at ``spec.input_size`` -> normalised ``(3, S, S) float32``."""
    pixels: np.ndarray = np.asarray(image.convert("RGB"), dtype=np.float32)
    pixels -= np.asarray(spec.mean, np.float32)
    pixels /= np.asarray(spec.std, np.float32)
    return np.ascontiguousarray(pixels.transpose(2, 0, 1))


class DerivedSpace:
    """An embedder whose vectors are a transform of another's (``inner``): the same input and
    text tower, a space of its own (``spec``). Subclasses define ``embed_batch``."""

    def __init__(self, inner: Embedder, spec: EmbedderSpec):
        self.inner = inner
        self.spec = spec

    def preprocess(self, image: Image.Image) -> np.ndarray:
        return self.inner.preprocess(image)

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        return self.inner.embed_texts(texts)
