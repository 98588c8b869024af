"""Catalog operations on users, classes, labels (append-only), examples and class versions."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import numpy as np
from sqlalchemy import Connection, DateTime, Engine, delete, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from furet.catalog.acl_cache import BUMP_ACL, acl_cache
from furet.catalog.database import engine_of
from furet.catalog.group_commit import group_commit
from furet.catalog.hot import HotStatement, hot_execute_many, hot_rows
from furet.catalog.schema import (
    ClassRow,
    ClassVersionRow,
    ExampleRow,
    LabelRow,
    UserRow,
    utcnow,
)
from furet.errors import AlreadyExistsError, FuretError, InvalidInputError, NotFoundError

T = TypeVar("T")

POSITIVE, NEGATIVE, UNLABELLED = 1, -1, 0


@dataclass(frozen=True)
class Label:
    item_id: int
    value: int
    user_id: int
    created_at: datetime


@dataclass(frozen=True)
class ClassVersion:
    class_id: int
    version: int
    created_at: datetime
    n_pos: int
    n_neg: int
    n_weak: int
    cv_score: float | None
    weights: np.ndarray  # (dim,) float32
    bias: float
    params: dict[str, object]
    #: The user whose round trained it (None: made before versions recorded it).
    created_by: int | None = None


def foreign_key_failed(exc: Exception) -> bool:
    """Whether ``exc`` says a row refers to one that is gone (a class deleted meanwhile): no
    retry can help. SQLite's own cursor (``hot``) raises the driver's error, not SQLAlchemy's."""
    return isinstance(exc, IntegrityError | sqlite3.IntegrityError) and (
        "foreign key" in str(exc).lower()
    )


def retry_busy(fn: Callable[[], T], attempts: int = 20) -> T:
    """Run a read-then-write transaction again when a concurrent writer won the race."""
    for attempt in range(attempts):
        try:
            return fn()
        except (OperationalError, IntegrityError) as exc:
            busy = isinstance(exc, IntegrityError) and not foreign_key_failed(exc)
            busy = busy or "locked" in str(exc)
            if not busy or attempt == attempts - 1:
                raise
            time.sleep(0.01 * (attempt + 1))
    raise FuretError("the catalog stayed busy; try again")  # pragma: no cover


@dataclass(frozen=True)
class RoundState:
    """What a round reads about its class, in one catalog round trip."""

    labels: dict[int, int]  # item_id -> +1 | -1
    examples: np.ndarray  # (m, dim) float32 non-item positives
    trained: bool  # a version exists already
    label_events: int = 0  # label rows ever written for the class (marks, changes, unmarks)
    latest_cv: float | None = None  # the latest version's cross-validated score
    latest_cv_events: int | None = None  # label_events when that score was computed


# Hot statements as constant SQL: built and compiled once, not per call (a select() built per
# call costs ~1 ms of Python; these run on every label and round request).
_CURRENT_LABELS = HotStatement(
    "SELECT item_id, value FROM labels WHERE label_id IN "
    "(SELECT max(label_id) FROM labels WHERE class_id = :c GROUP BY item_id)"
)
_CLASS_BY_ID = text(
    "SELECT class_id, owner_id, collection_id, name, space, visibility, created_at, "
    "public_right, origin_class_id, origin FROM classes WHERE class_id = :c"
).columns(created_at=DateTime(timezone=True))
_EXAMPLE_VECTORS = text("SELECT vector FROM class_examples WHERE class_id = :c")
_CLASS_EXISTS = text("SELECT 1 FROM classes WHERE class_id = :c")
_VERSION_COUNT = text("SELECT count(*) FROM class_versions WHERE class_id = :c")
_LATEST = "FROM class_versions WHERE class_id = :c ORDER BY version DESC LIMIT 1"
#: What a round needs besides the labels, in one row: label events, examples, latest version,
#: and whether the class still exists (read after its labels: none of a deleted class).
_ROUND_SUMMARY = HotStatement(
    "SELECT (SELECT count(*) FROM classes WHERE class_id = :c), "
    "(SELECT count(*) FROM labels WHERE class_id = :c), "
    "(SELECT count(*) FROM class_examples WHERE class_id = :c), "
    f"(SELECT version {_LATEST}), (SELECT cv_score {_LATEST}), (SELECT params {_LATEST})"
)
_INSERT_LABEL = HotStatement(
    "INSERT INTO labels (class_id, item_id, value, user_id, created_at) "
    "VALUES (:class_id, :item_id, :value, :user_id, :created_at)",
    dates=("created_at",),
)
# The next number is read by the insert itself, under the database's write lock.
_INSERT_VERSION = HotStatement(
    "INSERT INTO class_versions "
    "(class_id, version, created_at, n_pos, n_neg, n_weak, cv_score, weights, bias, params, "
    "created_by) "
    "SELECT :c, coalesce(max(version), 0) + 1, :created_at, :n_pos, :n_neg, :n_weak, :cv, "
    ":weights, :bias, :params, :by FROM class_versions WHERE class_id = :c RETURNING version",
    dates=("created_at",),
)


def _current_labels(c: Connection, class_id: int) -> dict[int, int]:
    """``item_id -> +1 | -1``: the latest label of each item, removed ones omitted."""
    rows = hot_rows(c, _CURRENT_LABELS, {"c": class_id})
    return {int(i): int(v) for i, v in rows if v != UNLABELLED}


def _deleted(class_id: int) -> NotFoundError:
    return NotFoundError(f"class {class_id} was deleted; list your classes to pick another")


def _stack_vectors(blobs: list[bytes], dim: int) -> np.ndarray:
    """``(m, dim) float32`` from stored float32 vectors (``(0, dim)`` for none)."""
    if not blobs:
        return np.zeros((0, dim), np.float32)
    return np.stack([np.frombuffer(b, np.float32) for b in blobs])


class ClassCatalog:
    """Hot paths (labels, rounds) use Core statements on a pooled connection: the ORM's unit of
    work costs ~1 ms a statement, which a server doing rounds for many users pays many times."""

    def __init__(self, sessions: sessionmaker[Session]):
        self.sessions = sessions
        self.engine: Engine = engine_of(sessions)
        self.acl = acl_cache(self.engine)

    # -- users -------------------------------------------------------------------------------

    def ensure_user(self, name: str) -> int:
        def run() -> int:
            with self.sessions.begin() as s:
                uid = s.scalar(select(UserRow.user_id).where(UserRow.name == name))
                if uid is None:
                    row = UserRow(name=name, created_at=utcnow())
                    s.add(row)
                    s.flush()
                    uid = row.user_id
                return int(uid)

        return retry_busy(run)

    # -- classes -----------------------------------------------------------------------------

    def create_class(self, owner_id: int, collection_id: int, name: str, space: str) -> ClassRow:
        if not name.strip() or len(name) > 200:
            raise InvalidInputError("a class name must be 1 to 200 characters")
        with self.sessions.begin() as s:
            exists = s.scalar(
                select(ClassRow).where(ClassRow.owner_id == owner_id, ClassRow.name == name)
            )
            if exists is not None:
                raise AlreadyExistsError(f"you already have a class named {name!r}")
            row = ClassRow(
                owner_id=owner_id,
                collection_id=collection_id,
                name=name,
                space=space,
                visibility="private",
                created_at=utcnow(),
            )
            s.add(row)
            s.flush()
            return row

    def get_class(self, owner_id: int, name: str) -> ClassRow:
        with self.sessions() as s:
            row = s.scalar(
                select(ClassRow).where(ClassRow.owner_id == owner_id, ClassRow.name == name)
            )
        if row is None:
            raise NotFoundError(
                f"you have no class named {name!r}; list yours with: furet class list"
            )
        return row

    def get_class_by_id(self, class_id: int) -> ClassRow:
        """Every class route asks this: from the process's cache (see ``acl_cache``), else one
        constant statement. The row is shared: do not modify it."""
        cached = self.acl.get(("class", class_id))
        if isinstance(cached, ClassRow):
            return cached
        epoch = self.acl.epoch
        with self.engine.connect() as c:
            found = c.execute(_CLASS_BY_ID, {"c": class_id}).first()
        if found is None:
            raise NotFoundError(f"no class {class_id}")
        row = ClassRow(**found._mapping)
        self.acl.put(("class", class_id), row, epoch)
        return row

    def list_classes(self, owner_id: int | None = None) -> list[ClassRow]:
        q = select(ClassRow).order_by(ClassRow.name)
        if owner_id is not None:
            q = q.where(ClassRow.owner_id == owner_id)
        with self.sessions() as s:
            return list(s.scalars(q))

    def delete_class(self, class_id: int) -> None:
        """Delete the class with its labels, examples and versions (the database cascades);
        a class already gone, perhaps by a concurrent delete, is 'not found'."""
        with self.sessions.begin() as s:
            result = s.execute(delete(ClassRow).where(ClassRow.class_id == class_id))
            if not result.rowcount:  # type: ignore[attr-defined]
                raise _deleted(class_id)
            s.execute(BUMP_ACL)
        self.acl.flush()

    def class_exists(self, class_id: int) -> bool:
        with self.engine.connect() as c:
            return c.execute(_CLASS_EXISTS, {"c": class_id}).first() is not None

    def _write_to_class(self, class_id: int, write: Callable[[Connection], T]) -> T:
        """``write`` committed (grouped with concurrent writes); when the class was deleted
        meanwhile its rows cannot refer to it: 'not found', as if the delete came first."""
        try:
            return retry_busy(lambda: group_commit(self.engine).run(write))
        except (IntegrityError, sqlite3.IntegrityError) as exc:
            if foreign_key_failed(exc) and not self.class_exists(class_id):
                raise _deleted(class_id) from None
            raise

    def rename_class(self, class_id: int, name: str) -> ClassRow:
        """Give the class a new name, unique among its owner's classes."""
        if not name.strip() or len(name) > 200:
            raise InvalidInputError("a class name must be 1 to 200 characters")
        with self.sessions.begin() as s:
            row = s.get(ClassRow, class_id)
            if row is None:
                raise NotFoundError(f"no class {class_id}")
            if row.name != name:
                taken = s.scalar(
                    select(ClassRow.class_id).where(
                        ClassRow.owner_id == row.owner_id, ClassRow.name == name
                    )
                )
                if taken is not None:
                    # The owner's names are unique: an administrator renaming another user's
                    # class meets that user's names, which the message says.
                    raise AlreadyExistsError(
                        f"the owner of class {class_id} already has a class named {name!r}; "
                        "choose another name"
                    )
                row.name = name
                s.execute(BUMP_ACL)  # the cached class rows carry the name
            s.flush()
            s.expunge(row)
        self.acl.flush()
        return row

    # -- labels ------------------------------------------------------------------------------

    def add_labels(self, class_id: int, user_id: int, values: Iterable[tuple[int, int]]) -> int:
        """Append labels ``(item_id, value)`` with value +1, -1 or 0 (remove); returns count."""
        rows = [
            LabelRow(
                class_id=class_id,
                item_id=int(i),
                value=int(v),
                user_id=user_id,
                created_at=utcnow(),
            )
            for i, v in values
        ]
        for r in rows:
            if r.value not in (POSITIVE, NEGATIVE, UNLABELLED):
                raise InvalidInputError(f"label value must be +1, -1 or 0, got {r.value}")

        records = [
            {
                "class_id": r.class_id,
                "item_id": r.item_id,
                "value": r.value,
                "user_id": r.user_id,
                "created_at": r.created_at,
            }
            for r in rows
        ]

        def write(c: Connection) -> int:
            hot_execute_many(c, _INSERT_LABEL, records)
            return len(rows)

        return self._write_to_class(class_id, write)

    def current_labels(self, class_id: int) -> dict[int, int]:
        """``item_id -> +1 | -1`` from the latest label row of each item (removed ones omitted)."""
        with self.engine.connect() as c:
            return _current_labels(c, class_id)

    def round_state(self, class_id: int, dim: int) -> RoundState:
        """Current labels, external examples and the latest version's cross-validation, in
        one connection."""
        with self.engine.connect() as c:
            labels = _current_labels(c, class_id)
            ((exists, events, n_examples, latest, cv, params),) = hot_rows(
                c, _ROUND_SUMMARY, {"c": class_id}
            )
            if not exists:
                raise _deleted(class_id)
            blobs = list(c.scalars(_EXAMPLE_VECTORS, {"c": class_id})) if n_examples else []
        cv_events = None
        if cv is not None:
            cv_events = json.loads(params or "{}").get("cv_events")
        return RoundState(
            labels,
            _stack_vectors(blobs, dim),
            trained=latest is not None,
            label_events=int(events or 0),
            latest_cv=cv,
            latest_cv_events=cv_events if isinstance(cv_events, int) else None,
        )

    def label_history(self, class_id: int) -> list[Label]:
        with self.sessions() as s:
            rows = s.scalars(
                select(LabelRow).where(LabelRow.class_id == class_id).order_by(LabelRow.label_id)
            )
            return [Label(r.item_id, r.value, r.user_id, r.created_at) for r in rows]

    # -- examples ----------------------------------------------------------------------------

    def add_example(self, class_id: int, source: str, vector: np.ndarray) -> None:
        try:
            with self.sessions.begin() as s:
                s.add(
                    ExampleRow(
                        class_id=class_id,
                        source=source,
                        vector=np.asarray(vector, np.float32).tobytes(),
                        created_at=utcnow(),
                    )
                )
        except IntegrityError as exc:
            if foreign_key_failed(exc) and not self.class_exists(class_id):
                raise _deleted(class_id) from None
            raise

    def examples(self, class_id: int, dim: int) -> tuple[list[str], np.ndarray]:
        """Sources and ``(m, dim) float32`` vectors of the class's non-item positives."""
        with self.sessions() as s:
            rows = list(s.scalars(select(ExampleRow).where(ExampleRow.class_id == class_id)))
        return [r.source for r in rows], _stack_vectors([r.vector for r in rows], dim)

    # -- versions ----------------------------------------------------------------------------

    def save_version(
        self,
        class_id: int,
        *,
        n_pos: int,
        n_neg: int,
        n_weak: int,
        cv_score: float | None,
        weights: np.ndarray,
        bias: float,
        params: dict[str, object],
        created_by: int | None = None,
    ) -> int:
        """Append the class's next version; ``created_by``: the user whose round trained it."""
        params_row = {
            "c": class_id,
            "created_at": utcnow(),
            "n_pos": n_pos,
            "n_neg": n_neg,
            "n_weak": n_weak,
            "cv": cv_score,
            "weights": np.asarray(weights, np.float32).tobytes(),
            "bias": float(bias),
            "params": json.dumps(params),
            "by": created_by,
        }

        def write(c: Connection) -> int:
            ((version,),) = hot_rows(c, _INSERT_VERSION, params_row)
            return int(version)

        return self._write_to_class(class_id, write)

    def versions(self, class_id: int, with_weights: bool = False) -> list[ClassVersion]:
        with self.sessions() as s:
            rows = list(
                s.scalars(
                    select(ClassVersionRow)
                    .where(ClassVersionRow.class_id == class_id)
                    .order_by(ClassVersionRow.version)
                )
            )
        return [_version(r, with_weights) for r in rows]

    def version_count(self, class_id: int) -> int:
        with self.engine.connect() as c:
            return int(c.execute(_VERSION_COUNT, {"c": class_id}).scalar_one())

    def latest_version(self, class_id: int) -> ClassVersion | None:
        with self.sessions() as s:
            row = s.scalar(
                select(ClassVersionRow)
                .where(ClassVersionRow.class_id == class_id)
                .order_by(ClassVersionRow.version.desc())
                .limit(1)
            )
        return _version(row, True) if row is not None else None


def _version(r: ClassVersionRow, with_weights: bool) -> ClassVersion:
    w = np.frombuffer(r.weights, np.float32) if with_weights else np.zeros(0, np.float32)
    return ClassVersion(
        r.class_id,
        r.version,
        r.created_at,
        r.n_pos,
        r.n_neg,
        r.n_weak,
        r.cv_score,
        w,
        r.bias,
        json.loads(r.params),
        r.created_by,
    )
