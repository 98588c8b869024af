"""Work of concurrent threads gathered into one batch (leader and followers).

A server with many users doing rounds asks for many scans at once and writes to the catalog at
once. Reading the vectors, or committing, is the cost: the first caller to get the lock runs
every piece of work waiting at that moment as one batch, and the others find their result
ready when they get the lock. Serves the vector scans and the catalog's group commit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar


@dataclass
class Work:
    """A piece of work waiting for its batch; the batch sets ``done`` (and ``error``)."""

    error: BaseException | None = None
    done: bool = False


W = TypeVar("W", bound=Work)


class Batcher(Generic[W]):
    """Runs ``run_batch(works)`` for the works waiting together; it must set each ``done``."""

    def __init__(self, run_batch: Callable[[list[W]], None]):
        self._run_batch = run_batch
        self._pending: list[W] = []
        self._pending_lock = threading.Lock()
        self._lead_lock = threading.Lock()

    def submit(self, work: W) -> W:
        """``work`` once its batch ran; the batch's error for it is raised here."""
        with self._pending_lock:
            self._pending.append(work)
        with self._lead_lock:
            if not work.done:  # nobody ran it while we waited: lead this batch
                with self._pending_lock:
                    batch, self._pending = self._pending, []
                try:
                    self._run_batch(batch)
                finally:  # interrupted: the works of this batch fail, none stays pending
                    for w in batch:
                        if not w.done:
                            w.error = w.error or RuntimeError("the batch was interrupted")
                            w.done = True
        if work.error is not None:
            raise work.error
        return work
