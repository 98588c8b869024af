"""Engine creation and schema migration (Alembic, from the first table)."""

from __future__ import annotations

import contextlib
import threading
import weakref
from contextlib import AbstractContextManager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"
#: Connections kept open per engine.
POOL_SIZE = 48


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    # WAL lets readers (the web server) proceed while an ingestion writes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        # A server runs up to ~40 requests at once (the thread pool); a smaller pool would make
        # them queue for connections, or churn overflow connections (each one re-runs pragmas).
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=POOL_SIZE,
            max_overflow=POOL_SIZE,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def upgrade(engine: Engine) -> None:
    """Bring the schema to the latest revision (idempotent)."""
    with engine.begin() as conn:
        cfg = alembic_config(str(engine.url))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def open_catalog(url: str) -> sessionmaker[Session]:
    engine = make_engine(url)
    upgrade(engine)
    return sessionmaker(engine, expire_on_commit=False)


def engine_of(sessions: sessionmaker[Session]) -> Engine:
    """The engine a session factory is bound to."""
    engine = sessions.kw["bind"]
    assert isinstance(engine, Engine)
    return engine


_write_locks: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_write_locks_guard = threading.Lock()


def write_lock(engine: Engine) -> AbstractContextManager[object]:
    """A process-wide lock for short write transactions on a SQLite ``engine``.

    Take the connection first, then this lock, then begin: ``with engine.connect() as c,
    write_lock(engine), c.begin():`` (a writer never holds the lock while waiting for the pool).

    SQLite has one writer at a time; threads of one process that queue on this lock are served
    in turn, instead of sleeping in SQLite's busy handler (1, 2, 5, 10... ms back-off) or
    failing a read-then-write upgrade. Other processes still meet SQLite's own locking.
    Other databases lock rows themselves: no lock there.
    """
    if engine.dialect.name != "sqlite":
        return contextlib.nullcontext()
    with _write_locks_guard:
        lock = _write_locks.get(engine)
        if lock is None:
            lock = _write_locks[engine] = threading.Lock()
        return lock
