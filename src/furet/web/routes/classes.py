"""Classes the caller may see: create, list, label, rounds, versions, export, rename, delete.

Every route checks the caller's right on the class (``services.sharing``): ``read`` to see it,
its versions and its export; ``edit`` to label it and run its rounds; ``own`` (owner or
administrator) to rename or delete it. A class the caller may not see answers 404, exactly as
an absent one, so private ids do not leak; one seen with too weak a right answers 403. Every
route runs in the threadpool (rounds scan the collection).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Response, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from furet.catalog.schema import ClassRow
from furet.catalog.sharing import ClassCounts
from furet.domain.modes import get_mode
from furet.errors import InvalidInputError, NotFoundError
from furet.services.learning import Learning, Marks, RoundSettings
from furet.services.sharing import Scope, VisibleClass
from furet.web.auth import Caller, CallerDep, ContextDep
from furet.web.context import AppContext
from furet.web.params import ClassId, ItemId, Seed
from furet.web.problems import PROBLEMS, problem_responses
from furet.web.render import item_urls
from furet.web.uploads import read_images

router = APIRouter(prefix="/v1/classes", tags=["classes"], responses=PROBLEMS)


class NewClass(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"name": "daisy", "collection": "flowers", "item_ids": [3]}]
        }
    )
    name: str = Field(min_length=1, max_length=200)
    collection: str = Field(min_length=1)
    item_ids: list[ItemId] = Field(default_factory=list, max_length=1000)


class Labels(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"positive": [3, 8], "negative": [21], "unlabel": []}]}
    )
    positive: list[ItemId] = Field(default_factory=list, max_length=10_000)
    negative: list[ItemId] = Field(default_factory=list, max_length=10_000)
    unlabel: list[ItemId] = Field(default_factory=list, max_length=10_000)
    #: Seconds: a mark on a video keyframe also goes to its shot's keyframes this close.
    spread_range: float | None = Field(default=None, ge=0)


class RoundRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"mode": "search", "page_size": 15},
                {"mode": "search", "labels": {"positive": [3, 8], "negative": [21]}},
                {
                    "mode": "discovery",
                    "page_size": 15,
                    "discovery_rate": 0.3,
                    "sampling_min": 0.2,
                    "sampling_max": 0.8,
                    "seed": 1,
                },
            ]
        }
    )
    mode: str = "search"
    page_size: int = Field(default=15, ge=1, le=1000)
    discovery_rate: float = Field(default=0.3, ge=0, le=1)
    sampling_min: float = Field(default=0.2, ge=0, le=1)
    sampling_max: float = Field(default=0.8, ge=0, le=1)
    temporal_range: float = Field(default=0.0, ge=0)
    seed: Seed | None = None
    #: Marks recorded first, as ``POST .../labels`` would: mark and get the next page in one
    #: request.
    labels: Labels | None = None


def learning_of(ctx: AppContext, who: Caller) -> Learning:
    """The caller's use cases, with their rights (an administrator's included)."""
    return Learning(
        ctx.home, who.account.name, user_id=who.account.user_id, is_admin=who.account.is_admin
    )


def class_json(ctx: AppContext, shown: VisibleClass, counts: ClassCounts) -> dict[str, object]:
    """A class as every class route shows it: counts, and the caller's right with who else
    sees it (``right``, ``owner``, ``visibility``, ``groups``, ``public``, ``origin``)."""
    cls = shown.row
    return {
        "class_id": cls.class_id,
        "name": cls.name,
        "collection": ctx.home.collection_by_id(cls.collection_id).name,
        "positives": counts.positives,
        "negatives": counts.negatives,
        "versions": counts.versions,
        **shown.as_json(),
    }


def summary(ctx: AppContext, learning: Learning, cls: ClassRow | int) -> dict[str, object]:
    """The summary of one class the caller may see (as listed by ``GET /v1/classes``)."""
    shown = learning.sharing.describe(cls if isinstance(cls, int) else cls.class_id)
    return class_json(ctx, shown, learning.sharing.counts([shown])[shown.class_id])


@router.get("")
def list_classes(
    who: CallerDep,
    ctx: ContextDep,
    scope: Annotated[
        Scope,
        Query(
            description="mine: the caller's; shared: others' shared with the caller's groups; "
            "public: others' public ones; all: every class the caller may see"
        ),
    ] = "all",
) -> list[dict[str, object]]:
    """Every class the caller may see (theirs first), each with the caller's ``right``
    (read, edit or own), its ``owner``, ``visibility``, ``groups`` and ``public`` right."""
    sharing = learning_of(ctx, who).sharing
    shown = sharing.visible(scope=scope)
    counts = sharing.counts(shown)
    return [class_json(ctx, c, counts[c.class_id]) for c in shown]


@router.post("", status_code=201, responses=problem_responses(404, 409))
def create_class(body: NewClass, who: CallerDep, ctx: ContextDep) -> dict[str, object]:
    """A new class whose first positives are ``item_ids`` of ``collection``."""
    learning = learning_of(ctx, who)
    cls = learning.create(body.name, body.collection, from_items=body.item_ids)
    return summary(ctx, learning, cls)


@router.post("/from-image", status_code=201, responses=problem_responses(404, 409, 503))
async def create_class_from_image(
    who: CallerDep,
    ctx: ContextDep,
    image: Annotated[UploadFile, File(description="the first positive example")],
    name: Annotated[str, Form(min_length=1, max_length=200)],
    collection: Annotated[str, Form(min_length=1)],
) -> dict[str, object]:
    """A new class from an uploaded image ("Create class from this image")."""
    (data,) = await read_images(
        [image], ctx.settings.max_upload_bytes, ctx.settings.max_request_pixels
    )

    def run() -> dict[str, object]:
        learning = learning_of(ctx, who)
        cls = learning.create(name, collection, from_image=data)
        return summary(ctx, learning, cls)

    return await run_in_threadpool(run)


@router.get("/{class_id}", responses=problem_responses(404))
def get_class(class_id: ClassId, who: CallerDep, ctx: ContextDep) -> dict[str, object]:
    """The class summary with its versions and, after spot checks, a precision estimate."""
    learning = learning_of(ctx, who)
    visible = learning.sharing.describe(class_id, "read")
    shown = learning.show(visible.row).as_json()
    return {
        **class_json(ctx, visible, learning.sharing.counts([visible])[class_id]),
        "versions": shown["versions"],
        "precision": shown["precision"],
        "spot_checked": shown["spot_checked"],
        "examples": shown["examples"],
    }


class ClassPatch(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "oxeye daisy"}]})
    name: str = Field(min_length=1, max_length=200)


@router.patch("/{class_id}", responses=problem_responses(404, 409))
def patch_class(
    class_id: ClassId, body: ClassPatch, who: CallerDep, ctx: ContextDep
) -> dict[str, object]:
    """Rename the class (owner or administrator; names are unique among the owner's classes:
    409 otherwise)."""
    learning = learning_of(ctx, who)
    cls = learning.rename(learning.get_by_id(class_id, "own"), body.name)
    return summary(ctx, learning, cls)


@router.delete("/{class_id}", status_code=204, responses=problem_responses(404))
def delete_class(class_id: ClassId, who: CallerDep, ctx: ContextDep) -> Response:
    """Delete the class, its labels and versions (owner or administrator)."""
    learning = learning_of(ctx, who)
    learning.delete(learning.get_by_id(class_id, "own"))
    return Response(status_code=204)


@router.post("/{class_id}/labels", responses=problem_responses(404))
def label(class_id: ClassId, body: Labels, who: CallerDep, ctx: ContextDep) -> JSONResponse:
    """Mark items positive or negative, or remove marks; the latest mark of an item wins."""
    learning = learning_of(ctx, who)
    cls = learning.get_by_id(class_id, "edit")
    current = learning.label(
        cls, body.positive, body.negative, body.unlabel, spread_range=body.spread_range
    )
    positives, negatives = learning.counts(cls, current)
    # A JSONResponse skips FastAPI's generic encoder (these two routes are the hot path).
    return JSONResponse({"positives": positives, "negatives": negatives})


@router.post("/{class_id}/rounds", responses=problem_responses(404))
def run_round(
    class_id: ClassId, body: RoundRequest, who: CallerDep, ctx: ContextDep
) -> JSONResponse:
    """Fit the class on its marks, rank the whole collection, return the next page.

    With ``labels``, those marks are recorded first (as ``POST .../labels``): one request marks
    the current page and gets the next one."""
    try:
        get_mode(body.mode)
    except NotFoundError as exc:  # a bad field of the request, not a missing resource
        raise InvalidInputError(str(exc)) from None
    learning = learning_of(ctx, who)
    cls = learning.get_by_id(class_id, "edit")
    m = body.labels
    if m is not None and (m.positive or m.negative or m.unlabel):
        learning.mark(cls, Marks(m.positive, m.negative, m.unlabel, m.spread_range))
    settings = RoundSettings(
        mode=body.mode,
        page_size=body.page_size,
        discovery_rate=body.discovery_rate,
        sampling_min=body.sampling_min,
        sampling_max=body.sampling_max,
        seed=body.seed,
        temporal_range=body.temporal_range,
    )
    result = learning.round(cls, settings)
    ctx.metrics.rounds.labels(result.mode).inc()
    ctx.metrics.round_seconds.observe(result.round_ms / 1e3)
    out = result.as_json()
    out["page"] = [{**p.as_json(), **item_urls(p.item_id)} for p in result.page]
    return JSONResponse(out)


@router.get("/{class_id}/versions", responses=problem_responses(404))
def versions(class_id: ClassId, who: CallerDep, ctx: ContextDep) -> list[object]:
    """Every trained version of the class (counts, cross-validated score, mode)."""
    learning = learning_of(ctx, who)
    shown = learning.show(learning.get_by_id(class_id, "read")).as_json()
    out: list[object] = shown["versions"]  # type: ignore[assignment]
    return out


@router.get("/{class_id}/export", responses=problem_responses(404))
def export(class_id: ClassId, who: CallerDep, ctx: ContextDep) -> dict[str, object]:
    """Labels, their history and the latest model (weights and bias) as JSON."""
    learning = learning_of(ctx, who)
    return learning.export(learning.get_by_id(class_id, "read"))
