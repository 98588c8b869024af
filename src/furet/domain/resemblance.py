"""How much two classes resemble each other, and how strongly a class fires on a vector.

Classes are trained independently, by different users, with different marks: their logits
``x @ w + b`` are not on one scale (a class trained longer, or imported with another scale,
gives larger ones). Every comparison across classes goes through the class's **score scale**
on its own collection: the mean and standard deviation of its logits over the collection's
vectors (at most ``SCALE_SAMPLE`` of them, evenly spread). A *standardised* score ``z`` says how
far above the class's usual score a vector lies, in standard deviations; it is invariant to any
positive affine change of the model, and is the one measure that ranks classes of different
users on one image (measured on Oxford Flowers 17 against the raw logit, the probability,
robust and positives-anchored scales, rank percentiles and Platt scaling: see README,
"Model discovery").

The resemblance of two classes A and B (same embedding space) is **symmetric** and
**relative**: B's standardised score on A's positives as a share of B's score on its own
positives, averaged with the same share the other way round. 1 means "scores your positives as
high as its own", 0 "no higher than an average item". Relative, because a standardised score
depends on how common the concept is in the collection (the positives of a concept that is
half of it sit about 1 deviation above the mean, those of one in seventeen about 4): the share
does not, so one threshold (``RELATED``) holds on any collection. Because a score is linear, the
mean score on a class's positives is the score of their centroid, so a class is summed up by
its :class:`ClassProfile` (model, scale, centroid) and a whole matrix of resemblances costs two
matrix products. Chosen over the cosine of the two weight vectors and the overlap of their
top-k lists on the same measurement (README, "Model discovery"), which are kept as evidence;
absolute standardised scores ranked as well there (one label in 17 everywhere), but their
scale follows the prevalence.

Everything here is in one embedding space: vectors of different spaces are not comparable,
and the callers compare only classes of the same space.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from furet.errors import InvalidInputError

#: Rows of a collection a score scale is computed on (evenly spread): its mean and deviation
#: are within a percent or so of the whole collection's, at a bounded cost per class.
SCALE_SAMPLE = 20_000
#: Quantiles kept with a scale (0, 1/Q, ..., 1): what share of the collection scores lower.
QUANTILES = 100
#: Resemblance from which two classes are "related": chosen on 8 of the 17 Oxford Flowers
#: labels (93% of the pairs of classes of one label above it, 0.2% of the other pairs).
RELATED = 0.4
#: Length of the top lists whose overlap is shown as evidence of a resemblance: ``TOP_K``,
#: but at most ``TOP_SHARE`` of the collection (the top 50 of 30 items is all of them), and
#: at least ``TOP_MIN``.
TOP_K = 50
TOP_SHARE = 0.05
TOP_MIN = 5
#: The smallest deviation a scale may have (a constant model would divide by zero).
_MIN_STD = 1e-6
#: The smallest own score a relative score divides by: a class whose positives score no
#: higher than an average item has learnt nothing to compare.
_MIN_OWN = 0.1


def spread_rows(n: int, most: int) -> np.ndarray:
    """``(min(n, most),) int64`` row indices evenly spread over ``range(n)`` (all of them when
    ``n <= most``): deterministic, so a scale computed twice is the same."""
    if n <= most:
        return np.arange(n, dtype=np.int64)
    return np.linspace(0, n - 1, most).round().astype(np.int64)


@dataclass(frozen=True)
class ScoreScale:
    """A class's logits over its collection: ``mean``, ``std`` and ``quantiles``
    (``(QUANTILES + 1,) float32``, ascending: the 0th, 1st, ... 100th percentile)."""

    mean: float
    std: float
    quantiles: np.ndarray

    def standardise(self, scores: np.ndarray | float) -> np.ndarray:
        """``(scores - mean) / std``, same shape as ``scores``."""
        return (np.asarray(scores, np.float64) - self.mean) / self.std

    def percentile(self, scores: np.ndarray | float) -> np.ndarray:
        """The share of the collection that scores below each of ``scores`` (0 to 1)."""
        q = self.quantiles.astype(np.float64)
        levels = np.linspace(0.0, 1.0, len(q))
        return np.interp(np.asarray(scores, np.float64), q, levels)


def score_scale(
    vectors: np.ndarray, w: np.ndarray, b: float, *, sample: int = SCALE_SAMPLE
) -> ScoreScale:
    """The scale of the model ``(w, b)`` on ``vectors`` (``(n, dim)``, float16 or float32,
    memory-mapped or not: only the sampled rows are read)."""
    if len(vectors) == 0:
        raise InvalidInputError("a score scale needs a collection with at least one vector")
    rows = spread_rows(len(vectors), sample)
    x = np.asarray(vectors[rows], np.float32)
    scores = x @ np.asarray(w, np.float32) + np.float32(b)
    std = max(float(scores.std()), _MIN_STD)
    quantiles = np.quantile(scores, np.linspace(0.0, 1.0, QUANTILES + 1)).astype(np.float32)
    return ScoreScale(float(scores.mean()), std, quantiles)


@dataclass(frozen=True)
class ClassProfile:
    """What comparisons need of a class: its model ``w`` (``(dim,) float32``) and ``b``, its
    scale on its collection, and ``centroid``, the mean of its positives' vectors
    (``(dim,) float32``; items marked positive and example images alike)."""

    w: np.ndarray
    b: float
    scale: ScoreScale
    centroid: np.ndarray
    n_positives: int

    @property
    def dim(self) -> int:
        return int(self.w.shape[0])


def profile(w: np.ndarray, b: float, scale: ScoreScale, positives: np.ndarray) -> ClassProfile:
    """The profile of a class with positives ``(m, dim)`` (m >= 1)."""
    pos = np.asarray(positives, np.float32)
    if pos.ndim != 2 or len(pos) == 0:
        raise InvalidInputError("a class profile needs at least one positive vector")
    w = np.asarray(w, np.float32)
    if pos.shape[1] != w.shape[0]:
        raise InvalidInputError(f"positives have dimension {pos.shape[1]}, the model {w.shape[0]}")
    return ClassProfile(w, float(b), scale, pos.mean(axis=0), len(pos))


def _stack(profiles: Sequence[ClassProfile]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weights ``(c, dim)``, biases and scales as arrays ``(c,)`` (mean, std)."""
    if not profiles:
        return np.zeros((0, 0), np.float32), np.zeros(0), np.zeros((2, 0))
    dims = {p.dim for p in profiles}
    if len(dims) > 1:
        raise InvalidInputError(f"classes of different dimensions {sorted(dims)} compared")
    w = np.stack([p.w for p in profiles]).astype(np.float32)
    b = np.array([p.b for p in profiles], np.float64)
    scale = np.array([[p.scale.mean for p in profiles], [p.scale.std for p in profiles]])
    return w, b, scale


def standardised_scores(profiles: Sequence[ClassProfile], vectors: np.ndarray) -> np.ndarray:
    """``(q, c) float64``: each class's standardised score on each of ``vectors`` ``(q, dim)``."""
    x = np.asarray(vectors, np.float32)
    if x.ndim == 1:
        x = x[None]
    w, b, scale = _stack(profiles)
    if not profiles:
        return np.zeros((len(x), 0))
    if x.shape[1] != w.shape[1]:
        raise InvalidInputError(f"vectors of dimension {x.shape[1]}, classes of {w.shape[1]}")
    logits = (x @ w.T).astype(np.float64) + b
    return (logits - scale[0]) / scale[1]


def on_positives(mine: Sequence[ClassProfile], theirs: Sequence[ClassProfile]) -> np.ndarray:
    """``(len(mine), len(theirs)) float64``: the mean standardised score of each of ``theirs``
    on the positives of each of ``mine`` (the score of their centroid: scores are linear)."""
    if not mine or not theirs:
        return np.zeros((len(mine), len(theirs)))
    centroids = np.stack([p.centroid for p in mine])
    return standardised_scores(theirs, centroids)


def own_scores(profiles: Sequence[ClassProfile]) -> np.ndarray:
    """``(c,)``: each class's standardised score on its own positives (at least 0.1)."""
    own = [float(p.scale.standardise(p.centroid @ p.w + p.b)) for p in profiles]
    return np.maximum(np.array(own, np.float64), _MIN_OWN)


def relative_on_positives(
    mine: Sequence[ClassProfile], theirs: Sequence[ClassProfile]
) -> np.ndarray:
    """``(len(mine), len(theirs))``: :func:`on_positives` as a share of each of ``theirs``'s
    score on its own positives (1: my positives score as high as theirs)."""
    return on_positives(mine, theirs) / own_scores(theirs)[None, :]


def resemblance(mine: Sequence[ClassProfile], theirs: Sequence[ClassProfile]) -> np.ndarray:
    """``(len(mine), len(theirs)) float64``, symmetric in its two arguments: the mean of
    "theirs on my positives" and "mine on their positives", each relative to the class's score
    on its own positives. Two classes of one visual concept score about 0.75; from
    ``RELATED`` on they are related."""
    if not mine or not theirs:
        return np.zeros((len(mine), len(theirs)))
    return (relative_on_positives(mine, theirs) + relative_on_positives(theirs, mine).T) / 2


def weight_cosine(mine: Sequence[ClassProfile], theirs: Sequence[ClassProfile]) -> np.ndarray:
    """``(len(mine), len(theirs))``: the cosine of the two models' weight vectors."""
    if not mine or not theirs:
        return np.zeros((len(mine), len(theirs)))
    a, _, _ = _stack(mine)
    t, _, _ = _stack(theirs)
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    t = t / np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-12)
    return (a @ t.T).astype(np.float64)


def top_length(n: int) -> int:
    """How long the top lists compared on a collection of ``n`` items are."""
    return min(n, max(TOP_MIN, min(TOP_K, int(n * TOP_SHARE))))


def top_overlap(a: np.ndarray, b: np.ndarray) -> float:
    """The share of the top list ``a`` that is also in ``b`` (lists of equal length)."""
    if len(a) == 0:
        return 0.0
    return float(len(np.intersect1d(a, b)) / len(a))
