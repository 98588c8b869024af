"""The leader/follower batcher behind the scans and the group commit."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from furet.batching import Batcher, Work


@dataclass
class Square(Work):
    x: int = 0
    y: int | None = None


def test_waiting_works_run_together_and_each_gets_its_result() -> None:
    sizes: list[int] = []
    gate = threading.Event()

    def run(batch: list[Square]) -> None:
        gate.wait(5)
        sizes.append(len(batch))
        for w in batch:
            w.y, w.done = w.x * w.x, True

    batcher: Batcher[Square] = Batcher(run)
    out: dict[int, int | None] = {}
    threads = [
        threading.Thread(target=lambda i=i: out.__setitem__(i, batcher.submit(Square(x=i)).y))
        for i in range(8)
    ]
    for t in threads:
        t.start()
    while len(batcher._pending) < 7:  # the first leads (held at the gate), 7 wait behind it
        threading.Event().wait(0.01)
    gate.set()
    for t in threads:
        t.join()
    assert out == {i: i * i for i in range(8)}
    assert sizes == [1, 7]  # the 7 that waited ran as one batch


def test_a_failing_batch_fails_every_work_of_it() -> None:
    gate = threading.Event()

    def run(batch: list[Square]) -> None:
        gate.wait(5)
        if any(w.x == 1 for w in batch):
            raise ValueError("boom")
        for w in batch:
            w.done = True

    batcher: Batcher[Square] = Batcher(run)
    errors: dict[int, BaseException] = {}

    def submit(x: int) -> None:
        try:
            batcher.submit(Square(x=x))
        except Exception as exc:
            errors[x] = exc

    leader = threading.Thread(target=submit, args=(0,))
    leader.start()
    while not batcher._lead_lock.locked():
        threading.Event().wait(0.01)
    followers = [threading.Thread(target=submit, args=(x,)) for x in (1, 2)]
    for t in followers:
        t.start()
    while len(batcher._pending) < 2:
        threading.Event().wait(0.01)
    gate.set()
    for t in (leader, *followers):
        t.join()
    assert set(errors) == {1, 2}  # the leader's own batch (x=0) succeeded
    # The follower that led the failing batch sees the real error, the other one a clear one.
    assert sorted(type(e).__name__ for e in errors.values()) == ["RuntimeError", "ValueError"]
    assert "interrupted" in str(next(e for e in errors.values() if isinstance(e, RuntimeError)))
