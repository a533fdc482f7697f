"""Fixtures of the store tests: a migrated ``Store`` on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from server.store import Store
from tests.db import db_url
from tests.store.helpers import NETWORK, WAREHOUSES

__all__ = ["db_url", "store"]


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """A migrated store holding the test network (no stock yet)."""
    s = Store.open(db_url)
    s.put_warehouses(WAREHOUSES)
    assert NETWORK.warehouse_ids == tuple(w.warehouse_id for w in WAREHOUSES)
    try:
        yield s
    finally:
        s.close()
