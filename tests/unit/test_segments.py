from pathlib import Path

import numpy as np
import pytest

from furet.errors import InvalidInputError
from furet.vectors.segments import SegmentStore, gather


def unit_rows(n: int, d: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_write_read_roundtrip(tmp_path: Path) -> None:
    store = SegmentStore(tmp_path, 8)
    v = unit_rows(5, 8)
    name = store.write(np.arange(10, 15), v)
    seg = store.read(name)
    assert seg.item_ids.tolist() == [10, 11, 12, 13, 14]
    assert seg.vectors.dtype == np.float16
    np.testing.assert_allclose(seg.vectors, v, atol=1e-3)
    assert seg.live.all()
    assert (tmp_path / name / "meta.parquet").exists()


def test_tombstones_hide_rows_and_are_idempotent(tmp_path: Path) -> None:
    store = SegmentStore(tmp_path, 4)
    a = store.write(np.array([1, 2, 3]), unit_rows(3, 4))
    b = store.write(np.array([4, 5]), unit_rows(2, 4, 1))
    store.tombstone(a, [2])
    store.tombstone(a, [2])
    m = gather(store, 4)
    assert sorted(m.item_ids.tolist()) == [1, 3, 4, 5]
    assert m.rows_of([5, 2, 1]).tolist()[1] == -1
    assert m.item_ids[m.rows_of([5])[0]] == 5
    store.drop(b)
    assert sorted(gather(store, 4).item_ids.tolist()) == [1, 3]


def test_bad_writes_are_refused(tmp_path: Path) -> None:
    store = SegmentStore(tmp_path, 4)
    with pytest.raises(InvalidInputError):
        store.write(np.array([1, 1]), unit_rows(2, 4))
    with pytest.raises(InvalidInputError):
        store.write(np.array([1, 2]), unit_rows(2, 5))
    assert store.names() == []


def test_interrupted_write_leaves_no_segment(tmp_path: Path) -> None:
    store = SegmentStore(tmp_path, 4)
    (tmp_path / ".tmp-seg-000000-dead").mkdir()
    (tmp_path / ".tmp-seg-000000-dead" / "vectors.npy").write_bytes(b"half")
    assert store.names() == []
    store.clean_temporary()
    assert list(tmp_path.iterdir()) == []


def test_empty_store_gathers_empty(tmp_path: Path) -> None:
    m = gather(SegmentStore(tmp_path, 3), 3)
    assert len(m) == 0 and m.vectors.shape == (0, 3)


def test_generation_changes_with_every_change_and_only_then(tmp_path: Path) -> None:
    store = SegmentStore(tmp_path, 4)
    g0 = store.generation()
    assert store.generation() == g0  # reading changes nothing
    name = store.write(np.array([1, 2]), unit_rows(2, 4))
    g1 = store.generation()
    assert g1 != g0
    # Another process's view of the same folder sees the same generation.
    assert SegmentStore(tmp_path, 4).generation() == g1
    store.tombstone(name, [1])
    g2 = store.generation()
    assert g2 != g1
    store.tombstone(name, [1])  # already deleted: no change
    assert store.generation() == g2
    store.drop(name)
    assert store.generation() != g2


def test_vector_matrix_rows_of(tmp_path: Path) -> None:
    store = SegmentStore(tmp_path, 4)
    store.write(np.array([30, 10, 20]), unit_rows(3, 4))
    m = gather(store, 4)
    assert m.rows_of([20, 99, 30, 10]).tolist() == [2, -1, 0, 1]
    assert m.rows_of(np.array([], np.int64)).tolist() == []
