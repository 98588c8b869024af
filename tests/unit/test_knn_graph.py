"""The k-NN graph and label propagation: exact, incremental, versioned by the vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from furet.domain.propagation import KnnGraph, Propagation, build_graph, propagate, smooth
from furet.errors import InvalidInputError
from furet.services.knn_graph import GRAPH_FILE, load_graph, update_graph
from furet.vectors.segments import VectorMatrix


def _unit(rng: np.random.Generator, n: int, dim: int = 16) -> np.ndarray:
    x = rng.standard_normal((n, dim)).astype(np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float16)


def _brute(x: np.ndarray, k: int) -> list[set[int]]:
    s = x.astype(np.float32) @ x.astype(np.float32).T
    np.fill_diagonal(s, -np.inf)
    return [set(np.argsort(-row)[:k].tolist()) for row in s]


def test_build_graph_is_the_exact_knn_without_self() -> None:
    x = _unit(np.random.default_rng(0), 300)
    g = build_graph(x, k=5, block=64)
    assert g.neighbours.shape == (300, 5) and g.k == 5
    assert all(set(g.neighbours[i].tolist()) == want for i, want in enumerate(_brute(x, 5)))
    assert (np.diff(g.sims.astype(np.float32), axis=1) <= 1e-3).all()  # best first


def test_incremental_updates_equal_a_full_build(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    x = _unit(rng, 400)
    ids = np.arange(1000, 1400, dtype=np.int64)
    first = update_graph(tmp_path, VectorMatrix(ids[:250], x[:250]), k=6)
    assert (first.items, first.computed) == (250, 250)
    # 150 added, 20 removed, 5 re-embedded (new vectors, same ids).
    keep = np.r_[np.arange(20, 400)]
    x2 = x.copy()
    x2[100:105] = _unit(rng, 5)
    m = VectorMatrix(ids[keep], x2[keep])
    second = update_graph(tmp_path, m, k=6)
    assert second.items == 380 and 150 <= second.computed < 380 and second.merged > 0
    g = load_graph(tmp_path, m)
    assert g is not None
    want = _brute(x2[keep], 6)
    assert all(set(g.neighbours[i].tolist()) == want[i] for i in range(len(m)))


def test_a_stale_or_torn_graph_is_not_used(tmp_path: Path) -> None:
    x = _unit(np.random.default_rng(2), 50)
    ids = np.arange(50, dtype=np.int64)
    update_graph(tmp_path, VectorMatrix(ids, x), k=4)
    assert load_graph(tmp_path, VectorMatrix(ids, x)) is not None
    assert load_graph(tmp_path, VectorMatrix(ids[:-1], x[:-1])) is None  # items changed
    moved = x.copy()
    moved[3] = x[4]
    assert load_graph(tmp_path, VectorMatrix(ids, moved)) is None  # a vector changed
    (tmp_path / GRAPH_FILE).write_bytes(b"torn")
    assert load_graph(tmp_path, VectorMatrix(ids, x)) is None
    assert update_graph(tmp_path, VectorMatrix(ids, x), k=4).computed == 50  # rebuilt


def test_too_large_a_space_gets_no_graph(tmp_path: Path) -> None:
    x = _unit(np.random.default_rng(3), 30)
    up = update_graph(tmp_path, VectorMatrix(np.arange(30), x), max_items=20)
    assert up.items == 0 and up.skipped and "20" in up.skipped
    assert not (tmp_path / GRAPH_FILE).exists()


def test_propagation_lifts_the_neighbours_of_positives_and_lowers_those_of_negatives() -> None:
    # Two chains: 0-1-2-3 and 4-5-6-7, each row's neighbours its chain mates.
    nb = np.array([[1, 2], [0, 2], [1, 3], [2, 1], [5, 6], [4, 6], [5, 7], [6, 5]], np.int32)
    g = KnnGraph(nb, np.ones(nb.shape, np.float32))
    labelled = np.zeros(8, np.int8)
    labelled[0], labelled[4] = 1, -1
    f = propagate(g, labelled, Propagation(alpha=0.5, iters=4))
    assert (f[1:4] > 0).all() and (f[5:8] < 0).all() and f[3] < f[1]
    s = smooth(np.zeros(8, np.float32), labelled, g, Propagation(gain=2.0))
    assert s[1] > 0 > s[5]
    assert smooth(np.ones(8), labelled, None, Propagation()).tolist() == [1.0] * 8
    assert smooth(np.ones(8), labelled, g, Propagation(gain=0)).tolist() == [1.0] * 8
    with pytest.raises(InvalidInputError):
        propagate(g, np.zeros(5, np.int8), Propagation())
    with pytest.raises(InvalidInputError):
        Propagation(alpha=1.0)
