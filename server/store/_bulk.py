"""Bulk writes straight to the driver: ``executemany`` on SQLite, COPY on PostgreSQL.

A routed batch of 1,000 orders writes about 8,000 rows. Core ``insert()`` in executemany form costs
SQLAlchemy a dict and a parameter-construction pass per row, which measured several times the
database's own time. Here each row is a tuple, each column's bind processor (UTC datetimes, JSON,
booleans: the same conversions the Core path applies) runs once per value, and the statement text
is built once per table and backend.

On PostgreSQL the rows go through COPY instead (see :func:`_copy`).

The routing path goes one step further (:func:`insert_prepared`): it hands over rows whose values
are already in the driver's form, converting each *distinct* datetime once (:func:`binder`; a
batch's rows share a handful of timestamps) and encoding JSON itself (``_codec.json_text``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

import psycopg  # the store's only PostgreSQL driver (COPY below)
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect

__all__ = ["binder", "insert_dicts", "insert_prepared", "insert_rows"]

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


def _memoised(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``process`` remembering its answer per distinct value (keyed with the value's type, so
    ``True`` and ``1`` never share an answer; unhashable values are simply processed)."""
    memo: dict[tuple[type, Any], Any] = {}

    def bind(value: Any) -> Any:
        key = (type(value), value)
        try:
            return memo[key]
        except KeyError:
            out = memo[key] = process(value)
            return out
        except TypeError:
            return process(value)

    return bind


def binder(dialect: Dialect, column: sa.Column[Any]) -> Callable[[Any], Any]:
    """The driver form of values of ``column``, memoised per distinct value (so use one binder
    per batch: the memo lives as long as the returned function). The conversion is the column
    type's own bind processor, exactly what Core would apply."""
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    if process is None:
        return lambda value: value
    return _memoised(process)


@lru_cache(maxsize=256)
def _copy_statement(dialect: Dialect, table: sa.Table, columns: tuple[str, ...]) -> str:
    prepare = dialect.identifier_preparer
    names = ", ".join(prepare.quote(c) for c in columns)
    return f"COPY {prepare.format_table(table)} ({names}) FROM STDIN"


def _copy(conn: Connection, statement: str, rows: Sequence[Sequence[Any]]) -> None:
    """PostgreSQL: stream ``rows`` through COPY on the connection's own transaction.

    psycopg's executemany pays a pipeline round of Python work per row (measured: about 4x the
    CPU of COPY for the same rows). Column defaults apply as with INSERT. A failure is raised as
    SQLAlchemy's ``DBAPIError`` (``IntegrityError`` for a duplicate key...), as the executemany
    path would raise it, so the store's retry logic sees the same exception and SQLSTATE.
    """
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]  # open: a connection inside a transaction
    try:
        with cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
    except psycopg.Error as exc:
        raise sa.exc.DBAPIError.instance(
            statement, None, exc, psycopg.Error, dialect=conn.dialect
        ) from exc
    finally:
        cursor.close()


def _write(
    conn: Connection, table: sa.Table, columns: tuple[str, ...], rows: Sequence[Sequence[Any]]
) -> None:
    if conn.dialect.name == "postgresql":
        _copy(conn, _copy_statement(conn.dialect, table, columns), rows)
    else:
        conn.exec_driver_sql(_statement(conn.dialect, table, columns), list(rows))


def insert_prepared(
    conn: Connection, table: sa.Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """INSERT ``rows`` whose values are already in the driver's form (see :func:`binder`), with
    no per-value Python work: one executemany on SQLite, one COPY on PostgreSQL."""
    if rows:
        _write(conn, table, tuple(columns), rows)


def insert_rows(
    conn: Connection, table: sa.Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """INSERT ``rows`` (tuples in ``columns`` order): one executemany on SQLite, one COPY on
    PostgreSQL."""
    if not rows:
        return
    key = tuple(columns)
    processors = _processors(conn.dialect, table, key)
    if any(p is not None for p in processors):
        # Scalar columns (datetimes above all: a batch's rows share a few timestamps) convert each
        # distinct value once; JSON values are unhashable and go through their processor.
        # Column-wise: one C-level map per converted column instead of a generator per row.
        columns_of = [list(values) for values in zip(*rows, strict=True)]
        for i, (c, p) in enumerate(zip(key, processors, strict=True)):
            if p is not None:
                convert = p if isinstance(table.c[c].type, sa.JSON) else _memoised(p)
                columns_of[i] = list(map(convert, columns_of[i]))
        rows = list(zip(*columns_of, strict=True))
    _write(conn, table, key, rows)


def insert_dicts(conn: Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """:func:`insert_rows` for rows given as dicts, all with the same keys."""
    if not rows:
        return
    columns = tuple(rows[0])
    insert_rows(conn, table, columns, [tuple(row[c] for c in columns) for row in rows])
