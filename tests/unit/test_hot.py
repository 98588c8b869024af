"""Hot statements: SQLite's own cursor and SQLAlchemy's path agree and share transactions."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, text

from furet.catalog.database import engine_of, open_catalog
from furet.catalog.hot import HotStatement, hot_execute_many, hot_rows

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


def test_dates_are_stored_as_sqlalchemy_stores_them(tmp_path: Path) -> None:
    engine = _catalog(tmp_path)
    insert = HotStatement("INSERT INTO stamps (n, at) VALUES (:n, :at)", dates=("at",))
    at = datetime(2026, 11, 30, 9, 1, 2, 345, tzinfo=UTC)
    with engine.begin() as c:
        c.execute(text("CREATE TABLE stamps (n INTEGER, at DATETIME)"))
        hot_execute_many(c, insert, [{"n": 1, "at": at}, {"n": 2, "at": at}])
        hot_execute_many(c, insert, [{"n": 3, "at": at}], raw=False)
    with engine.connect() as c:
        stored = c.execute(text("SELECT n, at FROM stamps ORDER BY n")).all()
    assert [tuple(r) for r in stored] == [(n, "2026-11-30 09:01:02.000345") for n in (1, 2, 3)]


def test_lists_expand_on_both_paths(tmp_path: Path) -> None:
    engine = _catalog(tmp_path)
    pick = HotStatement(
        "SELECT name FROM counters WHERE name IN :names ORDER BY name", expanding=("names",)
    )
    with engine.connect() as c:
        for names, expected in ((["t2", "t1", "x"], [("t1",), ("t2",)]), ([], [])):
            assert hot_rows(c, pick, {"names": names}) == expected
            assert hot_rows(c, pick, {"names": names}, raw=False) == expected
