"""The vector-scoring seam: every backend answers the same two questions as the exact scan."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from furet.domain.selection import smallest


class VectorIndex(Protocol):
    """Scores of a linear model over all rows, and the top-k rows for a query."""

    vectors: np.ndarray

    def __len__(self) -> int: ...

    def scores(self, w: np.ndarray, b: float = 0.0, *, boundary: bool = True) -> np.ndarray:
        """``w``: ``(dim,)`` -> ``(n,) float32`` scores ``X @ w + b`` (higher is better), exact
        on the head of the ranking; ``boundary``: the ranking's caller also needs the rows
        nearest 0 exact (Ambiguous), which an approximate index then re-scores too."""
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


class TopK(Protocol):
    """What search by example needs: the best rows for a query (exact scan or k-NN index)."""

    def topk(
        self, query: np.ndarray, k: int, exclude: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]: ...


def top_rows(scores: np.ndarray, k: int, exclude: np.ndarray | None = None) -> np.ndarray:
    """Rows of the ``k`` best ``scores`` in decreasing order (ties by position), O(n)."""
    allowed = None
    if exclude is not None and len(exclude):
        allowed = np.ones(len(scores), dtype=bool)
        allowed[exclude] = False
    return smallest(-np.asarray(scores, dtype=np.float32), k, allowed)


def rescored_topk(
    index: VectorIndex, query: np.ndarray, k: int, exclude: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``topk`` of an approximate index: its best rows, every one re-scored exactly (rows past
    the exact head too), in exact order."""
    rows = top_rows(index.scores(query, boundary=False), k, exclude)  # a query has no boundary
    exact = index.rescore(rows, query)
    order = np.argsort(-exact, kind="stable")
    return rows[order], exact[order]
