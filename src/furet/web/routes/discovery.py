"""Model discovery and user communities: the classes others made that fire on an image or an
item or resemble a class, and the users and groups whose classes are closest (docs/api.md,
"Discovery and communities"). Only classes the caller may read take part."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Query, UploadFile
from starlette.concurrency import run_in_threadpool

from furet.catalog.repository import ItemInfo
from furet.domain.resemblance import RELATED
from furet.services.communities import ClassPair, Communities, Community
from furet.services.discovery import (
    MAX_LIMIT,
    MAX_SIMILAR,
    ClassRef,
    Discovery,
    DiscoveryResult,
    Found,
    ResemblanceEvidence,
)
from furet.web.auth import Caller, CallerDep, ContextDep
from furet.web.context import AppContext
from furet.web.params import ClassId, ItemId
from furet.web.problems import PROBLEMS, problem_responses
from furet.web.render import hit_json, item_json
from furet.web.uploads import read_images

router = APIRouter(prefix="/v1", tags=["discovery"], responses=PROBLEMS)

OnlyOf = Annotated[str | None, Query(description="only classes of this collection")]
IncludeMine = Annotated[
    bool, Query(description="also the caller's own classes (marked mine: true)")
]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="most classes (or neighbours)")]
SimilarCount = Annotated[
    int, Query(ge=0, le=MAX_SIMILAR, description="positive images of each class most similar")
]
MinScore = Annotated[
    float,
    Query(
        ge=-100,
        le=100,
        description="least resemblance counted (1: as high as on its own positives; "
        f"{RELATED}: related classes)",
    ),
]


def _discovery(ctx: AppContext, who: Caller) -> Discovery:
    return Discovery(ctx.home, who.account.user_id, is_admin=who.account.is_admin)


def _communities(ctx: AppContext, who: Caller) -> Communities:
    return Communities(ctx.home, who.account.user_id, is_admin=who.account.is_admin)


def links(ref: ClassRef) -> dict[str, str]:
    """Where the UI acts on a class: show it, compare it, fork it (POST; when allowed)."""
    out = {
        "class": f"/v1/classes/{ref.class_id}",
        "similar": f"/v1/classes/{ref.class_id}/similar",
        "community": f"/v1/classes/{ref.class_id}/community",
    }
    if "fork" in ref.actions:
        out["fork"] = f"/v1/classes/{ref.class_id}/fork"
    return out


def class_json(ref: ClassRef) -> dict[str, object]:
    return {**ref.as_json(), "links": links(ref)}


def _found_json(found: Found, infos: dict[int, ItemInfo]) -> dict[str, object]:
    """A found class with its links, its similar images and shared top items as items."""
    out = {**found.as_json(), **class_json(found.cls)}
    out["similar"] = [
        hit_json(infos[s.item_id], s.score) for s in found.similar if s.item_id in infos
    ]
    if isinstance(found.evidence, ResemblanceEvidence):
        evidence = found.evidence.as_json()
        evidence["shared_top"] = [item_json(infos[i]) for i in found.evidence.shared_top]
        out["evidence"] = evidence
    return out


def render_discovery(ctx: AppContext, result: DiscoveryResult) -> dict[str, object]:
    """The result's JSON, with items (paths, thumbnails) for item ids and links on classes."""
    wanted = {s.item_id for f in result.results for s in f.similar}
    for f in result.results:
        if isinstance(f.evidence, ResemblanceEvidence):
            wanted.update(f.evidence.shared_top)
    infos = ctx.home.catalog.item_infos(sorted(wanted))
    body = result.as_json()
    body["results"] = [_found_json(f, infos) for f in result.results]
    if result.source is not None:
        body["query"] = {**result.query, "class": class_json(result.source)}
    return body


def _pair_json(pair: ClassPair) -> dict[str, object]:
    return {**pair.as_json(), "mine": class_json(pair.mine), "theirs": class_json(pair.theirs)}


def render_community(community: Community) -> dict[str, object]:
    """The community's JSON with links on every class."""
    body = community.as_json()
    for kind, neighbours in (("users", community.users), ("groups", community.groups)):
        body[kind] = [
            {**n.as_json(), "pairs": [_pair_json(p) for p in n.pairs]} for n in neighbours
        ]
    if community.source is not None:
        body["query"] = {**community.query, "class": class_json(community.source)}
    return body


@router.post("/discovery/image", responses=problem_responses(404, 503))
async def discover_image(
    who: CallerDep,
    ctx: ContextDep,
    images: Annotated[list[UploadFile], File(description="1 to 5 images of one subject")],
    collection: OnlyOf = None,
    include_mine: IncludeMine = False,
    limit: Limit = 10,
    similar: SimilarCount = 3,
) -> dict[str, object]:
    """The classes others made (shared with the caller's groups, or public) that fire on the
    images, ranked by standardised score, with owner, groups, right, evidence and links."""
    data = await read_images(images, ctx.settings.max_upload_bytes, ctx.settings.max_request_pixels)

    def run() -> dict[str, object]:
        result = _discovery(ctx, who).image(
            data, collection=collection, include_mine=include_mine, limit=limit, similar=similar
        )
        return render_discovery(ctx, result)

    return await run_in_threadpool(run)


@router.get("/discovery/items/{item_id}", responses=problem_responses(404))
def discover_item(
    item_id: ItemId,
    who: CallerDep,
    ctx: ContextDep,
    collection: OnlyOf = None,
    include_mine: IncludeMine = False,
    limit: Limit = 10,
    similar: SimilarCount = 3,
) -> dict[str, object]:
    """The classes others made that fire on an item, in every space of its collection."""
    result = _discovery(ctx, who).item(
        item_id, collection=collection, include_mine=include_mine, limit=limit, similar=similar
    )
    return render_discovery(ctx, result)


@router.get("/classes/{class_id}/similar", responses=problem_responses(404))
def similar_classes(
    class_id: ClassId,
    who: CallerDep,
    ctx: ContextDep,
    collection: OnlyOf = None,
    include_mine: IncludeMine = False,
    limit: Limit = 10,
    min_score: MinScore = RELATED,
) -> dict[str, object]:
    """The classes others made that resemble this one (which the caller may read), best
    first; 422 while it has no model (run a round first)."""
    result = _discovery(ctx, who).similar_classes(
        class_id,
        collection=collection,
        include_mine=include_mine,
        limit=limit,
        min_score=min_score,
    )
    return render_discovery(ctx, result)


@router.get("/communities/me")
def my_community(
    who: CallerDep, ctx: ContextDep, limit: Limit = 10, min_score: MinScore = RELATED
) -> dict[str, object]:
    """The users and groups whose classes are closest to the caller's, with the class pairs
    that make them close."""
    return render_community(_communities(ctx, who).of_user(limit=limit, min_score=min_score))


@router.get("/classes/{class_id}/community", responses=problem_responses(404))
def class_community(
    class_id: ClassId,
    who: CallerDep,
    ctx: ContextDep,
    limit: Limit = 10,
    min_score: MinScore = RELATED,
) -> dict[str, object]:
    """The users (and groups) who made classes like this one, its owner aside; 422 while it
    has no model."""
    community = _communities(ctx, who).of_class(class_id, limit=limit, min_score=min_score)
    return render_community(community)
