"""Secrets never reach a log line: API keys in query strings (``api-key=...``), in headers,
or anywhere in a message (every key starts with ``furet_``), and passwords in query strings.

The server's logging configuration (:func:`log_config`) formats every line (access log, error
log, furet's own loggers, tracebacks included) through :func:`redact`. Metrics are labelled by
route template, never by raw path or query, so they carry no secret to begin with.
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

from furet.catalog.accounts import KEY_PREFIX

REDACTED = "[redacted]"
#: Query parameters and headers whose values are secrets.
SECRET_NAMES = ("api-key", "api_key", "apikey", "x-api-key", "password", "token", "secret")

_QUERY = re.compile(
    r"(?i)(?P<name>(?:^|(?<=[?&;\s\"'])|(?<=%3F)|(?<=%26))(?:"
    + "|".join(re.escape(n) for n in SECRET_NAMES)
    + r")(?:=|%3D|:\s*))(?P<value>[^&\s\"';]+)"
)
_KEY = re.compile(re.escape(KEY_PREFIX) + r"[A-Za-z0-9_\-]{8,}")


def redact(text: str) -> str:
    """``text`` with every secret parameter value and every API key replaced."""
    text = _QUERY.sub(lambda m: m.group("name") + REDACTED, text)
    return _KEY.sub(KEY_PREFIX + REDACTED, text)


def _redacting(base: type[logging.Formatter]) -> type[logging.Formatter]:
    class Redacting(base):  # type: ignore[valid-type, misc]
        def format(self, record: logging.LogRecord) -> str:
            return redact(super().format(record))

    Redacting.__name__ = f"Redacting{base.__name__}"
    return Redacting


def _formatters() -> dict[str, type[logging.Formatter]]:
    from uvicorn.logging import AccessFormatter, DefaultFormatter

    return {"default": _redacting(DefaultFormatter), "access": _redacting(AccessFormatter)}


def log_config() -> dict[str, Any]:
    """uvicorn's logging configuration, every formatter redacting, and the root logger (furet's
    own loggers) on the default handler."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    classes = _formatters()
    for name, formatter in config["formatters"].items():
        formatter["()"] = classes.get(name, _redacting(logging.Formatter))
    config["root"] = {"handlers": ["default"], "level": "INFO"}
    return config
