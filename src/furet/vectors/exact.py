"""The exact scan: every stored vector is scored; float16 storage, no candidate pruning.

numpy converts float16 to float32 at ~10 ns a value on these CPUs (1.5 s for 200k x 1280), so
float16 rows are scored with torch's native half-precision matrix-vector product, then the
best ``refine`` rows are scored again in float32 so that the head of every ranking is exact.
"""

from __future__ import annotations

import numpy as np
import torch

from furet.vectors.base import top_rows

#: Rows re-scored in float32 after the half-precision pass (covers any page or top-k).
REFINE = 1024


class ExactIndex:
    """Brute-force cosine / linear scoring over ``(n, dim)`` float16 (or float32) rows."""

    def __init__(self, vectors: np.ndarray, refine: int = REFINE):
        self.vectors = vectors
        self.refine = refine
        self._half = vectors.dtype == np.float16
        self._t = torch.from_numpy(np.ascontiguousarray(vectors)) if len(vectors) else None

    def __len__(self) -> int:
        return len(self.vectors)

    def scores(self, w: np.ndarray, b: float = 0.0) -> np.ndarray:
        """``(n,) float32`` scores ``X @ w + b``; the best ``refine`` are float32-exact."""
        w32 = np.array(w, dtype=np.float32)  # a copy: weights read from the catalog are read-only
        if self._t is None:
            return np.zeros(0, np.float32)
        if not self._half:
            out = self.vectors @ w32
        else:
            # Unit-norm query in half precision (no overflow), scale restored in float32.
            norm = float(np.linalg.norm(w32)) or 1.0
            q = torch.from_numpy(w32 / norm).half()
            out = (self._t @ q).float().numpy() * np.float32(norm)
            head = top_rows(out, min(self.refine, len(out)))
            exact = self._t[torch.from_numpy(head)].float() @ torch.from_numpy(w32)
            out[head] = exact.numpy()
        if b:
            out += np.float32(b)
        return out.astype(np.float32, copy=False)

    def topk(
        self, query: np.ndarray, k: int, exclude: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        s = self.scores(query)
        rows = top_rows(s, k, exclude)
        return rows, s[rows]
