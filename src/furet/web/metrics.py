"""Prometheus metrics and the ASGI middleware that records them and adds quota headers."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Rounds take 10 ms to a few seconds; the API's small reads well under 10 ms.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The app's own registry (one per app, so several apps in one process do not clash)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "furet_http_requests",
            "HTTP requests by route template, method and status",
            ("route", "method", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "furet_http_request_duration_seconds",
            "HTTP request latency by route template",
            ("route", "method"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.rounds = Counter(
            "furet_rounds", "Interactive learning rounds by mode", ("mode",), registry=self.registry
        )
        self.round_seconds = Histogram(
            "furet_round_duration_seconds",
            "Server time of one round (fit, scan, page)",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)


class ObserveMiddleware:
    """Counts requests by route template (never raw paths: ids would explode cardinality),
    times them, and adds the RateLimit headers to every ``/v1`` response."""

    def __init__(self, app: ASGIApp, metrics: Metrics, default_quota: Any) -> None:
        self.app = app
        self.metrics = metrics
        #: ``() -> QuotaState`` for responses to callers not identified (401, login).
        self.default_quota = default_quota

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        api = scope["path"].startswith("/v1")

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if api:
                    state = scope.get("state", {}).get("quota") or self.default_quota()
                    headers = list(message.get("headers", []))
                    headers += [
                        (k.lower().encode(), v.encode()) for k, v in state.headers().items()
                    ]
                    message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            self.metrics.requests.labels(template, method, str(status)).inc()
            self.metrics.latency.labels(template, method).observe(time.perf_counter() - start)
