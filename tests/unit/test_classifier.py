from __future__ import annotations

import time

import numpy as np
import pytest

from furet.domain.classifier import (
    CV_FOLDS,
    CV_MAX_PER_CLASS,
    GramCache,
    LinearModel,
    fit_linear,
    sample_weak_negatives,
    score,
)
from furet.domain.metrics import average_precision
from furet.errors import InvalidInputError

DIM = 64


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _two_clusters(
    n_per: int, spread: float = 0.8, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two L2-normalised clusters in a background of random directions; returns (pos, neg, bg)."""
    rng = np.random.default_rng(seed)
    centres = _unit(rng.standard_normal((2, DIM)))
    pos = _unit(centres[0] + spread * rng.standard_normal((n_per, DIM)) / np.sqrt(DIM))
    neg = _unit(centres[1] + spread * rng.standard_normal((n_per, DIM)) / np.sqrt(DIM))
    bg = _unit(rng.standard_normal((20 * n_per, DIM)))
    return pos, neg, bg


def test_model_separates_classes_and_scores_are_logits() -> None:
    pos, neg, bg = _two_clusters(40)
    model = fit_linear(pos[:10], neg[:10], background=bg.mean(axis=0))
    assert isinstance(model, LinearModel)
    assert model.w.dtype == np.float32 and model.w.shape == (DIM,)
    s_pos, s_neg = score(model, pos[10:]), score(model, neg[10:])
    assert (s_pos > 0).mean() > 0.9 and (s_neg < 0).mean() > 0.9
    y = np.r_[np.ones(30, bool), np.zeros(30, bool)]
    assert average_precision(y, np.r_[s_pos, s_neg]) > 0.95
    assert (model.n_pos, model.n_neg, model.n_weak) == (10, 10, 0)


def test_single_positive_ranks_like_centred_nearest_neighbours() -> None:
    pos, _, bg = _two_clusters(30)
    mu = bg.mean(axis=0)
    model = fit_linear(pos[:1], background=mu)
    expected = bg @ (pos[0] - mu)
    got = score(model, bg)
    assert np.corrcoef(expected, got)[0, 1] > 0.9999
    # The positive's own score is the positives' mean: logit ln 9 (probability 0.9).
    assert float(score(model, pos[:1])[0]) == pytest.approx(np.log(9.0), rel=1e-4)


def test_weak_negatives_used_only_without_marked_negatives() -> None:
    pos, neg, bg = _two_clusters(20)
    with_weak = fit_linear(pos[:3], None, bg[:50])
    assert with_weak.n_weak == 50 and with_weak.n_neg == 0
    ignored = fit_linear(pos[:3], neg[:2], bg[:50], background=bg.mean(axis=0))
    plain = fit_linear(pos[:3], neg[:2], background=bg.mean(axis=0))
    assert ignored.n_weak == 0
    np.testing.assert_allclose(ignored.w, plain.w)


def test_weak_negatives_push_background_down() -> None:
    pos, _, bg = _two_clusters(20)
    model = fit_linear(pos[:3], None, bg[:200])
    assert (score(model, bg[200:]) < 0).mean() > 0.9
    assert (score(model, pos[3:]) > 0).mean() > 0.9


def test_cv_score_only_with_enough_labels() -> None:
    pos, neg, bg = _two_clusters(20)
    assert fit_linear(pos[:4], neg[:10], background=bg.mean(0)).cv_score is None
    assert fit_linear(pos[:10], neg[:4], background=bg.mean(0)).cv_score is None
    cv = fit_linear(pos[:10], neg[:10], background=bg.mean(0)).cv_score
    assert cv is not None and cv > 0.9
    # Labels that carry no signal give a cross-validated AP far from perfect.
    rng = np.random.default_rng(3)
    noise = _unit(rng.standard_normal((40, DIM)))
    random_cv = fit_linear(noise[:20], noise[20:], background=bg.mean(0)).cv_score
    assert random_cv is not None and random_cv < 0.8


def _explicit_cv(pos: np.ndarray, neg: np.ndarray, bg: np.ndarray) -> float:
    """5-fold CV by refitting each fold with the public API (the definition of cv_score)."""
    fp, fn = np.arange(len(pos)) % CV_FOLDS, np.arange(len(neg)) % CV_FOLDS
    sp, sn = np.empty(len(pos)), np.empty(len(neg))
    for f in range(CV_FOLDS):
        m = fit_linear(pos[fp != f], neg[fn != f], background=bg, cross_validate=False)
        sp[fp == f] = pos[fp == f] @ m.w + m.b
        sn[fn == f] = neg[fn == f] @ m.w + m.b
    truth = np.r_[np.ones(len(pos), bool), np.zeros(len(neg), bool)]
    return average_precision(truth, np.r_[sp, sn])


@pytest.mark.parametrize(("n_pos", "n_neg"), [(5, 5), (7, 23), (40, 31)])
def test_cv_score_equals_refitting_every_fold(n_pos: int, n_neg: int) -> None:
    # Overlapping classes, so the out-of-fold AP is neither 0 nor 1.
    pos, neg, bg = _two_clusters(max(n_pos, n_neg), spread=6.0, seed=n_pos)
    model = fit_linear(pos[:n_pos], neg[:n_neg], background=bg.mean(0))
    expected = _explicit_cv(pos[:n_pos], neg[:n_neg], bg.mean(0))
    assert 0.3 < expected < 0.99
    assert model.cv_score == pytest.approx(expected, abs=1e-9)


def test_cv_score_of_a_big_class_uses_an_even_subsample() -> None:
    pos, neg, bg = _two_clusters(3 * CV_MAX_PER_CLASS, spread=6.0, seed=9)
    model = fit_linear(pos, neg[: CV_MAX_PER_CLASS + 7], background=bg.mean(0))
    keep_p = np.unique(np.linspace(0, len(pos) - 1, CV_MAX_PER_CLASS).round().astype(int))
    keep_n = np.unique(np.linspace(0, CV_MAX_PER_CLASS + 6, CV_MAX_PER_CLASS).round().astype(int))
    expected = _explicit_cv(pos[keep_p], neg[keep_n], bg.mean(0))
    assert model.cv_score == pytest.approx(expected, abs=1e-9)


def test_score_float16_matches_float32_and_chunks() -> None:
    pos, neg, bg = _two_clusters(20)
    model = fit_linear(pos[:5], neg[:5])
    big = np.tile(bg, (400, 1))  # 160k rows: several chunks
    s32 = score(model, big)
    s16 = score(model, big.astype(np.float16))
    assert s32.dtype == np.float32 and s32.shape == (big.shape[0],)
    np.testing.assert_allclose(s32, big.astype(np.float64) @ model.w + model.b, atol=1e-4)
    np.testing.assert_allclose(s16, s32, atol=2e-2)


def test_fit_is_fast_for_a_few_hundred_labels() -> None:
    rng = np.random.default_rng(0)
    x = _unit(rng.standard_normal((400, 1280)))
    fit_linear(x[:150], x[150:], cross_validate=False)
    t0 = time.perf_counter()
    for _ in range(5):
        fit_linear(x[:150], x[150:], cross_validate=False)
    # ~5 ms on an idle core; the bound only catches a pathological (e.g. primal d^3) solver
    # on a shared, loaded CI machine.
    assert (time.perf_counter() - t0) / 5 < 0.5


def test_bad_input_raises() -> None:
    pos, neg, _ = _two_clusters(5)
    with pytest.raises(InvalidInputError):
        fit_linear(pos[:0])
    with pytest.raises(InvalidInputError):
        fit_linear(pos, neg[:, :10])
    with pytest.raises(InvalidInputError):
        fit_linear(np.full((2, DIM), np.nan))
    with pytest.raises(InvalidInputError):
        fit_linear(pos, l2=0.0)
    with pytest.raises(InvalidInputError):
        fit_linear(pos, background=np.zeros(3))
    model = fit_linear(pos)
    with pytest.raises(InvalidInputError):
        score(model, np.zeros((3, DIM + 1), np.float32))


@pytest.mark.parametrize("n_labelled", [0, 10, 990])
def test_sample_weak_negatives(n_labelled: int) -> None:
    rng = np.random.default_rng(0)
    labelled = np.zeros(1000, np.int8)
    labelled[:n_labelled] = 1
    rows = sample_weak_negatives(labelled, 50, rng)
    assert rows.size == min(50, 1000 - n_labelled)
    assert np.all(labelled[rows] == 0)
    assert np.unique(rows).size == rows.size
    assert np.all(np.diff(rows) > 0)


def test_sample_weak_negatives_is_uniform() -> None:
    rng = np.random.default_rng(1)
    labelled = np.zeros(100, np.int8)
    counts = np.zeros(100)
    for _ in range(2000):
        counts[sample_weak_negatives(labelled, 5, rng)] += 1
    assert counts.min() > 60 and counts.max() < 145  # expected 100 each


def test_gram_cache_extends_the_last_matrix_of_a_key() -> None:
    rng = np.random.default_rng(3)
    x = _unit(rng.standard_normal((60, DIM)))
    ids = np.arange(60) * 10
    cache = GramCache()
    first = cache.gram("c", ids[:40], x[:40])
    np.testing.assert_allclose(first, x[:40] @ x[:40].T, rtol=1e-5, atol=1e-6)
    # Rows added in the middle and at the end, one removed, one that is not an item (-1).
    keep = np.r_[0:12, 13:40]
    rows = np.r_[keep[:20], 45, keep[20:], 50, 51]
    a = np.vstack([x[rows], x[59:60]])
    got = cache.gram("c", np.r_[ids[rows], -1], a)
    np.testing.assert_allclose(got, a @ a.T, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got, got.T)
    # Another key, or ids that match nothing, compute from scratch.
    other = cache.gram("d", ids[:5], x[30:35])
    np.testing.assert_allclose(other, x[30:35] @ x[30:35].T, rtol=1e-5, atol=1e-6)


def test_gram_cache_extends_across_many_scattered_insertions() -> None:
    rng = np.random.default_rng(4)
    x = _unit(rng.standard_normal((80, DIM)))
    ids = np.arange(80)
    cache = GramCache()
    cache.gram("c", ids[::2][:30], x[::2][:30])  # every other row: the rest arrive in between
    rows = np.r_[np.arange(0, 60, 2), np.arange(1, 30, 2)]
    rows.sort()  # 15 new rows interleaved with 30 known ones: many runs
    got = cache.gram("c", ids[rows], x[rows])
    np.testing.assert_allclose(got, x[rows] @ x[rows].T, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got, got.T)


def test_gram_cache_keeps_within_its_bytes() -> None:
    x = _unit(np.random.default_rng(4).standard_normal((20, DIM)))
    cache = GramCache(max_bytes=3 * (20 * 20 * 8 + 20 * 8))
    for key in range(5):
        cache.gram(key, np.arange(20), x)
    assert list(cache._entries) == [2, 3, 4]  # the least recently used went first
    small = GramCache(max_bytes=100)  # an entry bigger than the bound is not kept
    small.gram("c", np.arange(20), x)
    assert not small._entries


def test_fit_with_the_gram_cache_equals_a_fit_without() -> None:
    pos, neg, bg = _two_clusters(40, seed=5)
    ids_pos, ids_neg = np.arange(40), np.arange(40) + 100
    cache = GramCache()
    for n in (20, 25, 40):  # growing marks, as rounds add them
        plain = fit_linear(pos[:n], neg[:n], background=bg.mean(0))
        cached = fit_linear(
            pos[:n],
            neg[:n],
            background=bg.mean(0),
            gram_cache=cache,
            cache_key="class",
            row_ids=(ids_pos[:n], ids_neg[:n], np.zeros(0, np.int64)),
        )
        np.testing.assert_allclose(cached.w, plain.w, rtol=1e-4, atol=1e-5)
        assert cached.cv_score == pytest.approx(plain.cv_score, abs=1e-6)
    with pytest.raises(InvalidInputError, match="row_ids"):
        fit_linear(pos, neg, gram_cache=cache, row_ids=(ids_pos[:3], ids_neg, ids_neg))
