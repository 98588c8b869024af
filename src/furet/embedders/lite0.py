"""EfficientNet-Lite0, the default embedder: the names older code imports from here.

The network and the other Lite variants live in ``furet.embedders.efficientnet_lite``.
"""

from __future__ import annotations

from pathlib import Path

from furet.embedders import efficientnet_lite
from furet.embedders.efficientnet_lite import VARIANTS, EfficientNetLite, LiteEmbedder

LITE0 = VARIANTS["lite0"]
SPEC = LITE0.spec


def weights_path() -> Path:
    return efficientnet_lite.weights_path(LITE0)


def load_network(path: Path | None = None) -> EfficientNetLite:
    return efficientnet_lite.load_network(LITE0, path)


class Lite0Embedder(LiteEmbedder):
    """The default embedder: fast on a CPU, decent for category-level similarity."""

    def __init__(self, weights: Path | None = None, device: str = "cpu", backend: str = ""):
        super().__init__(LITE0, weights, device, backend)
