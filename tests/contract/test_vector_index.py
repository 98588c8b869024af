"""Congruence: the vector index agrees with the float32 numpy reference."""

import numpy as np
import pytest

from furet.vectors.base import top_rows
from furet.vectors.exact import ExactIndex


def clustered(n: int, d: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(20, d))
    x = centres[rng.integers(0, 20, n)] + 0.5 * rng.normal(size=(n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float16)


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_scores_match_reference_and_head_is_exact(dtype: type) -> None:
    x = clustered(20000, 256).astype(dtype)
    w = np.random.default_rng(1).normal(size=256).astype(np.float32) * 7
    ref = x.astype(np.float32) @ w + 0.5
    got = ExactIndex(x).scores(w, 0.5)
    assert got.dtype == np.float32 and got.shape == (20000,)
    np.testing.assert_allclose(got, ref, atol=2e-3 * np.abs(ref).max())
    head = top_rows(ref, 100)
    np.testing.assert_allclose(got[head], ref[head], rtol=1e-5, atol=1e-5)
    assert set(top_rows(got, 100)) == set(head)  # recall of the exact top-100 = 1


def test_topk_excludes_and_orders() -> None:
    x = clustered(5000, 64)
    q = x[7].astype(np.float32)
    rows, scores = ExactIndex(x).topk(q, 10, exclude=np.array([7]))
    assert 7 not in rows and len(rows) == 10
    assert list(scores) == sorted(scores, reverse=True)
    ref = x.astype(np.float32) @ q
    ref[7] = -np.inf
    assert set(rows) == set(top_rows(ref, 10))


def test_empty_index() -> None:
    idx = ExactIndex(np.zeros((0, 8), np.float16))
    assert len(idx) == 0 and idx.scores(np.ones(8)).shape == (0,)


def test_concurrent_queries_are_batched_and_exact() -> None:
    import threading

    x = clustered(30000, 128, seed=5)
    idx = ExactIndex(x)
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
        np.testing.assert_allclose(results[i], ref, atol=3e-3 * np.abs(ref).max())
        head = top_rows(ref, 50)
        np.testing.assert_allclose(results[i][head], ref[head], rtol=1e-4, atol=1e-4)
