"""Login throttling: failed logins counted per account name and per client address.

After ``threshold`` failures within ``window`` a subject is locked for a back-off that doubles
with every further failure (up to ``max_lock``); while locked, a login is refused with 429 and
``Retry-After`` before the password is even checked, the right password included. Subjects are
the *submitted* name, whether an account of that name exists or not, so the answers never tell.

An attempt is counted as a failure *before* the password is checked, in one transaction with
the lock check, and taken back when it succeeds: concurrent guesses cannot all slip in before
the first failure is recorded. The counters live in the catalog, so every server worker shares
them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from furet.catalog.classes import retry_busy
from furet.catalog.schema import LoginThrottleRow, utcnow


@dataclass(frozen=True)
class ThrottlePolicy:
    #: Failures of one account name before it is locked.
    per_name: int = 5
    #: Failures from one client address (many people may share one) before it is locked.
    per_address: int = 20
    window: timedelta = timedelta(minutes=15)
    first_lock: timedelta = timedelta(seconds=4)
    max_lock: timedelta = timedelta(minutes=15)


def _aware(when: datetime | None) -> datetime | None:
    if when is None or when.tzinfo is not None:
        return when
    return when.replace(tzinfo=UTC)


class LoginThrottle:
    def __init__(self, sessions: sessionmaker[Session], policy: ThrottlePolicy | None = None):
        self.sessions = sessions
        self.policy = policy or ThrottlePolicy()

    def _subjects(self, name: str, address: str | None) -> list[tuple[str, int]]:
        out = [(f"name:{name.strip()[:120]}", self.policy.per_name)]
        if address:
            out.append((f"addr:{address[:120]}", self.policy.per_address))
        return out

    def attempt(self, name: str, address: str | None) -> int:
        """Count an attempt as a failure, unless a subject is locked: then nothing is counted
        and the seconds to wait are returned (0: go on and check the password)."""
        now = utcnow()
        p = self.policy

        def write() -> int:
            with self.sessions.begin() as s:
                rows = []
                for subject, threshold in self._subjects(name, address):
                    row = s.get(LoginThrottleRow, subject)
                    if row is None:
                        row = LoginThrottleRow(subject=subject, failures=0, first_at=now)
                        s.add(row)
                    locked = _aware(row.locked_until)
                    if locked is not None and locked > now:
                        return max(1, int((locked - now).total_seconds() + 0.999))
                    first = _aware(row.first_at)
                    if first is None or now - first > p.window:
                        row.failures, row.first_at = 0, now
                    rows.append((row, threshold))
                for row, threshold in rows:
                    row.failures += 1
                    over = row.failures - threshold
                    if over >= 0:
                        row.locked_until = now + min(p.first_lock * (2**over), p.max_lock)
                return 0

        return retry_busy(write)

    def succeeded(self, name: str, address: str | None) -> None:
        """The password was right: the name starts afresh, the address gets its attempt back."""

        def write() -> None:
            with self.sessions.begin() as s:
                for subject, _ in self._subjects(name, address):
                    row = s.get(LoginThrottleRow, subject)
                    if row is None:
                        continue
                    if subject.startswith("name:"):
                        s.delete(row)
                    else:
                        row.failures = max(0, row.failures - 1)

        retry_busy(write)
