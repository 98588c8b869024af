"""Group commit: concurrent writes all land, once each; a failing write fails alone."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from furet.catalog.database import make_engine
from furet.catalog.group_commit import GroupCommit, group_commit


@pytest.fixture()
def engine(tmp_path: Path):  # type: ignore[no-untyped-def]
    eng = make_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    with eng.begin() as c:
        c.execute(text("CREATE TABLE t (k INTEGER PRIMARY KEY, v INTEGER NOT NULL)"))
    yield eng
    eng.dispose()


def test_concurrent_writes_are_all_committed_with_their_own_results(engine) -> None:  # type: ignore[no-untyped-def]
    committer = GroupCommit(engine)
    results: dict[int, int] = {}
    batches: list[int] = []
    original = committer._batcher._run_batch

    def counting(batch: list) -> None:  # type: ignore[type-arg]
        batches.append(len(batch))
        original(batch)

    committer._batcher._run_batch = counting

    def write(i: int) -> None:
        def fn(c: Connection) -> int:
            c.execute(text("INSERT INTO t (k, v) VALUES (:k, :v)"), {"k": i, "v": i * i})
            return i * i

        results[i] = committer.run(fn)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {i: i * i for i in range(40)}
    with engine.connect() as c:
        assert c.execute(text("SELECT count(*), sum(v) FROM t")).one() == (
            40,
            sum(i * i for i in range(40)),
        )
    assert sum(batches) == 40  # every write committed exactly once


def test_a_failing_write_fails_alone(engine) -> None:  # type: ignore[no-untyped-def]
    committer = GroupCommit(engine)
    barrier = threading.Barrier(6)
    outcome: dict[int, object] = {}

    def write(i: int) -> None:
        def fn(c: Connection) -> int:
            # Write 3 violates the primary key against write 0 (same k).
            c.execute(text("INSERT INTO t (k, v) VALUES (:k, 1)"), {"k": 0 if i == 3 else i})
            return i

        barrier.wait()
        try:
            outcome[i] = committer.run(fn)
        except Exception as exc:
            outcome[i] = exc

    threads = [threading.Thread(target=write, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    failed = [i for i, o in outcome.items() if isinstance(o, Exception)]
    assert len(failed) == 1 and failed[0] in (0, 3)  # whichever of the two came second
    with engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM t")).scalar() == 5


def test_one_committer_per_engine(engine) -> None:  # type: ignore[no-untyped-def]
    assert group_commit(engine) is group_commit(engine)
