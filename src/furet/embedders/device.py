"""Where an embedder runs and how much it eats: device choice, dtype, batch size from free memory.

CUDA is optional everywhere: nothing here touches ``torch.cuda`` unless a CUDA device was asked
for, so a CPU-only torch build works unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from furet.embedders.base import l2_normalise
from furet.errors import InvalidInputError

_PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}

#: Used when the free memory of the host cannot be read at all.
_FALLBACK_CPU_BYTES = 2 << 30
#: Bigger batches buy nothing on a CPU (the cores are busy from a few images on) but cost memory.
CPU_MAX_BATCH = 32
GPU_MAX_BATCH = 1024


def resolve_device(name: str) -> torch.device:
    """``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"`` (CUDA when available) -> a torch device.

    Asking for CUDA where torch sees no GPU raises ``InvalidInputError`` instead of failing later
    inside the first batch.
    """
    name = (name or "cpu").strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise InvalidInputError(f"unknown device {name!r}: use cpu, cuda, cuda:N or auto") from None
    if device.type == "cpu":
        return device
    if device.type != "cuda":
        raise InvalidInputError(f"unsupported device {name!r}: use cpu, cuda, cuda:N or auto")
    if not torch.cuda.is_available():
        build = torch.version.cuda or "none (CPU-only build)"
        raise InvalidInputError(
            f"device {name!r} was asked for but torch {torch.__version__} sees no CUDA GPU "
            f"(CUDA in this build: {build}); use --device cpu, or install a CUDA build of torch "
            "on a machine with an NVIDIA GPU"
        )
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise InvalidInputError(
            f"device {name!r} does not exist: torch sees {torch.cuda.device_count()} GPU(s)"
        )
    return device


def pick_dtype(device: torch.device, precision: str = "auto") -> torch.dtype:
    """Compute dtype for the weights and activations.

    ``auto`` is fp32 on CPU (half-precision matmuls are slow or missing on most CPUs) and, on
    CUDA, bf16 where the GPU supports it (fp16's range can overflow in deep ViTs) else fp16.
    """
    precision = precision.strip().lower()
    if precision == "auto":
        if device.type != "cuda":
            return torch.float32
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if precision not in _PRECISIONS:
        raise InvalidInputError(f"unknown precision {precision!r}: use auto, fp32, fp16 or bf16")
    if device.type == "cpu" and precision == "fp16":
        raise InvalidInputError("fp16 is not supported on CPU: use fp32 or bf16")
    return _PRECISIONS[precision]


def _cgroup_available_bytes() -> int | None:
    # In a container MemAvailable shows the host; the cgroup limit is what will kill us.
    root = Path("/sys/fs/cgroup")
    try:
        limit = (root / "memory.max").read_text().strip()
        if limit == "max":
            return None
        used = int((root / "memory.current").read_text().strip())
        return max(int(limit) - used, 0)
    except (OSError, ValueError):
        return None


def _host_available_bytes() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        # MemFree only (no reclaimable cache): pessimistic, which is the safe side.
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def available_memory(device: torch.device) -> int:
    """Bytes free for activations on ``device``: GPU free memory, or host RAM on CPU."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    found = [b for b in (_host_available_bytes(), _cgroup_available_bytes()) if b is not None]
    return min(found) if found else _FALLBACK_CPU_BYTES


def module_bytes(module: torch.nn.Module) -> int:
    """Bytes held by the parameters and buffers of ``module``."""
    tensors = [*module.parameters(), *module.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors)


def transformer_bytes_per_item(
    tokens: int, hidden: int, heads: int, intermediate: int, dtype: torch.dtype
) -> int:
    """Peak activation bytes of one sequence through one transformer layer at inference.

    Without autograd only one layer's activations are alive at a time: a few ``(tokens, hidden)``
    tensors, the ``(heads, tokens, tokens)`` attention scores and the MLP's
    ``(tokens, intermediate)``. The factor 2 covers allocator slack and temporaries.
    """
    size = torch.empty((), dtype=dtype).element_size()
    per_layer = tokens * hidden * 6 + heads * tokens * tokens * 2 + tokens * intermediate * 2
    return 2 * per_layer * size


def auto_batch_size(
    device: torch.device,
    bytes_per_item: int,
    *,
    reserved: int = 0,
    fraction: float = 0.5,
    maximum: int | None = None,
) -> int:
    """A power-of-two batch size whose activations fit in ``fraction`` of the free memory.

    ``reserved`` is memory already promised (the weights, if not loaded yet). The result is
    between 1 and ``maximum`` (default: 32 on CPU, 1024 on CUDA).
    """
    cap = maximum or (GPU_MAX_BATCH if device.type == "cuda" else CPU_MAX_BATCH)
    budget = available_memory(device) * fraction - reserved
    fits = int(budget // max(bytes_per_item, 1))
    if fits < 1:
        return 1
    return max(1, min(cap, 1 << (fits.bit_length() - 1)))


def run_batched(
    forward: Callable[[torch.Tensor], torch.Tensor],
    batch: np.ndarray,
    *,
    device: torch.device,
    dtype: torch.dtype,
    batch_size: int,
    dim: int,
) -> np.ndarray:
    """``forward`` over ``(n, ...) float32`` inputs in chunks -> ``(n, d) float32``, L2-normalised.

    Chunking keeps peak memory bounded whatever ``n`` the caller passes; features are cast back
    to fp32 before normalising so half-precision runs give unit-norm rows too.
    """
    batch = np.asarray(batch, dtype=np.float32)
    outs: list[np.ndarray] = []
    with torch.inference_mode():
        for start in range(0, len(batch), max(batch_size, 1)):
            x = torch.from_numpy(np.ascontiguousarray(batch[start : start + batch_size]))
            x = x.to(device=device, dtype=dtype, non_blocking=True)
            outs.append(forward(x).float().cpu().numpy())
    if not outs:
        return np.zeros((0, dim), dtype=np.float32)
    return l2_normalise(np.concatenate(outs, axis=0))
