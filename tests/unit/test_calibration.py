"""domain.calibration: Platt curve, out-of-fold scores, thresholds for a precision, top N."""

from __future__ import annotations

import math

import numpy as np
import pytest

from furet.domain.calibration import (
    MIN_PER_CLASS,
    Curve,
    cut_at,
    cut_for_precision,
    fit_curve,
    out_of_fold_scores,
    top_threshold,
)
from furet.domain.classifier import fit_linear, score
from furet.errors import InvalidInputError


def test_fit_curve_recovers_a_logistic_law() -> None:
    rng = np.random.default_rng(0)
    s = rng.normal(0, 2, 20_000)
    y = rng.random(len(s)) < 1 / (1 + np.exp(-(1.5 * s - 0.5)))
    curve = fit_curve(s, y)
    assert curve.slope == pytest.approx(1.5, rel=0.05)
    assert curve.intercept == pytest.approx(-0.5, abs=0.05)


def test_curve_score_at_inverts_probability() -> None:
    curve = Curve(2.0, -1.0)
    for p in (0.05, 0.5, 0.9):
        assert float(curve.probability(np.array([curve.score_at(p)]))[0]) == pytest.approx(p)
    with pytest.raises(InvalidInputError):
        curve.score_at(1.0)
    # No overflow far from the boundary.
    assert curve.probability(np.array([-1e6, 1e6])).tolist() == [0.0, 1.0]


def test_separated_marks_keep_a_finite_slope() -> None:
    s = np.array([-3.0, -2, -1.5, -1, -0.5, 1, 2, 2.5, 3, 4])
    y = s > 0
    curve = fit_curve(s, y)
    assert 0 < curve.slope < 100 and math.isfinite(curve.intercept)
    assert float(curve.probability(np.array([4.0]))[0]) > 0.8


def test_fit_curve_refuses_too_few_or_inverted_marks() -> None:
    with pytest.raises(InvalidInputError, match="at least"):
        fit_curve(np.arange(8.0), np.arange(8) < MIN_PER_CLASS - 1)
    s = np.arange(20.0)
    with pytest.raises(InvalidInputError, match="do not separate"):
        fit_curve(s, s < 10)  # higher scores, fewer positives


def test_cut_for_precision_on_marked_items_is_exact() -> None:
    scores = np.array([5.0, 4, 3, 2, 1, 0])
    labels = np.array([1, 1, -1, 1, 1, -1])
    curve = Curve(1.0, 0.0)  # unused: every item is marked
    # Precision at each cut: 1, 1, 2/3, 3/4, 4/5, 4/6.
    cut = cut_for_precision(scores, labels, curve, 0.75, floor=-10)
    assert cut is not None and cut.threshold == 1.0 and cut.tags == 5
    assert cut.precision == pytest.approx(0.8) and cut.precision_sd == 0.0  # all known
    cut = cut_for_precision(scores, labels, curve, 0.9, floor=-10)
    assert cut is not None and cut.threshold == 4.0 and cut.tags == 2
    # Never below the floor.
    cut = cut_for_precision(scores, labels, curve, 0.6, floor=1.5)
    assert cut is not None and cut.threshold == 2.0


def test_cut_for_precision_counts_unmarked_items_by_the_curve() -> None:
    curve = Curve(1.0, 0.0)
    scores = np.array([10.0, 10, 0.0, 0.0])
    labels = np.zeros(4, np.int8)
    # Two items at p ~ 1 and two at p = 0.5: precision 1 above 10, 0.75 at 0.
    cut = cut_for_precision(scores, labels, curve, 0.9, floor=-5, confidence=0)
    assert cut is not None and cut.tags == 2
    cut = cut_for_precision(scores, labels, curve, 0.7, floor=-5, confidence=0)
    assert cut is not None and cut.tags == 4 and cut.precision == pytest.approx(0.75, abs=1e-3)
    # The two coin flips' spread, sqrt(2 x 0.25) / 4, is the estimate's standard deviation...
    assert cut.precision_sd == pytest.approx(math.sqrt(0.5) / 4, rel=1e-3)
    # ... which the default threshold keeps above the target: 0.75 - 0.18 < 0.7.
    cut = cut_for_precision(scores, labels, curve, 0.7, floor=-5)
    assert cut is not None and cut.tags == 2
    assert cut_for_precision(scores, labels, curve, 0.9999999, floor=-5) is None
    with pytest.raises(InvalidInputError):
        cut_for_precision(scores, labels, curve, 1.0, floor=-5)


def test_ties_are_cut_together() -> None:
    scores = np.array([3.0, 2, 2, 2, 1])
    labels = np.array([1, 1, -1, 1, -1])
    cut = cut_for_precision(scores, labels, Curve(1, 0), 0.7, floor=-10)
    # Tied items are tagged or not together: 4 tags at 2.0 (precision 3/4).
    assert cut is not None and (cut.threshold, cut.tags) == (2.0, 4)


def test_estimate_matches_a_simulated_collection() -> None:
    """The estimated precision of a cut matches the truth of a collection drawn from the curve."""
    rng = np.random.default_rng(1)
    curve = Curve(1.2, -2.0)
    s = rng.normal(-1, 2.5, 200_000)
    truth = rng.random(len(s)) < curve.probability(s)
    cut = cut_for_precision(s, np.zeros(len(s), np.int8), curve, 0.9, floor=-5)
    assert cut is not None
    tagged = s >= cut.threshold
    assert truth[tagged].mean() == pytest.approx(cut.precision, abs=0.01)
    assert cut.precision - cut.precision_sd >= 0.9


def test_the_curves_uncertainty_widens_the_estimate() -> None:
    rng = np.random.default_rng(3)
    s = rng.normal(0, 2, 400)
    y = rng.random(len(s)) < 1 / (1 + np.exp(-2 * s))
    few, many = fit_curve(s[:40], y[:40]), fit_curve(s, y)
    assert few.var_slope > many.var_slope > 0 and few.var_intercept > many.var_intercept > 0
    unmarked = np.zeros(len(s), np.int8)
    sd_few = cut_at(s, unmarked, few, 0.0).precision_sd
    sd_known = cut_at(s, unmarked, Curve(few.slope, few.intercept), 0.0).precision_sd
    assert sd_few > sd_known > 0
    # Round trip through the list a tagging stores.
    assert Curve(*few.as_list()) == few


def test_cut_at_and_top_threshold() -> None:
    scores = np.array([3.0, 2, 2, 1])
    labels = np.array([1, 0, -1, 0])
    cut = cut_at(scores, labels, Curve(1.0, 0.0), 2.0)
    assert cut.tags == 3
    assert cut.expected_positives == pytest.approx(1 + 1 / (1 + math.exp(-2)))
    assert math.isnan(cut_at(scores, labels, None, 2.0).expected_positives)
    assert top_threshold(scores, 2) == 2.0  # ties with the 2nd best are tagged too
    assert top_threshold(scores, 10) == 1.0
    assert top_threshold(np.zeros(0), 3) == math.inf
    with pytest.raises(InvalidInputError):
        top_threshold(scores, 0)


def test_out_of_fold_scores_come_from_models_without_the_item() -> None:
    rng = np.random.default_rng(2)
    dim = 32
    centre = rng.standard_normal(dim)
    pos = centre + rng.standard_normal((20, dim)) * 0.5
    neg = rng.standard_normal((25, dim))
    # An outlier positive: in-sample its own mark pulls the model towards it.
    pos[0] = -centre + rng.standard_normal(dim) * 0.1
    for a in (pos, neg):
        a /= np.linalg.norm(a, axis=1, keepdims=True)
    background = np.concatenate([pos, neg]).mean(axis=0)
    oof_pos, oof_neg = out_of_fold_scores(pos, neg, background=background)
    assert oof_pos.shape == (20,) and oof_neg.shape == (25,)
    full = fit_linear(pos, neg, background=background, cross_validate=False)
    in_sample = score(full, pos[:1])[0]
    assert oof_pos[0] < in_sample
    assert np.median(oof_pos) > np.median(oof_neg)
