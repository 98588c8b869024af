"""The threshold of a mass enrichment, chosen for a requested precision. Pure numpy.

The precision of the tags ``score >= t`` over a whole collection is

    precision(t) = (positives scoring >= t) / (items scoring >= t).

The denominator is counted exactly by the enrichment pass. In the numerator, the items the user
marked are known; for every other item the chance of being a positive is read off a curve
``P(positive | score)`` fitted on the marked items (Platt scaling: a logistic function of the
score). The curve is fitted on **out-of-fold** scores (each marked item scored by a model fitted
without it, see :func:`out_of_fold_scores`), because an unmarked item is scored by a model that
never saw it, and the model's scores of its own training marks are optimistic.

Why marks chosen by the modes (Search shows the best-scored items) can calibrate the whole
collection: the modes choose an item by its vector, never by its label, so among marked items
``P(positive | vector)`` is the collection's; the Classify Random spot checks add a uniform
sample of the unmarked items, which covers the low scores that Search never shows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from furet.domain.classifier import fit_linear, score
from furet.errors import InvalidInputError

#: Folds of the out-of-fold scores (stratified: each fold holds every fifth of each class).
FOLDS = 5
#: Fewest positives and fewest negatives marked for a calibrated threshold.
MIN_PER_CLASS = 5
#: Rows are kept from the score at which the curve gives this chance of a positive (or the
#: model's boundary, 0, if lower): a calibrated threshold never goes below it. Chosen on the
#: tuning classes of oxford-flowers17 (README, "Mass enrichment").
FLOOR_PROBABILITY = 0.05


@dataclass(frozen=True)
class Curve:
    """``P(positive | score) = 1 / (1 + exp(-(slope * score + intercept)))``, slope > 0."""

    slope: float
    intercept: float

    def probability(self, scores: np.ndarray) -> np.ndarray:
        """``(n,) float64`` chances of being a positive for ``(n,)`` scores."""
        z = self.slope * np.asarray(scores, np.float64) + self.intercept
        return 0.5 * (1.0 + np.tanh(0.5 * z))  # the logistic function, without overflow

    def score_at(self, probability: float) -> float:
        """The score at which the curve reaches ``probability`` (0 < probability < 1)."""
        if not 0.0 < probability < 1.0:
            raise InvalidInputError(f"probability must be in (0, 1), got {probability}")
        return (math.log(probability / (1.0 - probability)) - self.intercept) / self.slope


def fit_curve(scores: np.ndarray, positive: np.ndarray, iterations: int = 100) -> Curve:
    """Platt scaling of ``(n,)`` scores against ``(n,) bool`` truth.

    The targets are Platt's (``(n+ + 1) / (n+ + 2)`` for positives, ``1 / (n- + 2)`` for
    negatives), a prior that keeps the slope finite when the marks are perfectly separated.
    Newton's method on the two parameters. Raises InvalidInputError with fewer than
    ``MIN_PER_CLASS`` of either class, or when higher scores do not mean more positives.
    """
    s = np.asarray(scores, np.float64).reshape(-1)
    y = np.asarray(positive, bool).reshape(-1)
    if s.shape != y.shape or not np.isfinite(s).all():
        raise InvalidInputError("scores and truth must be finite 1-d arrays of one length")
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if min(n_pos, n_neg) < MIN_PER_CLASS:
        raise InvalidInputError(
            f"a calibrated threshold needs at least {MIN_PER_CLASS} positive and "
            f"{MIN_PER_CLASS} negative marks (has {n_pos} and {n_neg})"
        )
    target = np.where(y, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))
    # Standardised scores keep the Newton steps well scaled; mapped back at the end.
    mu, sd = float(s.mean()), float(s.std()) or 1.0
    z = (s - mu) / sd
    a, b = 1.0, math.log((n_pos + 1.0) / (n_neg + 1.0))
    for _ in range(iterations):
        p = 0.5 * (1.0 + np.tanh(0.5 * (a * z + b)))
        w = np.maximum(p * (1.0 - p), 1e-12)
        g = np.array([np.dot(z, p - target), np.sum(p - target)])
        h = np.array([[np.dot(w * z, z), np.dot(w, z)], [np.dot(w, z), np.sum(w)]])
        h[np.diag_indices(2)] += 1e-9
        step = np.linalg.solve(h, g)
        a, b = a - float(step[0]), b - float(step[1])
        if float(np.abs(step).max()) < 1e-10:
            break
    if not a > 1e-6 or not math.isfinite(a) or not math.isfinite(b):
        raise InvalidInputError(
            "the class's scores do not separate its positive from its negative marks; "
            "mark more items (rounds) before calibrating, or give a threshold"
        )
    return Curve(a / sd, b - a * mu / sd)


def out_of_fold_scores(
    pos: np.ndarray,
    neg: np.ndarray,
    *,
    background: np.ndarray,
    extra_pos: np.ndarray | None = None,
    folds: int = FOLDS,
) -> tuple[np.ndarray, np.ndarray]:
    """Scores of every marked vector by the class model fitted without its fold.

    ``pos``: ``(p, dim)`` and ``neg``: ``(q, dim)`` marked vectors; ``extra_pos``: positives that
    are not items of the collection (example images), in every training fold and never scored;
    ``background``: ``(dim,)`` collection mean, as the rounds' fits use. Returns ``(p,)`` and
    ``(q,)`` float32 scores. Folds interleave each class (deterministic).
    """
    p = np.asarray(pos, np.float32)
    q = np.asarray(neg, np.float32)
    extra = np.zeros((0, p.shape[1]), np.float32) if extra_pos is None else extra_pos
    fold_p = np.arange(len(p)) % folds
    fold_q = np.arange(len(q)) % folds
    out_p = np.zeros(len(p), np.float32)
    out_q = np.zeros(len(q), np.float32)
    for f in range(folds):
        test_p, test_q = fold_p == f, fold_q == f
        train_p = np.concatenate([p[~test_p], np.asarray(extra, np.float32)])
        if len(train_p) == 0 or not (test_p.any() or test_q.any()):
            continue
        model = fit_linear(train_p, q[~test_q], background=background, cross_validate=False)
        out_p[test_p] = score(model, p[test_p])
        out_q[test_q] = score(model, q[test_q])
    return out_p, out_q


@dataclass(frozen=True)
class Cut:
    """Tags ``score >= threshold``: how many, and how many of them are estimated positives."""

    threshold: float
    tags: int
    expected_positives: float

    @property
    def precision(self) -> float:
        """Estimated precision of the tags (NaN for no tag)."""
        return self.expected_positives / self.tags if self.tags else math.nan


def _sorted(scores: np.ndarray, chance: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores best first, the cumulated chances, and the last index of each run of ties."""
    order = np.argsort(-scores, kind="stable")
    s = scores[order]
    tp = np.cumsum(chance[order])
    ends = np.append(np.flatnonzero(np.diff(s) != 0), len(s) - 1)
    return s, tp, ends


def chances(labels: np.ndarray, scores: np.ndarray, curve: Curve | None) -> np.ndarray:
    """``(n,) float64`` chance that each item is a positive: 1 or 0 for a marked item
    (``labels`` +1 / -1), the curve's for an unmarked one (0); NaN without a curve."""
    lab = np.asarray(labels)
    unknown = np.full(len(lab), np.nan) if curve is None else curve.probability(scores)
    return np.where(lab > 0, 1.0, np.where(lab < 0, 0.0, unknown))


def cut_for_precision(
    scores: np.ndarray, labels: np.ndarray, curve: Curve, target: float, floor: float
) -> Cut | None:
    """The lowest threshold (most tags) whose estimated precision reaches ``target``.

    ``scores``: ``(n,)`` of every item scoring ``>= floor`` (the rows an enrichment keeps),
    ``labels``: ``(n,)`` +1 / -1 for marked items, 0 otherwise. The threshold is one of the
    scores, never below ``floor``; None when no threshold reaches ``target``.
    """
    if not 0.0 < target < 1.0:
        raise InvalidInputError(f"the precision must be in (0, 1), got {target}")
    s_all = np.asarray(scores, np.float64)
    keep = s_all >= floor
    if not keep.any():
        return None
    s, tp, ends = _sorted(s_all[keep], chances(np.asarray(labels)[keep], s_all[keep], curve))
    precision = tp[ends] / (ends + 1)
    ok = np.flatnonzero(precision >= target)
    if not len(ok):
        return None
    last = int(ends[ok[-1]])
    return Cut(float(s[last]), last + 1, float(tp[last]))


def cut_at(scores: np.ndarray, labels: np.ndarray, curve: Curve | None, threshold: float) -> Cut:
    """The tags ``score >= threshold`` with their estimated positives (NaN without a curve)."""
    s = np.asarray(scores, np.float64)
    above = s >= threshold
    chance = chances(np.asarray(labels)[above], s[above], curve)
    return Cut(float(threshold), int(above.sum()), float(chance.sum()))


def top_threshold(scores: np.ndarray, n: int) -> float:
    """The score of the ``n``-th best of ``scores`` (ties with it are tagged too): the lowest
    score when there are ``n`` or fewer, ``inf`` (no tag) when there is none."""
    if n < 1:
        raise InvalidInputError(f"--top must be at least 1, got {n}")
    s = np.asarray(scores, np.float64)
    if len(s) == 0:
        return math.inf
    if len(s) <= n:
        return float(s.min())
    return float(-np.partition(-s, n - 1)[n - 1])
