"""Append-only vector segments on disk.

A segment is a folder ``seg-<n>-<uuid>/`` with ``vectors.npy`` (``(n, dim) float16``,
memory-mapped on read), ``meta.parquet`` (``item_id`` int64 in row order) and, once something in
it is deleted, ``tombstones.npy`` (int64 item ids). Every file is written to a temporary name and
renamed into place, and a segment folder is renamed into place whole: a crash never leaves a
half-written segment. Same layout as clip-retrieval's ``.npy`` + ``.parquet`` output.
"""

from __future__ import annotations

import functools
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from furet.errors import InvalidInputError

#: File replaced on every change of a store (see :meth:`SegmentStore.generation`).
GENERATION = "GENERATION"


@dataclass
class Segment:
    name: str
    item_ids: np.ndarray  # (n,) int64
    vectors: np.ndarray  # (n, dim) float16, memory-mapped
    live: np.ndarray  # (n,) bool: False where tombstoned


def write_atomic(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write ``path`` through ``write(file)`` to a temporary name, synced, then renamed."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _save_npy_atomic(path: Path, array: np.ndarray) -> None:
    write_atomic(path, lambda f: np.save(f, array))


class SegmentStore:
    """The segments of one embedding space of one collection."""

    def __init__(self, root: Path, dim: int):
        self.root = root
        self.dim = dim
        root.mkdir(parents=True, exist_ok=True)

    def names(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.name.startswith("seg-"))

    def generation(self) -> tuple[int, int, int]:
        """Changes whenever a segment is written, tombstoned or dropped (one ``stat``).

        Every change replaces the file ``GENERATION`` (a new inode), so readers in other
        processes see it without listing the segments.
        """
        path = self.root / GENERATION
        try:
            st = path.stat()
        except FileNotFoundError:  # a store written before the file existed
            try:
                self._bump()
                st = path.stat()
            except OSError:  # a read-only home: fall back to listing the segments
                return self._listing_key()
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _listing_key(self) -> tuple[int, int, int]:
        names = self.names()
        tombs = [(self.root / n / "tombstones.npy") for n in names]
        stamp = sum(t.stat().st_mtime_ns for t in tombs if t.exists())
        return (-1, hash(tuple(names)), stamp)

    def _bump(self) -> None:
        path = self.root / GENERATION
        tmp = path.with_name(f".{GENERATION}.{uuid.uuid4().hex}.tmp")
        tmp.write_text(uuid.uuid4().hex)
        os.replace(tmp, path)

    def write(self, item_ids: np.ndarray, vectors: np.ndarray) -> str:
        """Write a new segment atomically and return its name.

        ``item_ids``: ``(n,) int64`` unique; ``vectors``: ``(n, dim)``, stored as float16.
        """
        item_ids = np.asarray(item_ids, dtype=np.int64)
        if vectors.ndim != 2 or vectors.shape != (len(item_ids), self.dim):
            raise InvalidInputError(
                f"segment expects ({len(item_ids)}, {self.dim}) vectors, got {vectors.shape}"
            )
        if len(np.unique(item_ids)) != len(item_ids):
            raise InvalidInputError("duplicate item ids in one segment")
        name = f"seg-{len(self.names()):06d}-{uuid.uuid4().hex[:12]}"
        tmp = self.root / f".tmp-{name}"
        tmp.mkdir()
        with open(tmp / "vectors.npy", "wb") as f:
            np.save(f, np.asarray(vectors, dtype=np.float16))
            f.flush()
            os.fsync(f.fileno())
        pq.write_table(pa.table({"item_id": pa.array(item_ids, pa.int64())}), tmp / "meta.parquet")
        os.replace(tmp, self.root / name)
        self._bump()
        return name

    def tombstone(self, name: str, item_ids: np.ndarray | list[int]) -> None:
        """Mark ``item_ids`` of segment ``name`` deleted (idempotent)."""
        folder = self.root / name
        if not folder.exists():
            return
        path = folder / "tombstones.npy"
        old = np.load(path) if path.exists() else np.zeros(0, np.int64)
        new = np.union1d(old, np.asarray(item_ids, dtype=np.int64))
        if len(new) != len(old):
            _save_npy_atomic(path, new)
            self._bump()

    def drop(self, name: str) -> None:
        shutil.rmtree(self.root / name, ignore_errors=True)
        self._bump()

    def clean_temporary(self) -> None:
        """Remove leftovers of writes interrupted by a crash."""
        for p in self.root.glob(".tmp-*"):
            shutil.rmtree(p, ignore_errors=True)

    def read(self, name: str) -> Segment:
        folder = self.root / name
        ids = pq.read_table(folder / "meta.parquet").column("item_id").to_numpy()
        vectors = np.load(folder / "vectors.npy", mmap_mode="r")
        tomb = folder / "tombstones.npy"
        live = np.ones(len(ids), dtype=bool)
        if tomb.exists():
            live &= ~np.isin(ids, np.load(tomb))
        return Segment(name, ids.astype(np.int64), vectors, live)

    def segments(self) -> list[Segment]:
        return [self.read(n) for n in self.names()]

    def disk_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file())


@dataclass
class VectorMatrix:
    """The live vectors of a space gathered in one array.

    ``item_ids``: ``(n,) int64``; ``vectors``: ``(n, dim) float16``; row ``i`` is ``item_ids[i]``.
    """

    item_ids: np.ndarray
    vectors: np.ndarray

    def __len__(self) -> int:
        return len(self.item_ids)

    @functools.cached_property
    def _sorted(self) -> tuple[np.ndarray, np.ndarray]:
        order = np.argsort(self.item_ids, kind="stable")
        return order, self.item_ids[order]

    def rows_of(self, item_ids: np.ndarray | list[int]) -> np.ndarray:
        """Row positions of ``item_ids`` (``-1`` where absent)."""
        order, sorted_ids = self._sorted
        wanted = np.asarray(item_ids, dtype=np.int64)
        pos = np.searchsorted(sorted_ids, wanted)
        pos = np.clip(pos, 0, max(len(sorted_ids) - 1, 0))
        found = (len(sorted_ids) > 0) & (sorted_ids[pos] == wanted)
        return np.where(found, order[pos], -1)


def gather(store: SegmentStore, dim: int) -> VectorMatrix:
    """Concatenate the live rows of every segment (``(n, dim) float16`` in memory)."""
    ids: list[np.ndarray] = []
    vecs: list[np.ndarray] = []
    for seg in store.segments():
        ids.append(seg.item_ids[seg.live])
        vecs.append(np.asarray(seg.vectors[seg.live]))
    if not ids:
        return VectorMatrix(np.zeros(0, np.int64), np.zeros((0, dim), np.float16))
    return VectorMatrix(np.concatenate(ids), np.concatenate(vecs))
