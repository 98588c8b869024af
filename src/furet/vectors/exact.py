"""The exact scan: every stored vector is scored; float16 storage, no candidate pruning.

numpy converts float16 to float32 at ~10 ns a value on these CPUs (1.5 s for 200k x 1280), so
a lone query scores float16 rows with torch's half-precision matrix-vector product, then the
best ``refine`` rows again in float32 so that the head of every ranking is exact. Concurrent
queries (a server with many users doing rounds) are gathered into one pass: the first caller to
get the scan lock scores every waiting query with a float32 matrix product over a float32 copy
(kept when it fits ``FLOAT32_COPY_BYTES``), which reads memory once for all of them.

A memory-mapped matrix (``furet.vectors.mapped``) is scanned a block at a time with plain file
reads, never through the map: a pass over a map would make the whole file resident in the
process (7.1 GB at 10M x 384), and no float32 copy of it is kept.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from furet.vectors.base import top_rows
from furet.vectors.batching import Query, QueryBatcher
from furet.vectors.reading import blocks, is_mapped

#: Rows re-scored in float32 after the half-precision pass (covers any page or top-k).
REFINE = 1024
#: Largest float32 working copy kept for batched scans (bytes).
FLOAT32_COPY_BYTES = int(os.environ.get("FURET_FLOAT32_COPY_BYTES", 2 << 30))
#: Up to this size a lone query also reads the float32 copy: re-scoring the head in float32
#: up-casts ``refine`` rows per query, most of a small collection (1,360 x 1280: 7 of the 8 ms
#: of a round), which costs more than keeping the copy.
SMALL_FLOAT32_BYTES = 64 << 20
_EXACT_BLOCK = 1024


class ExactIndex:
    """Brute-force cosine / linear scoring over ``(n, dim)`` float16 (or float32) rows."""

    def __init__(self, vectors: np.ndarray, refine: int = REFINE):
        self.vectors = vectors
        self.refine = refine
        self._half = vectors.dtype == np.float16
        self._mapped = is_mapped(vectors)
        self._t = (
            torch.from_numpy(np.ascontiguousarray(vectors))
            if len(vectors) and not self._mapped
            else None
        )
        self._f32: np.ndarray | None = None if self._half else vectors
        self._batcher = QueryBatcher(self._score)

    def __len__(self) -> int:
        return len(self.vectors)

    def scores(self, w: np.ndarray, b: float = 0.0, *, boundary: bool = True) -> np.ndarray:
        """``(n,) float32`` scores ``X @ w + b``; the best ``refine`` are float32-exact."""
        if len(self.vectors) == 0:
            return np.zeros(0, np.float32)
        return self._batcher.run(w, b)

    def rescore(self, rows: np.ndarray, w: np.ndarray, b: float = 0.0) -> np.ndarray:
        """Float32 scores of ``rows`` only."""
        return exact_rows(self.vectors, rows, w, b)

    def _score(self, batch: list[Query]) -> None:
        small = self.vectors.size * 4 <= SMALL_FLOAT32_BYTES
        if len(batch) == 1 and self._half and not small:
            batch[0].out = self._single(batch[0].w) + np.float32(batch[0].b)
            return
        f32 = self._float32()
        if f32 is None:
            for q in batch:
                q.out = self._single(q.w) + np.float32(q.b)
            return
        weights = np.stack([q.w for q in batch], axis=1)  # (dim, q)
        out = f32 @ weights
        for j, q in enumerate(batch):
            q.out = out[:, j] + np.float32(q.b)

    def _float32(self) -> np.ndarray | None:
        if self._mapped:
            return None
        if self._f32 is None and self.vectors.size * 4 <= FLOAT32_COPY_BYTES:
            self._f32 = self.vectors.astype(np.float32)
        return self._f32

    def _single(self, w32: np.ndarray) -> np.ndarray:
        if not self._half and not self._mapped:
            return np.asarray(self.vectors @ w32, dtype=np.float32)
        # Unit-norm query in half precision (no overflow), scale restored in float32.
        norm = float(np.linalg.norm(w32)) or 1.0
        q = torch.from_numpy((w32 / norm).astype(np.float32))
        q = q.half() if self._half else q
        if self._t is not None:
            out = (self._t @ q).float().numpy()
        else:  # a memory map: a block at a time, read without mapping the file
            out = np.empty(len(self.vectors), np.float32)
            for lo, block in blocks(self.vectors):
                out[lo : lo + len(block)] = (torch.from_numpy(block) @ q).float().numpy()
        out *= np.float32(norm)
        head = top_rows(out, min(self.refine, len(out)))
        out[head] = exact_rows(self.vectors, head, w32)
        return out

    def topk(
        self, query: np.ndarray, k: int, exclude: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        s = self.scores(query)
        rows = top_rows(s, k, exclude)
        return rows, s[rows]


def exact_rows(vectors: np.ndarray, rows: np.ndarray, w: np.ndarray, b: float = 0.0) -> np.ndarray:
    """``(len(rows),) float32`` scores ``vectors[rows] @ w + b`` computed in float32.

    torch converts the gathered float16 rows (numpy's conversion is ~10x slower).
    """
    if len(rows) == 0:
        return np.zeros(0, np.float32)
    w32 = torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32))
    picked = torch.from_numpy(np.ascontiguousarray(vectors[np.asarray(rows, dtype=np.int64)]))
    out = np.empty(len(rows), np.float32)
    # Converted a block at a time: a float32 copy of thousands of rows would be new memory,
    # faulted in page by page on every call (3x the cost of the product).
    for lo in range(0, len(rows), _EXACT_BLOCK):
        out[lo : lo + _EXACT_BLOCK] = (picked[lo : lo + _EXACT_BLOCK].float() @ w32).numpy()
    return out + np.float32(b)


def rows_float32(vectors: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``vectors[rows]`` as a new ``(len(rows), dim) float32`` array.

    torch converts float16 (numpy's conversion is ~10x slower: 0.8 ms for 200 x 1280 rows).
    """
    picked = np.ascontiguousarray(vectors[np.asarray(rows, dtype=np.int64)])
    if picked.dtype == np.float32:
        return picked
    return torch.from_numpy(picked).float().numpy()
