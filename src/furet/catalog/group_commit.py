"""Short write transactions of many threads committed together (group commit).

SQLite has one writer at a time. Under a server's load, a thread holding the write lock also
waits for the GIL and a core between its statements, so a 0.3 ms write held the lock ~7 ms and
the next writers queued behind it (measured: 105 ms of waiting per write, 20 clients). Here the
first thread to find the catalog free runs every write waiting at that moment in one
transaction, and the others find their result ready: one commit serves them all.

A write is a function of a Connection. When a batch fails (a constraint, a busy database), it
is rolled back and each write is run again alone, so one bad write never fails another.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import Connection, Engine

from furet.batching import Batcher, Work
from furet.catalog.database import PerEngine

T = TypeVar("T")


@dataclass
class _Write(Work, Generic[T]):
    fn: Callable[[Connection], T] | None = None
    result: T | None = None


class GroupCommit:
    """Runs write functions on one engine, batching those of concurrent threads."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._batcher: Batcher[_Write[object]] = Batcher(self._commit)

    def run(self, fn: Callable[[Connection], T]) -> T:
        """``fn(connection)`` inside a committed transaction; its result or its exception."""
        write: _Write[T] = _Write(fn=fn)
        self._batcher.submit(write)  # type: ignore[arg-type]
        return write.result  # type: ignore[return-value]

    def _commit(self, batch: list[_Write[object]]) -> None:
        # The pool (POOL_SIZE + overflow) outnumbers the server's threads: the leader does not
        # wait for a connection while the others wait for it.
        with self.engine.connect() as c:
            if len(batch) > 1:
                try:
                    with c.begin():
                        results = [w.fn(c) for w in batch]  # type: ignore[misc]
                except Exception:
                    pass
                else:
                    for w, r in zip(batch, results, strict=True):
                        w.result, w.done = r, True
                    return
            for w in batch:
                try:
                    with c.begin():
                        w.result = w.fn(c)  # type: ignore[misc]
                except Exception as exc:
                    w.error = exc
                w.done = True


#: The process's group committer of an engine: ``group_commit(engine).run(write)``.
group_commit: PerEngine[GroupCommit] = PerEngine(GroupCommit)
