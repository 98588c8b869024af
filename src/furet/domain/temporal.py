"""Temporal logic of video results: folding near-duplicates, time-coded segments, shot spreading.

Pure Python + numpy. A video keyframe is known by its video id (any string), its time in seconds
from the start of the video, and optionally its shot (index and ``[shot_start, shot_end)``
bounds, as ``furet.media.video`` produces them). An image is an item with ``video=None``.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class ScoredItem:
    """One search result: an image (``video`` None) or a video keyframe at ``time`` seconds."""

    item_id: int
    score: float
    video: str | None = None
    time: float | None = None


@dataclass
class FoldedResult:
    """A result that stayed on the page, with the ids of the keyframes folded into it."""

    item_id: int
    score: float
    video: str | None = None
    time: float | None = None
    folded: list[int] = field(default_factory=list)

    @property
    def folded_count(self) -> int:
        return len(self.folded)


@dataclass(frozen=True)
class KeyframeRef:
    """A keyframe's place in its video. Shot fields are optional (None: unknown)."""

    item_id: int
    video: str
    time: float
    shot: int | None = None
    shot_start: float | None = None
    shot_end: float | None = None


@dataclass(frozen=True)
class Segment:
    """A time-coded span ``[start, end)`` seconds of ``video`` where a class fires."""

    video: str
    start: float
    end: float
    max_score: float
    item_ids: tuple[int, ...]


def fold_temporal(results: Sequence[ScoredItem], temporal_range_s: float) -> list[FoldedResult]:
    """Fold keyframes closer than ``temporal_range_s`` to a better-scored one of the same video.

    ``results`` are expected best first; they are stably re-sorted by descending score, so
    ties keep their order. A keyframe is folded into the best-scored *kept* keyframe of its
    video strictly closer than the range (kept keyframes of one video are therefore pairwise at
    least the range apart, and folding never chains). Images, keyframes without a time, and
    everything when the range is <= 0 pass through. Returns the kept results, best first.
    """
    ordered = sorted(results, key=lambda r: -r.score)
    kept: list[FoldedResult] = []
    # Per video: kept times in increasing order, and the kept result at each.
    times: dict[str, list[float]] = {}
    owners: dict[str, list[FoldedResult]] = {}
    for r in ordered:
        if r.video is None or r.time is None or temporal_range_s <= 0:
            kept.append(FoldedResult(r.item_id, r.score, r.video, r.time))
            continue
        vt, vo = times.setdefault(r.video, []), owners.setdefault(r.video, [])
        pos = bisect.bisect_left(vt, r.time)
        # Kept times are >= range apart, so at most one on each side can be within range.
        near = [
            vo[j]
            for j in (pos - 1, pos)
            if 0 <= j < len(vt) and abs(vt[j] - r.time) < temporal_range_s
        ]
        if near:
            best = max(near, key=lambda o: o.score)  # ties: the earlier kept one
            best.folded.append(r.item_id)
            continue
        result = FoldedResult(r.item_id, r.score, r.video, r.time)
        vt.insert(pos, r.time)
        vo.insert(pos, result)
        kept.append(result)
    return kept


def keyframe_spans(keyframes: Sequence[KeyframeRef]) -> list[tuple[float, float]]:
    """The span ``[lo, hi)`` of time each keyframe stands for, in the order given.

    Within a video (keyframes sorted by time) a keyframe covers from halfway to the previous
    keyframe of its shot to halfway to the next one; the first keyframe of a shot starts at the
    shot start and the last ends at the shot end, so the spans of a video tile its shots.
    Without shot bounds, the first keyframe of a video starts at its own time and the last ends
    at its own time.
    """
    spans: list[tuple[float, float]] = [(0.0, 0.0)] * len(keyframes)
    by_video: dict[str, list[int]] = {}
    for i, k in enumerate(keyframes):
        by_video.setdefault(k.video, []).append(i)
    for indices in by_video.values():
        indices.sort(key=lambda i: keyframes[i].time)
        for pos, i in enumerate(indices):
            k = keyframes[i]
            prev = keyframes[indices[pos - 1]].time if pos > 0 else None
            nxt = keyframes[indices[pos + 1]].time if pos + 1 < len(indices) else None
            # A neighbour in another shot does not count: the cut bounds the span.
            if k.shot_start is not None and (prev is None or prev < k.shot_start):
                lo = k.shot_start
            else:
                lo = (prev + k.time) / 2 if prev is not None else k.time
            if k.shot_end is not None and (nxt is None or nxt >= k.shot_end):
                hi = k.shot_end
            else:
                hi = (nxt + k.time) / 2 if nxt is not None else k.time
            spans[i] = (min(lo, k.time), max(hi, k.time))
    return spans


def merge_segments(
    keyframes: Sequence[KeyframeRef], scores: np.ndarray, threshold: float
) -> list[Segment]:
    """Time-coded segments where a class fires (``score >= threshold``).

    ``scores``: ``(n,)`` scores of ``keyframes``, in the same order. Firing keyframes that are
    consecutive in their video's time order (no non-firing keyframe between them) merge into one
    segment from the first one's span start to the last one's span end (see
    :func:`keyframe_spans`); its ``max_score`` is the best score inside. Returns segments sorted
    by video, then start.
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if scores.shape[0] != len(keyframes):
        raise ValueError(f"{len(keyframes)} keyframes but {scores.shape[0]} scores")
    spans = keyframe_spans(keyframes)
    by_video: dict[str, list[int]] = {}
    for i, k in enumerate(keyframes):
        by_video.setdefault(k.video, []).append(i)
    segments: list[Segment] = []
    for video in sorted(by_video):
        run: list[int] = []
        for i in [*sorted(by_video[video], key=lambda i: keyframes[i].time), -1]:
            if i >= 0 and scores[i] >= threshold:
                run.append(i)
                continue
            if run:
                segments.append(
                    Segment(
                        video=video,
                        start=spans[run[0]][0],
                        end=spans[run[-1]][1],
                        max_score=float(scores[run].max()),
                        item_ids=tuple(keyframes[j].item_id for j in run),
                    )
                )
                run = []
    return segments


def spread_to_shot(
    item: KeyframeRef, keyframes_of_video: Sequence[KeyframeRef], temporal_range_s: float
) -> list[int]:
    """Ids of the other keyframes a mark on ``item`` spreads to: same video, same shot, and
    at most ``temporal_range_s`` seconds away. Sorted by time; ``item`` itself is not included.

    Without a shot index on ``item`` the shot is unknown and nothing spreads.
    """
    if item.shot is None or temporal_range_s < 0:
        return []
    same = [
        k
        for k in keyframes_of_video
        if k.item_id != item.item_id
        and k.video == item.video
        and k.shot == item.shot
        and abs(k.time - item.time) <= temporal_range_s
    ]
    return [k.item_id for k in sorted(same, key=lambda k: k.time)]
