"""Catalog operations on accounts: passwords, roles, groups, API keys and daily usage.

Passwords are stored as argon2id hashes; API keys as the sha256 of their random secret (a key
is 32 random bytes, so a fast hash is enough and lookups stay one indexed query).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, DateTime, bindparam, delete, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from furet.catalog.acl_cache import ACL_STAMP_SQL, BUMP_ACL, acl_cache, read_stamp
from furet.catalog.classes import retry_busy
from furet.catalog.database import engine_of
from furet.catalog.group_commit import group_commit
from furet.catalog.hot import HotStatement, hot_rows
from furet.catalog.schema import ApiKeyRow, GroupRow, MembershipRow, UserRow, utcnow
from furet.catalog.web_sessions import revoke_all
from furet.errors import (
    AlreadyExistsError,
    AuthenticationError,
    InvalidInputError,
    NotFoundError,
)

ROLES = ("admin", "member")
#: Every key starts with this, so leaked keys are easy to grep for in logs and repositories.
KEY_PREFIX = "furet_"

_hasher = PasswordHasher()


@dataclass(frozen=True)
class Account:
    user_id: int
    name: str
    role: str
    daily_quota: int | None
    disabled: bool
    groups: list[str] = field(default_factory=list)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def as_json(self, default_quota: int) -> dict[str, object]:
        return {
            "user_id": self.user_id,
            "name": self.name,
            "role": self.role,
            "groups": self.groups,
            "daily_quota": self.daily_quota if self.daily_quota is not None else default_quota,
            "disabled": self.disabled,
        }


@dataclass(frozen=True)
class ApiKey:
    key_id: int
    user_id: int
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    def as_json(self) -> dict[str, object]:
        return {
            "key_id": self.key_id,
            "name": self.name,
            "prefix": self.prefix,
            "created_at": self.created_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "last_used_at": self.last_used_at.isoformat() if self.last_used_at else None,
        }


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidInputError(f"role must be one of {', '.join(ROLES)}, got {role!r}")


def _check_quota(quota: int | None) -> None:
    if quota is not None and quota < 0:
        raise InvalidInputError("daily_quota must be 0 or more requests per day")


def _check_password(password: str) -> None:
    if len(password) < 8:
        raise InvalidInputError("a password must have at least 8 characters")


class AccountStore:
    """Users, groups, keys and usage counters; every method is one short transaction.

    Keys and accounts are cached per process (see ``furet.catalog.acl_cache``): every change
    to them moves the catalog's ``acl`` stamp, which :meth:`consume` and :meth:`used` read.
    """

    def __init__(self, sessions: sessionmaker[Session]):
        self.sessions = sessions
        self.engine = engine_of(sessions)
        self.acl = acl_cache(self.engine)
        #: key id -> when this process last set its ``last_used_at`` (to the minute).
        self._touched: dict[int, datetime] = {}

    # -- users -------------------------------------------------------------------------------

    def _account(self, s: Session, row: UserRow) -> Account:
        groups = s.scalars(
            select(GroupRow.name)
            .join(MembershipRow, MembershipRow.group_id == GroupRow.group_id)
            .where(MembershipRow.user_id == row.user_id)
            .order_by(GroupRow.name)
        )
        return Account(
            row.user_id,
            row.name,
            row.role,
            row.daily_quota,
            bool(row.disabled),
            list(groups),
        )

    def create_user(
        self,
        name: str,
        password: str | None,
        *,
        role: str = "member",
        daily_quota: int | None = None,
        groups: list[str] | None = None,
    ) -> Account:
        """A new account; ``groups`` are created if needed. A name already taken raises."""
        name = name.strip()
        if not name or len(name) > 100 or any(c in name for c in "/\\:"):
            raise InvalidInputError("a user name must be 1 to 100 characters, without / \\ :")
        _check_role(role)
        _check_quota(daily_quota)
        if password is not None:
            _check_password(password)
        hashed = _hasher.hash(password) if password is not None else None
        with self.sessions.begin() as s:
            if s.scalar(select(UserRow.user_id).where(UserRow.name == name)) is not None:
                raise AlreadyExistsError(f"a user named {name!r} exists already")
            row = UserRow(
                name=name,
                created_at=utcnow(),
                password_hash=hashed,
                role=role,
                daily_quota=daily_quota,
                disabled=False,
            )
            s.add(row)
            s.flush()
            self._set_groups(s, row.user_id, groups or [])
            return self._account(s, row)

    def _set_groups(self, s: Session, user_id: int, names: list[str]) -> None:
        s.execute(delete(MembershipRow).where(MembershipRow.user_id == user_id))
        for name in sorted(set(names)):
            gid = s.scalar(select(GroupRow.group_id).where(GroupRow.name == name))
            if gid is None:
                group = GroupRow(name=name, created_at=utcnow())
                s.add(group)
                s.flush()
                gid = group.group_id
            s.add(MembershipRow(group_id=gid, user_id=user_id))

    def get(self, user_id: int) -> Account:
        cached = self.acl.get(("user", user_id))
        if isinstance(cached, Account):
            return cached
        epoch = self.acl.epoch
        with self.sessions() as s:
            row = s.get(UserRow, user_id)
            if row is None:
                raise NotFoundError(f"no user {user_id}")
            account = self._account(s, row)
        self.acl.put(("user", user_id), account, epoch)
        return account

    def find(self, name: str) -> Account:
        with self.sessions() as s:
            row = s.scalar(select(UserRow).where(UserRow.name == name))
            if row is None:
                raise NotFoundError(f"no user named {name!r}; list users with: furet user list")
            return self._account(s, row)

    def list_users(self) -> list[Account]:
        with self.sessions() as s:
            return [self._account(s, r) for r in s.scalars(select(UserRow).order_by(UserRow.name))]

    def update_user(
        self,
        user_id: int,
        *,
        role: str | None = None,
        daily_quota: int | None = None,
        clear_quota: bool = False,
        password: str | None = None,
        disabled: bool | None = None,
        groups: list[str] | None = None,
    ) -> Account:
        """Change the given fields only; ``clear_quota`` returns the user to the default."""
        if role is not None:
            _check_role(role)
        _check_quota(daily_quota)
        if password is not None:
            _check_password(password)
        hashed = _hasher.hash(password) if password is not None else None
        with self.sessions.begin() as s:
            row = s.get(UserRow, user_id)
            if row is None:
                raise NotFoundError(f"no user {user_id}")
            if role is not None:
                row.role = role
            if daily_quota is not None or clear_quota:
                row.daily_quota = daily_quota
            if hashed is not None:
                row.password_hash = hashed
            if disabled is not None:
                row.disabled = disabled
            if hashed is not None or disabled:
                revoke_all(s, user_id)  # the old password's sessions die with it
            if groups is not None:
                self._set_groups(s, user_id, groups)
            s.flush()
            s.execute(BUMP_ACL)
            account = self._account(s, row)
        self.acl.flush()
        return account

    def authenticate(self, name: str, password: str) -> Account:
        """The account of ``name`` if ``password`` is right; one vague error otherwise."""
        refused = AuthenticationError("wrong user name or password")
        with self.sessions() as s:
            row = s.scalar(select(UserRow).where(UserRow.name == name))
            if row is None or row.password_hash is None:
                # Hash anyway so that response time does not reveal which names exist.
                _hasher.hash(password)
                raise refused
            try:
                _hasher.verify(row.password_hash, password)
            except (VerificationError, InvalidHashError):
                raise refused from None
            if row.disabled:
                raise AuthenticationError("this account is disabled; ask an administrator")
            return self._account(s, row)

    # -- groups ------------------------------------------------------------------------------

    def create_group(self, name: str) -> dict[str, object]:
        name = name.strip()
        if not name or len(name) > 100:
            raise InvalidInputError("a group name must be 1 to 100 characters")
        with self.sessions.begin() as s:
            if s.scalar(select(GroupRow.group_id).where(GroupRow.name == name)) is not None:
                raise AlreadyExistsError(f"a group named {name!r} exists already")
            row = GroupRow(name=name, created_at=utcnow())
            s.add(row)
            s.flush()
            return {"group_id": row.group_id, "name": row.name, "members": []}

    def group_names(self) -> list[str]:
        """The names of every group (institution), sorted: what a class may be shared with."""
        with self.sessions() as s:
            return list(s.scalars(select(GroupRow.name).order_by(GroupRow.name)))

    def list_groups(self) -> list[dict[str, object]]:
        with self.sessions() as s:
            out = []
            for g in s.scalars(select(GroupRow).order_by(GroupRow.name)):
                members = s.scalars(
                    select(UserRow.name)
                    .join(MembershipRow, MembershipRow.user_id == UserRow.user_id)
                    .where(MembershipRow.group_id == g.group_id)
                    .order_by(UserRow.name)
                )
                out.append({"group_id": g.group_id, "name": g.name, "members": list(members)})
            return out

    # -- API keys ----------------------------------------------------------------------------

    def create_key(
        self, user_id: int, name: str, *, max_live: int | None = None
    ) -> tuple[ApiKey, str]:
        """A new key of ``user_id``; returns it and its secret, which is never stored.

        ``max_live``: refuse when the user holds that many unrevoked keys already."""
        name = name.strip() or "default"
        if len(name) > 100:
            raise InvalidInputError("a key name must be at most 100 characters")
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        row = ApiKeyRow(
            user_id=user_id,
            name=name,
            prefix=secret[: len(KEY_PREFIX) + 6],
            secret_hash=hash_secret(secret),
            created_at=utcnow(),
        )
        with self.sessions.begin() as s:
            if s.get(UserRow, user_id) is None:
                raise NotFoundError(f"no user {user_id}")
            if max_live is not None:
                live = s.scalar(
                    select(func.count())
                    .select_from(ApiKeyRow)
                    .where(ApiKeyRow.user_id == user_id, ApiKeyRow.revoked_at.is_(None))
                )
                if (live or 0) >= max_live:
                    raise AlreadyExistsError(
                        f"you hold {live} live API keys, the most allowed; revoke one "
                        "(DELETE /v1/keys/{key_id}) before creating another"
                    )
            s.add(row)
            s.flush()
            return _key(row), secret

    def list_keys(self, user_id: int) -> list[ApiKey]:
        with self.sessions() as s:
            rows = s.scalars(
                select(ApiKeyRow).where(ApiKeyRow.user_id == user_id).order_by(ApiKeyRow.key_id)
            )
            return [_key(r) for r in rows]

    def revoke_key(self, user_id: int, key_id: int) -> None:
        """Revoke a key of ``user_id`` (idempotent); someone else's key is 'not found'."""
        with self.sessions.begin() as s:
            row = s.get(ApiKeyRow, key_id)
            if row is None or row.user_id != user_id:
                raise NotFoundError(f"you have no API key {key_id}")
            if row.revoked_at is not None:
                return
            row.revoked_at = utcnow()
            s.execute(BUMP_ACL)
        self.acl.flush()

    def resolve_key(self, secret: str) -> tuple[Account, int]:
        """The account and key id of an API key secret; unknown or revoked keys raise 401.

        Every API request asks this: from the process's cache, else two constant statements on
        one pooled connection.
        """
        hashed = hash_secret(secret)
        cached = self.acl.get(("key", hashed))
        if isinstance(cached, tuple):
            return cached
        epoch = self.acl.epoch
        with self.engine.connect() as c:
            row = c.execute(_KEY_ACCOUNT, {"h": hashed}).first()
            if row is None:
                raise AuthenticationError("unknown API key; create one with POST /v1/keys")
            key_id, revoked_at, user_id, name, role, quota, disabled = row
            if revoked_at is not None:
                raise AuthenticationError("this API key was revoked; create a new one")
            if disabled:
                raise AuthenticationError("the account of this API key is disabled")
            groups = list(c.scalars(_USER_GROUPS, {"u": user_id}))
        account = Account(user_id, name, role, quota, bool(disabled), groups)
        self.acl.put(("key", hashed), (account, int(key_id)), epoch)
        return account, int(key_id)

    # -- usage -------------------------------------------------------------------------------

    def consume(self, subject: str, day: str, limit: int, key_id: int | None = None) -> int:
        """Count one request of ``subject`` on ``day`` if under ``limit``.

        Returns the count after the request, or ``-1 - count`` when the quota was already spent
        (nothing counted). Check and increment are one conditional UPDATE, so concurrent
        requests cannot overshoot the limit; it also reads the ``acl`` stamp for the cache.
        ``key_id``: the key's ``last_used_at`` is set, to the minute.
        """
        now = utcnow()
        minute_ago = now - timedelta(seconds=60)
        touch = key_id is not None and self._touched.get(key_id, minute_ago) <= minute_ago

        def write(c: Connection) -> tuple[int, int]:
            if touch:
                c.execute(_TOUCH_KEY, {"k": key_id, "now": now, "before": minute_ago})
            args = {"s": subject, "d": day, "limit": limit}
            counted = hot_rows(c, _COUNT_REQUEST, args)
            if counted:
                count, stamp = counted[0]
                return int(count), int(stamp or 0)
            stamp = read_stamp(c)
            used = c.execute(_USED, args).scalar()
            if used is not None:
                return -1 - int(used), stamp
            if limit <= 0:
                return -1, stamp
            c.execute(_FIRST_REQUEST, args)
            return 1, stamp

        count, stamp = retry_busy(lambda: group_commit(self.engine).run(write))
        if touch:
            self._touched[key_id] = now  # type: ignore[index]
        self.acl.observe(stamp)
        return count

    def used(self, subject: str, day: str) -> int:
        """Requests of ``subject`` counted on ``day``; also reads the ``acl`` stamp."""
        with self.engine.connect() as c:
            ((used, stamp),) = hot_rows(c, _USED_AND_STAMP, {"s": subject, "d": day})
        self.acl.observe(stamp)
        return int(used) if used is not None else 0


# Constant SQL for what every API request runs (compiled once).
_KEY_ACCOUNT = text(
    "SELECT k.key_id, k.revoked_at, u.user_id, u.name, u.role, u.daily_quota, u.disabled "
    "FROM api_keys k JOIN users u ON u.user_id = k.user_id "
    "WHERE k.secret_hash = :h"
)
_USER_GROUPS = text(
    "SELECT g.name FROM groups g JOIN group_members m ON m.group_id = g.group_id "
    "WHERE m.user_id = :u ORDER BY g.name"
)
_TOUCH_KEY = text(
    "UPDATE api_keys SET last_used_at = :now "
    "WHERE key_id = :k AND (last_used_at IS NULL OR last_used_at < :before)"
).bindparams(
    bindparam("now", type_=DateTime(timezone=True)),
    bindparam("before", type_=DateTime(timezone=True)),
)
_COUNT_REQUEST = HotStatement(
    "UPDATE usage SET count = count + 1 WHERE subject = :s AND day = :d AND count < :limit "
    f"RETURNING count, {ACL_STAMP_SQL}"
)
_USED = text("SELECT count FROM usage WHERE subject = :s AND day = :d")
_USED_AND_STAMP = HotStatement(
    f"SELECT (SELECT count FROM usage WHERE subject = :s AND day = :d), {ACL_STAMP_SQL}"
)
_FIRST_REQUEST = text("INSERT INTO usage (subject, day, count) VALUES (:s, :d, 1)")


def _key(r: ApiKeyRow) -> ApiKey:
    return ApiKey(r.key_id, r.user_id, r.name, r.prefix, r.created_at, r.revoked_at, r.last_used_at)
