"""Bulk writes straight to the driver's ``executemany``.

A routed batch of 1,000 orders writes about 8,000 rows. Core ``insert()`` in executemany form costs
SQLAlchemy a dict and a parameter-construction pass per row, which measured several times the
database's own time. Here each row is a tuple, each column's bind processor (UTC datetimes, JSON,
booleans: the same conversions the Core path applies) runs once per value, and the statement text
is built once per table and backend.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect

__all__ = ["insert_dicts", "insert_rows"]

Processor = Callable[[Any], Any] | None


@lru_cache(maxsize=256)
def _statement(dialect: Dialect, table: sa.Table, columns: tuple[str, ...]) -> str:
    prepare = dialect.identifier_preparer
    marker = "?" if dialect.paramstyle == "qmark" else "%s"
    names = ", ".join(prepare.quote(c) for c in columns)
    values = ", ".join([marker] * len(columns))
    return f"INSERT INTO {prepare.format_table(table)} ({names}) VALUES ({values})"


@lru_cache(maxsize=256)
def _processors(
    dialect: Dialect, table: sa.Table, columns: tuple[str, ...]
) -> tuple[Processor, ...]:
    return tuple(table.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in columns)


def insert_rows(
    conn: Connection, table: sa.Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """INSERT ``rows`` (tuples in ``columns`` order) with one driver-level executemany."""
    if not rows:
        return
    key = tuple(columns)
    processors = _processors(conn.dialect, table, key)
    if any(p is not None for p in processors):
        rows = [
            tuple(v if p is None else p(v) for p, v in zip(processors, row, strict=True))
            for row in rows
        ]
    conn.exec_driver_sql(_statement(conn.dialect, table, key), list(rows))


def insert_dicts(conn: Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """:func:`insert_rows` for rows given as dicts, all with the same keys."""
    if not rows:
        return
    columns = tuple(rows[0])
    insert_rows(conn, table, columns, [tuple(row[c] for c in columns) for row in rows])
