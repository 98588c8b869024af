"""``smallest``: the k smallest values by (value, position), exact on every path."""

from __future__ import annotations

import numpy as np
import pytest

from furet.domain.selection import smallest


def reference(key: np.ndarray, k: int, allowed: np.ndarray | None) -> np.ndarray:
    rows = np.arange(key.size) if allowed is None else np.flatnonzero(allowed)
    order = np.lexsort((rows, key[rows]))  # NaN last, ties by position
    return rows[order][:k].astype(np.int64)


@pytest.mark.parametrize("n", [10, 1_000, 20_000, 100_000])
@pytest.mark.parametrize("k", [0, 1, 15, 256])
@pytest.mark.parametrize("case", ["plain", "ties", "allowed", "clustered", "nan_inf"])
def test_smallest_matches_a_full_sort(n: int, k: int, case: str) -> None:
    rng = np.random.default_rng(n + k)
    key = rng.standard_normal(n).astype(np.float32)
    allowed = None
    if case == "ties":
        key = np.round(key, 1)  # many equal values, also at the k-th
    elif case == "allowed":
        allowed = rng.random(n) > 0.3
        allowed[np.argsort(key)[:300]] = False  # the best rows are labelled, as in a round
    elif case == "clustered":
        key = np.sort(key)[::-1].copy()  # sorted order: the strided sample is biased
    elif case == "nan_inf":
        key[rng.integers(0, n, max(1, n // 10))] = np.nan
        key[rng.integers(0, n, max(1, n // 10))] = np.inf
    got = smallest(key, k, allowed)
    np.testing.assert_array_equal(got, reference(key, k, allowed))


def test_more_than_available_returns_all_allowed() -> None:
    key = np.arange(50_000, dtype=np.float32)[::-1].copy()
    allowed = np.zeros(50_000, bool)
    allowed[[5, 7, 9]] = True
    np.testing.assert_array_equal(smallest(key, 15, allowed), [9, 7, 5])
