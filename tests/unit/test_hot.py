"""Hot statements: SQLite's own cursor and SQLAlchemy's path agree and share transactions."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, text

from furet.catalog.database import engine_of, open_catalog
from furet.catalog.hot import HotStatement, hot_rows

READ = HotStatement("SELECT name, value, :x FROM counters WHERE name LIKE :n ORDER BY name")
BUMP = HotStatement("UPDATE counters SET value = value + 1 WHERE name = :n RETURNING value")


def _catalog(tmp_path: Path) -> Engine:
    engine = engine_of(open_catalog(f"sqlite:///{tmp_path / 'catalog.sqlite3'}"))
    with engine.begin() as c:
        c.execute(text("INSERT INTO counters (name, value) VALUES ('t1', 41), ('t2', 7)"))
    return engine


def test_both_paths_return_the_same_rows(tmp_path: Path) -> None:
    engine = _catalog(tmp_path)
    with engine.connect() as c:
        params = {"n": "t%", "x": 1.5}
        raw = hot_rows(c, READ, params)
        assert raw == hot_rows(c, READ, params, raw=False) == [("t1", 41, 1.5), ("t2", 7, 1.5)]
        assert hot_rows(c, READ, {"n": "none", "x": None}) == []


def test_a_raw_write_joins_the_connections_transaction(tmp_path: Path) -> None:
    engine = _catalog(tmp_path)
    with engine.connect() as c:
        with c.begin() as tx:
            assert hot_rows(c, BUMP, {"n": "t1"}) == [(42,)]
            tx.rollback()
        assert hot_rows(c, READ, {"n": "t1", "x": 0})[0][1] == 41
        with c.begin():
            assert hot_rows(c, BUMP, {"n": "t1"}) == [(42,)]
    with engine.connect() as c:  # committed: another connection sees it
        assert hot_rows(c, READ, {"n": "t1", "x": 0}, raw=False)[0][1] == 42
