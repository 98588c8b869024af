"""Reading a store's rows without holding them: blocks and samples of possibly mapped arrays.

A space's full vectors may be a memory map over a file of several GB (``furet.vectors.mapped``).
Slicing a map faults its pages in and they count in the process's resident memory until the
kernel reclaims them, so a pass over every row (building a compressed copy, a mean) would
make the whole file resident. Here blocks of a map are read with plain file reads into a
buffer of the block's size instead; in-memory arrays are sliced as usual.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator

import numpy as np
import torch


def _mapped_file(vectors: np.ndarray) -> tuple[str, int] | None:
    """(path, byte offset of row 0) when ``vectors`` is a memory map of a file, or rows of
    one (a C-contiguous view of it)."""
    if not isinstance(vectors, np.memmap) or vectors.filename is None:
        return None
    if not vectors.flags.c_contiguous:
        return None
    root = vectors
    while isinstance(root.base, np.memmap):  # a view: find the map itself
        root = root.base
    if not isinstance(root.base, mmap.mmap):
        return None
    start = vectors.__array_interface__["data"][0] - root.__array_interface__["data"][0]
    return str(root.filename), int(root.offset) + int(start)


def is_mapped(vectors: np.ndarray) -> bool:
    """Whether ``vectors`` are rows of a memory-mapped file (read them with ``blocks``)."""
    return _mapped_file(vectors) is not None


def read_block(vectors: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Rows ``[lo, hi)`` of ``vectors`` as an in-memory array (a new one for a memory map)."""
    source = _mapped_file(vectors)
    if source is None:
        return np.asarray(vectors[lo:hi])
    path, offset = source
    width = int(np.prod(vectors.shape[1:])) * vectors.dtype.itemsize
    out = np.empty((hi - lo, *vectors.shape[1:]), vectors.dtype)
    with open(path, "rb") as f:
        f.seek(offset + lo * width)
        if f.readinto(out.data.cast("B")) != out.nbytes:
            raise ValueError(f"{path} is shorter than its rows")
    return out


def blocks(vectors: np.ndarray, rows: int = 1 << 16) -> Iterator[tuple[int, np.ndarray]]:
    """``(lo, block)`` over all rows, ``rows`` at a time."""
    for lo in range(0, len(vectors), rows):
        yield lo, read_block(vectors, lo, min(lo + rows, len(vectors)))


def spread_rows(n: int, most: int) -> np.ndarray:
    """At most ``most`` row positions evenly spread over ``n`` rows (all of them if fewer)."""
    if n <= most:
        return np.arange(n, dtype=np.int64)
    return np.unique(np.linspace(0, n - 1, most).astype(np.int64))


#: A sample of a memory map is read as this many evenly spread runs of consecutive rows.
SAMPLE_RUNS = 256


def sample_rows(vectors: np.ndarray, most: int) -> np.ndarray:
    """``(m, dim) float32`` copy of at most ``most`` rows evenly spread over ``vectors`` (of a
    memory map: ``SAMPLE_RUNS`` runs of consecutive rows, read without mapping them)."""
    n = len(vectors)
    if _mapped_file(vectors) is not None and n > most:
        run = max(1, most // SAMPLE_RUNS)
        starts = spread_rows(n - run + 1, max(1, most // run))
        picked = np.concatenate([read_block(vectors, int(a), int(a) + run) for a in starts])
    else:
        picked = np.ascontiguousarray(vectors[spread_rows(n, most)])
    return torch.from_numpy(picked).float().numpy()  # torch converts float16 ~10x faster


def mean_rows(vectors: np.ndarray, most: int = 100_000) -> np.ndarray:
    """``(dim,) float64`` mean of ``vectors``, over at most ``most`` rows evenly spread."""
    if len(vectors) == 0:
        return np.zeros(vectors.shape[1])
    if len(vectors) <= most:
        acc = np.zeros(vectors.shape[1])
        for _, block in blocks(vectors):
            acc += torch.from_numpy(block).double().sum(dim=0).numpy()
        return acc / len(vectors)
    return sample_rows(vectors, most).mean(axis=0, dtype=np.float64)
