"""Engine creation and schema migration (Alembic, from the first table)."""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

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


def private_dir(path: Path) -> None:
    """Create the data home ``path`` as 0700, or make an existing one of ours so."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(PermissionError):
        if path.stat().st_mode & 0o077 and path.stat().st_uid == os.getuid():
            os.chmod(path, 0o700)


def private_file(path: Path) -> None:
    """Create ``path`` readable and writable by its owner only (0600), or make it so.

    The catalog holds password and key hashes; SQLite gives its ``-wal`` and ``-shm`` files the
    mode of the database file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(FileNotFoundError, PermissionError):
            if p.stat().st_mode & 0o077:
                os.chmod(p, 0o600)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        private_file(Path(url.removeprefix("sqlite:///")))
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


T = TypeVar("T")


class PerEngine(Generic[T]):
    """One ``factory(engine)`` per engine in this process, made on first use (weakly keyed:
    it goes with its engine). Call it with an engine to get that engine's object."""

    def __init__(self, factory: Callable[[Engine], T]):
        self._factory = factory
        self._made: weakref.WeakKeyDictionary[Engine, T] = weakref.WeakKeyDictionary()
        self._guard = threading.Lock()

    def __call__(self, engine: Engine) -> T:
        with self._guard:
            made = self._made.get(engine)
            if made is None:
                made = self._made[engine] = self._factory(engine)
            return made
