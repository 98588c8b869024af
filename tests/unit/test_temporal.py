"""Temporal logic with known answers: folding, time-coded segments, spreading to a shot."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from furet.domain.temporal import (
    KeyframeRef,
    ScoredItem,
    Segment,
    fold_temporal,
    keyframe_spans,
    merge_segments,
    spread_to_shot,
)


def test_fold_keeps_best_and_folds_close_keyframes_of_same_video() -> None:
    results = [
        ScoredItem(1, 0.9, "a", 10.0),
        ScoredItem(2, 0.8, "a", 12.0),  # 2 s from 1: folded
        ScoredItem(3, 0.7, None, None),  # image: passes
        ScoredItem(4, 0.6, "b", 11.0),  # other video: kept
        ScoredItem(5, 0.5, "a", 20.0),  # 10 s from 1: kept
        ScoredItem(6, 0.4, "a", 7.5),  # 2.5 s from 1: folded
        ScoredItem(7, 0.3, "a", 17.1),  # 2.9 s from 5, 7.1 from 1: folded into 5
    ]
    out = fold_temporal(results, temporal_range_s=3.0)
    assert [r.item_id for r in out] == [1, 3, 4, 5]
    assert out[0].folded == [2, 6] and out[0].folded_count == 2
    assert out[3].folded == [7]
    assert out[1].folded == [] and out[2].folded == []


def test_fold_range_is_strict_and_zero_range_disables() -> None:
    results = [ScoredItem(1, 0.9, "a", 0.0), ScoredItem(2, 0.8, "a", 3.0)]
    assert [r.item_id for r in fold_temporal(results, 3.0)] == [1, 2]
    assert [r.item_id for r in fold_temporal(results, 3.01)] == [1]
    assert [r.item_id for r in fold_temporal(results, 0.0)] == [1, 2]


def test_fold_between_two_kept_goes_to_the_better_one_and_never_chains() -> None:
    results = [
        ScoredItem(1, 0.9, "a", 0.0),
        ScoredItem(2, 0.8, "a", 4.0),
        ScoredItem(3, 0.7, "a", 2.0),  # within 3 s of both: the better (1) takes it
        ScoredItem(4, 0.6, "a", 5.5),  # 1.5 from 2 (kept), 3.5 from 3 (folded): into 2
    ]
    out = fold_temporal(results, 3.0)
    assert [(r.item_id, r.folded) for r in out] == [(1, [3]), (2, [4])]


def test_fold_sorts_unsorted_input_and_keeps_keyframes_without_time() -> None:
    results = [ScoredItem(2, 0.1, "a", 1.0), ScoredItem(1, 0.9, "a", 0.0), ScoredItem(3, 0.5, "a")]
    out = fold_temporal(results, 5.0)
    assert [(r.item_id, r.folded) for r in out] == [(1, [2]), (3, [])]


@given(
    st.lists(
        st.tuples(st.floats(0, 1), st.sampled_from(["a", "b", None]), st.floats(0, 100)),
        max_size=60,
    ),
    st.floats(0.1, 20),
)
def test_fold_invariants(rows: list[tuple[float, str | None, float]], rng: float) -> None:
    results = [
        ScoredItem(i, s, v, t if v is not None else None) for i, (s, v, t) in enumerate(rows)
    ]
    out = fold_temporal(results, rng)
    ids = [r.item_id for r in out] + [f for r in out for f in r.folded]
    assert sorted(ids) == list(range(len(rows)))  # nothing lost, nothing duplicated
    assert [r.score for r in out] == sorted((r.score for r in out), reverse=True)
    by_id = {r.item_id: r for r in results}
    for r in out:
        for f in r.folded:
            assert by_id[f].video == r.video and r.time is not None
            assert abs(by_id[f].time - r.time) < rng  # type: ignore[operator]
            assert by_id[f].score <= r.score
    for v in ("a", "b"):
        times = sorted(r.time for r in out if r.video == v and r.time is not None)
        assert all(b - a >= rng for a, b in itertools.pairwise(times))


def _kf(
    item_id: int, time: float, shot: int, start: float, end: float, video: str = "v"
) -> KeyframeRef:
    return KeyframeRef(item_id, video, time, shot, start, end)


# A video with shots [0, 5), [5, 11), [11, 16): keyframes at 1, 3, 4.5 | 6, 8, 10 | 12, 14, 15.5.
VIDEO = [
    _kf(0, 1.0, 0, 0.0, 5.0),
    _kf(1, 3.0, 0, 0.0, 5.0),
    _kf(2, 4.5, 0, 0.0, 5.0),
    _kf(3, 6.0, 1, 5.0, 11.0),
    _kf(4, 8.0, 1, 5.0, 11.0),
    _kf(5, 10.0, 1, 5.0, 11.0),
    _kf(6, 12.0, 2, 11.0, 16.0),
    _kf(7, 14.0, 2, 11.0, 16.0),
    _kf(8, 15.5, 2, 11.0, 16.0),
]


def test_spans_tile_the_video_and_respect_shots() -> None:
    spans = keyframe_spans(VIDEO)
    assert spans == [
        (0.0, 2.0),
        (2.0, 3.75),
        (3.75, 5.0),
        (5.0, 7.0),
        (7.0, 9.0),
        (9.0, 11.0),
        (11.0, 13.0),
        (13.0, 14.75),
        (14.75, 16.0),
    ]


def test_merge_segments_known_answer() -> None:
    scores = np.array([0.1, 0.2, 0.3, 0.9, 0.8, 0.7, 0.2, 0.95, 0.1])
    segs = merge_segments(VIDEO, scores, threshold=0.5)
    assert segs == [
        Segment("v", 5.0, 11.0, 0.9, (3, 4, 5)),
        Segment("v", 13.0, 14.75, 0.95, (7,)),
    ]


def test_merge_segments_across_a_cut_and_order_independent() -> None:
    scores = np.array([0.0, 0.0, 0.6, 0.7, 0.0, 0.0, 0.0, 0.0, 0.0])
    perm = [8, 2, 5, 0, 3, 7, 1, 6, 4]
    segs = merge_segments([VIDEO[i] for i in perm], scores[perm], threshold=0.5)
    assert segs == [Segment("v", 3.75, 7.0, 0.7, (2, 3))]


def test_merge_segments_several_videos_and_no_shot_info() -> None:
    kfs = [KeyframeRef(10, "b", 0.0), KeyframeRef(11, "b", 2.0), KeyframeRef(12, "b", 4.0)]
    kfs += [KeyframeRef(20, "a", 1.0)]
    segs = merge_segments(kfs, np.array([0.5, 0.6, 0.1, 0.9]), threshold=0.5)
    # Without shots, the first keyframe starts at its own time and a run ends halfway.
    assert segs == [Segment("a", 1.0, 1.0, 0.9, (20,)), Segment("b", 0.0, 3.0, 0.6, (10, 11))]
    assert merge_segments(kfs, np.zeros(4), 0.5) == []
    with pytest.raises(ValueError):
        merge_segments(kfs, np.zeros(3), 0.5)


def test_spread_to_shot_stays_in_shot_and_range() -> None:
    assert spread_to_shot(VIDEO[4], VIDEO, 5.0) == [3, 5]
    assert spread_to_shot(VIDEO[4], VIDEO, 1.5) == []
    assert spread_to_shot(VIDEO[3], VIDEO, 2.0) == [4]  # 4.5 s is 1.5 s away but another shot
    other = [_kf(99, 8.5, 1, 5.0, 11.0, video="w")]
    assert spread_to_shot(VIDEO[4], VIDEO + other, 5.0) == [3, 5]
    assert spread_to_shot(KeyframeRef(50, "v", 8.0), VIDEO, 5.0) == []
