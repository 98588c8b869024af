"""Measures between classes and between a class and vectors (domain.resemblance)."""

from __future__ import annotations

import numpy as np
import pytest

from furet.domain.classifier import fit_linear
from furet.domain.resemblance import (
    QUANTILES,
    RELATED,
    ClassProfile,
    on_positives,
    own_scores,
    profile,
    relative_on_positives,
    resemblance,
    score_scale,
    spread_rows,
    standardised_scores,
    top_length,
    top_overlap,
    weight_cosine,
)
from furet.errors import InvalidInputError

DIM = 48
CONCEPTS = 6
PER_CONCEPT = 120


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _collection(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``CONCEPTS`` clusters of L2-normalised vectors, and each vector's concept."""
    rng = np.random.default_rng(seed)
    centres = _unit(rng.standard_normal((CONCEPTS, DIM)))
    concept = np.repeat(np.arange(CONCEPTS), PER_CONCEPT)
    noise = 1.2 * rng.standard_normal((len(concept), DIM)) / np.sqrt(DIM)
    return _unit(centres[concept] + noise), concept


def _taught(
    x: np.ndarray, concept: np.ndarray, c: int, seed: int, marks: int = 12, scale: float = 1.0
) -> ClassProfile:
    """A class of concept ``c`` taught from ``marks`` random items of it and as many others."""
    rng = np.random.default_rng(seed)
    pos = rng.choice(np.flatnonzero(concept == c), marks, replace=False)
    neg = rng.choice(np.flatnonzero(concept != c), marks, replace=False)
    model = fit_linear(x[pos], x[neg], background=x.mean(axis=0), cross_validate=False)
    w, b = model.w * scale, model.b * scale
    return profile(w, b, score_scale(x, w, b), x[pos])


def test_spread_rows_are_all_rows_or_an_even_deterministic_sample() -> None:
    assert spread_rows(5, 10).tolist() == [0, 1, 2, 3, 4]
    rows = spread_rows(1001, 11)
    assert rows.tolist() == list(range(0, 1001, 100))
    assert np.array_equal(rows, spread_rows(1001, 11))


def test_scale_standardises_and_gives_percentiles() -> None:
    x, _ = _collection()
    rng = np.random.default_rng(1)
    w, b = rng.standard_normal(DIM).astype(np.float32), 0.3
    scale = score_scale(x, w, b)
    scores = x @ w + b
    assert scale.mean == pytest.approx(scores.mean(), rel=1e-4)
    assert scale.std == pytest.approx(scores.std(), rel=1e-4)
    z = scale.standardise(scores)
    assert z.mean() == pytest.approx(0, abs=1e-5) and z.std() == pytest.approx(1, rel=1e-4)
    assert scale.quantiles.shape == (QUANTILES + 1,)
    assert scale.percentile(np.median(scores)) == pytest.approx(0.5, abs=0.01)
    assert scale.percentile(scores.max() + 1) == 1 and scale.percentile(scores.min() - 1) == 0


def test_scale_of_a_sample_is_close_to_the_whole_collection() -> None:
    rng = np.random.default_rng(2)
    x = _unit(rng.standard_normal((60_000, DIM))).astype(np.float16)
    w = rng.standard_normal(DIM).astype(np.float32)
    whole = score_scale(x, w, 0.0, sample=len(x))
    sampled = score_scale(x, w, 0.0, sample=5_000)
    assert sampled.mean == pytest.approx(whole.mean, abs=0.02 * whole.std)
    assert sampled.std == pytest.approx(whole.std, rel=0.03)


def test_standardised_scores_ignore_the_scale_a_model_was_trained_at() -> None:
    """A model whose logits are 5x larger (another learner, another scale) ranks the same as
    its original on every vector, once standardised; its raw logits would not."""
    x, concept = _collection()
    plain = _taught(x, concept, 0, seed=3)
    loud = _taught(x, concept, 0, seed=3, scale=5.0)
    z = standardised_scores([plain, loud], x[:50])
    assert z.shape == (50, 2)
    np.testing.assert_allclose(z[:, 0], z[:, 1], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(
        z[:, 0], plain.scale.standardise(x[:50] @ plain.w + plain.b), rtol=1e-5, atol=1e-5
    )


def test_on_positives_is_the_mean_standardised_score_on_the_positives() -> None:
    x, concept = _collection()
    rng = np.random.default_rng(4)
    pos = rng.choice(np.flatnonzero(concept == 1), 9, replace=False)
    theirs = _taught(x, concept, 1, seed=5)
    mine = profile(np.ones(DIM, np.float32), 0.0, score_scale(x, np.ones(DIM), 0.0), x[pos])
    expected = theirs.scale.standardise(x[pos] @ theirs.w + theirs.b).mean()
    assert on_positives([mine], [theirs])[0, 0] == pytest.approx(expected, rel=1e-4)


def test_classes_of_one_concept_resemble_each_other_and_no_other() -> None:
    """Two users teach each concept from different items: every class's most resembling
    class of the other user is the one of its concept, above RELATED; others are below."""
    x, concept = _collection()
    first = [_taught(x, concept, c, seed=10 + c) for c in range(CONCEPTS)]
    second = [_taught(x, concept, c, seed=50 + c, marks=6, scale=3.0) for c in range(CONCEPTS)]
    r = resemblance(first, second)
    assert r.shape == (CONCEPTS, CONCEPTS)
    np.testing.assert_allclose(r, resemblance(second, first).T)  # symmetric
    assert (r.argmax(axis=1) == np.arange(CONCEPTS)).all()
    assert (np.diag(r) >= RELATED).all()
    assert (r[~np.eye(CONCEPTS, dtype=bool)] < RELATED).all()
    cos = weight_cosine(first, second)
    assert (cos.argmax(axis=1) == np.arange(CONCEPTS)).all()
    assert weight_cosine(first[:1], first[:1])[0, 0] == pytest.approx(1.0, abs=1e-6)


def test_resemblance_is_relative_to_a_class_on_its_own_positives() -> None:
    """In a collection where the concept is half of the items, its positives sit about 1
    deviation above the mean (2 where it is one in six): the relative resemblance of two
    classes of it stays above RELATED in both, and a class on itself is 1."""
    x, concept = _collection()
    a = _taught(x, concept, 2, seed=7)
    assert relative_on_positives([a], [a])[0, 0] == pytest.approx(1.0)
    keep = np.concatenate([np.flatnonzero(concept == 2), np.flatnonzero(concept == 3)])
    common_x, common_c = x[keep], concept[keep]  # concept 2 is half of this collection
    rare = [_taught(x, concept, 2, seed=s) for s in (8, 9)]
    common = [_taught(common_x, common_c, 2, seed=s) for s in (8, 9)]
    assert own_scores(rare)[0] > 1.8 and own_scores(common)[0] < 1.2
    assert resemblance(rare[:1], rare[1:])[0, 0] >= RELATED
    assert resemblance(common[:1], common[1:])[0, 0] >= RELATED
    other = _taught(common_x, common_c, 3, seed=10)
    assert resemblance(common[:1], [other])[0, 0] < 0


def test_top_overlap_is_the_share_of_one_list_in_the_other() -> None:
    assert [top_length(n) for n in (3, 30, 400, 1360, 10**6)] == [3, 5, 20, 50, 50]
    assert top_overlap(np.array([1, 2, 3, 4]), np.array([4, 3, 9, 8])) == 0.5
    assert top_overlap(np.array([], np.int64), np.array([], np.int64)) == 0.0


def test_mismatched_or_empty_inputs_are_refused() -> None:
    x, concept = _collection()
    a = _taught(x, concept, 0, seed=1)
    with pytest.raises(InvalidInputError):
        profile(a.w, a.b, a.scale, np.zeros((0, DIM)))
    with pytest.raises(InvalidInputError):
        profile(a.w, a.b, a.scale, np.zeros((3, DIM + 1)))
    with pytest.raises(InvalidInputError):
        standardised_scores([a], np.zeros((2, DIM + 1)))
    with pytest.raises(InvalidInputError):
        score_scale(np.zeros((0, DIM)), a.w, a.b)
    other = profile(np.ones(DIM + 2), 0.0, a.scale, np.ones((1, DIM + 2)))
    with pytest.raises(InvalidInputError):
        resemblance([a], [other])
    assert resemblance([], [a]).shape == (0, 1)
    assert standardised_scores([], x[:3]).shape == (3, 0)
