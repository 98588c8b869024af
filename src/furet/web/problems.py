"""Errors as RFC 9457 problem documents (``application/problem+json``), never a bare 500."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from furet.errors import FuretError, QuotaExceededError, RetryLaterError

log = logging.getLogger("furet.web")

PROBLEM_JSON = "application/problem+json"
UNEXPECTED = "unexpected server error; it was logged, please report it"

TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


#: The body of every error answer (RFC 9457), as the OpenAPI schema declares it.
PROBLEM_SCHEMA: dict[str, object] = {
    "type": "object",
    "title": "Problem",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "what was invalid, one entry per error (422 only)",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {"type": "string"},
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
}

#: When each problem is answered, as the OpenAPI schema says it.
WHEN = {
    400: "malformed request: the body is not valid JSON (UTF-8) or multipart form data",
    401: "not authenticated: no or a wrong API key, no or an ended browser session",
    403: "not allowed: the route is for administrators, or a browser session's unsafe request "
    "failed the same-origin or CSRF token check",
    404: "no such resource, or one the caller may not see",
    409: "conflict: the name is already taken",
    413: "the request body, an image or the decoded pixels are over their limit",
    422: "invalid input: a parameter or body out of its schema, or an unreadable image",
    429: "the daily quota is spent, or too many failed logins (see Retry-After)",
    503: "the server is busy decoding images or a model is unavailable: retry later",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI ``responses`` for problem documents of ``statuses`` (``application/problem+json``).

    Declared so that clients, and the schema-driven fuzz test, know every answer a route gives.
    """
    return {
        status: {
            "description": WHEN[status],
            "content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}},
        }
        for status in statuses
    }


#: What any authenticated ``/v1`` route may answer besides its own results.
PROBLEMS = problem_responses(400, 401, 403, 413, 422, 429)


def problem(
    status: int,
    detail: str,
    headers: Mapping[str, str] | None = None,
    **extra: object,
) -> JSONResponse:
    """A problem response with ``title`` from the status code and an actionable ``detail``."""
    body: dict[str, object] = {
        "type": "about:blank",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        **extra,
    }
    return JSONResponse(body, status, headers=dict(headers or {}), media_type=PROBLEM_JSON)


def _validation_detail(exc: RequestValidationError) -> tuple[str, list[dict[str, object]]]:
    errors: list[dict[str, object]] = []
    for e in exc.errors():
        loc = ".".join(str(p) for p in e.get("loc", ()))
        errors.append({"loc": loc, "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))})
    first: dict[str, object] = errors[0] if errors else {"loc": "request", "msg": "invalid"}
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{first['loc']}: {first['msg']}{more}", errors


class UnexpectedErrorMiddleware:
    """The 500 problem of an exception no handler took, answered *inside* the middleware stack.

    Starlette's own last-resort handler sits outside every middleware and re-raises after
    answering: that answer missed the observer (no RateLimit headers, no metrics) and the
    server closed the connection of a request that raised. Here it is an answer like any
    other. Once a response has started, nothing can replace it: the error goes on up.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            if started:
                raise
            log.exception("unexpected error on %s %s", scope.get("method"), scope.get("path"))
            await problem(500, UNEXPECTED)(scope, receive, send)


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into a problem document, and the
    middleware that answers an unexpected error (add it before any other middleware: it must
    be the innermost)."""

    async def furet_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, FuretError)
        headers = {}
        if isinstance(exc, QuotaExceededError):
            quota = getattr(request.state, "quota", None)
            if quota is not None:
                headers["Retry-After"] = str(quota.reset_seconds)
        elif isinstance(exc, RetryLaterError):
            headers["Retry-After"] = str(exc.retry_after)
        if exc.status_code >= 500:
            log.error("%s on %s: %s", type(exc).__name__, request.url.path, exc)
        return problem(exc.status_code, str(exc), headers)

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        detail, errors = _validation_detail(exc)
        return problem(422, detail, errors=errors)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, "")
        return problem(exc.status_code, detail, exc.headers)

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem(500, UNEXPECTED)

    app.add_exception_handler(FuretError, furet_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)  # errors of the middlewares themselves
    app.add_middleware(UnexpectedErrorMiddleware)
