"""Cross-site request forgery: unsafe requests made with the browser session cookie must come
from the server's own origin *and* carry the CSRF token.

The token is starlette-csrf's double-submit cookie: a signed random value in the cookie
``furet_csrf`` (readable by the page's script, not HttpOnly), which the UI copies into the
``X-CSRF-Token`` header of every POST, PUT, PATCH and DELETE; another site can neither read the
cookie nor set the header. The origin check comes first: a browser always sends ``Origin`` on a
cross-site unsafe request, and it must name this server (or one of
``FURET_ALLOWED_ORIGINS``); a request with neither ``Origin`` nor ``Referer`` is refused too.

Requests authenticated by an API key (``X-API-Key`` header or ``api-key`` query parameter) are
exempt: a browser never sends one by itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import parse_qsl, urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette_csrf import CSRFMiddleware

from furet.web.problems import problem

CSRF_COOKIE = "furet_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def _has_api_key(scope: Scope) -> bool:
    for name, _ in scope.get("headers", []):
        if name == b"x-api-key":
            return True
    query = scope.get("query_string", b"").decode("latin-1")
    return any(k == "api-key" for k, _ in parse_qsl(query, keep_blank_values=True))


def _netloc(url: str) -> str | None:
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if not parts.scheme or not parts.netloc:
        return None
    return parts.netloc.lower()


class SameOriginMiddleware:
    """403 for unsafe requests not authenticated by key whose ``Origin`` (else ``Referer``)
    is another site; with the session cookie, one of the two headers is required."""

    def __init__(
        self, app: ASGIApp, session_cookie: str, allowed_origins: Iterable[str] = ()
    ) -> None:
        self.app = app
        self.session_cookie = session_cookie
        self.allowed = {n for n in (_netloc(o) for o in allowed_origins) if n}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS or _has_api_key(scope):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        source = request.headers.get("origin") or request.headers.get("referer")
        if source is None or source == "null":
            if self.session_cookie not in request.cookies and source is None:
                await self.app(scope, receive, send)  # no session: nothing to forge
                return
            refused = "a browser session's unsafe request must send its Origin (or Referer)"
        else:
            netloc = _netloc(source)
            host = (request.headers.get("host") or "").lower()
            if netloc is not None and (netloc == host or netloc in self.allowed):
                await self.app(scope, receive, send)
                return
            refused = (
                f"cross-site request refused: origin {source[:100]!r} is not this server "
                "(set FURET_ALLOWED_ORIGINS behind a proxy that rewrites Host)"
            )
        await problem(403, refused)(scope, receive, send)


class TokenMiddleware(CSRFMiddleware):
    """starlette-csrf's double-submit check, as a problem document, skipped for API keys."""

    def __init__(self, app: ASGIApp, secret: str, session_cookie: str, secure: bool) -> None:
        super().__init__(
            app,
            secret,
            sensitive_cookies={session_cookie},
            cookie_name=CSRF_COOKIE,
            header_name=CSRF_HEADER,
            cookie_secure=secure,
            cookie_samesite="strict",
        )
        self._plain = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _has_api_key(scope):  # no check, and no cookie to set
            await self._plain(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    def _get_error_response(self, request: Request) -> Response:
        return problem(
            403,
            "CSRF token missing or wrong: send the value of the furet_csrf cookie in the "
            "X-CSRF-Token header (the UI does)",
        )
