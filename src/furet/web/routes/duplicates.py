"""Near-duplicate groups of a collection (``services/duplicates.py``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from furet.domain.duplicates import MIN_COSINE, THRESHOLD
from furet.services.duplicates import find_duplicates
from furet.web.auth import CallerDep, ContextDep
from furet.web.problems import PROBLEMS, problem_responses
from furet.web.render import item_json

router = APIRouter(prefix="/v1", tags=["collections"], responses=PROBLEMS)


@router.get("/collections/{name}/duplicates", responses=problem_responses(404))
async def duplicates(
    name: str,
    who: CallerDep,
    ctx: ContextDep,
    threshold: Annotated[float, Query(ge=-1.0, le=1.0)] = THRESHOLD,
    min_cosine: Annotated[float, Query(ge=-1.0, le=1.0)] = MIN_COSINE,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, object]:
    """Groups of near-identical images (re-encoded, resized, lightly cropped copies), largest
    first: neighbours with an embedding cosine of at least ``min_cosine`` whose thumbnails'
    pixels agree by at least ``threshold``."""
    col = ctx.home.collection(name)
    found = await run_in_threadpool(
        find_duplicates, col, threshold=threshold, min_cosine=min_cosine
    )
    shown = found.groups[:limit]
    infos = ctx.home.catalog.item_infos([i for g in shown for i in g])
    return {
        "collection": name,
        "threshold": found.threshold,
        "min_cosine": found.min_cosine,
        "candidates": found.candidates,
        "unchecked": found.unchecked,
        "total": len(found.groups),
        "groups": [{"items": [item_json(infos[i]) for i in g if i in infos]} for g in shown],
    }
