"""The FAISS k-NN path against the exact scan (the reference), on 50k clustered vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from furet.vectors import faiss_knn
from furet.vectors.exact import ExactIndex
from furet.vectors.faiss_knn import FaissKnn

N, DIM = 50_000, 64


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((200, DIM)).astype(np.float32)
    x = centres[rng.integers(0, 200, N)] + 0.7 * rng.standard_normal((N, DIM)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    queries = x[rng.choice(N, 20, replace=False)] + 0.05 * rng.standard_normal((20, DIM))
    return x.astype(np.float16), queries.astype(np.float32)


@pytest.fixture(scope="module")
def knn(data: tuple[np.ndarray, np.ndarray]) -> FaissKnn:
    x, _ = data
    index = FaissKnn(x[: N - 5_000])
    index.extend(x)  # the last 5,000 rows added later, as an ingestion would
    return index


def test_recall_of_the_exact_top_100_and_exact_scores(
    data: tuple[np.ndarray, np.ndarray], knn: FaissKnn
) -> None:
    x, queries = data
    exact = ExactIndex(x)
    assert len(knn) == N
    recalls = []
    for q in queries:
        rows, scores = knn.topk(q, 100)
        ref_rows, _ = exact.topk(q, 100)
        recalls.append(len(set(rows.tolist()) & set(ref_rows.tolist())) / 100)
        np.testing.assert_allclose(scores, x[rows].astype(np.float32) @ q, atol=1e-5)
        assert (np.diff(scores) <= 0).all()
    assert np.mean(recalls) >= 0.95, recalls


def test_rows_added_later_are_found_and_exclusions_hold(
    data: tuple[np.ndarray, np.ndarray], knn: FaissKnn
) -> None:
    x, _ = data
    late = N - 10  # a row of the extension
    rows, scores = knn.topk(x[late].astype(np.float32), 5)
    assert rows[0] == late and scores[0] == pytest.approx(1.0, abs=1e-2)
    rows, _ = knn.topk(x[late].astype(np.float32), 5, exclude=np.array([late]))
    assert late not in rows and len(rows) == 5


def test_a_saved_index_is_read_back_and_extended(
    data: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    x, queries = data
    ids = np.arange(N, dtype=np.int64) + 1000
    first = FaissKnn(x[:10_000])
    first.save(tmp_path / "knn.faiss", ids)
    back = FaissKnn.load(tmp_path / "knn.faiss", x[:12_000], ids[:12_000])
    assert back is not None and len(back) == 12_000  # 2,000 rows added on load
    assert back.persisted == 10_000  # what the file holds: a save is owed
    back.save(tmp_path / "knn.faiss", ids)
    assert back.persisted == 12_000
    again = FaissKnn.load(tmp_path / "knn.faiss", x[:12_000], ids[:12_000])
    assert again is not None and again.persisted == len(again) == 12_000
    q = x[11_500].astype(np.float32)
    assert back.topk(q, 1)[0][0] == 11_500
    ref, _ = ExactIndex(x[:12_000]).topk(queries[0], 10)
    assert len(set(back.topk(queries[0], 10)[0].tolist()) & set(ref.tolist())) >= 9
    # Rows that are not the saved ones first: not used (the caller rebuilds).
    assert FaissKnn.load(tmp_path / "knn.faiss", x[:12_000], ids[1:12_001]) is None
    (tmp_path / "knn.faiss").write_bytes(b"torn")
    assert FaissKnn.load(tmp_path / "knn.faiss", x[:12_000], ids[:12_000]) is None


def test_wide_vectors_are_searched_in_a_projection(tmp_path: Path) -> None:
    """Above ``PROJECT_ABOVE`` dimensions the graph runs over ``KNN_DIMS`` principal components
    (real features' spectra fall: here k^-1.05 within clusters, as lite0's): recall of the
    exact top-100 still >= 0.95, exact scores, and the projection is saved with the graph."""
    n, dim = 20_000, faiss_knn.PROJECT_ABOVE + 128
    rng = np.random.default_rng(3)
    k = np.arange(1, dim + 1)
    sd = np.sqrt(k**-1.05 / (k**-1.05).sum()).astype(np.float32)
    centres = rng.standard_normal((100, dim)).astype(np.float32) * sd * 1.5
    rotation = np.linalg.qr(rng.standard_normal((dim, dim)))[0].astype(np.float32)
    x = (centres[rng.integers(0, 100, n)] + rng.standard_normal((n, dim)) * sd) @ rotation
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float16)
    knn = FaissKnn(x[:15_000])
    knn.extend(x)
    assert knn.graph_dims == faiss_knn.KNN_DIMS
    exact = ExactIndex(x)
    recalls = []
    for row in rng.choice(n, 15, replace=False):
        q = x[row].astype(np.float32) + 0.02 * rng.standard_normal(dim).astype(np.float32)
        rows, scores = knn.topk(q, 100)
        ref_rows, _ = exact.topk(q, 100)
        recalls.append(len(set(rows.tolist()) & set(ref_rows.tolist())) / 100)
        np.testing.assert_allclose(scores, x[rows].astype(np.float32) @ q, atol=1e-5)
    assert np.mean(recalls) >= 0.95, recalls
    ids = np.arange(n, dtype=np.int64)
    knn.save(tmp_path / "knn.faiss", ids)
    back = FaissKnn.load(tmp_path / "knn.faiss", x, ids)
    assert back is not None and back.graph_dims == faiss_knn.KNN_DIMS
    q = x[123].astype(np.float32)
    assert back.topk(q, 5)[0].tolist() == knn.topk(q, 5)[0].tolist()
