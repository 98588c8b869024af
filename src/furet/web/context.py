"""What every route needs, built once by ``create_app`` and kept in ``app.state``."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from furet.catalog.accounts import AccountStore
from furet.catalog.throttle import LoginThrottle
from furet.catalog.web_sessions import WebSessions
from furet.library import Furet
from furet.settings import Settings
from furet.web.metrics import Metrics


@dataclass
class AppContext:
    settings: Settings
    home: Furet
    accounts: AccountStore
    metrics: Metrics
    web_sessions: WebSessions
    throttle: LoginThrottle


async def context(request: Request) -> AppContext:
    """FastAPI dependency: the application's context."""
    ctx: AppContext = request.app.state.furet
    return ctx
