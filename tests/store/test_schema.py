"""The schema: migrations, connection settings, and opening a store."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from server.store import Store
from server.store._schema import metadata
from server.store._store import _MIGRATIONS_DIR


def _head_revision() -> str:
    """The newest revision shipped in server/migrations (exactly one head: the chain is linear)."""
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS_DIR))
    (head,) = ScriptDirectory.from_config(config).get_heads()
    return str(head)


def test_migrations_create_exactly_the_schema_module(store: Store) -> None:
    """Alembic's head revision and ``_schema.metadata`` describe the same tables and columns, so
    code written against the schema module runs on a migrated database."""
    with store.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diffs == []


def test_open_again_is_a_no_op_and_keeps_data(db_url: str) -> None:
    """Opening an already migrated database migrates nothing and loses nothing."""
    first = Store.open(db_url)
    try:
        first.register_channels(["amazon"])
    finally:
        first.close()
    second = Store.open(db_url)
    try:
        assert second.known_channels() == {"amazon"}
        with second.engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == _head_revision()
    finally:
        second.close()


def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    """Every SQLite connection runs in WAL mode with foreign keys on and writers waiting 30 s for
    the lock instead of failing."""
    store = Store.open(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
    finally:
        store.close()


def test_sqlite_write_transactions_take_the_write_lock_up_front(tmp_path: Path) -> None:
    """A write transaction holds SQLite's write lock from BEGIN: a second writer cannot start
    while the first is open, even before the first has written anything."""
    store = Store.open(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with store.engine.begin() as conn:
            conn.exec_driver_sql("SELECT 1")  # nothing written yet
            other = sa.create_engine(
                f"sqlite:///{tmp_path / 'x.db'}", connect_args={"timeout": 0.05}
            )
            raw = other.raw_connection()
            try:
                raw.driver_connection.isolation_level = None  # type: ignore[union-attr]  # sqlite3
                with pytest.raises(Exception, match="locked"):
                    raw.cursor().execute("BEGIN IMMEDIATE")
            finally:
                raw.close()
                other.dispose()
    finally:
        store.close()


def test_relative_sqlite_path_resolves_under_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``sqlite:///name.db`` creates the file in the current directory (the CLI's default)."""
    monkeypatch.chdir(tmp_path)
    Store.open("sqlite:///sortyard.db").close()
    assert (tmp_path / "sortyard.db").exists()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "mysql://x/y"])
def test_unsupported_urls_are_refused_with_a_reason(url: str) -> None:
    """In-memory SQLite (one private database per connection) and other databases are refused
    up front rather than failing strangely later."""
    with pytest.raises(ValueError, match=r"in-memory|unsupported"):
        Store.open(url)
