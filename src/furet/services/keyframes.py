"""Video keyframes as ``domain.temporal`` sees them, from the catalog's item infos."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from furet.catalog.repository import Catalog, ItemInfo
from furet.domain.temporal import KeyframeRef, Segment, merge_segments


def keyframe_ref(info: ItemInfo) -> KeyframeRef | None:
    """The keyframe's place in its video; None for an image (or a keyframe without a time)."""
    if info.kind != "keyframe" or info.video_time is None:
        return None
    return KeyframeRef(
        info.item_id, info.path, info.video_time, info.shot, info.shot_start, info.shot_end
    )


def fired_segments(
    catalog: Catalog, scores: Mapping[int, float], threshold: float, infos: Mapping[int, ItemInfo]
) -> list[Segment]:
    """Time-coded segments where ``score >= threshold``, over the whole videos of the
    keyframes in ``scores`` (item id -> score; ``infos`` has theirs): a keyframe of those
    videos without a score does not fire, and ends a segment."""
    refs: list[KeyframeRef] = []
    seen_videos: set[str] = set()
    for item_id in scores:
        info = infos.get(item_id)
        if info is None or keyframe_ref(info) is None or info.path in seen_videos:
            continue
        seen_videos.add(info.path)
        refs.extend(r for r in map(keyframe_ref, catalog.siblings(item_id)) if r is not None)
    if not refs:
        return []
    values = np.array([scores.get(r.item_id, -np.inf) for r in refs], np.float64)
    return merge_segments(refs, values, threshold)


def segment_of(segments: Iterable[Segment]) -> dict[int, Segment]:
    """Keyframe item id -> the segment it lies in."""
    return {i: s for s in segments for i in s.item_ids}
