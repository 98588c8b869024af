"""The fair protocol of the simulated user: a held-out test split, test AP, marks to reach an
AP, class coverage, and evaluating some labels only."""

from __future__ import annotations

import numpy as np
import pytest

from furet.domain.simulation import class_coverage, held_out_split, kmeans_labels, simulate
from furet.errors import InvalidInputError


def _blobs(n_classes: int = 4, per: int = 60, dim: int = 16, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_classes, dim)) * 3
    x = np.concatenate([c + rng.normal(size=(per, dim)) for c in centres]).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = [f"c{i}" for i in range(n_classes) for _ in range(per)]
    return x, y


def test_the_split_is_stratified_fixed_by_the_seed_and_never_empties_a_label() -> None:
    y = np.array(["a"] * 50 + ["b"] * 10 + ["c"] * 1)
    held = held_out_split(y, 0.3, seed=4)
    assert held[:50].sum() == 15 and held[50:60].sum() == 3 and held[60:].sum() == 0
    assert np.array_equal(held, held_out_split(y, 0.3, seed=4))
    assert not np.array_equal(held, held_out_split(y, 0.3, seed=5))
    assert not held_out_split(y, 0.0, seed=4).any()
    with pytest.raises(InvalidInputError):
        held_out_split(y, 1.0, seed=0)


def test_kmeans_finds_separated_clusters_and_coverage_counts_them() -> None:
    x, _y = _blobs(n_classes=3, per=30)
    assign = kmeans_labels(x, 3, np.random.default_rng(0))
    for c in range(3):
        assert len(set(assign[c * 30 : (c + 1) * 30].tolist())) == 1
    found = np.zeros(90, dtype=bool)
    found[[0, 1, 2]] = True  # all in the first cluster
    assert class_coverage(assign, found) == pytest.approx(1 / 3)
    found[[40, 80]] = True
    assert class_coverage(assign, found) == 1.0


def test_test_ap_and_marks_to_ap_are_measured_on_items_never_shown() -> None:
    x, y = _blobs()
    plain = simulate(x, y, rounds=3, batch=10, seeds_per_class=2)
    assert plain.test_ap is None and "test_ap" not in plain.summary()
    fair = simulate(x, y, rounds=3, batch=10, seeds_per_class=2, test_fraction=0.3)
    summary = fair.summary()
    assert summary["test_fraction"] == 0.3
    assert fair.test_ap is not None and 0.9 <= fair.test_ap <= 1.0  # well separated blobs
    assert fair.marks_to_ap is not None and 1 <= fair.marks_to_ap <= 1 + 3 * 10
    assert fair.ap_reached == 1.0
    assert fair.class_coverage is not None and 0 < fair.class_coverage <= 1
    assert all(c.test_ap == c.test_ap for c in fair.per_class)  # no NaN
    # An AP target no model reaches: no marks figure, and the share says why.
    never = simulate(x, y, rounds=2, batch=10, seeds_per_class=1, test_fraction=0.3, ap_target=1.01)
    assert never.marks_to_ap is None and never.ap_reached == 0.0


def test_some_labels_only_with_the_same_seeds_as_all() -> None:
    x, y = _blobs()
    every = simulate(x, y, rounds=2, batch=10, seeds_per_class=2)
    some = simulate(x, y, rounds=2, batch=10, seeds_per_class=2, classes=["c1", "c3"])
    assert [c.label for c in some.per_class] == ["c1", "c3"] and some.queries == 4
    by_label = {c.label: c for c in every.per_class}
    for c in some.per_class:
        assert c.shown_precision == by_label[c.label].shown_precision
    with pytest.raises(InvalidInputError, match="c9"):
        simulate(x, y, classes=["c9"])
