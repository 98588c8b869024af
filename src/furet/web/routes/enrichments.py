"""Mass enrichment over HTTP: start a job (it runs in the background), follow it, read the tags.

A job applies classes the caller may read to a whole collection. Its state and progress are
files that every server process reads, so any worker answers for any job. The tags of a class
are paged best first; counts per class, the classes of one item and exports (CSV, JSON Lines,
Parquet) show only classes the caller may read (others are 404, as absent ones).
"""

from __future__ import annotations

import io
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from furet.services.enrichment import Enrichment, Rule
from furet.services.tag_queries import FORMATS, MEDIA_TYPES
from furet.web.auth import Caller, CallerDep, ContextDep
from furet.web.context import AppContext
from furet.web.params import MAX_INT64, ClassId, Count, ItemId
from furet.web.problems import PROBLEMS, problem_responses
from furet.web.render import item_urls
from furet.web.routes.classes import learning_of

router = APIRouter(prefix="/v1", tags=["enrichments"], responses=PROBLEMS)

EnrichmentId = Annotated[
    str, Path(pattern="^[0-9a-f]{16}$", description="an enrichment id (16 hex digits)")
]
Format = Literal["csv", "jsonl", "parquet"]
#: A score (logit) a client may send: finite and bounded.
Score = Annotated[float, Field(ge=-1e6, le=1e6, allow_inf_nan=False)]

_FILES: dict[int | str, dict[str, object]] = {
    200: {
        "description": "the tags, one row per item and class",
        "content": {
            MEDIA_TYPES[f].split(";")[0]: {"schema": {"type": "string", "format": "binary"}}
            for f in FORMATS
        },
    }
}


class NewEnrichment(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"class_ids": [1], "precision": 0.9},
                {"class_ids": [1, 2], "collection": "flowers", "threshold": 0.0},
                {"class_ids": [1], "top": 100, "version": 3},
            ]
        }
    )
    class_ids: list[ClassId] = Field(min_length=1, max_length=100)
    #: The collection to tag (default: the classes' own).
    collection: str | None = Field(default=None, min_length=1)
    #: At most one of precision (default 0.9), threshold and top.
    precision: float | None = Field(default=None, gt=0, lt=1)
    threshold: Score | None = None
    top: int | None = Field(default=None, ge=1, le=MAX_INT64)
    #: The class version (one class only; default the latest).
    version: int | None = Field(default=None, ge=1, le=MAX_INT64)


def _enrichment(ctx: AppContext, who: Caller) -> Enrichment:
    return Enrichment(ctx.home, learning_of(ctx, who))


@router.post("/enrichments", status_code=202, responses=problem_responses(404))
def start_enrichment(body: NewEnrichment, who: CallerDep, ctx: ContextDep) -> dict[str, object]:
    """Apply classes the caller may read to every item of a collection; the job runs in the
    background (follow it with ``GET /v1/enrichments/{id}``). Without a rule, the threshold is
    calibrated for an estimated precision of 0.9 (the class needs 5 positive and 5 negative
    marks: 422 otherwise)."""
    e = _enrichment(ctx, who)
    rule = Rule.of(precision=body.precision, threshold=body.threshold, top=body.top)
    job = e.submit(
        list(body.class_ids), collection=body.collection, rule=rule, version=body.version
    )
    return e.start(job).as_json()


@router.get("/enrichments")
def list_enrichments(
    who: CallerDep,
    ctx: ContextDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[dict[str, object]]:
    """The caller's enrichment jobs, newest first."""
    return [j.as_json() for j in _enrichment(ctx, who).my_jobs(limit)]


@router.get("/enrichments/{enrichment_id}", responses=problem_responses(404))
def get_enrichment(
    enrichment_id: EnrichmentId, who: CallerDep, ctx: ContextDep
) -> dict[str, object]:
    """One of the caller's jobs: ``state`` (queued, running, done, failed, cancelled,
    interrupted), ``progress`` (items scored of the total) and, once done, each class's
    threshold, tag count and estimated precision."""
    return _enrichment(ctx, who).job(enrichment_id).as_json()


@router.post(
    "/enrichments/{enrichment_id}/cancel", status_code=202, responses=problem_responses(404)
)
def cancel_enrichment(
    enrichment_id: EnrichmentId, who: CallerDep, ctx: ContextDep
) -> dict[str, object]:
    """Stop the job after its current block (what it committed stays; starting the same
    enrichment again resumes it)."""
    return _enrichment(ctx, who).cancel(enrichment_id).as_json()


@router.post(
    "/enrichments/{enrichment_id}/resume", status_code=202, responses=problem_responses(404)
)
def resume_enrichment(
    enrichment_id: EnrichmentId, who: CallerDep, ctx: ContextDep
) -> dict[str, object]:
    """A new job, started, that does what an ended one (interrupted, failed, cancelled) did
    not: the same classes, versions and rules; only what their tags lack is scored (422 while
    the job still runs)."""
    e = _enrichment(ctx, who)
    return e.start(e.resume(enrichment_id)).as_json()


def _file(data: bytes, fmt: str, name: str) -> Response:
    ext = {"csv": "csv", "jsonl": "jsonl", "parquet": "parquet"}[fmt]
    return Response(
        data,
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}.{ext}"'},
    )


@router.get(
    "/enrichments/{enrichment_id}/export",
    response_class=Response,
    responses={**_FILES, **problem_responses(404)},
)
def export_enrichment(
    enrichment_id: EnrichmentId,
    who: CallerDep,
    ctx: ContextDep,
    format: Format = "csv",
    all: Annotated[bool, Query(description="every row kept, below the threshold too")] = False,
) -> Response:
    """The current tags of the job's classes in its collection, with file paths (and, for
    video keyframes, time, shot and the time-coded segment)."""
    out = io.BytesIO()
    _enrichment(ctx, who).tags.export_job(enrichment_id, format, out, all)
    return _file(out.getvalue(), format, f"tags-{enrichment_id}")


# -- tags ---------------------------------------------------------------------------------------

Collection = Annotated[
    str | None,
    Query(min_length=1, description="the collection tagged (default: the class's own)"),
]


@router.get("/classes/{class_id}/tags", responses=problem_responses(404))
def class_tags(
    class_id: ClassId,
    who: CallerDep,
    ctx: ContextDep,
    collection: Collection = None,
    min_score: Annotated[
        float | None,
        Query(ge=-1e6, le=1e6, description="lowest score shown (default: the threshold)"),
    ] = None,
    offset: Count = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> dict[str, object]:
    """The class's tagged items, best first, paged: ``total`` items score at least
    ``min_score``; each has ``score``, ``decision`` (tagged at the threshold), ``confidence``
    (the calibrated chance it is a positive, when known) and its item fields."""
    page = _enrichment(ctx, who).tags.page(
        class_id, collection=collection, min_score=min_score, offset=offset, limit=limit
    )
    out = page.as_json()
    out["items"] = [{**t.as_json(), **item_urls(t.item_id)} for t in page.items]
    return out


@router.get("/classes/{class_id}/tags/segments", responses=problem_responses(404))
def class_tag_segments(
    class_id: ClassId, who: CallerDep, ctx: ContextDep, collection: Collection = None
) -> list[dict[str, object]]:
    """Time-coded video segments where the class's tags fire (adjacent keyframes merged)."""
    return [
        {
            "video": s.video,
            "start": round(s.start, 3),
            "end": round(s.end, 3),
            "max_score": round(s.max_score, 4),
            "item_ids": list(s.item_ids),
        }
        for s in _enrichment(ctx, who).tags.segments(class_id, collection)
    ]


@router.get(
    "/classes/{class_id}/tags/export",
    response_class=Response,
    responses={**_FILES, **problem_responses(404)},
)
def export_class_tags(
    class_id: ClassId,
    who: CallerDep,
    ctx: ContextDep,
    collection: Collection = None,
    format: Format = "csv",
    all: Annotated[bool, Query(description="every row kept, below the threshold too")] = False,
) -> Response:
    """The class's tags as a file (see ``GET /v1/enrichments/{id}/export``)."""
    out = io.BytesIO()
    _enrichment(ctx, who).tags.export([class_id], collection, format, out, all)
    return _file(out.getvalue(), format, f"tags-class-{class_id}")


@router.get("/collections/{name}/tags/counts", responses=problem_responses(404))
def tag_counts(name: str, who: CallerDep, ctx: ContextDep) -> list[dict[str, object]]:
    """Every class the caller may read that has tags in the collection: version, rule,
    threshold, ``tags``, ``estimated_precision`` and whether they are ``up_to_date``."""
    return [s.as_json() for s in _enrichment(ctx, who).tags.counts(name)]


@router.get("/items/{item_id}/tags", responses=problem_responses(404))
def item_tags(
    item_id: ItemId,
    who: CallerDep,
    ctx: ContextDep,
    all: Annotated[
        bool, Query(description="also classes that score it below their threshold")
    ] = False,
) -> list[dict[str, object]]:
    """The classes (the caller may read) that tag the item, best score first."""
    return _enrichment(ctx, who).tags.of_item(item_id, all_rows=all)
