"""Who is calling: a browser session (signed cookie) or an API key; and their quota.

Routes depend on :func:`caller` (authenticated, one request counted against the quota) or
:func:`caller_uncounted` (authenticated, not counted: thumbnails, originals, /me, /quota, so
that rendering a grid does not eat the day's quota). :func:`admin` adds the role check.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, APIKeyHeader, APIKeyQuery

from furet.catalog.accounts import Account
from furet.errors import AuthenticationError, NotFoundError, PermissionDeniedError
from furet.settings import Settings
from furet.web import quota
from furet.web.context import AppContext, context

SESSION_COOKIE = "furet_session"
#: Key of the signed cookie's payload holding the session token (see ``catalog.web_sessions``).
SESSION_TOKEN = "sid"

# Declared as security schemes so that /docs shows the padlock and accepts a key.
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")
_query = APIKeyQuery(name="api-key", auto_error=False, description="API key (Pl@ntNet style)")
_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, description="browser session")


@dataclass(frozen=True)
class Caller:
    account: Account
    #: The API key used, or None for a browser session.
    key_id: int | None
    quota_limit: int
    #: The accounts cache's epoch when the caller was identified (see ``_settle``).
    epoch: int = 0

    @property
    def quota_subject(self) -> str:
        """The account: its keys and sessions share one daily quota."""
        return f"user:{self.account.user_id}"


def session_secret(settings: Settings) -> str:
    """The configured secret, or one generated once and kept in ``home/session.key`` (0600)."""
    if settings.session_secret:
        return settings.session_secret
    path: Path = settings.home / "session.key"
    if not path.exists():
        settings.home.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another worker created it first
            return path.read_text().strip()
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def _identify(request: Request, ctx: AppContext, key: str | None) -> Caller:
    epoch = ctx.accounts.acl.epoch
    if key:
        account, key_id = ctx.accounts.resolve_key(key)
    else:
        session = request.session
        token = session.get(SESSION_TOKEN)
        if not isinstance(token, str):
            raise AuthenticationError(
                "log in (POST /v1/auth/login) or send an API key in the X-API-Key header"
            )
        expired = AuthenticationError("your session has ended; log in again")
        try:
            account = ctx.accounts.get(ctx.web_sessions.resolve(token))
        except (NotFoundError, AuthenticationError):
            session.clear()
            raise expired from None
        if account.disabled:
            session.clear()
            raise expired
        key_id = None
    limit = account.daily_quota
    if limit is None:
        limit = ctx.settings.default_daily_quota
    return Caller(account, key_id, limit, epoch)


def _settle(request: Request, ctx: AppContext, key: str | None, who: Caller) -> Caller:
    """``who``, identified again if the quota statement (which reads the catalog's ``acl``
    stamp) found that a key, account or class changed since: a key revoked by another process
    is refused from the next request on."""
    if ctx.accounts.acl.epoch == who.epoch:
        return who
    return _identify(request, ctx, key)


def caller_uncounted(
    request: Request,
    ctx: Annotated[AppContext, Depends(context)],
    header_key: Annotated[str | None, Depends(_header)],
    query_key: Annotated[str | None, Depends(_query)],
    _session: Annotated[str | None, Depends(_cookie)],
) -> Caller:
    """The authenticated caller; the request is not counted (its quota state is reported)."""
    key = header_key or query_key
    who = _identify(request, ctx, key)
    request.state.quota = quota.peek(ctx.accounts, who.quota_subject, who.quota_limit)
    return _settle(request, ctx, key, who)


def caller(
    request: Request,
    ctx: Annotated[AppContext, Depends(context)],
    header_key: Annotated[str | None, Depends(_header)],
    query_key: Annotated[str | None, Depends(_query)],
    _session: Annotated[str | None, Depends(_cookie)],
) -> Caller:
    """The authenticated caller, with this request counted against their daily quota."""
    key = header_key or query_key
    who = _identify(request, ctx, key)
    counted, state = quota.charge(ctx.accounts, who.quota_subject, who.quota_limit, who.key_id)
    request.state.quota = state
    who = _settle(request, ctx, key, who)
    if not counted:
        raise quota.exhausted(state)
    return who


def admin(who: Annotated[Caller, Depends(caller)]) -> Caller:
    """The caller, who must be an administrator (403 otherwise)."""
    if not who.account.is_admin:
        raise PermissionDeniedError("this route is for administrators")
    return who


CallerDep = Annotated[Caller, Depends(caller)]
UncountedDep = Annotated[Caller, Depends(caller_uncounted)]
AdminDep = Annotated[Caller, Depends(admin)]
ContextDep = Annotated[AppContext, Depends(context)]
