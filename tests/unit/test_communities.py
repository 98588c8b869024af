"""Closeness of users from class resemblances (domain.communities)."""

from __future__ import annotations

import numpy as np
import pytest

from furet.domain.communities import closeness
from furet.errors import InvalidInputError


def test_the_user_who_taught_what_i_taught_comes_first() -> None:
    # My classes (rows): daisy, tulip. Columns: bob's daisy; carol's tulip, iris, rose; dan's.
    r = np.array(
        [
            [3.1, 0.2, 0.1, 0.0, 1.4],
            [0.1, 2.5, 0.3, 0.2, 0.0],
        ]
    )
    ranked = closeness(r, ["bob", "carol", "carol", "carol", "dan"], min_score=1.5)
    assert [c.who for c in ranked] == ["bob", "carol"]  # dan's best pair is not related
    bob, carol = ranked
    assert bob.score == pytest.approx(3.1 / 2)  # the mean over my two classes
    assert carol.score == pytest.approx(2.5 / 2)
    assert [(link.mine, link.theirs) for link in bob.links] == [(0, 0)]
    assert [(link.mine, link.theirs, link.score) for link in carol.links] == [(1, 1, 2.5)]


def test_many_classes_of_one_concept_count_once() -> None:
    r = np.array([[2.0, 2.0, 2.0, 2.0], [0.0, 0.0, 0.0, 2.5]])
    ranked = closeness(r, ["many", "many", "many", "two"], min_score=1.0)
    # "many" has four daisies for my one daisy; "two" matches both of my classes.
    assert [c.who for c in ranked] == ["two", "many"]
    assert ranked[0].score == pytest.approx((2.0 + 2.5) / 2)
    assert ranked[1].score == pytest.approx(2.0 / 2)


def test_ties_keep_first_seen_order_and_empty_inputs() -> None:
    r = np.array([[2.0, 2.0]])
    assert [c.who for c in closeness(r, ["x", "y"], 1.0)] == ["x", "y"]
    assert closeness(np.zeros((0, 2)), ["x", "y"], 1.0) == []
    assert closeness(np.zeros((1, 0)), [], 1.0) == []
    with pytest.raises(InvalidInputError):
        closeness(np.zeros((1, 2)), ["x"], 1.0)
