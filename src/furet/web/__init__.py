"""The HTTP API (FastAPI) and the browser UI's static files."""

from furet.web.app import create_app

__all__ = ["create_app"]
