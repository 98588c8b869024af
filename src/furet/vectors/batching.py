"""Concurrent scans of one index gathered into one pass over the vectors (see furet.batching)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from furet.batching import Batcher, Work


@dataclass
class Query(Work):
    w: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))  # (dim,) float32
    b: float = 0.0
    out: np.ndarray | None = None


class QueryBatcher:
    """Runs ``score_batch(queries)`` (which sets every ``query.out``) for waiting queries."""

    def __init__(self, score_batch: Callable[[list[Query]], None]):
        def run_batch(batch: list[Query]) -> None:
            score_batch(batch)
            for q in batch:
                q.done = q.out is not None

        self._batcher: Batcher[Query] = Batcher(run_batch)

    def run(self, w: np.ndarray, b: float) -> np.ndarray:
        # A copy of w: the caller's may be read-only or change afterwards.
        query = self._batcher.submit(Query(w=np.array(w, dtype=np.float32), b=float(b)))
        assert query.out is not None
        return query.out
