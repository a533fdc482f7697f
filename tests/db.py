"""Real databases for tests: a SQLite file, or a fresh PostgreSQL schema per test.

Reuse from any test package::

    from tests.db import db_url  # noqa: F401  (a pytest fixture, parametrised over both backends)

    def test_something(db_url: str) -> None:
        store = Store.open(db_url)

PostgreSQL runs when ``SORTYARD_TEST_PG_URL`` is set (e.g.
``postgresql+psycopg://postgres@127.0.0.1:5432/test``) and is skipped with a reason otherwise;
with ``SORTYARD_REQUIRE_PG=1`` (CI) an unset or unreachable server fails the test instead. Each test
gets its own schema (``t_<random>``, selected through the connection's ``search_path``), dropped
afterwards, so tests can run side by side on one database.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

__all__ = [
    "BACKENDS",
    "PG_URL_ENV",
    "REQUIRE_PG_ENV",
    "database_url",
    "database_urls",
    "db_url",
]

PG_URL_ENV = "SORTYARD_TEST_PG_URL"
REQUIRE_PG_ENV = "SORTYARD_REQUIRE_PG"
SKIP_REASON = "set SORTYARD_TEST_PG_URL to run PostgreSQL tests"

#: Backend names, PostgreSQL marked ``postgres`` (select or deselect with ``-m``).
BACKENDS = ("sqlite", pytest.param("postgresql", marks=pytest.mark.postgres))


def database_urls() -> list[object]:
    """Parameters for ``pytest.mark.parametrize("backend", database_urls())``."""
    return list(BACKENDS)


def _pg_base_url() -> str:
    url = os.environ.get(PG_URL_ENV, "")
    if not url:
        if os.environ.get(REQUIRE_PG_ENV) == "1":
            pytest.fail(f"{REQUIRE_PG_ENV}=1 but {PG_URL_ENV} is not set")
        pytest.skip(SKIP_REASON)
    return url


@contextmanager
def database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database of ``backend`` that exists for the duration of the block."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'sortyard.db'}"
        return
    if backend != "postgresql":
        raise ValueError(f"unknown backend {backend!r}")
    base = sa.make_url(_pg_base_url())
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base, poolclass=sa.NullPool)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    except sa.exc.OperationalError as exc:
        admin.dispose()
        # An explicitly configured server that cannot be reached is an error, never a skip.
        pytest.fail(f"PostgreSQL at {base.render_as_string(hide_password=True)} unreachable: {exc}")
    try:
        yield base.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False
        )
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database URL, once per backend (SQLite file under tmp_path; PostgreSQL schema)."""
    with database_url(request.param, tmp_path) as url:
        yield url
