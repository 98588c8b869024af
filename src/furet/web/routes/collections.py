"""Collections, items (thumbnails and originals by id only) and similarity search."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import numpy as np
from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from furet.catalog.repository import ItemInfo
from furet.errors import NotFoundError
from furet.library import Collection
from furet.services.search import pick_text_space, query_vector, search_matrix, text_spaces
from furet.web.auth import CallerDep, ContextDep, UncountedDep
from furet.web.context import AppContext
from furet.web.params import Count, ItemId
from furet.web.problems import PROBLEMS, problem_responses
from furet.web.render import hit_json, item_json
from furet.web.uploads import read_images

router = APIRouter(prefix="/v1", tags=["collections"], responses=PROBLEMS)

#: Weight of the negative examples in a search query (Rocchio's gamma over beta).
NEGATIVE_WEIGHT = 0.5
MAX_K = 1000


class ItemSearch(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"item_ids": [12, 40], "negative_item_ids": [7], "k": 20}]}
    )
    item_ids: list[ItemId] = Field(min_length=1, max_length=100)
    negative_item_ids: list[ItemId] = Field(default_factory=list, max_length=100)
    k: int = Field(default=20, ge=1, le=MAX_K)
    temporal_range: float = Field(default=0.0, ge=0)


class TextSearch(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"text": "a red tractor", "k": 20},
                {"text": "un tracteur", "space": "mclip"},
            ]
        }
    )
    text: str = Field(min_length=1, max_length=1000)
    k: int = Field(default=20, ge=1, le=MAX_K)
    #: A space of the collection with a text tower (clip, mclip); None: the first such space.
    space: str | None = Field(default=None, min_length=1, max_length=100)


def _hits(
    ctx: AppContext,
    col: Collection,
    query: np.ndarray,
    k: int,
    exclude: list[int],
    temporal_range: float,
    space: str | None = None,
) -> dict[str, object]:
    hits = search_matrix(
        col.matrix(space), col.knn(space), ctx.home.catalog, query, k, exclude, temporal_range
    )
    infos = ctx.home.catalog.item_infos([h.item_id for h in hits])
    return {
        "results": [
            hit_json(infos[h.item_id], h.score, h.folded) for h in hits if h.item_id in infos
        ]
    }


@router.get("/collections")
def list_collections(who: CallerDep, ctx: ContextDep) -> list[dict[str, object]]:
    """Every collection (collections are institutional: any authenticated user reads them)."""
    out = []
    for row in ctx.home.catalog.list_collections():
        items, _, errors = ctx.home.catalog.counts(row.collection_id)
        spaces = ctx.home.collection_by_id(row.collection_id).spaces()
        out.append(
            {
                "name": row.name,
                "model": row.model,
                "items": items,
                "errors": errors,
                "spaces": spaces,
                "text_spaces": text_spaces(spaces),
            }
        )
    return out


@router.get("/collections/{name}/items", responses=problem_responses(404))
def list_items(
    name: str,
    who: CallerDep,
    ctx: ContextDep,
    offset: Annotated[Count, Query()] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, object]:
    """A page of the collection's items, in item id order."""
    ids = np.sort(ctx.home.collection(name).matrix().item_ids)
    page = ids[offset : offset + limit].tolist()
    infos = ctx.home.catalog.item_infos(page)
    return {"total": len(ids), "items": [item_json(infos[i]) for i in page if i in infos]}


def _item(ctx: AppContext, item_id: int) -> tuple[Collection, ItemInfo]:
    collection_id = ctx.home.catalog.item_collection(item_id)
    info = ctx.home.catalog.item_infos([item_id]).get(item_id)
    if collection_id is None or info is None:
        raise NotFoundError(f"no item {item_id}")
    return ctx.home.collection_by_id(collection_id), info


#: What an imported item without an image shows.
PLACEHOLDER = Path(__file__).resolve().parents[1] / "static" / "placeholder.svg"


@router.get(
    "/items/{item_id}/thumbnail", response_class=FileResponse, responses=problem_responses(404)
)
def thumbnail(item_id: ItemId, who: UncountedDep, ctx: ContextDep) -> FileResponse:
    """The item's JPEG thumbnail; a placeholder (SVG) for an item imported without its image
    (``furet import``: a file that is not local, its ``url`` in the item's JSON)."""
    col, info = _item(ctx, item_id)
    path = col.layout.thumbnail(item_id)
    if not path.is_file():
        if not ctx.home.catalog.is_imported(info.item_id):
            raise NotFoundError(f"item {item_id} has no thumbnail; re-ingest its collection")
        return FileResponse(PLACEHOLDER, media_type="image/svg+xml")
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "private"})


@router.get(
    "/items/{item_id}/original", response_class=FileResponse, responses=problem_responses(404)
)
def original(item_id: ItemId, who: UncountedDep, ctx: ContextDep) -> FileResponse:
    """The item's source file (the video, for a keyframe).

    Served only when the catalog path is an absolute, symlink-free path to a regular file that
    is still registered in the item's collection: a file swapped for a link is refused.
    """
    col, info = _item(ctx, item_id)
    path = Path(info.path)
    refused = NotFoundError(f"the original of item {item_id} is not available")
    if not path.is_absolute():
        raise refused
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError):
        raise refused from None
    if real != path or not real.is_file() or os.path.islink(path):
        raise refused
    if item_id not in ctx.home.catalog.item_by_path(col.collection_id, info.path):
        raise refused
    return FileResponse(real, filename=real.name, content_disposition_type="inline")


@router.post("/collections/{name}/search", responses=problem_responses(404))
def search_items(name: str, body: ItemSearch, who: CallerDep, ctx: ContextDep) -> dict[str, object]:
    """Items similar to ``item_ids`` and unlike ``negative_item_ids`` (Rocchio query)."""
    col = ctx.home.collection(name)
    query = query_vector(col.vectors_of(body.item_ids))
    if body.negative_item_ids:
        query = query - NEGATIVE_WEIGHT * query_vector(col.vectors_of(body.negative_item_ids))
        query = query_vector(query)
    exclude = body.item_ids + body.negative_item_ids
    return _hits(ctx, col, query, body.k, exclude, body.temporal_range)


@router.post("/collections/{name}/search/image", responses=problem_responses(404, 503))
async def search_image(
    name: str,
    who: CallerDep,
    ctx: ContextDep,
    images: Annotated[list[UploadFile], File(description="1 to 5 query images")],
    k_form: Annotated[int | None, Form(alias="k", ge=1, le=MAX_K)] = None,
    k_query: Annotated[int | None, Query(alias="k", ge=1, le=MAX_K)] = None,
    temporal_range: Annotated[float, Form(ge=0)] = 0.0,
) -> dict[str, object]:
    """Items similar to the uploaded images (their embeddings averaged); ``k`` in the query
    string or the form."""
    data = await read_images(images, ctx.settings.max_upload_bytes, ctx.settings.max_request_pixels)
    k = k_form or k_query or 20

    def run() -> dict[str, object]:
        col = ctx.home.collection(name)
        query = query_vector(np.stack([col.embed_image(d) for d in data]))
        return _hits(ctx, col, query, k, [], temporal_range)

    return await run_in_threadpool(run)


@router.post("/collections/{name}/search/text", responses=problem_responses(404, 503))
def search_text(name: str, body: TextSearch, who: CallerDep, ctx: ContextDep) -> dict[str, object]:
    """Items matching a text, in ``space`` or the collection's first space with a text tower
    (clip, mclip: add one with ``furet embed``)."""
    col = ctx.home.collection(name)
    space = pick_text_space(col.name, col.spaces(), body.space)
    query = col.embed_text(body.text, space)
    return {**_hits(ctx, col, query_vector(query), body.k, [], 0.0, space), "space": space}
