"""Selection modes: which items the next page of a round shows (DESIGN.md §2).

A mode is a function ``(scores, labelled, page_size, settings, rng) -> page`` registered by name:

- ``scores``: ``(n,) float32`` over the whole collection, higher-is-better, finite. They are
  read as **logits**: 0 is the decision boundary and ``sigmoid(score)`` the probability that the
  item is positive (``furet.domain.classifier`` calibrates its models so that this holds).
- ``labelled``: ``(n,) int8``, 0 unlabelled, +1 positive, -1 negative.
- returns ``(min(page_size, available),) int64`` row positions, no duplicates, in display order.
  Only ``refine`` may return labelled items.

Every mode is O(n): candidates come from ``furet.domain.selection`` and only the page itself is
sorted, so a round stays cheap at 10M items.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from furet.domain.metrics import Estimate, wilson_interval
from furet.domain.selection import smallest
from furet.errors import InvalidInputError, NotFoundError, RegistryError


@dataclass(frozen=True)
class ModeSettings:
    """User settings of the selection modes.

    ``discovery_rate``: share of a Discovery page drawn at random in the sampling band.
    ``sampling_min`` / ``sampling_max``: the band, on the **probability** scale [0, 1]
    (``sigmoid(score)``), so 0.5 is the decision boundary whatever the model.
    """

    discovery_rate: float = 0.3
    sampling_min: float = 0.2
    sampling_max: float = 0.8

    def __post_init__(self) -> None:
        if not 0.0 <= self.discovery_rate <= 1.0:
            raise InvalidInputError(f"discovery_rate must be in [0, 1], got {self.discovery_rate}")
        if not 0.0 <= self.sampling_min <= self.sampling_max <= 1.0:
            raise InvalidInputError(
                "need 0 <= sampling_min <= sampling_max <= 1 (probability scale), got "
                f"{self.sampling_min}, {self.sampling_max}"
            )


Mode = Callable[[np.ndarray, np.ndarray, int, ModeSettings, np.random.Generator], np.ndarray]

_MODES: dict[str, Mode] = {}


def register_mode(name: str) -> Callable[[Mode], Mode]:
    """Decorator registering a selection mode under ``name``; a duplicate name raises."""

    def decorator(fn: Mode) -> Mode:
        if name in _MODES:
            raise RegistryError(f"selection mode {name!r} is already registered")
        _MODES[name] = fn
        return fn

    return decorator


def get_mode(name: str) -> Mode:
    """The mode registered as ``name``; raises ``NotFoundError`` listing the known modes."""
    try:
        return _MODES[name]
    except KeyError:
        known = ", ".join(sorted(_MODES))
        raise NotFoundError(f"unknown selection mode {name!r}; known modes: {known}") from None


def list_modes() -> list[str]:
    """Names of the registered modes, sorted."""
    return sorted(_MODES)


def select_page(
    mode: str,
    scores: np.ndarray,
    labelled: np.ndarray,
    page_size: int,
    settings: ModeSettings | None = None,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Validate the inputs and run mode ``mode``; see the module docstring for the shapes."""
    scores = np.asarray(scores)
    labelled = np.asarray(labelled)
    if scores.ndim != 1 or labelled.shape != scores.shape:
        raise InvalidInputError(
            f"scores and labelled must be 1-d of the same length, got {scores.shape} and "
            f"{labelled.shape}"
        )
    if page_size < 0:
        raise InvalidInputError(f"page_size must be >= 0, got {page_size}")
    fn = get_mode(mode)
    return fn(
        scores,
        labelled,
        page_size,
        settings or ModeSettings(),
        rng if rng is not None else np.random.default_rng(),
    )


def _logit(p: float) -> float:
    if p <= 0.0:
        return -math.inf
    if p >= 1.0:
        return math.inf
    return math.log(p / (1.0 - p))


def _top_unlabelled(
    key: np.ndarray, unlabelled: np.ndarray, k: int, *, exclude: np.ndarray | None = None
) -> np.ndarray:
    """The ``k`` unlabelled rows with the smallest ``key`` (``exclude`` rows left out), by
    value then position."""
    allowed = unlabelled
    if exclude is not None and exclude.size:
        allowed = unlabelled.copy()
        allowed[exclude] = False
    return smallest(key, k, allowed)


@register_mode("search")
def search(
    scores: np.ndarray,
    labelled: np.ndarray,
    page_size: int,
    settings: ModeSettings,
    rng: np.random.Generator,
) -> np.ndarray:
    """The unlabelled items with the highest scores, best first."""
    return _top_unlabelled(-scores.astype(np.float32, copy=False), labelled == 0, page_size)


@register_mode("ambiguous")
def ambiguous(
    scores: np.ndarray,
    labelled: np.ndarray,
    page_size: int,
    settings: ModeSettings,
    rng: np.random.Generator,
) -> np.ndarray:
    """The unlabelled items closest to the decision boundary (score 0), closest first."""
    return _top_unlabelled(np.abs(scores.astype(np.float32, copy=False)), labelled == 0, page_size)


#: Most useful picks its page among this many pages' worth of the likeliest positives.
USEFUL_WINDOW = 1.5


@register_mode("most_useful")
def most_useful(
    scores: np.ndarray,
    labelled: np.ndarray,
    page_size: int,
    settings: ModeSettings,
    rng: np.random.Generator,
) -> np.ndarray:
    """Positive-first most ambiguous (after PF-MA, Zaher, Buisson, Joly): among the likeliest
    positives (the ``USEFUL_WINDOW x page_size`` best-ranked unlabelled items), the
    ``page_size`` the model is least sure of, least sure first.

    A page stays mostly relevant for the user while each mark teaches the model where it
    hesitates. The candidates are chosen by rank, not by the logit 0: a balanced model calls
    many more items positive than the class has, and the ones nearest its boundary were mostly
    negatives (shown precision 0.36 on the reporting labels of oxford-flowers17; this rule 0.82,
    with the test AP of Ambiguous, see ``benchmarks/learning.py``).
    """
    s = scores.astype(np.float32, copy=False)
    unlabelled = labelled == 0
    k = min(page_size, int(np.count_nonzero(unlabelled)))
    window = _top_unlabelled(-s, unlabelled, max(k, math.ceil(USEFUL_WINDOW * k)))
    return window[::-1][:k].copy() if window.size > k else window[::-1].copy()


@register_mode("discovery")
def discovery(
    scores: np.ndarray,
    labelled: np.ndarray,
    page_size: int,
    settings: ModeSettings,
    rng: np.random.Generator,
) -> np.ndarray:
    """Search, except that ``round(discovery_rate * page_size)`` items are drawn uniformly among
    the unlabelled items with ``sampling_min <= sigmoid(score) <= sampling_max``.

    The Search items come first, then the random ones (in score order). If the band holds too few
    items, the page is completed by Search.
    """
    s = scores.astype(np.float32, copy=False)
    unlabelled = labelled == 0
    k = min(page_size, int(np.count_nonzero(unlabelled)))
    n_explore = min(k, round(settings.discovery_rate * k))
    lo, hi = _logit(settings.sampling_min), _logit(settings.sampling_max)
    band = np.flatnonzero(unlabelled & (s >= lo) & (s <= hi))
    explore = np.empty(0, dtype=np.int64)
    if n_explore and band.size:
        explore = rng.choice(band, size=min(n_explore, band.size), replace=False).astype(np.int64)
        explore = explore[np.lexsort((explore, -s[explore]))]
    exploit = _top_unlabelled(-s, unlabelled, k - explore.size, exclude=explore)
    return np.concatenate([exploit, explore])


@register_mode("refine")
def refine(
    scores: np.ndarray,
    labelled: np.ndarray,
    page_size: int,
    settings: ModeSettings,
    rng: np.random.Generator,
) -> np.ndarray:
    """Labelled items the model contradicts (positive with score < 0, negative with score > 0),
    most contradicted first, then the best unlabelled items. The only mode showing labelled items.
    """
    s = scores.astype(np.float32, copy=False)
    lab = labelled.astype(np.int8, copy=False)
    marked = np.flatnonzero(lab != 0)
    # Agreement = label x score; negative means the model disagrees with the mark.
    agreement = lab[marked].astype(np.float32) * s[marked]
    contradicted = marked[agreement < 0]
    order = smallest(agreement[agreement < 0], min(page_size, contradicted.size))
    review = contradicted[order]
    fresh = _top_unlabelled(-s, lab == 0, page_size - review.size)
    return np.concatenate([review, fresh])


@register_mode("classify_random")
def classify_random(
    scores: np.ndarray,
    labelled: np.ndarray,
    page_size: int,
    settings: ModeSettings,
    rng: np.random.Generator,
) -> np.ndarray:
    """A uniform random sample of the unlabelled items, shown best score first.

    The sample ignores the scores, so the user's corrections of its verdicts (positive iff
    score >= 0) estimate precision and recall without bias: see ``precision_estimate``.
    """
    unlabelled = np.flatnonzero(labelled == 0)
    k = min(page_size, unlabelled.size)
    page = rng.choice(unlabelled, size=k, replace=False).astype(np.int64)
    s = scores[page].astype(np.float32, copy=False)
    return page[np.lexsort((page, -s))]


def _verdicts_truth(verdicts: np.ndarray, corrections: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    v = np.asarray(verdicts, dtype=bool)
    c = np.asarray(corrections, dtype=bool)
    if v.ndim != 1 or v.shape != c.shape:
        raise InvalidInputError(
            f"verdicts and corrections must be 1-d of the same length, got {v.shape}, {c.shape}"
        )
    return v, v ^ c


def precision_estimate(verdicts: np.ndarray, corrections: np.ndarray) -> Estimate:
    """Precision of the class on the collection, from a Classify Random spot-check.

    ``verdicts``: ``(m,) bool``, the model said positive. ``corrections``: ``(m,) bool``, the user
    flipped that verdict. Returns ``(precision, low, high)``, a Wilson 95% interval over the
    sampled items the model called positive (NaN, 0, 1 when it called none).
    """
    v, truth = _verdicts_truth(verdicts, corrections)
    return wilson_interval(int(np.count_nonzero(v & truth)), int(np.count_nonzero(v)))


def recall_estimate(verdicts: np.ndarray, corrections: np.ndarray) -> Estimate:
    """Recall of the class from the same spot-check: share of the truly positive sampled items
    that the model called positive, Wilson 95% interval. Same arguments as
    ``precision_estimate``; wide when the class is rare (few true positives in a sample).
    """
    v, truth = _verdicts_truth(verdicts, corrections)
    return wilson_interval(int(np.count_nonzero(v & truth)), int(np.count_nonzero(truth)))
