"""The one wiring factory: settings in, FastAPI application out."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

import furet
from furet.catalog.accounts import AccountStore
from furet.catalog.throttle import LoginThrottle
from furet.catalog.web_sessions import WebSessions
from furet.library import Collection, Furet
from furet.media.pixel_budget import DECODE_BUDGET
from furet.settings import Settings
from furet.web import problems, quota
from furet.web.auth import SESSION_COOKIE, session_secret
from furet.web.context import AppContext
from furet.web.csrf import SameOriginMiddleware, TokenMiddleware
from furet.web.headers import SecurityHeadersMiddleware
from furet.web.metrics import Metrics, ObserveMiddleware
from furet.web.routes import (
    admin,
    auth,
    classes,
    collections,
    discovery,
    duplicates,
    enrichments,
    identify,
    ops,
    sharing,
)
from furet.web.routes.ops import STATIC
from furet.web.uploads import FORM_OVERHEAD, MAX_IMAGES, BodyLimitMiddleware

log = logging.getLogger(__name__)

DESCRIPTION = """\
Visual search and interactive learning of visual classes.

Authenticate with an API key in the `X-API-Key` header (or the `api-key` query parameter), or
with a browser session from `POST /v1/auth/login`. Errors are RFC 9457 problem documents.
Every `/v1` response carries `RateLimit-Policy` and `RateLimit` headers (daily quota).
"""


def warm_up(home: Furet) -> None:
    """Load every space's vectors and build its index, so that the first round does not wait
    (an int8 index takes ~2 s per 100k vectors to build), then its k-NN index for search by
    example (read back from disk, or built: ~1 min per 100k vectors; spaces above a million items
    search through their scan)."""
    for step in (Collection.index, Collection.knn):  # every scan first: rounds need them most
        for col in home.collections():
            for space in col.spaces():
                try:
                    step(col, space)
                except Exception:  # a broken space must not stop the server: its requests say
                    log.exception("warming up %s/%s failed", col.name, space)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The furet HTTP application over the data home of ``settings``."""
    settings = settings or Settings()
    home = furet.open(settings=settings)
    DECODE_BUDGET.limit = settings.max_decode_pixels
    metrics = Metrics()
    accounts = AccountStore(home.catalog.sessions)
    ctx = AppContext(
        settings,
        home,
        accounts,
        metrics,
        WebSessions(home.catalog.sessions, accounts.acl),
        LoginThrottle(home.catalog.sessions),
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # In the background: the server answers (health, login, small collections) meanwhile.
        threading.Thread(target=warm_up, args=(home,), name="furet-warm-up", daemon=True).start()
        yield

    app = FastAPI(
        title="furet",
        version=furet.__version__,
        description=DESCRIPTION,
        docs_url="/docs",
        openapi_url="/openapi.json",
        lifespan=lifespan,
    )
    app.state.furet = ctx
    problems.install(app)
    routers = (
        auth,
        admin,
        collections,
        duplicates,
        classes,
        sharing,
        identify,
        discovery,
        ops,
        enrichments,
    )
    for module in routers:
        app.include_router(module.router)
    STATIC.mkdir(parents=True, exist_ok=True)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    def default_quota() -> quota.QuotaState:
        _, reset = quota.utc_day()
        return quota.QuotaState(settings.default_daily_quota, 0, reset)

    # Added innermost first: sessions sit inside the CSRF checks, inside the observer (quota
    # headers on every answer, refusals included), inside the body limit, inside the security
    # headers.
    secret = session_secret(settings)
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret,
        session_cookie=SESSION_COOKIE,
        max_age=settings.session_max_age,
        same_site="lax",
        https_only=settings.cookie_secure,
    )
    app.add_middleware(
        TokenMiddleware, secret=secret, session_cookie=SESSION_COOKIE, secure=settings.cookie_secure
    )
    app.add_middleware(
        SameOriginMiddleware,
        session_cookie=SESSION_COOKIE,
        allowed_origins=settings.allowed_origins,
    )
    app.add_middleware(ObserveMiddleware, metrics=metrics, default_quota=default_quota)
    app.add_middleware(
        BodyLimitMiddleware, limit=settings.max_upload_bytes * MAX_IMAGES + FORM_OVERHEAD
    )
    app.add_middleware(SecurityHeadersMiddleware)
    return app
