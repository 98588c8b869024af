"""The few constant statements that every API request runs, on SQLite's own cursor.

SQLAlchemy's execution context (compiled-cache lookup, parameter processing, result metadata,
row objects) costs ~45 us a statement on this machine, against ~3 us for SQLite itself, and
two to three times that under a server's load; a mark and a round run about ten statements.
On SQLite these statements go straight to the DBAPI cursor of the same pooled connection (so
they join its transaction); other databases run them through SQLAlchemy as before.

Only for statements whose parameters and results are integers, floats, strings, bytes or NULL:
SQLAlchemy stores dates in SQLite in its own text format, which the raw cursor would not use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, TextClause, text


@dataclass(frozen=True)
class HotStatement:
    """SQL with named parameters (``:name``), valid in SQLite and in SQLAlchemy's ``text``."""

    sql: str
    clause: TextClause = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "clause", text(self.sql))


def hot_rows(
    c: Connection, statement: HotStatement, params: Mapping[str, object], *, raw: bool = True
) -> list[tuple[Any, ...]]:
    """Every row of ``statement`` as plain tuples of database values. ``raw=False`` forces
    SQLAlchemy's path (the one other databases take), for the tests that compare both."""
    if raw and c.dialect.name == "sqlite":
        cursor = c.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(statement.sql, dict(params))
            return list(cursor.fetchall())
        finally:
            cursor.close()
    return [tuple(row) for row in c.execute(statement.clause, dict(params))]
