"""Concurrent queries gathered into one pass over the vectors.

A server with many users doing rounds asks for many scans at once. Reading the vectors is the
cost, so the first caller to get the scan lock scores every query waiting at that moment in one
pass; the others find their result ready when they get the lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass
class Query:
    w: np.ndarray  # (dim,) float32
    b: float
    out: np.ndarray | None = None


class QueryBatcher:
    """Runs ``score_batch(queries)`` (which sets every ``query.out``) for waiting queries."""

    def __init__(self, score_batch: Callable[[list[Query]], None]):
        self._score_batch = score_batch
        self._pending: list[Query] = []
        self._pending_lock = threading.Lock()
        self._scan_lock = threading.Lock()

    def run(self, w: np.ndarray, b: float) -> np.ndarray:
        query = Query(np.array(w, dtype=np.float32), float(b))  # a copy: may be read-only
        with self._pending_lock:
            self._pending.append(query)
        with self._scan_lock:
            if query.out is None:  # nobody scored it while we waited: lead this pass
                with self._pending_lock:
                    batch, self._pending = self._pending, []
                self._score_batch(batch)
        assert query.out is not None
        return query.out
