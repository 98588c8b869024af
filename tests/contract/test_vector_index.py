"""Congruence: every vector index agrees with the float32 numpy reference.

Each index answers the same contract: ``scores`` close to ``X @ w + b`` everywhere and exact on
the head of the ranking, ``topk`` with exclusions, ``rescore`` exact, an empty index, and
concurrent queries (batched into one pass) each getting their own answer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import pytest

from furet.vectors.base import VectorIndex, top_rows
from furet.vectors.exact import ExactIndex
from furet.vectors.factory import INT8_MIN_ROWS, create_index
from furet.vectors.quantized import Int8Index

#: (factory, tolerance of non-head scores as a fraction of the largest |score|). int8: the
#: vectors' and the query's 7-bit rounding; measured at most 2.1e-2 for a random query and
#: 0.8e-2 for a class-like one (the mean of a few vectors); the head is exact either way.
INDEXES: dict[str, tuple[Callable[[np.ndarray], VectorIndex], float]] = {
    "exact": (ExactIndex, 2e-3),
    "int8": (Int8Index, 3e-2),
}


def clustered(n: int, d: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(20, d))
    x = centres[rng.integers(0, 20, n)] + 0.5 * rng.normal(size=(n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float16)


@pytest.mark.parametrize("kind", INDEXES)
@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_scores_match_reference_and_head_is_exact(kind: str, dtype: type) -> None:
    make, tol = INDEXES[kind]
    x = clustered(20000, 256).astype(dtype)
    before = x.copy()
    rng = np.random.default_rng(1)
    for w in (rng.normal(size=256) * 7, x[:3].astype(np.float64).mean(0) * 20):
        w = w.astype(np.float32)
        ref = x.astype(np.float32) @ w + 0.5
        got = make(x).scores(w, 0.5)
        assert got.dtype == np.float32 and got.shape == (20000,)
        np.testing.assert_allclose(got, ref, atol=tol * np.abs(ref).max())
        head = top_rows(ref, 100)
        np.testing.assert_allclose(got[head], ref[head], rtol=1e-5, atol=1e-5)
        assert set(top_rows(got, 100)) == set(head)  # recall of the exact top-100 = 1
    np.testing.assert_array_equal(x, before)  # the caller's vectors are never written


@pytest.mark.parametrize("kind", INDEXES)
def test_topk_excludes_and_orders(kind: str) -> None:
    x = clustered(5000, 64)
    q = x[7].astype(np.float32)
    rows, scores = INDEXES[kind][0](x).topk(q, 10, exclude=np.array([7]))
    assert 7 not in rows and len(rows) == 10
    assert list(scores) == sorted(scores, reverse=True)
    ref = x.astype(np.float32) @ q
    np.testing.assert_allclose(scores, ref[rows], rtol=1e-5, atol=1e-5)
    ref[7] = -np.inf
    assert set(rows) == set(top_rows(ref, 10))


@pytest.mark.parametrize("kind", INDEXES)
def test_rescore_is_exact(kind: str) -> None:
    x = clustered(3000, 96, seed=2)
    w = np.random.default_rng(4).normal(size=96).astype(np.float32)
    rows = np.array([5, 2999, 0, 17])
    got = INDEXES[kind][0](x).rescore(rows, w, -1.0)
    np.testing.assert_allclose(got, x[rows].astype(np.float32) @ w - 1.0, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", INDEXES)
def test_empty_index(kind: str) -> None:
    idx = INDEXES[kind][0](np.zeros((0, 8), np.float16))
    assert len(idx) == 0 and idx.scores(np.ones(8)).shape == (0,)


@pytest.mark.parametrize("kind", INDEXES)
def test_concurrent_queries_are_batched_and_exact(kind: str) -> None:
    make, tol = INDEXES[kind]
    x = clustered(30000, 128, seed=5)
    idx = make(x)
    x32 = x.astype(np.float32)
    rng = np.random.default_rng(6)
    ws = rng.normal(size=(12, 128)).astype(np.float32)
    results: dict[int, np.ndarray] = {}

    def run(i: int) -> None:
        results[i] = idx.scores(ws[i], float(i))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(12):
        ref = x32 @ ws[i] + i
        np.testing.assert_allclose(results[i], ref, atol=max(tol, 3e-3) * np.abs(ref).max())
        head = top_rows(ref, 50)
        np.testing.assert_allclose(results[i][head], ref[head], rtol=1e-4, atol=1e-4)


def test_int8_index_spans_several_sessions(monkeypatch: pytest.MonkeyPatch) -> None:
    from furet.vectors import quantized

    monkeypatch.setattr(quantized, "CHUNK_ROWS", 4096)
    x = clustered(10000, 64, seed=8)
    idx = Int8Index(x)
    assert len(idx._chunks) == 3
    w = x[:2].astype(np.float32).mean(0) * 10
    ref = x.astype(np.float32) @ w
    got = idx.scores(w)
    np.testing.assert_allclose(got, ref, atol=1.5e-2 * np.abs(ref).max())
    assert set(top_rows(got, 50)) == set(top_rows(ref, 50))


def test_factory_picks_the_scan() -> None:
    small = clustered(100, 16)
    assert isinstance(create_index(small), ExactIndex)
    assert isinstance(create_index(small, "int8"), Int8Index)
    big = np.zeros((INT8_MIN_ROWS, 4), np.float16)
    assert isinstance(create_index(big), Int8Index)
    assert isinstance(create_index(big, "exact"), ExactIndex)
    with pytest.raises(Exception, match="scan must be one of"):
        create_index(small, "fast")
