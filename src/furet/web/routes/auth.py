"""Login, logout, the caller's identity, API keys and quota."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from furet.errors import TooManyAttemptsError
from furet.web.auth import SESSION_TOKEN, Caller, CallerDep, ContextDep, UncountedDep
from furet.web.context import AppContext
from furet.web.params import KeyId
from furet.web.problems import PROBLEMS, problem_responses

router = APIRouter(prefix="/v1", tags=["auth"], responses=PROBLEMS)


class Login(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"username": "alice", "password": "correct horse"}]}
    )
    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1000)


class NewKey(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "my-script"}]})
    name: str = Field(default="default", max_length=100)


def _me(ctx: AppContext, who: Caller) -> dict[str, object]:
    return who.account.as_json(ctx.settings.default_daily_quota)


@router.post("/auth/login")
async def login(body: Login, request: Request, ctx: ContextDep) -> dict[str, object]:
    """Check the password and open a browser session (signed HttpOnly cookie).

    Failed logins are throttled per account name and per client address: after 5 failures in
    15 minutes the name is locked for a back-off that doubles with every further failure (429
    with ``Retry-After``, whether the account exists or not).
    """
    address = request.client.host if request.client else None
    wait = await run_in_threadpool(ctx.throttle.attempt, body.username, address)
    if wait:
        raise TooManyAttemptsError(
            f"too many failed logins; try again in {wait} s", retry_after=wait
        )
    # argon2 takes tens of milliseconds of CPU: off the event loop.
    account = await run_in_threadpool(ctx.accounts.authenticate, body.username, body.password)
    await run_in_threadpool(ctx.throttle.succeeded, body.username, address)
    old = request.session.get(SESSION_TOKEN)
    if isinstance(old, str):  # a new session id at every login (no session fixation)
        await run_in_threadpool(ctx.web_sessions.revoke, old)
    request.session.clear()
    request.session[SESSION_TOKEN] = await run_in_threadpool(
        ctx.web_sessions.open, account.user_id, ctx.settings.session_max_age
    )
    return {"user": account.as_json(ctx.settings.default_daily_quota)}


@router.post("/auth/logout", status_code=204)
async def logout(request: Request, ctx: ContextDep, everywhere: bool = False) -> Response:
    """End the browser session on the server (idempotent); the old cookie gets 401 from then
    on. ``everywhere=true`` ends every session of the account (all browsers)."""
    token = request.session.get(SESSION_TOKEN)
    if isinstance(token, str):
        if everywhere:
            user_id = await run_in_threadpool(ctx.web_sessions.resolve_quietly, token)
            if user_id is not None:
                await run_in_threadpool(ctx.web_sessions.revoke_user, user_id)
        await run_in_threadpool(ctx.web_sessions.revoke, token)
    request.session.clear()
    return Response(status_code=204)


@router.get("/me")
def me(who: UncountedDep, ctx: ContextDep) -> dict[str, object]:
    """The caller's account: id, name, role, groups, daily quota."""
    return _me(ctx, who)


@router.get("/groups")
def list_groups(who: UncountedDep, ctx: ContextDep) -> list[dict[str, object]]:
    """Every group (institution) a class may be shared with, and whether the caller is in it
    (names only: the members are for administrators, ``GET /v1/admin/groups``)."""
    mine = set(who.account.groups)
    return [{"name": n, "mine": n in mine} for n in ctx.accounts.group_names()]


@router.get("/quota")
def get_quota(request: Request, who: UncountedDep) -> dict[str, int]:
    """Today's quota of the caller (this request is not counted)."""
    state: dict[str, int] = request.state.quota.as_json()
    return state


@router.post("/keys", status_code=201, responses=problem_responses(409))
def create_key(body: NewKey, who: CallerDep, ctx: ContextDep) -> dict[str, object]:
    """A new API key; the secret ``key`` is in this response only, store it now."""
    limit = None if who.account.is_admin else ctx.settings.max_keys_per_member
    key, secret = ctx.accounts.create_key(who.account.user_id, body.name, max_live=limit)
    return {**key.as_json(), "key": secret}


@router.get("/keys")
def list_keys(who: UncountedDep, ctx: ContextDep) -> list[dict[str, object]]:
    """The caller's API keys, without their secrets."""
    return [k.as_json() for k in ctx.accounts.list_keys(who.account.user_id)]


@router.delete("/keys/{key_id}", status_code=204, responses=problem_responses(404))
def revoke_key(key_id: KeyId, who: CallerDep, ctx: ContextDep) -> Response:
    """Revoke one of the caller's keys; it gets 401 from then on."""
    ctx.accounts.revoke_key(who.account.user_id, key_id)
    return Response(status_code=204)
