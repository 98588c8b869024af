"""Sharing a class with groups (institutions) or everyone, and forking a class one may read.

``PUT /v1/classes/{class_id}/sharing`` (owner or administrator) sets exactly which groups hold
which right, and the public right; ``POST /v1/classes/{class_id}/fork`` copies a class the
caller may read into their own classes. Both answer as the class routes do (404 for a class
the caller may not see, 403 for too weak a right).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from furet.services.sharing import Access, Keep
from furet.web.auth import CallerDep, ContextDep
from furet.web.params import ClassId
from furet.web.problems import PROBLEMS, problem_responses
from furet.web.routes.classes import learning_of, summary

router = APIRouter(prefix="/v1/classes", tags=["sharing"], responses=PROBLEMS)

GroupName = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class SharingRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"groups": {"ina": "read"}, "public": None},
                {"groups": {"ina": "edit", "inria": "read"}, "public": "read"},
                {"groups": {}, "public": None},
            ]
        }
    )
    #: Every group that holds a right on the class, and which: groups left out lose theirs
    #: (``{}``: none). Left out: the grants stay as they are.
    groups: dict[GroupName, Access] = Field(default_factory=dict, max_length=100)
    #: What every user may do with it: 'read', 'edit', or null (not public). Left out: as is.
    public: Access | None = None


class ForkRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{}, {"name": "daisy (ina)"}]})
    #: The copy's name (default: the origin's, or "NAME (fork)" when the caller has one).
    name: str | None = Field(default=None, min_length=1, max_length=200)


@router.put("/{class_id}/sharing", responses=problem_responses(404))
def put_sharing(
    class_id: ClassId, body: SharingRequest, who: CallerDep, ctx: ContextDep
) -> dict[str, object]:
    """Share the class with exactly ``groups`` (name -> ``read`` | ``edit``; ``{}``: none) and
    set its ``public`` right (``read``, ``edit`` or null: not public); a field left out stays
    as it is. Owner or administrator only; an unknown group is a 422. Every server process
    applies it from its next request. Returns the class summary."""
    learning = learning_of(ctx, who)
    given = body.model_fields_set
    learning.sharing.share(
        class_id,
        groups=body.groups if "groups" in given else None,
        public=body.public if "public" in given else Keep.KEEP,
    )
    return summary(ctx, learning, class_id)


@router.post("/{class_id}/fork", status_code=201, responses=problem_responses(404, 409))
def fork(
    class_id: ClassId, who: CallerDep, ctx: ContextDep, body: ForkRequest | None = None
) -> dict[str, object]:
    """Copy a class the caller may read (its current labels with who made each, its example
    images and its latest model) into the caller's classes; the copy's ``origin`` names the
    class it came from. A ``name`` the caller already has is a 409."""
    learning = learning_of(ctx, who)
    row = learning.sharing.fork(class_id, body.name if body is not None else None)
    return summary(ctx, learning, row)
