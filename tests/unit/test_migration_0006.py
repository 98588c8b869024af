"""Migration 0006 (imported files' url and caption) upgrades a 0005 catalog in place, keeps its
rows, and downgrades."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command

from furet.catalog.database import alembic_config, make_engine


def _columns(engine: sa.Engine) -> set[str]:
    return {c["name"] for c in sa.inspect(engine).get_columns("files")}


def _run(engine: sa.Engine, fn: str, target: str) -> None:
    with engine.begin() as conn:
        cfg = alembic_config(str(engine.url))
        cfg.attributes["connection"] = conn
        getattr(command, fn)(cfg, target)


def test_0006_adds_and_removes_url_and_caption(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
    _run(engine, "upgrade", "0005")
    assert not {"url", "caption"} & _columns(engine)
    with engine.begin() as c:
        c.execute(
            sa.text(
                "INSERT INTO collections (name, model, created_at) "
                "VALUES ('c', 'lite0', '2026-01-01')"
            )
        )
        c.execute(
            sa.text(
                "INSERT INTO files (collection_id, path, size, mtime_ns, status) "
                "VALUES (1, '/a.jpg', 1, 1, 'ok')"
            )
        )
    _run(engine, "upgrade", "head")
    assert {"url", "caption"} <= _columns(engine)
    with engine.connect() as c:
        assert c.execute(sa.text("SELECT path, url FROM files")).all() == [("/a.jpg", None)]
    _run(engine, "downgrade", "0005")
    assert not {"url", "caption"} & _columns(engine)
    with engine.connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM files")).scalar() == 1
