"""vectors.stream: live segments by file row, rows read with plain file reads, the mean."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from furet.vectors.segments import SegmentStore
from furet.vectors.stream import live_segments, mean_vector, read_rows, vectors_of


def test_rows_by_file_position(tmp_path: Path) -> None:
    store = SegmentStore(tmp_path / "s", 3)
    x = np.arange(30, dtype=np.float32).reshape(10, 3)
    a = store.write(np.arange(100, 110), x)
    b = store.write(np.arange(200, 205), x[:5] + 1000)
    store.tombstone(a, [103, 104])
    segs = live_segments(store)
    assert [s.name for s in segs] == [a, b]
    assert segs[0].live.tolist() == [True] * 3 + [False] * 2 + [True] * 5
    assert segs[0].item_ids.tolist() == list(range(100, 110))
    # Dense, scattered (read as a span), far apart (a map), into a given buffer.
    assert np.array_equal(read_rows(store, a, np.arange(2, 6)), x[2:6].astype(np.float16))
    assert np.array_equal(read_rows(store, a, np.array([1, 3, 4])), x[[1, 3, 4]])
    assert np.array_equal(read_rows(store, a, np.array([0, 9])), x[[0, 9]])
    out = np.zeros((4, 3), np.float16)
    read_rows(store, b, np.arange(1, 5), out=out)
    assert np.array_equal(out, x[1:5] + 1000)
    assert read_rows(store, a, np.zeros(0, np.int64)).shape == (0, 3)
    ids, vecs = vectors_of(store, segs, [200, 103, 101, 999])
    assert ids.tolist() == [101, 200]  # 103 is tombstoned, 999 absent
    assert np.array_equal(vecs, np.stack([x[1], x[0] + 1000]).astype(np.float16))
    live = np.concatenate([x[[0, 1, 2, 5, 6, 7, 8, 9]], x[:5] + 1000])
    assert np.allclose(mean_vector(store, segs), live.mean(axis=0))
    assert np.allclose(mean_vector(store, segs, most=4), live[::4].mean(axis=0))
