from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score

from furet.domain.metrics import average_precision, precision_at_k, wilson_interval
from furet.errors import InvalidInputError


def test_average_precision_known_ranking() -> None:
    # Ranks of positives 1 and 3: (1/1 + 2/3) / 2.
    y = np.array([1, 0, 1, 0])
    s = np.array([0.9, 0.8, 0.7, 0.1])
    assert average_precision(y, s) == pytest.approx((1 + 2 / 3) / 2)


def test_average_precision_perfect_and_worst() -> None:
    y = np.array([0, 0, 1, 1])
    assert average_precision(y, np.array([0.1, 0.2, 0.3, 0.4])) == pytest.approx(1.0)
    assert average_precision(y, np.array([0.4, 0.3, 0.2, 0.1])) == pytest.approx(
        (1 / 3 + 2 / 4) / 2
    )


def test_average_precision_no_positive_is_nan() -> None:
    assert math.isnan(average_precision(np.zeros(3), np.arange(3.0)))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.booleans(), st.integers(min_value=-5, max_value=5)), min_size=1, max_size=60
    )
)
def test_average_precision_matches_sklearn_with_ties(pairs: list[tuple[bool, int]]) -> None:
    y = np.array([p for p, _ in pairs])
    s = np.array([float(v) for _, v in pairs])  # small integer range: many ties
    if not y.any():
        return
    assert average_precision(y, s) == pytest.approx(average_precision_score(y, s), abs=1e-12)


def test_average_precision_rejects_bad_input() -> None:
    with pytest.raises(InvalidInputError):
        average_precision(np.array([1, 0]), np.array([0.5]))
    with pytest.raises(InvalidInputError):
        average_precision(np.array([1, 0]), np.array([0.5, np.nan]))


def test_precision_at_k() -> None:
    y = np.array([1, 0, 1, 1, 0])
    s = np.array([5.0, 4.0, 3.0, 2.0, 1.0])
    assert precision_at_k(y, s, 1) == 1.0
    assert precision_at_k(y, s, 2) == 0.5
    assert precision_at_k(y, s, 4) == 0.75
    assert precision_at_k(y, s, 100) == 0.6
    with pytest.raises(InvalidInputError):
        precision_at_k(y, s, 0)


def test_wilson_interval_reference_values() -> None:
    # Reference: statsmodels proportion_confint(8, 10, method="wilson").
    est = wilson_interval(8, 10)
    assert est.value == pytest.approx(0.8)
    assert est.low == pytest.approx(0.4901624, abs=1e-6)
    assert est.high == pytest.approx(0.9433178, abs=1e-6)


def test_wilson_interval_edges() -> None:
    zero = wilson_interval(0, 20)
    assert zero.value == 0.0 and zero.low == 0.0 and 0.0 < zero.high < 0.2
    full = wilson_interval(20, 20)
    assert full.high == 1.0 and 0.8 < full.low < 1.0
    empty = wilson_interval(0, 0)
    assert math.isnan(empty.value) and (empty.low, empty.high) == (0.0, 1.0)
    with pytest.raises(InvalidInputError):
        wilson_interval(3, 2)


@given(st.integers(min_value=1, max_value=500), st.data())
def test_wilson_interval_contains_estimate(n: int, data: st.DataObject) -> None:
    k = data.draw(st.integers(min_value=0, max_value=n))
    value, low, high = wilson_interval(k, n)
    assert 0.0 <= low <= value <= high <= 1.0
