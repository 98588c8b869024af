"""The memory-mapped matrix of a space (``furet.vectors.mapped``) and block reads of it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from furet.vectors.mapped import MAPPED_DIR, mapped_matrix, vector_bytes
from furet.vectors.reading import blocks, mean_rows, read_block, sample_rows
from furet.vectors.segments import SegmentStore, gather


def _store(tmp_path: Path, segments: int = 3, rows: int = 10, dim: int = 8) -> SegmentStore:
    store = SegmentStore(tmp_path / "space", dim)
    rng = np.random.default_rng(0)
    for k in range(segments):
        store.write(np.arange(k * rows, (k + 1) * rows), rng.standard_normal((rows, dim)))
    return store


def _same(store: SegmentStore, known: np.ndarray | None = None) -> np.ndarray:
    m = mapped_matrix(store, known)
    g = gather(store, store.dim)
    keep = np.ones(len(g), bool) if known is None else np.isin(g.item_ids, known)
    np.testing.assert_array_equal(m.item_ids, g.item_ids[keep])
    np.testing.assert_array_equal(np.asarray(m.vectors), g.vectors[keep])
    assert isinstance(m.vectors, np.memmap) and not m.vectors.flags.writeable
    return m.vectors


def _files(store: SegmentStore) -> list[str]:
    return sorted(p.name for p in (store.root / MAPPED_DIR).glob("vectors-*.f16"))


def test_mapped_matrix_is_the_gathered_one(tmp_path: Path) -> None:
    store = _store(tmp_path)
    _same(store)
    assert vector_bytes(store) >= 30 * 8 * 2


def test_added_segments_are_appended_to_the_same_file(tmp_path: Path) -> None:
    store = _store(tmp_path)
    _same(store)
    before = _files(store)
    store.write(np.arange(30, 35), np.ones((5, 8)))
    vectors = _same(store)
    assert _files(store) == before and len(vectors) == 35


def test_a_tombstone_rewrites_the_file(tmp_path: Path) -> None:
    store = _store(tmp_path)
    _same(store)
    before = _files(store)
    store.tombstone(store.names()[0], [3, 4])
    assert len(_same(store)) == 28
    after = _files(store)
    assert len(after) == 1 and after != before


def test_rows_the_catalog_does_not_know_are_left_out_until_known(tmp_path: Path) -> None:
    store = _store(tmp_path)
    assert len(_same(store, known=np.arange(0, 20))) == 20
    assert len(_same(store, known=np.arange(0, 30))) == 30  # reconciled: the file follows


def test_a_crashed_append_is_cut_back(tmp_path: Path) -> None:
    store = _store(tmp_path)
    _same(store)
    (name,) = _files(store)
    with open(store.root / MAPPED_DIR / name, "ab") as f:
        f.write(b"\x00" * 1000)  # rows written past the state by a killed process
    store.write(np.arange(30, 32), np.ones((2, 8)))
    _same(store)


def test_an_empty_store_maps_to_an_empty_matrix(tmp_path: Path) -> None:
    store = SegmentStore(tmp_path / "space", 4)
    m = mapped_matrix(store)
    assert len(m) == 0 and m.vectors.shape == (0, 4)


def test_block_reads_of_a_map_match_slices(tmp_path: Path) -> None:
    store = _store(tmp_path, segments=4, rows=50)
    vectors = mapped_matrix(store).vectors
    in_memory = np.asarray(vectors).copy()
    np.testing.assert_array_equal(read_block(vectors, 13, 171), in_memory[13:171])
    view = vectors[40:120]  # rows of the map: read from the file at their offset
    np.testing.assert_array_equal(read_block(view, 5, 30), in_memory[45:70])
    assert not isinstance(read_block(vectors, 0, 5), np.memmap)
    got = np.concatenate([b for _, b in blocks(vectors, rows=64)])
    np.testing.assert_array_equal(got, in_memory)
    np.testing.assert_array_equal(read_block(in_memory, 3, 9), in_memory[3:9])
    np.testing.assert_allclose(mean_rows(vectors), in_memory.astype(np.float64).mean(0), atol=1e-6)
    assert sample_rows(vectors, 7).shape == (7, 8)
    assert abs(mean_rows(vectors, most=100) - in_memory.astype(np.float64).mean(0)).max() < 0.3
