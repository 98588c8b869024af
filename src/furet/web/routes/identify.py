"""Identification, as the Pl@ntNet API: POST images, get every class the caller may read (theirs,
those shared with their groups, public ones) ranked by score, each with its owner, the caller's
right on it, and the images of the class most similar to the query."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, File, Query, UploadFile
from starlette.concurrency import run_in_threadpool

from furet.catalog.classes import POSITIVE
from furet.errors import NotFoundError
from furet.library import Collection
from furet.services.search import query_vector, search_matrix
from furet.services.sharing import Scope, Sharing
from furet.web.auth import CallerDep, ContextDep
from furet.web.context import AppContext
from furet.web.problems import PROBLEMS, problem_responses
from furet.web.render import hit_json
from furet.web.uploads import read_images

router = APIRouter(prefix="/v1", tags=["identify"], responses=PROBLEMS)


def _similar(
    ctx: AppContext, col: Collection, query: np.ndarray, positives: list[int], n: int
) -> list[dict[str, object]]:
    """The class's positive items most similar to the query; without any, the collection's."""
    if n == 0:
        return []
    if positives:
        vectors = col.vectors_of(positives)
        scores = vectors @ query
        best = np.argsort(-scores)[:n]
        infos = ctx.home.catalog.item_infos([positives[i] for i in best])
        return [
            hit_json(infos[positives[i]], float(scores[i])) for i in best if positives[i] in infos
        ]
    hits = search_matrix(col.matrix(), col.knn(), ctx.home.catalog, query, n)
    infos = ctx.home.catalog.item_infos([h.item_id for h in hits])
    return [hit_json(infos[h.item_id], h.score) for h in hits if h.item_id in infos]


def identify_images(
    ctx: AppContext,
    sharing: Sharing,
    images: list[bytes],
    collection: str | None,
    similar: int,
    scope: Scope = "all",
) -> dict[str, object]:
    """Score every class the caller of ``sharing`` may read (on ``collection`` if given, in
    ``scope``) by its latest version."""
    wanted = ctx.home.collection(collection).collection_id if collection is not None else None
    readable = sharing.visible(wanted, scope=scope)
    catalog = sharing.classes
    queries: dict[int, np.ndarray] = {}  # collection id -> query vector
    results = []
    skipped = 0
    for shown in readable:
        cls = shown.row
        version = catalog.latest_version(cls.class_id)
        if version is None:
            skipped += 1  # never trained: no model to score with yet
            continue
        try:
            col = ctx.home.collection_by_id(cls.collection_id)
        except NotFoundError:
            continue
        if cls.collection_id not in queries:
            queries[cls.collection_id] = query_vector(
                np.stack([col.embed_image(data) for data in images])
            )
        query = queries[cls.collection_id]
        score = float(query @ version.weights + version.bias)
        labels = catalog.current_labels(cls.class_id)
        positives = [i for i, v in labels.items() if v == POSITIVE]
        results.append(
            {
                "class_id": cls.class_id,
                "name": cls.name,
                "collection": col.name,
                "owner": shown.owner,
                "right": shown.right,
                "visibility": cls.visibility,
                "version": version.version,
                "score": round(score, 6),
                "probability": round(float(1 / (1 + np.exp(-score))), 6),
                "similar": _similar(ctx, col, query, positives, similar),
            }
        )
    results.sort(key=lambda r: -float(r["score"]))  # type: ignore[arg-type]
    return {"results": results, "untrained_classes": skipped}


@router.post("/identify", responses=problem_responses(404, 503))
async def identify(
    who: CallerDep,
    ctx: ContextDep,
    images: Annotated[list[UploadFile], File(description="1 to 5 images of one subject")],
    collection: Annotated[str | None, Query(description="only classes of this collection")] = None,
    similar: Annotated[int, Query(ge=0, le=20, description="similar images per class")] = 3,
    scope: Annotated[
        Scope,
        Query(description="the caller's classes, shared ones, public ones, or all (default)"),
    ] = "all",
) -> dict[str, object]:
    """Every class the caller may read (theirs, shared with their groups, public), scored on
    the images (``x @ w + b``; probability = sigmoid), best first, each with its ``owner``,
    the caller's ``right`` and its most similar images."""
    data = await read_images(images, ctx.settings.max_upload_bytes, ctx.settings.max_request_pixels)
    sharing = Sharing(ctx.home, who.account.user_id, is_admin=who.account.is_admin)
    return await run_in_threadpool(identify_images, ctx, sharing, data, collection, similar, scope)
