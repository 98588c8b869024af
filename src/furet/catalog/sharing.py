"""Catalog operations on who may see a class: grants to groups, the public right, memberships,
forks (a copy of a class with its origin), and the counts shown in class lists.

Grants and memberships are read on every class request: they are cached per process with the
class rows (``acl_cache``), and every change to them moves the ``acl`` stamp in its own
transaction, so that every server process sees it from its next request.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, insert, or_, select
from sqlalchemy.orm import Session, sessionmaker

from furet.catalog.acl_cache import BUMP_ACL, acl_cache
from furet.catalog.classes import POSITIVE, UNLABELLED, retry_busy
from furet.catalog.database import engine_of
from furet.catalog.schema import (
    ClassRow,
    ClassShareRow,
    ClassVersionRow,
    ExampleRow,
    GroupRow,
    LabelRow,
    MembershipRow,
    UserRow,
    utcnow,
)
from furet.errors import AlreadyExistsError, InvalidInputError, NotFoundError

#: What a grant (to a group, or to everyone) allows: ``read`` (see, identify, enrich, fork,
#: export) or ``edit`` (also label and run rounds).
ACCESS = ("read", "edit")
#: Groups one class may be granted to at once.
MAX_GRANTS = 100
#: Class ids per ``IN (...)`` list (SQLite caps the parameters of one statement).
_CHUNK = 500


@dataclass(frozen=True)
class Grant:
    group_id: int
    group: str
    access: str  # read | edit


@dataclass(frozen=True)
class ClassCounts:
    """Current marks of a class (positives count its example images) and its versions."""

    positives: int = 0
    negatives: int = 0
    examples: int = 0
    versions: int = 0


def visibility_of(public: str | None, groups: Mapping[str, str] | Iterable[object]) -> str:
    """What ``classes.visibility`` shows: 'public', 'groups' or 'private'."""
    if public is not None:
        return "public"
    return "groups" if any(True for _ in groups) else "private"


def check_access(access: object, what: str) -> str:
    if access not in ACCESS:
        raise InvalidInputError(f"{what} must be 'read' or 'edit', got {access!r}")
    return str(access)


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


class ShareCatalog:
    """Grants, memberships and forks; every write is one transaction that bumps ``acl``."""

    def __init__(self, sessions: sessionmaker[Session]):
        self.sessions = sessions
        self.engine = engine_of(sessions)
        self.acl = acl_cache(self.engine)

    # -- cached reads (every class request) --------------------------------------------------

    def groups_of(self, user_id: int) -> frozenset[int]:
        """Ids of the groups ``user_id`` belongs to."""
        key = ("member-of", user_id)
        cached = self.acl.get(key)
        if isinstance(cached, frozenset):
            return cached
        epoch = self.acl.epoch
        with self.engine.connect() as c:
            q = select(MembershipRow.group_id).where(MembershipRow.user_id == user_id)
            ids = frozenset(int(g) for g in c.scalars(q))
        self.acl.put(key, ids, epoch)
        return ids

    def grants(self, class_id: int) -> tuple[Grant, ...]:
        """The groups ``class_id`` is granted to, by group name."""
        key = ("grants", class_id)
        cached = self.acl.get(key)
        if isinstance(cached, tuple):
            return cached
        epoch = self.acl.epoch
        with self.engine.connect() as c:
            found = self.grants_of(c, ClassShareRow.class_id == class_id)
        out = found.get(class_id, ())
        self.acl.put(key, out, epoch)
        return out

    def user_name(self, user_id: int) -> str:
        """A user's name (names never change)."""
        key = ("user-name", user_id)
        cached = self.acl.get(key)
        if isinstance(cached, str):
            return cached
        epoch = self.acl.epoch
        with self.engine.connect() as c:
            name = c.scalar(select(UserRow.name).where(UserRow.user_id == user_id))
        if name is None:
            return f"user {user_id}"
        self.acl.put(key, str(name), epoch)
        return str(name)

    def user_names(self, user_ids: Iterable[int]) -> dict[int, str]:
        return {u: self.user_name(u) for u in set(user_ids)}

    def is_admin(self, user_id: int) -> bool:
        with self.engine.connect() as c:
            role = c.scalar(select(UserRow.role).where(UserRow.user_id == user_id))
        return role == "admin"

    def user_id(self, name: str) -> int:
        with self.engine.connect() as c:
            found = c.scalar(select(UserRow.user_id).where(UserRow.name == name))
        if found is None:
            raise NotFoundError(f"no user named {name!r}")
        return int(found)

    # -- listings ----------------------------------------------------------------------------

    def grants_of(self, c: object, where: ColumnElement[bool]) -> dict[int, tuple[Grant, ...]]:
        """Class id -> its grants, for the ``class_shares`` rows matching ``where``."""
        q = (
            select(ClassShareRow.class_id, GroupRow.group_id, GroupRow.name, ClassShareRow.access)
            .join(GroupRow, GroupRow.group_id == ClassShareRow.group_id)
            .where(where)
            .order_by(ClassShareRow.class_id, GroupRow.name)
        )
        out: dict[int, list[Grant]] = {}
        for class_id, group_id, name, access in c.execute(q):  # type: ignore[attr-defined]
            out.setdefault(int(class_id), []).append(Grant(int(group_id), str(name), str(access)))
        return {k: tuple(v) for k, v in out.items()}

    def visible_rows(
        self, user_id: int, *, is_admin: bool, collection_id: int | None = None
    ) -> list[tuple[ClassRow, str, tuple[Grant, ...]]]:
        """Every class ``user_id`` may see (all of them for an administrator), with its owner's
        name and its grants: owned, granted to one of the user's groups, or public."""
        cond: list[ColumnElement[bool]] = []
        if collection_id is not None:
            cond.append(ClassRow.collection_id == collection_id)
        if not is_admin:
            mine = select(MembershipRow.group_id).where(MembershipRow.user_id == user_id)
            shared = select(ClassShareRow.class_id).where(ClassShareRow.group_id.in_(mine))
            cond.append(
                or_(
                    ClassRow.owner_id == user_id,
                    ClassRow.public_right.is_not(None),
                    ClassRow.class_id.in_(shared),
                )
            )
        q = select(ClassRow, UserRow.name).join(UserRow, UserRow.user_id == ClassRow.owner_id)
        ids = select(ClassRow.class_id)
        if cond:
            q, ids = q.where(*cond), ids.where(*cond)
        with self.sessions() as s:
            rows = [(row, str(owner)) for row, owner in s.execute(q)]
            grants = self.grants_of(s, ClassShareRow.class_id.in_(ids))
        rows.sort(key=lambda r: (r[0].owner_id != user_id, r[1], r[0].name, r[0].class_id))
        return [(row, owner, grants.get(row.class_id, ())) for row, owner in rows]

    def counts(self, class_ids: Iterable[int]) -> dict[int, ClassCounts]:
        """Current positives (with example images) and negatives, and versions, per class."""
        ids = sorted(set(class_ids))
        pos: dict[int, int] = {}
        neg: dict[int, int] = {}
        examples: dict[int, int] = {}
        versions: dict[int, int] = {}
        with self.engine.connect() as c:
            for chunk in _chunks(ids):
                latest = (
                    select(func.max(LabelRow.label_id))
                    .where(LabelRow.class_id.in_(chunk))
                    .group_by(LabelRow.class_id, LabelRow.item_id)
                )
                marks = (
                    select(LabelRow.class_id, LabelRow.value, func.count())
                    .where(LabelRow.label_id.in_(latest), LabelRow.value != UNLABELLED)
                    .group_by(LabelRow.class_id, LabelRow.value)
                )
                for class_id, value, n in c.execute(marks):
                    (pos if value == POSITIVE else neg)[int(class_id)] = int(n)
                for table, out in ((ExampleRow, examples), (ClassVersionRow, versions)):
                    q = (
                        select(table.class_id, func.count())
                        .where(table.class_id.in_(chunk))
                        .group_by(table.class_id)
                    )
                    out.update({int(k): int(n) for k, n in c.execute(q)})
        return {
            i: ClassCounts(
                pos.get(i, 0) + examples.get(i, 0),
                neg.get(i, 0),
                examples.get(i, 0),
                versions.get(i, 0),
            )
            for i in ids
        }

    # -- writes ------------------------------------------------------------------------------

    def set_sharing(
        self, class_id: int, groups: Mapping[str, str], public: str | None, by: int
    ) -> ClassRow:
        """Grant the class to exactly ``groups`` (name -> 'read' | 'edit') and set its public
        right (None: not public). Unchanged grants keep who granted them and when."""
        for name, access in groups.items():
            check_access(access, f"the right of group {name!r}")
        if public is not None:
            check_access(public, "the public right")
        if len(groups) > MAX_GRANTS:
            raise InvalidInputError(f"a class may be shared with at most {MAX_GRANTS} groups")

        def run() -> ClassRow:
            with self.sessions.begin() as s:
                row = s.get(ClassRow, class_id)
                if row is None:
                    raise NotFoundError(f"class {class_id} was deleted")
                found: dict[str, int] = {}
                if groups:
                    q = select(GroupRow.name, GroupRow.group_id).where(
                        GroupRow.name.in_(list(groups))
                    )
                    found = {str(n): int(g) for n, g in s.execute(q)}
                unknown = sorted(set(groups) - set(found))
                if unknown:
                    raise InvalidInputError(
                        f"no group named {', '.join(map(repr, unknown))}; an administrator "
                        "creates groups (POST /v1/admin/groups, or furet user add NAME --group G)"
                    )
                now = utcnow()
                wanted = {found[name]: access for name, access in groups.items()}
                held = {
                    g.group_id: g
                    for g in s.scalars(
                        select(ClassShareRow).where(ClassShareRow.class_id == class_id)
                    )
                }
                for group_id, grant in held.items():
                    if group_id not in wanted:
                        s.delete(grant)
                    elif grant.access != wanted[group_id]:
                        grant.access, grant.granted_by, grant.granted_at = (
                            wanted[group_id],
                            by,
                            now,
                        )
                for group_id, access in wanted.items():
                    if group_id not in held:
                        s.add(
                            ClassShareRow(
                                class_id=class_id,
                                group_id=group_id,
                                access=access,
                                granted_by=by,
                                granted_at=now,
                            )
                        )
                row.public_right = public
                row.visibility = visibility_of(public, wanted)
                s.flush()
                s.execute(BUMP_ACL)
                s.expunge(row)
                return row

        row = retry_busy(run)
        self.acl.flush()
        return row

    def copy_class(
        self, source_id: int, owner_id: int, name: str, origin: str, *, exact_name: bool
    ) -> ClassRow:
        """A new class of ``owner_id`` with the current labels (each with the user who made
        it), the example images and the latest version of ``source_id``, its origin recorded.

        ``exact_name``: a name taken is a conflict; otherwise ``name (fork)``, ``name (fork
        2)``... is taken instead."""
        name = name.strip()
        if not name or len(name) > 200:
            raise InvalidInputError("a class name must be 1 to 200 characters")

        def run() -> ClassRow:
            with self.sessions.begin() as s:
                src = s.get(ClassRow, source_id)
                if src is None:
                    raise NotFoundError(f"class {source_id} was deleted")
                new = ClassRow(
                    owner_id=owner_id,
                    collection_id=src.collection_id,
                    name=self._free_name(s, owner_id, name, exact_name),
                    space=src.space,
                    visibility="private",
                    created_at=utcnow(),
                    public_right=None,
                    origin_class_id=src.class_id,
                    origin=origin,
                )
                s.add(new)
                s.flush()
                self._copy_contents(s, src.class_id, new.class_id)
                s.expunge(new)
                return new

        return retry_busy(run)

    @staticmethod
    def _free_name(s: Session, owner_id: int, name: str, exact: bool) -> str:
        taken = set(
            s.scalars(
                select(ClassRow.name).where(
                    ClassRow.owner_id == owner_id, ClassRow.name.like(f"{name[:190]}%")
                )
            )
        )
        if name not in taken:
            return name
        if exact:
            raise AlreadyExistsError(f"you already have a class named {name!r}; choose another")
        for n in range(1, 10_000):
            candidate = f"{name[:180]} (fork{'' if n == 1 else f' {n}'})"
            if candidate not in taken:
                return candidate
        raise AlreadyExistsError(f"you have too many forks named {name!r}; give a name")

    @staticmethod
    def _copy_contents(s: Session, source: int, target: int) -> None:
        latest = (
            select(func.max(LabelRow.label_id))
            .where(LabelRow.class_id == source)
            .group_by(LabelRow.item_id)
        )
        labels = [
            {
                "class_id": target,
                "item_id": r.item_id,
                "value": r.value,
                "user_id": r.user_id,
                "created_at": r.created_at,
            }
            for r in s.scalars(
                select(LabelRow)
                .where(LabelRow.label_id.in_(latest), LabelRow.value != UNLABELLED)
                .order_by(LabelRow.label_id)
            )
        ]
        if labels:
            s.execute(insert(LabelRow), labels)
        examples = [
            {"class_id": target, "source": e.source, "vector": e.vector, "created_at": e.created_at}
            for e in s.scalars(
                select(ExampleRow)
                .where(ExampleRow.class_id == source)
                .order_by(ExampleRow.example_id)
            )
        ]
        if examples:
            s.execute(insert(ExampleRow), examples)
        versions = list(
            s.scalars(
                select(ClassVersionRow)
                .where(ClassVersionRow.class_id == source)
                .order_by(ClassVersionRow.version)
            )
        )
        if not versions:
            return
        # The spot checks of every version, so the copied marks still estimate precision.
        verdicts: dict[str, object] = {}
        for v in versions:
            check = json.loads(v.params).get("spot_check")
            if isinstance(check, dict):
                verdicts.update(check)
        last = versions[-1]
        params = {k: v for k, v in json.loads(last.params).items() if k != "cv_events"}
        if verdicts:
            params["spot_check"] = verdicts
        params["forked_from"] = {"class_id": source, "version": last.version}
        s.add(
            ClassVersionRow(
                class_id=target,
                version=1,
                created_at=last.created_at,
                n_pos=last.n_pos,
                n_neg=last.n_neg,
                n_weak=last.n_weak,
                cv_score=last.cv_score,
                weights=last.weights,
                bias=last.bias,
                params=json.dumps(params),
                created_by=last.created_by,
            )
        )
