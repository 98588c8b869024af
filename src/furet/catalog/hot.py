"""The few constant statements that every API request runs, on SQLite's own cursor.

SQLAlchemy's execution context (compiled-cache lookup, parameter processing, result metadata,
row objects) costs ~45 us a statement on this machine, against ~3 us for SQLite itself, and
two to three times that under a server's load; a mark and a round run about ten statements.
On SQLite these statements go straight to the DBAPI cursor of the same pooled connection (so
they join its transaction); other databases run them through SQLAlchemy as before.

Parameters and results are integers, floats, strings, bytes or NULL, plus dates given as
``dates`` (written in SQLAlchemy's own SQLite text format, so that both paths store the same)
and lists given as ``expanding`` (``IN :ids``).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, DateTime, TextClause, bindparam, text

#: How SQLAlchemy stores a ``DateTime`` in SQLite (UTC, the zone dropped).
_SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"


@dataclass(frozen=True)
class HotStatement:
    """SQL with named parameters (``:name``), valid in SQLite and in SQLAlchemy's ``text``.

    ``dates``: parameters given as (UTC) datetimes. ``expanding``: parameters given as lists,
    written ``IN :name``.
    """

    sql: str
    dates: tuple[str, ...] = ()
    expanding: tuple[str, ...] = ()
    clause: TextClause = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        binds = [bindparam(n, type_=DateTime(timezone=True)) for n in self.dates]
        binds += [bindparam(n, expanding=True) for n in self.expanding]
        object.__setattr__(self, "clause", text(self.sql).bindparams(*binds))

    def sqlite(self, params: Mapping[str, object]) -> tuple[str, dict[str, object]]:
        """The SQL and parameters for SQLite's cursor."""
        sql, out = self.sql, dict(params)
        for name in self.dates:
            value = out[name]
            if isinstance(value, datetime):
                out[name] = value.strftime(_SQLITE_DATETIME)
        for name in self.expanding:
            values = list(out.pop(name))  # type: ignore[call-overload]
            names = [f"{name}_{i}" for i in range(len(values))]
            out.update(zip(names, values, strict=True))
            marks = ", ".join(f":{n}" for n in names) or "NULL"  # IN (NULL): no row
            sql = re.sub(rf":{name}\b", f"({marks})", sql)
        return sql, out


def _sqlite_cursor(c: Connection, raw: bool) -> contextlib.closing[Any] | None:
    """SQLite's own cursor on ``c``'s connection (closed on exit); None on other databases or
    when ``raw`` is false."""
    if not raw or c.dialect.name != "sqlite":
        return None
    return contextlib.closing(c.connection.driver_connection.cursor())  # type: ignore[union-attr]


def hot_rows(
    c: Connection, statement: HotStatement, params: Mapping[str, object], *, raw: bool = True
) -> list[tuple[Any, ...]]:
    """Every row of ``statement`` as plain tuples of database values. ``raw=False`` forces
    SQLAlchemy's path (the one other databases take), for the tests that compare both."""
    own = _sqlite_cursor(c, raw)
    if own is not None:
        with own as cursor:
            cursor.execute(*statement.sqlite(params))
            return list(cursor.fetchall())
    return [tuple(row) for row in c.execute(statement.clause, dict(params))]


def hot_execute_many(
    c: Connection,
    statement: HotStatement,
    rows: Sequence[Mapping[str, object]],
    *,
    raw: bool = True,
) -> None:
    """``statement`` once per parameter set of ``rows`` (no ``expanding`` parameters)."""
    if not rows:
        return
    own = _sqlite_cursor(c, raw)
    if own is not None:
        with own as cursor:
            cursor.executemany(statement.sql, [statement.sqlite(r)[1] for r in rows])
        return
    c.execute(statement.clause, [dict(r) for r in rows])
