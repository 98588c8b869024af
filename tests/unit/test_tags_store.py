"""vectors.tags: part files, the state, live rows (tombstones, dropped segments, re-embedded
items), garbage collection and the writer lock."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from furet.vectors.segments import SegmentStore
from furet.vectors.tags import (
    ClassRows,
    Tagging,
    TagState,
    TagStore,
    add_range,
    in_ranges,
)

DIM = 4


def _store(tmp_path: Path) -> tuple[SegmentStore, list[str]]:
    store = SegmentStore(tmp_path / "space", DIM)
    a = store.write(np.arange(1, 6), np.ones((5, DIM)))
    b = store.write(np.arange(6, 11), np.ones((5, DIM)))
    return store, [a, b]


def _rows(class_id: int, ids: list[int], scores: list[float], seg: list[int]) -> ClassRows:
    return ClassRows(
        class_id,
        1,
        np.array(ids, np.int64),
        np.array(scores, np.float32),
        np.array(seg, np.int32),
    )


def test_ranges() -> None:
    r = add_range([], 10, 20)
    r = add_range(r, 0, 5)
    r = add_range(r, 5, 10)
    assert r == [[0, 20]]
    assert add_range([[0, 5]], 8, 9) == [[0, 5], [8, 9]]
    assert in_ranges([[0, 2], [5, 6]], np.arange(7)).tolist() == [
        True,
        True,
        False,
        False,
        False,
        True,
        False,
    ]


def test_state_round_trip_and_stamp(tmp_path: Path) -> None:
    tags = TagStore(tmp_path / "tags")
    assert tags.state().taggings == {} and tags.stamp() == (0, 0, 0)
    state = TagState({7: Tagging(7, "k", 3, "precision", 0.9, -1.5, covered={"s": [[0, 4]]})})
    tags.save(state)
    stamp = tags.stamp()
    got = tags.state()
    assert got.taggings[7].covered == {"s": [[0, 4]]} and got.taggings[7].floor == -1.5
    got.taggings[7].floor = 0.0  # a copy: the cached state is not changed
    assert tags.state().taggings[7].floor == -1.5
    tags.save(got)
    assert tags.stamp() != stamp
    # Infinities (a top-N floor before N rows) survive the round trip.
    tags.save(TagState({1: Tagging(1, "k", 1, "top", 5, -np.inf)}))
    assert tags.state().taggings[1].floor == -np.inf


def test_live_rows_sorted_filtered_and_latest_wins(tmp_path: Path) -> None:
    store, (a, b) = _store(tmp_path)
    tags = TagStore(tmp_path / "tags")
    tags.write_part("p1", [a, b], [_rows(1, [1, 2, 6], [0.5, 2.0, 1.0], [0, 0, 1])])
    tags.write_part("p2", [b], [_rows(1, [7, 8], [3.0, 1.0], [0, 0]), _rows(2, [9], [9.0], [0])])
    t = Tagging(1, "k", 1, "threshold", 0.0, 0.0, parts=["p1", "p2"])
    rows = tags.rows(t, store)
    assert rows.item_ids.tolist() == [7, 2, 6, 8, 1]
    assert rows.scores.tolist() == [3.0, 2.0, 1.0, 1.0, 0.5]
    assert rows.above(1.0) == 4 and rows.above(3.5) == 0
    assert rows.score_of(6) == 1.0 and rows.score_of(3) is None
    # Class 2's row stays in its own row group.
    assert (
        tags.rows(Tagging(2, "k", 1, "threshold", 0.0, 0.0, parts=["p2"]), store).item_ids[0] == 9
    )

    # Item 2 re-embedded into a new segment and scored again there: the new row wins...
    c = store.write(np.array([2]), np.ones((1, DIM)))
    store.tombstone(a, [2])
    tags.write_part("p3", [c], [_rows(1, [2], [0.1], [0])])
    t.parts.append("p3")
    assert tags.rows(t, store).score_of(2) == pytest.approx(0.1)
    # ... and without it, the old row of the tombstoned vector is gone.
    t.parts.remove("p3")
    assert tags.rows(t, store).score_of(2) is None
    # A dropped segment takes its rows with it.
    store.drop(b)
    assert tags.rows(t, store).item_ids.tolist() == [1]


def test_garbage_collection_keeps_listed_parts(tmp_path: Path) -> None:
    _, (a, _) = _store(tmp_path)
    tags = TagStore(tmp_path / "tags")
    for name in ("keep", "drop"):
        tags.write_part(name, [a], [_rows(1, [1], [1.0], [0])])
    (tags.parts / ".half-written.tmp").write_bytes(b"x")
    state = TagState({1: Tagging(1, "k", 1, "threshold", 0.0, 0.0, parts=["keep"])})
    tags.save(state)
    tags.collect_garbage(state)
    assert sorted(p.name for p in tags.parts.iterdir()) == ["keep.parquet"]


def test_one_writer_at_a_time(tmp_path: Path) -> None:
    tags = TagStore(tmp_path / "tags")
    waited = threading.Event()
    order: list[str] = []

    def second() -> None:
        with tags.writer(on_wait=waited.set):
            order.append("second")

    with tags.writer():
        t = threading.Thread(target=second)
        t.start()
        assert waited.wait(5)
        time.sleep(0.05)
        order.append("first")
    t.join(5)
    assert order == ["first", "second"]
