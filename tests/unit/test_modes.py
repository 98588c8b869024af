from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from furet.domain.modes import (
    ModeSettings,
    get_mode,
    list_modes,
    precision_estimate,
    recall_estimate,
    register_mode,
    select_page,
)
from furet.errors import InvalidInputError, NotFoundError, RegistryError

ALL_MODES = ["search", "ambiguous", "most_useful", "discovery", "refine", "classify_random"]


def _rng() -> np.random.Generator:
    return np.random.default_rng(0)


def test_registry_has_all_modes() -> None:
    assert set(ALL_MODES) <= set(list_modes())


def test_unknown_mode_lists_known_ones() -> None:
    with pytest.raises(NotFoundError, match="search"):
        get_mode("nope")


def test_duplicate_registration_raises() -> None:
    with pytest.raises(RegistryError):
        register_mode("search")(get_mode("search"))


def test_search_returns_best_unlabelled_in_order() -> None:
    scores = np.array([0.1, 5.0, 3.0, 4.0, -2.0, 2.0], np.float32)
    labelled = np.array([0, 1, 0, 0, 0, -1], np.int8)
    page = select_page("search", scores, labelled, 3, rng=_rng())
    assert page.tolist() == [3, 2, 0]


def test_ambiguous_returns_closest_to_boundary() -> None:
    scores = np.array([3.0, -0.1, 0.05, -4.0, 0.5, 0.0], np.float32)
    labelled = np.array([0, 0, 0, 0, 0, 1], np.int8)
    page = select_page("ambiguous", scores, labelled, 3, rng=_rng())
    assert page.tolist() == [2, 1, 4]


def test_most_useful_shows_the_least_sure_of_the_likeliest_positives() -> None:
    scores = np.array([3.0, -0.01, 0.3, 0.2, 1.0, -0.5, 0.25, 2.0, 5.0], np.float32)
    labelled = np.array([0, 0, 0, 0, 0, 0, -1, 0, 1], np.int8)
    # The 6 best unlabelled (1.5 pages of 4): 3.0, 2.0, 1.0, 0.3, 0.2, -0.01; the 4 least sure
    # of them, least sure first. The marked items (5.0, 0.25) are never shown.
    page = select_page("most_useful", scores, labelled, 4, rng=_rng())
    assert page.tolist() == [1, 3, 2, 4]
    # Fewer unlabelled items than the window: all of them, least sure first.
    page = select_page("most_useful", scores, labelled, 7, rng=_rng())
    assert page.tolist() == [5, 1, 3, 2, 4, 7, 0]
    # A page of 1 takes the 2nd best (ceil(1.5) = 2 candidates).
    assert select_page("most_useful", scores, labelled, 1, rng=_rng()).tolist() == [7]


def test_discovery_draws_share_from_band() -> None:
    n = 1000
    scores = np.full(n, -10.0, np.float32)
    scores[:20] = 10.0 + np.arange(20, dtype=np.float32)  # the search head
    band = np.arange(500, 600)
    scores[band] = 0.0  # probability 0.5: inside [0.2, 0.8]
    labelled = np.zeros(n, np.int8)
    s = ModeSettings(discovery_rate=0.4, sampling_min=0.2, sampling_max=0.8)
    page = select_page("discovery", scores, labelled, 10, s, _rng())
    assert page[:6].tolist() == [19, 18, 17, 16, 15, 14]
    assert set(page[6:].tolist()) <= set(band.tolist())
    assert len(set(page.tolist())) == 10


def test_discovery_fills_with_search_when_band_empty() -> None:
    scores = np.array([5.0, 4.0, -9.0, -8.0], np.float32)
    s = ModeSettings(discovery_rate=1.0, sampling_min=0.4, sampling_max=0.6)
    page = select_page("discovery", scores, np.zeros(4, np.int8), 3, s, _rng())
    assert page.tolist() == [0, 1, 3]


def test_discovery_settings_validated() -> None:
    with pytest.raises(InvalidInputError):
        ModeSettings(sampling_min=0.9, sampling_max=0.1)
    with pytest.raises(InvalidInputError):
        ModeSettings(discovery_rate=1.5)


def test_refine_shows_contradicted_marks_first() -> None:
    scores = np.array([-3.0, 2.0, 4.0, -1.0, 1.0, 0.5, 3.0], np.float32)
    # 0: positive scored -3 (contradicted), 2: negative scored 4 (contradicted, most),
    # 3: negative scored -1 (agrees), 1: positive scored 2 (agrees).
    labelled = np.array([1, 1, -1, -1, 0, 0, 0], np.int8)
    page = select_page("refine", scores, labelled, 4, rng=_rng())
    assert page.tolist() == [2, 0, 6, 4]


def test_classify_random_is_uniform_and_unlabelled() -> None:
    n = 50
    scores = np.linspace(-1, 1, n).astype(np.float32)
    labelled = np.zeros(n, np.int8)
    labelled[:10] = 1
    rng = np.random.default_rng(1)
    counts = np.zeros(n)
    for _ in range(2000):
        page = select_page("classify_random", scores, labelled, 5, rng=rng)
        assert np.all(np.diff(scores[page]) <= 0)  # shown best first
        counts[page] += 1
    assert counts[:10].sum() == 0
    # Each of the 40 unlabelled items is expected 250 times; uniform within noise.
    assert counts[10:].min() > 180 and counts[10:].max() < 320


@pytest.mark.parametrize("mode", ALL_MODES)
def test_page_size_zero_and_everything_labelled(mode: str) -> None:
    scores = np.arange(5, dtype=np.float32)
    assert select_page(mode, scores, np.zeros(5, np.int8), 0, rng=_rng()).size == 0
    page = select_page(mode, scores, np.ones(5, np.int8), 3, rng=_rng())
    assert page.size == 0 or mode == "refine"


def test_select_page_validates_shapes() -> None:
    with pytest.raises(InvalidInputError):
        select_page("search", np.zeros(3, np.float32), np.zeros(4, np.int8), 2)
    with pytest.raises(InvalidInputError):
        select_page("search", np.zeros(3, np.float32), np.zeros(3, np.int8), -1)


@st.composite
def _round_inputs(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int]:
    n = draw(st.integers(min_value=1, max_value=80))
    # Coarse values: many ties, and both sides of the boundary.
    scores = draw(
        hnp.arrays(np.float32, n, elements=st.sampled_from([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 4.0]))
    )
    labelled = draw(hnp.arrays(np.int8, n, elements=st.sampled_from([0, 0, 1, -1])))
    page_size = draw(st.integers(min_value=0, max_value=30))
    return scores, labelled, page_size


@settings(max_examples=150, deadline=None)
@given(_round_inputs(), st.sampled_from(ALL_MODES), st.integers(0, 2**32 - 1))
def test_page_invariants(inputs: tuple[np.ndarray, np.ndarray, int], mode: str, seed: int) -> None:
    scores, labelled, page_size = inputs
    page = select_page(mode, scores, labelled, page_size, rng=np.random.default_rng(seed))
    assert page.dtype == np.int64
    assert len(set(page.tolist())) == page.size, "duplicates"
    assert np.all((page >= 0) & (page < scores.size))
    unlabelled = int(np.count_nonzero(labelled == 0))
    if mode == "refine":
        contradicted = int(np.count_nonzero(labelled.astype(np.float32) * scores < 0))
        assert page.size == min(page_size, unlabelled + contradicted)
        # Labelled items shown must be ones the model contradicts, and come first.
        marked = labelled[page] != 0
        assert np.all(labelled[page][marked] * scores[page][marked] < 0)
        assert not np.any(np.diff(marked.astype(int)) > 0)
    else:
        assert page.size == min(page_size, unlabelled)
        assert np.all(labelled[page] == 0), "labelled item on the page"
    if mode == "search":
        # Nothing left out scores higher than what is shown.
        rest = np.setdiff1d(np.flatnonzero(labelled == 0), page)
        if page.size and rest.size:
            assert scores[rest].max() <= scores[page].min()


def test_precision_and_recall_estimates() -> None:
    verdicts = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0], bool)
    # Two wrong positive verdicts, one missed positive.
    corrections = np.array([0, 0, 1, 1, 1, 0, 0, 0, 0, 0], bool)
    p, lo, hi = precision_estimate(verdicts, corrections)
    assert p == pytest.approx(0.5) and 0.0 < lo < 0.5 < hi < 1.0
    r, rlo, rhi = recall_estimate(verdicts, corrections)
    assert r == pytest.approx(2 / 3) and rlo < r < rhi
    none = precision_estimate(np.zeros(3, bool), np.zeros(3, bool))
    assert math.isnan(none.value)
    with pytest.raises(InvalidInputError):
        precision_estimate(np.zeros(3, bool), np.zeros(2, bool))


def test_large_collection_selection_is_fast_enough() -> None:
    import time

    n = 2_000_000
    rng = np.random.default_rng(0)
    scores = rng.standard_normal(n).astype(np.float32)
    labelled = np.zeros(n, np.int8)
    labelled[rng.choice(n, 500, replace=False)] = 1
    t0 = time.perf_counter()
    page = select_page("search", scores, labelled, 15, rng=rng)
    elapsed = time.perf_counter() - t0
    assert page.size == 15
    assert np.array_equal(page, np.argsort(-np.where(labelled == 0, scores, -np.inf))[:15])
    assert elapsed < 1.0  # a full sort-based selection would not be linear; generous bound
