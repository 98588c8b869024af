"""Browser sessions kept on the server, so that they can be revoked.

The signed session cookie carries only a random token; the catalog stores its sha256 with the
account, an expiry and a revocation date. Logging out revokes the session; a password change or
disabling the account revokes all of the account's sessions (:func:`revoke_all`). Sessions are
cached per process like keys (``furet.catalog.acl_cache``): every revocation moves the ``acl``
stamp, so it holds in every worker from its next request.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from furet.catalog.acl_cache import BUMP_ACL, AclCache
from furet.catalog.classes import retry_busy
from furet.catalog.schema import WebSessionRow, utcnow
from furet.errors import AuthenticationError


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class _Live:
    user_id: int
    expires_at: datetime


def revoke_all(s: Session, user_id: int) -> None:
    """Revoke every open session of ``user_id`` inside the caller's transaction (which must
    also move the ``acl`` stamp)."""
    s.execute(
        update(WebSessionRow)
        .where(WebSessionRow.user_id == user_id, WebSessionRow.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


class WebSessions:
    """Open, resolve and revoke browser sessions; every method is one short transaction."""

    def __init__(self, sessions: sessionmaker[Session], acl: AclCache):
        self.sessions = sessions
        self.acl = acl

    def open(self, user_id: int, max_age: int) -> str:
        """A new session of ``user_id`` valid ``max_age`` seconds; returns its token."""
        token = secrets.token_urlsafe(32)
        now = utcnow()

        def write() -> None:
            with self.sessions.begin() as s:
                # Forget sessions that ended long ago (the table stays small).
                s.execute(
                    delete(WebSessionRow).where(WebSessionRow.expires_at < now - timedelta(days=1))
                )
                s.add(
                    WebSessionRow(
                        user_id=user_id,
                        token_hash=_hash(token),
                        created_at=now,
                        expires_at=now + timedelta(seconds=max_age),
                    )
                )

        retry_busy(write)
        return token

    def resolve(self, token: str) -> int:
        """The user id of a live session; revoked, expired or unknown tokens raise 401."""
        hashed = _hash(token)
        expired = AuthenticationError("your session has ended; log in again")
        live = self.acl.get(("session", hashed))
        if not isinstance(live, _Live):
            epoch = self.acl.epoch
            with self.sessions() as s:
                row = s.scalar(select(WebSessionRow).where(WebSessionRow.token_hash == hashed))
                if row is None or row.revoked_at is not None:
                    raise expired
                live = _Live(row.user_id, _aware(row.expires_at))
            self.acl.put(("session", hashed), live, epoch)
        if live.expires_at <= utcnow():
            raise expired
        return live.user_id

    def resolve_quietly(self, token: str) -> int | None:
        """:meth:`resolve`, or None for a session that has ended."""
        try:
            return self.resolve(token)
        except AuthenticationError:
            return None

    def revoke(self, token: str) -> None:
        """End the session of ``token`` (idempotent)."""

        def write() -> None:
            with self.sessions.begin() as s:
                s.execute(
                    update(WebSessionRow)
                    .where(
                        WebSessionRow.token_hash == _hash(token),
                        WebSessionRow.revoked_at.is_(None),
                    )
                    .values(revoked_at=utcnow())
                )
                s.execute(BUMP_ACL)

        retry_busy(write)
        self.acl.flush()

    def revoke_user(self, user_id: int) -> None:
        """End every session of ``user_id`` (log out everywhere)."""

        def write() -> None:
            with self.sessions.begin() as s:
                revoke_all(s, user_id)
                s.execute(BUMP_ACL)

        retry_busy(write)
        self.acl.flush()


def _aware(when: datetime) -> datetime:
    # SQLite hands back naive datetimes (stored as UTC).
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
