"""Similarity search over one space of a collection (exact cosine for now)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from furet.catalog.repository import Catalog, ItemInfo
from furet.domain.classifier import first_page_model
from furet.domain.temporal import ScoredItem, fold_temporal
from furet.embedders import get_spec, list_embedders
from furet.errors import InvalidInputError, NotFoundError
from furet.vectors.base import TopK
from furet.vectors.segments import VectorMatrix


@dataclass(frozen=True)
class SearchHit:
    item_id: int
    path: str
    score: float
    kind: str = "image"
    video_time: float | None = None
    shot: int | None = None
    #: Keyframes of the same video within the temporal range folded into this one.
    folded: int = 0

    def as_json(self) -> dict[str, object]:
        """Named as round pages are (``kind``; ``video``, ``time``, ``shot`` for keyframes)."""
        out: dict[str, object] = {
            "item_id": self.item_id,
            "path": self.path,
            "kind": self.kind,
            "score": self.score,
        }
        if self.kind == "keyframe":
            out.update(video=self.path, time=self.video_time, shot=self.shot, folded=self.folded)
        return out


#: With a temporal range, this many times more candidates are ranked before folding.
FOLD_OVERFETCH = 4


def fold_hits(hits: list[SearchHit], temporal_range: float, k: int) -> list[SearchHit]:
    """Fold keyframes of one video closer than ``temporal_range`` s into the better-scored one."""
    if temporal_range <= 0:
        return hits[:k]
    by_id = {h.item_id: h for h in hits}
    folded = fold_temporal(
        [
            ScoredItem(h.item_id, h.score, h.path if h.kind == "keyframe" else None, h.video_time)
            for h in hits
        ],
        temporal_range,
    )
    return [replace(by_id[f.item_id], folded=f.folded_count) for f in folded[:k]]


def query_vector(vectors: np.ndarray) -> np.ndarray:
    """Mean of L2-normalised query vectors, renormalised. ``(m, dim) -> (dim,) float32``."""
    v = np.asarray(vectors, dtype=np.float32)
    if v.ndim == 1:
        v = v[None]
    if len(v) == 0:
        raise InvalidInputError("a search needs at least one query image or item")
    return first_page_model(v).w


def search_matrix(
    matrix: VectorMatrix,
    index: TopK,
    catalog: Catalog,
    query: np.ndarray,
    k: int,
    exclude_ids: list[int] | None = None,
    temporal_range: float = 0.0,
) -> list[SearchHit]:
    """Cosine top-``k`` of ``query`` ``(dim,)`` among the rows of ``matrix`` (``index``: the
    exact scan or a k-NN index, whose hits carry exact scores), video keyframes folded within
    ``temporal_range`` seconds."""
    if k <= 0:
        raise InvalidInputError("k must be a positive number of results")
    exclude = None
    if exclude_ids:
        rows = matrix.rows_of(exclude_ids)
        exclude = rows[rows >= 0]
    fetch = k * FOLD_OVERFETCH if temporal_range > 0 else k
    rows, scores = index.topk(query, fetch, exclude)
    ids = matrix.item_ids[rows]
    infos = catalog.item_infos(ids.tolist())
    hits = [
        hit_of(infos[int(i)], float(s)) for i, s in zip(ids, scores, strict=True) if int(i) in infos
    ]
    return fold_hits(hits, temporal_range, k)


def hit_of(info: ItemInfo, score: float) -> SearchHit:
    return SearchHit(
        info.item_id, info.path, round(score, 6), info.kind, info.video_time, info.shot
    )


def text_spaces(spaces: list[str]) -> list[str]:
    """The spaces among ``spaces`` whose model has a text tower (clip, mclip), in order."""
    out = []
    for space in spaces:
        try:
            if get_spec(space).has_text:
                out.append(space)
        except NotFoundError:  # a space folder of a model this version does not know
            continue
    return out


def text_space_hint(collection: str) -> str:
    """How to give ``collection`` a space that text search can use."""
    names = [s.name for s in list_embedders() if s.has_text]
    return f"add one with: furet embed --collection {collection} --model {names[0]}" + (
        f" (or --model {', '.join(names[1:])})" if len(names) > 1 else ""
    )


def pick_text_space(collection: str, spaces: list[str], space: str | None = None) -> str:
    """``space`` if it is one of ``spaces`` with a text tower, else (None) the first such one."""
    if space is None:
        found = text_spaces(spaces)
        if not found:
            raise InvalidInputError(
                f"collection {collection!r} has no space that can search by text (its spaces: "
                f"{', '.join(spaces)}); {text_space_hint(collection)}"
            )
        return found[0]
    if space not in spaces:
        raise NotFoundError(
            f"collection {collection!r} has no {space!r} space; add it with: "
            f"furet embed --collection {collection} --model {space}"
        )
    if not text_spaces([space]):
        raise InvalidInputError(
            f"space {space!r} of collection {collection!r} has no text tower; "
            f"{text_space_hint(collection)}"
        )
    return space
