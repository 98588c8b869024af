"""The exact reference scan: float16 storage, float32 accumulation, in chunks."""

from __future__ import annotations

import numpy as np

from furet.vectors.base import top_rows

#: Rows converted to float32 at a time: bounds the temporary memory to ~chunk x dim x 4 bytes.
CHUNK = 65536


class ExactIndex:
    """Brute-force cosine / linear scoring over ``(n, dim) float16`` rows."""

    def __init__(self, vectors: np.ndarray):
        self.vectors = vectors

    def __len__(self) -> int:
        return len(self.vectors)

    def scores(self, w: np.ndarray, b: float = 0.0) -> np.ndarray:
        w32 = np.asarray(w, dtype=np.float32)
        out = np.empty(len(self.vectors), dtype=np.float32)
        for start in range(0, len(self.vectors), CHUNK):
            chunk = self.vectors[start : start + CHUNK]
            out[start : start + len(chunk)] = chunk.astype(np.float32) @ w32
        if b:
            out += np.float32(b)
        return out

    def topk(
        self, query: np.ndarray, k: int, exclude: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        s = self.scores(query)
        rows = top_rows(s, k, exclude)
        return rows, s[rows]
