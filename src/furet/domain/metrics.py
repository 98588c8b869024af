"""Ranking and proportion metrics: average precision, precision@k, Wilson intervals.

Pure numpy; ``score`` arguments are higher-is-better.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from furet.errors import InvalidInputError

#: z for a two-sided 95% interval.
Z95 = 1.959963984540054


class Estimate(NamedTuple):
    """A proportion with its confidence interval; unpacks as ``(value, low, high)``.

    ``value`` is NaN when there was nothing to count (``n == 0``); the interval is then [0, 1].
    """

    value: float
    low: float
    high: float


def _as_binary_and_scores(y_true: ArrayLike, scores: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true)
    s = np.asarray(scores, dtype=np.float64)
    if y.ndim != 1 or s.ndim != 1 or y.shape != s.shape:
        raise InvalidInputError(
            f"y_true and scores must be 1-d arrays of the same length, got {y.shape} and {s.shape}"
        )
    if np.isnan(s).any():
        raise InvalidInputError("scores contain NaN; a ranking needs comparable scores")
    return y.astype(bool), s


def average_precision(y_true: ArrayLike, scores: ArrayLike) -> float:
    """Average precision of a ranking, as scikit-learn's ``average_precision_score``.

    ``y_true``: ``(n,)`` bool or 0/1, ``scores``: ``(n,)`` higher-is-better. Tied scores form one
    threshold (no optimistic tie breaking). Returns NaN when there is no positive.
    """
    y, s = _as_binary_and_scores(y_true, scores)
    n_pos = int(y.sum())
    if n_pos == 0:
        return math.nan
    order = np.argsort(-s, kind="mergesort")
    s_sorted = s[order]
    y_sorted = y[order]
    # Last index of every run of equal scores: precision/recall are only defined there.
    ends = np.flatnonzero(np.diff(s_sorted) != 0)
    ends = np.append(ends, s_sorted.size - 1)
    tp = np.cumsum(y_sorted)[ends].astype(np.float64)
    precision = tp / (ends + 1)
    recall = tp / n_pos
    recall_steps = np.diff(recall, prepend=0.0)
    return float(np.sum(recall_steps * precision))


def precision_at_k(y_true: ArrayLike, scores: ArrayLike, k: int) -> float:
    """Share of positives among the ``k`` best-scored items (``k`` capped at ``n``).

    Ties at the cut are broken by position (stable), as a page of results would be.
    """
    y, s = _as_binary_and_scores(y_true, scores)
    if k <= 0:
        raise InvalidInputError(f"k must be positive, got {k}")
    k = min(k, y.size)
    if k == 0:
        return math.nan
    top = np.argsort(-s, kind="mergesort")[:k]
    return float(y[top].mean())


def wilson_interval(successes: int, n: int, z: float = Z95) -> Estimate:
    """Wilson score interval of a binomial proportion ``successes / n`` (95% by default).

    Better than the normal approximation for the small samples of a spot-check: it stays inside
    [0, 1] and is not degenerate at 0 or n successes.
    """
    if n < 0 or successes < 0 or successes > n:
        raise InvalidInputError(f"need 0 <= successes <= n, got successes={successes}, n={n}")
    if n == 0:
        return Estimate(math.nan, 0.0, 1.0)
    p = successes / n
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    # The interval always contains p mathematically; the clamps absorb rounding at 0 and n.
    return Estimate(p, max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half)))
