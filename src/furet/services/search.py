"""Similarity search over one space of a collection (exact cosine for now)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from furet.catalog.repository import Catalog, ItemInfo
from furet.errors import InvalidInputError
from furet.vectors.exact import ExactIndex
from furet.vectors.segments import VectorMatrix


@dataclass(frozen=True)
class SearchHit:
    item_id: int
    path: str
    score: float
    kind: str = "image"
    video_time: float | None = None
    shot: int | None = None

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {"item_id": self.item_id, "path": self.path, "score": self.score}
        if self.kind == "keyframe":
            out.update(video=self.path, time=self.video_time, shot=self.shot)
        return out


def query_vector(vectors: np.ndarray) -> np.ndarray:
    """Mean of L2-normalised query vectors, renormalised. ``(m, dim) -> (dim,) float32``."""
    v = np.asarray(vectors, dtype=np.float32)
    if v.ndim == 1:
        v = v[None]
    if len(v) == 0:
        raise InvalidInputError("a search needs at least one query image or item")
    q = v.mean(axis=0)
    n = float(np.linalg.norm(q))
    return q / n if n > 0 else q


def search_matrix(
    matrix: VectorMatrix,
    catalog: Catalog,
    query: np.ndarray,
    k: int,
    exclude_ids: list[int] | None = None,
) -> list[SearchHit]:
    """Exact cosine top-``k`` of ``query`` ``(dim,)`` among the rows of ``matrix``."""
    if k <= 0:
        raise InvalidInputError("k must be a positive number of results")
    exclude = None
    if exclude_ids:
        rows = matrix.rows_of(exclude_ids)
        exclude = rows[rows >= 0]
    rows, scores = ExactIndex(matrix.vectors).topk(query, k, exclude)
    ids = matrix.item_ids[rows]
    infos = catalog.item_infos(ids.tolist())
    return [
        hit_of(infos[int(i)], float(s)) for i, s in zip(ids, scores, strict=True) if int(i) in infos
    ]


def hit_of(info: ItemInfo, score: float) -> SearchHit:
    return SearchHit(
        info.item_id, info.path, round(score, 6), info.kind, info.video_time, info.shot
    )
