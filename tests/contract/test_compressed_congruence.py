"""Congruence of the compressed scan with the exact reference (issue 15).

On 60k clustered vectors whose spectrum falls like real features' (eigenvalue k ~ k^-1.05, as
lite0 measures on oxford-flowers17; the clusters as much in the tail as the noise, harsher than
real classes), for class-like models: the rows the compressed path re-scores exactly hold the
exact top-100 of every mode's ranking (by score for Search, Most useful and Discovery's exploit
part, by distance to the boundary for Ambiguous), Search pages are identical, every shown item
carries its exact score, and a query whose error is too large falls back to the exact scan
rather than answer wrongly.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from furet.domain.classifier import fit_linear
from furet.domain.modes import select_page
from furet.vectors import compressed
from furet.vectors.base import top_rows
from furet.vectors.compressed import CompressedIndex, fit_basis
from furet.vectors.factory import COMPRESSED_MIN_ROWS, create_index

N, DIM, CLUSTERS = 60_000, 256, 200


def spectral(
    n: int, dim: int, seed: int = 0, spectrum: float = 1.05
) -> tuple[np.ndarray, np.ndarray]:
    """Unit float16 rows in ``CLUSTERS`` clusters, power-law spectrum, random rotation."""
    rng = np.random.default_rng(seed)
    sd = np.sqrt(np.arange(1, dim + 1, dtype=np.float64) ** -spectrum).astype(np.float32)
    rotation, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    centres = rng.standard_normal((CLUSTERS, dim), dtype=np.float32) * sd
    assign = rng.integers(0, CLUSTERS, n)
    x = centres[assign] + rng.standard_normal((n, dim), dtype=np.float32) * sd
    x = x @ rotation.astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float16), assign


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, CompressedIndex]:
    x, assign = spectral(N, DIM)
    return x, assign, CompressedIndex(x)


def _class(
    x: np.ndarray, assign: np.ndarray, cls: int, seed: int
) -> tuple[np.ndarray, np.ndarray, float]:
    rng = np.random.default_rng(seed)
    members = np.flatnonzero(assign == cls)
    pos = rng.choice(members, 20, replace=False)
    neg = rng.choice(np.flatnonzero(assign != cls), 30, replace=False)
    labelled = np.zeros(len(x), np.int8)
    labelled[pos], labelled[neg] = 1, -1
    model = fit_linear(x[pos].astype(np.float32), x[neg].astype(np.float32), cross_validate=False)
    return labelled, model.w, model.b


def _exact(x: np.ndarray, w: np.ndarray, b: float) -> np.ndarray:
    return (torch.from_numpy(x).float() @ torch.from_numpy(w)).numpy() + np.float32(b)


def test_the_copy_is_compressed(data: tuple[np.ndarray, np.ndarray, CompressedIndex]) -> None:
    _, _, index = data
    assert index.basis.dims <= DIM // 2  # at least 4x fewer bytes than the int8 codes
    assert index.basis.explained >= 0.5


@pytest.mark.parametrize("cls", [0, 1, 2])
def test_every_modes_candidates_hold_the_exact_top_100(
    data: tuple[np.ndarray, np.ndarray, CompressedIndex], cls: int
) -> None:
    x, assign, index = data
    labelled, w, b = _class(x, assign, cls, seed=cls)
    exact = _exact(x, w, b)
    got, rows = index.refined(w, b, boundary=False)  # what Search-like rankings need
    assert rows is not None and len(rows) < N // 20  # pruned: most rows never re-scored
    unlabelled = np.flatnonzero(labelled == 0)
    by_score = unlabelled[np.argsort(-exact[unlabelled], kind="stable")[:100]]
    by_boundary = unlabelled[np.argsort(np.abs(exact[unlabelled]), kind="stable")[:100]]
    assert np.isin(by_score, rows).mean() >= 0.95  # Search, Most useful, Discovery, Refine
    np.testing.assert_allclose(got[rows], exact[rows], rtol=1e-5, atol=1e-5)
    # Ambiguous: the band too (re-scored, or every row where the band is too dense).
    near, band = index.refined(w, b, boundary=True)
    assert band is None or np.isin(by_boundary, band).mean() >= 0.95
    # Identical Search pages; every mode's shown items carry exact scores.
    np.testing.assert_array_equal(
        select_page("search", got, labelled, 15), select_page("search", exact, labelled, 15)
    )
    for mode in ("search", "ambiguous", "most_useful", "discovery", "refine"):
        scores = near if mode == "ambiguous" else got
        page = select_page(mode, scores, labelled, 15, rng=np.random.default_rng(0))
        shown = index.rescore(page, w, b)  # what a round displays
        np.testing.assert_allclose(shown, exact[page], rtol=1e-5, atol=1e-5)
        if mode in ("search", "ambiguous", "most_useful"):
            np.testing.assert_allclose(scores[page], exact[page], rtol=1e-5, atol=1e-5)
        if mode == "ambiguous":
            np.testing.assert_array_equal(page, select_page(mode, exact, labelled, 15))


def test_a_query_the_copy_cannot_answer_falls_back_to_the_exact_scan(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Isotropic rows and a random query: the reduced copy explains little of the score.
    rng = np.random.default_rng(3)
    x = rng.standard_normal((20_000, 128)).astype(np.float32)
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float16)
    index = CompressedIndex(x, dims=16)
    monkeypatch.setattr(compressed, "MAX_CANDIDATES", 500)
    w = rng.standard_normal(128).astype(np.float32)
    got, rows = index.refined(w, 0.25)
    assert rows is None and index.fallbacks == 1
    np.testing.assert_allclose(got, _exact(x, w, 0.25), rtol=1e-5, atol=1e-5)


def test_extended_index_encodes_only_the_added_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compressed, "CHUNK_ROWS", 4096)
    x, assign = spectral(12_000, 64, seed=4)
    old = CompressedIndex(x[:9000])
    grown = old.extended(x)
    fresh = CompressedIndex(x, basis=old.basis)
    shared = [c.session for c in grown._chunks[:2]]
    assert shared == [c.session for c in old._chunks[:2]]  # the full chunks' passes reused
    assert [(c.lo, c.hi) for c in grown._chunks] == [(0, 4096), (4096, 8192), (8192, 12000)]
    w = x[assign == 1][:5].astype(np.float32).mean(axis=0) * 10
    np.testing.assert_array_equal(grown.approximate(w, 0.5), fresh.approximate(w, 0.5))
    assert not grown.stale


def test_rows_from_elsewhere_make_the_index_stale() -> None:
    x, _ = spectral(8000, 64, seed=5)
    index = CompressedIndex(x, dims=16)
    rng = np.random.default_rng(6)
    # New rows mostly outside the kept components.
    other = rng.standard_normal((4000, 64)).astype(np.float32)
    other -= (other @ index.basis.components.T) @ index.basis.components
    other = (other / np.linalg.norm(other, axis=1, keepdims=True)).astype(np.float16)
    assert index.extended(np.concatenate([x, other])).stale


def test_basis_holds_the_asked_share_of_the_variance() -> None:
    x, _ = spectral(20_000, 128, seed=7)
    basis = fit_basis(x.astype(np.float32))
    assert basis.explained >= compressed.EXPLAINED or basis.dims == compressed.MAX_DIMS
    assert basis.dims % compressed.DIM_STEP == 0
    np.testing.assert_allclose(basis.components @ basis.components.T, np.eye(basis.dims), atol=1e-4)
    assert abs(basis.explained_on(x.astype(np.float32)) - basis.explained) < 0.02


def test_topk_rescore_empty_and_concurrent(
    data: tuple[np.ndarray, np.ndarray, CompressedIndex],
) -> None:
    x, assign, index = data
    q = x[7].astype(np.float32)
    rows, scores = index.topk(q, 10, exclude=np.array([7]))
    ref = _exact(x, q, 0.0)
    assert 7 not in rows and list(scores) == sorted(scores, reverse=True)
    ref[7] = -np.inf
    assert set(rows) == set(top_rows(ref, 10))
    assert len(CompressedIndex(np.zeros((0, 8), np.float16)).scores(np.ones(8))) == 0
    ws = [_class(x, assign, c, seed=10 + c)[1:] for c in range(6)]
    results: dict[int, np.ndarray] = {}

    def run(i: int) -> None:
        results[i] = index.scores(*ws[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, (w, b) in enumerate(ws):
        exact = _exact(x, w, b)
        head = top_rows(exact, 50)
        np.testing.assert_allclose(results[i][head], exact[head], rtol=1e-5, atol=1e-5)


def test_factory_serves_large_spaces_compressed() -> None:
    assert isinstance(create_index(np.zeros((100, 4), np.float16), "compressed"), CompressedIndex)
    big = np.random.default_rng(0).standard_normal((COMPRESSED_MIN_ROWS, 4)).astype(np.float16)
    assert isinstance(create_index(big), CompressedIndex)
    assert not isinstance(create_index(big, "exact"), CompressedIndex)
