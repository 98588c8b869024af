"""A space's live vectors as one memory-mapped file, extended as segments are added.

Gathering a large space's segments into one in-memory array (``segments.gather``) costs its
size in RAM (7.7 GB for 10M x 384 float16). Instead, the live rows of every segment are copied
once, in segment order, into ``mapped/vectors.f16`` (raw float16 rows) with their item ids in
``mapped/item_ids.npy``, and the space's matrix is a read-only memory map of that file: rows
are read from the page cache when a round re-ranks them, and only the compressed copy of
``furet.vectors.compressed`` is resident.

``mapped/state.json`` records the segments the file holds (name and tombstone stamp) and its
row count. When segments are only added after them, their rows are appended (the file only
grows, so maps held by other processes stay valid); a tombstone, a dropped segment or a
different order rewrites the file under a new name. Writers take ``mapped/LOCK``. Rows the
catalog does not know (a crashed ingestion's, until reconciled) are left out, as ``gather``
leaves them out.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import mmap
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from furet.vectors.segments import SegmentStore, VectorMatrix, write_atomic
from furet.vectors.stream import LiveSegment, live_segments, read_rows

MAPPED_DIR = "mapped"
_STATE = "state.json"
_IDS = "item_ids.npy"
#: Rows copied at a time.
_COPY_ROWS = 1 << 16


def _stamp(store: SegmentStore, name: str) -> int:
    tomb = store.root / name / "tombstones.npy"
    return tomb.stat().st_mtime_ns if tomb.exists() else 0


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "LOCK", "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _kept(segs: list[LiveSegment], known: np.ndarray | None) -> list[np.ndarray]:
    """Per segment, its file rows that are live and known."""
    if known is None or not segs:
        return [np.flatnonzero(seg.live) for seg in segs]
    found = np.isin(np.concatenate([seg.item_ids for seg in segs]), known)
    bounds = np.cumsum([0] + [seg.n_rows for seg in segs])
    return [
        np.flatnonzero(seg.live & found[lo:hi])
        for seg, lo, hi in zip(segs, bounds[:-1], bounds[1:], strict=True)
    ]


def _append(
    store: SegmentStore, f: object, segs: list[LiveSegment], kept: list[np.ndarray]
) -> list[np.ndarray]:
    ids = []
    for seg, rows in zip(segs, kept, strict=True):
        for start in range(0, len(rows), _COPY_ROWS):
            part = rows[start : start + _COPY_ROWS]
            f.write(read_rows(store, seg.name, part).tobytes())  # type: ignore[attr-defined]
        ids.append(seg.item_ids[rows])
    return ids


def mapped_matrix(store: SegmentStore, known: np.ndarray | None = None) -> VectorMatrix:
    """The live rows of ``store`` (those in ``known`` item ids, when given) as a matrix whose
    vectors are a read-only memory map; the file is brought up to date first."""
    folder = store.root / MAPPED_DIR
    with _locked(folder):
        segs = live_segments(store)
        current = [[s.name, _stamp(store, s.name)] for s in segs]
        state = None
        with contextlib.suppress(FileNotFoundError, ValueError, KeyError):
            state = json.loads((folder / _STATE).read_text())
        held: list[list[object]] = state["segments"] if state else []
        kept = _kept(segs, known)
        # Reused when it holds a prefix of the segments and still their live, known rows (a
        # reconciliation may have catalogued rows left out before).
        same = (
            state is not None
            and held == current[: len(held)]
            and sum(len(k) for k in kept[: len(held)]) == int(state["rows"])
        )
        if state is not None and same and (folder / state["file"]).exists():
            name, rows = state["file"], int(state["rows"])
            old_ids = np.load(folder / _IDS)[:rows]
            with open(folder / name, "r+b") as f:
                f.truncate(rows * store.dim * 2)  # a crashed append's rows past the state
                f.seek(0, os.SEEK_END)
                new_ids = _append(store, f, segs[len(held) :], kept[len(held) :])
            ids = np.concatenate([old_ids, *new_ids])
        else:
            name = f"vectors-{uuid.uuid4().hex[:12]}.f16"
            with open(folder / name, "wb") as out:
                parts = _append(store, out, segs, kept)
            ids = np.concatenate(parts) if parts else np.zeros(0, np.int64)
            for stale in folder.glob("vectors-*.f16"):  # open maps keep their pages
                if stale.name != name:
                    with contextlib.suppress(FileNotFoundError):
                        stale.unlink()
        if state is None or len(ids) != int(state["rows"]) or held != current:
            write_atomic(folder / _IDS, lambda f: np.save(f, ids.astype(np.int64)))
            doc = {"file": name, "rows": len(ids), "dim": store.dim, "segments": current}
            write_atomic(folder / _STATE, lambda f: f.write(json.dumps(doc).encode()))
    if len(ids) == 0:
        return VectorMatrix(ids.astype(np.int64), np.zeros((0, store.dim), np.float16))
    vectors = np.memmap(folder / name, dtype=np.float16, mode="r", shape=(len(ids), store.dim))
    # Rows are read scattered (a round's candidates): without this the kernel maps the pages
    # around each one too (read-ahead, fault-around), and the process soon holds the file.
    vectors._mmap.madvise(mmap.MADV_RANDOM)  # type: ignore[attr-defined]
    return VectorMatrix(ids.astype(np.int64), vectors)


def vector_bytes(store: SegmentStore) -> int:
    """Bytes of the store's vector files (live or not): what gathering them would hold."""
    total = 0
    for name in store.names():
        with contextlib.suppress(FileNotFoundError):
            total += (store.root / name / "vectors.npy").stat().st_size
    return total
