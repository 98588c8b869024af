"""Daily quotas: one counter per API key (or per user for browser sessions) per UTC day.

Headers follow the IETF draft "RateLimit header fields for HTTP":
``RateLimit-Policy: "daily";q=<limit>;w=86400`` and ``RateLimit: "daily";r=<left>;t=<reset>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from furet.catalog.accounts import AccountStore
from furet.errors import QuotaExceededError

WINDOW_SECONDS = 86_400


@dataclass(frozen=True)
class QuotaState:
    limit: int
    used: int
    reset_seconds: int

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Policy": f'"daily";q={self.limit};w={WINDOW_SECONDS}',
            "RateLimit": f'"daily";r={self.remaining};t={self.reset_seconds}',
        }

    def as_json(self) -> dict[str, int]:
        return {
            "limit": self.limit,
            "used": self.used,
            "remaining": self.remaining,
            "reset_seconds": self.reset_seconds,
        }


def utc_day(now: datetime | None = None) -> tuple[str, int]:
    """Today's UTC date ``YYYY-MM-DD`` and the seconds until it ends (at least 1)."""
    now = now or datetime.now(UTC)
    tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return now.strftime("%Y-%m-%d"), max(1, int((tomorrow - now).total_seconds()))


def peek(accounts: AccountStore, subject: str, limit: int) -> QuotaState:
    """The quota of ``subject`` without counting a request."""
    day, reset = utc_day()
    return QuotaState(limit, min(accounts.used(subject, day), limit), reset)


def charge(
    accounts: AccountStore, subject: str, limit: int, key_id: int | None = None
) -> tuple[bool, QuotaState]:
    """Count one request if the day's quota allows it; returns (counted, state)."""
    day, reset = utc_day()
    count = accounts.consume(subject, day, limit, key_id)
    if count < 0:
        return False, QuotaState(limit, limit, reset)
    return True, QuotaState(limit, count, reset)


def exhausted(state: QuotaState) -> QuotaExceededError:
    return QuotaExceededError(
        f"daily quota of {state.limit} requests spent; it resets in {state.reset_seconds} s "
        "(00:00 UTC). Ask an administrator for a higher quota."
    )
