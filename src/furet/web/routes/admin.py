"""Administration of users and groups (role ``admin`` only; members get 403)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from furet.web.auth import AdminDep, ContextDep
from furet.web.params import Count, UserId
from furet.web.problems import PROBLEMS, problem_responses

router = APIRouter(prefix="/v1/admin", tags=["admin"], responses=PROBLEMS)


class NewUser(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "bob",
                    "password": "a long passphrase",
                    "role": "member",
                    "daily_quota": 500,
                    "groups": ["ina"],
                }
            ]
        }
    )
    name: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=8, max_length=1000)
    role: str = "member"
    daily_quota: Count | None = None
    groups: list[str] = Field(default_factory=list)


class UserPatch(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"daily_quota": 2000, "disabled": False}]}
    )
    role: str | None = None
    daily_quota: Count | None = None
    password: str | None = Field(default=None, min_length=8, max_length=1000)
    disabled: bool | None = None
    groups: list[str] | None = None


class NewGroup(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "ina"}]})
    name: str = Field(min_length=1, max_length=100)


@router.get("/users")
def list_users(who: AdminDep, ctx: ContextDep) -> list[dict[str, object]]:
    """Every account."""
    return [a.as_json(ctx.settings.default_daily_quota) for a in ctx.accounts.list_users()]


@router.post("/users", status_code=201, responses=problem_responses(409))
def create_user(body: NewUser, who: AdminDep, ctx: ContextDep) -> dict[str, object]:
    """A new account (its groups are created if needed)."""
    account = ctx.accounts.create_user(
        body.name,
        body.password,
        role=body.role,
        daily_quota=body.daily_quota,
        groups=body.groups,
    )
    return account.as_json(ctx.settings.default_daily_quota)


@router.patch("/users/{user_id}", responses=problem_responses(404, 409))
def update_user(
    user_id: UserId, body: UserPatch, who: AdminDep, ctx: ContextDep
) -> dict[str, object]:
    """Change role, daily quota (``null`` = server default), password, disabled, groups."""
    sent = body.model_fields_set
    account = ctx.accounts.update_user(
        user_id,
        role=body.role,
        daily_quota=body.daily_quota,
        clear_quota="daily_quota" in sent and body.daily_quota is None,
        password=body.password,
        disabled=body.disabled,
        groups=body.groups,
    )
    return account.as_json(ctx.settings.default_daily_quota)


@router.get("/groups")
def list_groups(who: AdminDep, ctx: ContextDep) -> list[dict[str, object]]:
    """Every group with its members' names."""
    return ctx.accounts.list_groups()


@router.post("/groups", status_code=201, responses=problem_responses(409))
def create_group(body: NewGroup, who: AdminDep, ctx: ContextDep) -> dict[str, object]:
    """A new, empty group."""
    return ctx.accounts.create_group(body.name)
