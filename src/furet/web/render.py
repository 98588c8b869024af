"""JSON shapes of items and hits shared by the routes (see docs/api.md)."""

from __future__ import annotations

from furet.catalog.repository import ItemInfo


def item_urls(item_id: int) -> dict[str, str]:
    return {
        "thumbnail_url": f"/v1/items/{item_id}/thumbnail",
        "original_url": f"/v1/items/{item_id}/original",
    }


def video_fields(kind: str, path: str, time: float | None, shot: int | None) -> dict[str, object]:
    """``video``, ``time``, ``shot`` for a video keyframe; nothing for an image."""
    if kind != "keyframe":
        return {}
    return {"video": path, "time": time, "shot": shot}


def item_json(info: ItemInfo) -> dict[str, object]:
    return {
        "item_id": info.item_id,
        "path": info.path,
        "kind": info.kind,
        **item_urls(info.item_id),
        **video_fields(info.kind, info.path, info.video_time, info.shot),
        **{k: v for k, v in (("url", info.url), ("caption", info.caption)) if v is not None},
    }


def hit_json(info: ItemInfo, score: float, folded: int | None = None) -> dict[str, object]:
    """An item with its score; keyframes also say how many neighbours were folded into them."""
    out = {**item_json(info), "score": round(float(score), 6)}
    if info.kind == "keyframe" and folded is not None:
        out["folded"] = folded
    return out
