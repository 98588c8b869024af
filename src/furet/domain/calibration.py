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
sample of the unmarked items, which covers the low scores that Search never shows. The
argument is not exact (the score does not carry everything the earlier rounds knew about an
item), and measured on oxford-flowers17 the curve is optimistic by a few points once most
positives are marked. So the threshold is the lowest at which the estimate **less one standard
deviation** of it (the curve's uncertainty and the unmarked items' chances) reaches the
target: ``CONFIDENCE``, chosen on 8 of the 17 classes (README, "Mass enrichment").
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
#: model's boundary, 0, if lower): a calibrated threshold never goes below it.
FLOOR_PROBABILITY = 0.05
#: Standard deviations of the precision estimate taken off it before comparing with the
#: requested precision (see the module docstring).
CONFIDENCE = 1.0


@dataclass(frozen=True)
class Curve:
    """``P(positive | score) = 1 / (1 + exp(-(slope * score + intercept)))``, slope > 0, with
    the covariance of the two parameters (Laplace approximation; zeros when unknown)."""

    slope: float
    intercept: float
    var_slope: float = 0.0
    covariance: float = 0.0
    var_intercept: float = 0.0

    def as_list(self) -> list[float]:
        return [self.slope, self.intercept, self.var_slope, self.covariance, self.var_intercept]

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
    slope, intercept = a / sd, b - a * mu / sd
    # The inverse Hessian of the log-loss at the optimum, in the scores' own units.
    p = 0.5 * (1.0 + np.tanh(0.5 * (slope * s + intercept)))
    w = p * (1.0 - p)
    h = np.array([[np.dot(w * s, s), np.dot(w, s)], [np.dot(w, s), np.sum(w)]])
    cov = np.linalg.inv(h + 1e-9 * np.eye(2))
    return Curve(slope, intercept, float(cov[0, 0]), float(cov[0, 1]), float(cov[1, 1]))


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
    """Tags ``score >= threshold``: how many, how many of them are estimated positives, and
    the standard deviation of the estimated precision."""

    threshold: float
    tags: int
    expected_positives: float
    precision_sd: float = math.nan

    @property
    def precision(self) -> float:
        """Estimated precision of the tags (NaN for no tag)."""
        return self.expected_positives / self.tags if self.tags else math.nan


def chances(labels: np.ndarray, scores: np.ndarray, curve: Curve | None) -> np.ndarray:
    """``(n,) float64`` chance that each item is a positive: 1 or 0 for a marked item
    (``labels`` +1 / -1), the curve's for an unmarked one (0); NaN without a curve."""
    lab = np.asarray(labels)
    unknown = np.full(len(lab), np.nan) if curve is None else curve.probability(scores)
    return np.where(lab > 0, 1.0, np.where(lab < 0, 0.0, unknown))


@dataclass(frozen=True)
class _Ranked:
    """Items best first with, for the tags of every cut, the estimated positives and the
    variance of that estimate; ``ends``: the last index of each run of tied scores."""

    scores: np.ndarray
    positives: np.ndarray
    variance: np.ndarray
    ends: np.ndarray


def _ranked(scores: np.ndarray, labels: np.ndarray, curve: Curve) -> _Ranked:
    order = np.argsort(-scores, kind="stable")
    s = np.asarray(scores, np.float64)[order]
    lab = np.asarray(labels)[order]
    chance = chances(lab, s, curve)
    # Unmarked items add their Bernoulli variance, and the curve's parameters theirs through
    # the gradient of the positives' sum (the delta method); marked items are known.
    wiggle = np.where(lab == 0, chance * (1.0 - chance), 0.0)
    g_slope, g_intercept = np.cumsum(wiggle * s), np.cumsum(wiggle)
    variance = np.cumsum(wiggle) + (
        curve.var_slope * g_slope**2
        + 2.0 * curve.covariance * g_slope * g_intercept
        + curve.var_intercept * g_intercept**2
    )
    ends = np.append(np.flatnonzero(np.diff(s) != 0), len(s) - 1)
    return _Ranked(s, np.cumsum(chance), variance, ends)


def cut_for_precision(
    scores: np.ndarray,
    labels: np.ndarray,
    curve: Curve,
    target: float,
    floor: float,
    confidence: float = CONFIDENCE,
) -> Cut | None:
    """The lowest threshold (most tags) whose estimated precision, less ``confidence``
    standard deviations, reaches ``target``.

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
    r = _ranked(s_all[keep], np.asarray(labels)[keep], curve)
    count = r.ends + 1
    precision = r.positives[r.ends] / count
    sd = np.sqrt(r.variance[r.ends]) / count
    ok = np.flatnonzero(precision - confidence * sd >= target)
    if not len(ok):
        return None
    last = int(r.ends[ok[-1]])
    return Cut(float(r.scores[last]), last + 1, float(r.positives[last]), float(sd[ok[-1]]))


def cut_at(scores: np.ndarray, labels: np.ndarray, curve: Curve | None, threshold: float) -> Cut:
    """The tags ``score >= threshold`` with their estimated positives (NaN without a curve)."""
    s = np.asarray(scores, np.float64)
    above = s >= threshold
    n = int(above.sum())
    if curve is None or n == 0:
        chance = chances(np.asarray(labels)[above], s[above], curve)
        return Cut(float(threshold), n, float(chance.sum()))
    r = _ranked(s[above], np.asarray(labels)[above], curve)
    return Cut(float(threshold), n, float(r.positives[-1]), float(np.sqrt(r.variance[-1]) / n))


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
