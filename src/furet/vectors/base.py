"""The vector-scoring seam: every backend answers the same two questions as the exact scan."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class VectorIndex(Protocol):
    """Scores of a linear model over all rows, and the top-k rows for a query."""

    vectors: np.ndarray

    def __len__(self) -> int: ...

    def scores(self, w: np.ndarray, b: float = 0.0) -> np.ndarray:
        """``w``: ``(dim,)`` -> ``(n,) float32`` scores ``X @ w + b`` (higher is better)."""
        ...

    def rescore(self, rows: np.ndarray, w: np.ndarray, b: float = 0.0) -> np.ndarray:
        """``(len(rows),) float32`` scores of ``rows`` only, computed in float32."""
        ...

    def topk(
        self, query: np.ndarray, k: int, exclude: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``query``: ``(dim,)`` -> (rows ``(k',) int64``, scores ``(k',) float32``), best first.

        ``exclude``: row positions never returned.
        """
        ...


def top_rows(scores: np.ndarray, k: int, exclude: np.ndarray | None = None) -> np.ndarray:
    """Rows of the ``k`` best ``scores`` in decreasing order, O(n) (argpartition)."""
    if exclude is not None and len(exclude):
        scores = scores.copy()
        scores[exclude] = -np.inf
    n_valid = len(scores) - (0 if exclude is None else len(np.unique(exclude)))
    k = max(0, min(k, n_valid))
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    part = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
    return part[np.argsort(-scores[part], kind="stable")].astype(np.int64)
