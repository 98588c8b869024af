"""The ``k`` smallest values of a large array, in O(n), fast when ``k`` is small.

Every round selects twice from the whole collection (the scan's head to refine, then the
page). ``argpartition`` over 100k floats costs ~0.4 ms. Here a threshold is first guessed from
a strided sample; the rows at or under it, a few hundred, are then sorted. The answer is exact:
if at least ``k`` allowed rows lie at or under the threshold, then the ``k``-th smallest allowed
value does too, so every row that could be in the answer (ties included) is a candidate. When
the guess admits fewer than ``k`` rows, the full ``argpartition`` runs instead.
"""

from __future__ import annotations

import numpy as np

#: Arrays shorter than this go straight to ``argpartition``.
_SAMPLED_FROM = 16_384
#: Sample size for the threshold guess.
_SAMPLE = 2_048
#: Rows the guess aims to admit: this many times what is needed, plus a margin.
_OVERSHOOT = 2
_MARGIN = 64


def smallest(key: np.ndarray, k: int, allowed: np.ndarray | None = None) -> np.ndarray:
    """Positions of the ``min(k, available)`` smallest values of ``key`` among the rows where
    ``allowed`` (``(n,) bool``, default all) is true, ascending by value then by position.
    ``(k',) int64``. NaN counts as larger than every number."""
    n = key.size
    available = n if allowed is None else int(np.count_nonzero(allowed))
    k = min(k, available)
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    if n >= _SAMPLED_FROM and _OVERSHOOT * (k + n - available) + _MARGIN < n // 8:
        rows = _sampled(key, k, allowed, n - available)
        if rows is not None:
            return rows
    if allowed is None:
        return _sorted(key, np.arange(n), k)
    return _sorted(key, np.flatnonzero(allowed), k)


def _sampled(
    key: np.ndarray, k: int, allowed: np.ndarray | None, excluded: int
) -> np.ndarray | None:
    n = key.size
    stride = max(1, n // _SAMPLE)
    sample = key[::stride]
    wanted = (_OVERSHOOT * (k + excluded) + _MARGIN) * sample.size // n + 1
    if wanted >= sample.size:
        return None
    threshold = np.partition(sample, wanted)[wanted]
    under = key <= threshold  # False for NaN
    if allowed is not None:
        under &= allowed
    candidates = np.flatnonzero(under)
    if candidates.size < k:
        return None
    return _sorted(key, candidates, k)


def _sorted(key: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` smallest of ``key[rows]`` (``rows`` ascending) by value then position: ties at
    the ``k``-th value go to the first rows, so every path gives the same answer."""
    values = key[rows]
    if k < rows.size:
        kth = np.partition(values, k - 1)[k - 1]
        if np.isnan(kth):  # fewer than k numbers: all of them, then the first NaNs
            below, tied = ~np.isnan(values), np.isnan(values)
        else:
            below, tied = values < kth, values == kth
        first = np.flatnonzero(below)
        part = np.concatenate([first, np.flatnonzero(tied)[: k - first.size]])
    else:
        part = np.arange(rows.size)
    # lexsort: the last key is the primary one; NaN sorts last.
    return rows[part[np.lexsort((part, values[part]))]].astype(np.int64)
