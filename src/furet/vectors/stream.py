"""A space's live vectors read straight from its segment files, a block at a time.

A mass enrichment reads every vector once. Gathering the whole space in memory first (what a
round's ``Collection.matrix`` does) would cost its size in RAM for a job that needs one block at
a time: here each block reads its rows from the segment files, so the peak memory is a
block's. Rows are named by segment and **file row** (the row's position in its
segment file), which never changes: tombstones only hide rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import pyarrow.parquet as pq

from furet.vectors.segments import SegmentStore


@dataclass(frozen=True)
class LiveSegment:
    """One segment: the item id of each file row, and which rows are live."""

    name: str
    item_ids: np.ndarray  # (n_rows,) int64, file order
    live: np.ndarray  # (n_rows,) bool

    @property
    def n_rows(self) -> int:
        return len(self.item_ids)


@dataclass(frozen=True)
class Piece:
    """File rows ``[lo, hi)`` of segment ``name``."""

    name: str
    lo: int
    hi: int


def live_segments(store: SegmentStore) -> list[LiveSegment]:
    """The segments of ``store`` in name order (the order ``gather`` concatenates them)."""
    out = []
    for name in store.names():
        folder = store.root / name
        # ParquetFile, not read_table: 2.5x less overhead per file, and stores written by
        # ingestion hold thousands of small segments.
        meta = pq.ParquetFile(folder / "meta.parquet").read(["item_id"], use_threads=False)
        ids = meta.column("item_id").to_numpy().astype(np.int64)
        live = np.ones(len(ids), bool)
        tomb = folder / "tombstones.npy"
        if tomb.exists():
            live &= ~np.isin(ids, np.load(tomb))
        out.append(LiveSegment(name, ids, live))
    return out


def _header(f: BinaryIO) -> tuple[tuple[int, ...], np.dtype, int]:
    """Shape, dtype and data offset of the ``.npy`` file open as ``f``."""
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
    else:
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
    if fortran:
        raise ValueError("a segment's vectors are stored in C order")
    return shape, dtype, f.tell()


def read_rows(
    store: SegmentStore, name: str, rows: np.ndarray, out: np.ndarray | None = None
) -> np.ndarray:
    """``(len(rows), dim) float16`` copy of file rows ``rows`` (sorted) of segment ``name``,
    written into ``out`` (C-contiguous) when given.

    Rows are read with plain file reads (the kernel copies from its page cache: ~3x faster
    than faulting the pages of a memory map in, and nothing stays mapped); scattered rows are
    read as the span that covers them when it is not much larger.
    """
    rows = np.asarray(rows, np.int64)
    with open(store.root / name / "vectors.npy", "rb") as f:
        shape, dtype, offset = _header(f)
        width = int(np.prod(shape[1:])) * dtype.itemsize
        target = np.empty((len(rows), *shape[1:]), dtype) if out is None else out
        if len(rows) == 0:
            return target
        lo, hi = int(rows[0]), int(rows[-1]) + 1
        dense = hi - lo == len(rows)
        span = target if dense else np.empty((hi - lo, *shape[1:]), dtype)
        if not dense and hi - lo > 4 * len(rows):
            mapped = np.load(store.root / name / "vectors.npy", mmap_mode="r")
            target[...] = mapped[rows]
            del mapped
            return target
        f.seek(offset + lo * width)
        if f.readinto(span.data.cast("B")) != span.nbytes:
            raise ValueError(f"segment {name} is shorter than its header says")
        if not dense:
            target[...] = span[rows - lo]
        return target


def vectors_of(
    store: SegmentStore, segments: list[LiveSegment], item_ids: Iterable[int]
) -> tuple[np.ndarray, np.ndarray]:
    """The live vectors of ``item_ids``: ``(found ids (m,) int64, (m, dim) float16)``; ids
    without a live vector are left out."""
    wanted = np.unique(np.fromiter(item_ids, np.int64))
    ids: list[np.ndarray] = []
    vecs: list[np.ndarray] = []
    for seg in segments:
        rows = np.flatnonzero(seg.live & np.isin(seg.item_ids, wanted))
        if len(rows):
            ids.append(seg.item_ids[rows])
            vecs.append(read_rows(store, seg.name, rows))
    if not ids:
        return np.zeros(0, np.int64), np.zeros((0, store.dim), np.float16)
    return np.concatenate(ids), np.concatenate(vecs)


def mean_vector(
    store: SegmentStore, segments: list[LiveSegment], most: int = 100_000
) -> np.ndarray:
    """``(dim,) float64`` mean of the live vectors, over at most ``most`` rows evenly spread
    (all of them in a collection that small)."""
    total = sum(int(s.live.sum()) for s in segments)
    if total == 0:
        return np.zeros(store.dim)
    step = max(1, -(-total // most))
    acc = np.zeros(store.dim)
    count = 0
    seen = 0
    for seg in segments:
        live = np.flatnonzero(seg.live)
        # Every step-th live row of the store, counted across segments.
        pick = live[(np.arange(len(live)) + seen) % step == 0]
        seen += len(live)
        for start in range(0, len(pick), 65_536):
            block = read_rows(store, seg.name, pick[start : start + 65_536])
            acc += block.astype(np.float32).sum(axis=0, dtype=np.float64)
            count += len(block)
    return acc / max(count, 1)
