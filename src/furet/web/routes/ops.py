"""Health, metrics and the browser UI shell."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Response
from fastapi.responses import FileResponse, HTMLResponse

from furet.web.auth import ContextDep

router = APIRouter(tags=["ops"])

STATIC = Path(__file__).resolve().parents[1] / "static"

PLACEHOLDER = (
    "<!doctype html><title>furet</title><h1>furet</h1>"
    "<p>The browser UI is not installed; the API is documented at <a href=/docs>/docs</a>.</p>"
)


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/metrics", response_class=Response)
def metrics(ctx: ContextDep) -> Response:
    """Prometheus text: requests by route template and status, latency, rounds."""
    return Response(ctx.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")


@router.get("/", include_in_schema=False, response_model=None)
def index() -> Response:
    """The browser UI's shell page."""
    page = STATIC / "index.html"
    if page.is_file():
        return FileResponse(page, media_type="text/html")
    return HTMLResponse(PLACEHOLDER)
