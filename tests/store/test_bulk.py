"""The store's bulk writers (``_bulk``) on both backends: what they write reads back exactly, and
a failure surfaces as the same SQLAlchemy exception Core would raise (the store's retry logic keys
on it)."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from server.store import Store
from server.store import _schema as t
from server.store._bulk import binder, insert_dicts, insert_prepared
from server.store._codec import json_text
from server.store._store import _ALLOCATION_COLUMNS, _FO_COLUMNS, _ORDER_COLUMNS

AT = dt.datetime(2026, 12, 3, 15, 0, 0, 123456, tzinfo=dt.UTC)


def _outbox_row(dedup_key: str) -> dict[str, object]:
    return {
        "channel": "amazon",
        "kind": "quantity",
        "dedup_key": dedup_key,
        "payload": {"sku": dedup_key, "note": "é ü"},
        "created_at": AT,
        "available_at": AT.astimezone(dt.timezone(dt.timedelta(hours=-5))),
        "leased_until": None,
        "attempts": 0,
        "acked_at": None,
        "last_error": None,
    }


def test_insert_dicts_round_trips_json_datetimes_and_nulls(store: Store) -> None:
    """Rows written by insert_dicts read back through Core with the same JSON, the same instants
    as UTC-aware datetimes (whatever zone they were given in) and NULLs."""
    with store.engine.begin() as conn:
        insert_dicts(conn, t.outbox, [_outbox_row("A"), _outbox_row("B")])
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(t.outbox).order_by(t.outbox.c.outbox_id)).mappings().all()
    assert [r["dedup_key"] for r in rows] == ["A", "B"]
    for r in rows:
        assert r["payload"] == {"sku": r["dedup_key"], "note": "é ü"}
        assert r["created_at"] == AT and r["available_at"] == AT
        assert r["created_at"].utcoffset() == dt.timedelta(0)
        assert r["leased_until"] is None and r["acked_at"] is None
    assert rows[0]["outbox_id"] < rows[1]["outbox_id"]  # identity/autoincrement still applies


def test_insert_prepared_takes_driver_values_and_applies_column_defaults(store: Store) -> None:
    """insert_prepared with binder-converted datetimes and json_text JSON stores what Core would;
    columns left out get their server defaults (allocations.shipped = 0 on both backends). The
    rows follow the route path's own column orders, so they are written exactly as routing does."""
    bind = binder(store.engine.dialect, t.fulfillment_orders.c.ship_by)
    with store.engine.begin() as conn:
        insert_prepared(
            conn,
            t.orders,
            _ORDER_COLUMNS,
            [
                (
                    "so_1",
                    "amazon",
                    "A-1",
                    json_text({"lines": [["1", "S", 2]]}),
                    json_text({"status": 1}),
                    "",
                    "",
                    1,
                    "ROUTED",
                    None,
                    None,
                    "v1",
                    bind(AT),
                    bind(AT),
                )
            ],
        )
        insert_prepared(
            conn,
            t.fulfillment_orders,
            _FO_COLUMNS,
            [
                (
                    "so_1-1",
                    "so_1",
                    "wh-east",
                    "RESERVED",
                    12.5,
                    bind(AT),
                    None,
                    1,
                    bind(AT),
                    bind(AT),
                )
            ],
        )
        insert_prepared(
            conn,
            t.allocations,
            _ALLOCATION_COLUMNS,
            [("so_1-1", 0, "1", "S", 2, "wh-east", "amazon")],
        )
    with store.engine.connect() as conn:
        order = conn.execute(sa.select(t.orders)).mappings().one()
        fo = conn.execute(sa.select(t.fulfillment_orders)).mappings().one()
        shipped = conn.execute(sa.select(t.allocations.c.shipped)).scalar_one()
    assert order["payload"] == {"lines": [["1", "S", 2]]} and order["decision"] == {"status": 1}
    assert order["created_at"] == AT and order["hold_code"] is None
    assert fo["ship_by"] == AT and fo["deliver_by"] is None and fo["distance_km"] == 12.5
    assert shipped == 0


def test_a_duplicate_key_raises_sqlalchemys_integrity_error(store: Store) -> None:
    """A bulk insert that hits an existing key raises sqlalchemy IntegrityError (a DBAPIError
    carrying the driver's error; SQLSTATE 23505 on PostgreSQL, which the store retries) and
    writes none of its rows."""
    with store.engine.begin() as conn:
        insert_dicts(
            conn, t.channels, [{"channel": "amazon", "registered": True, "created_at": AT}]
        )
    with pytest.raises(sa.exc.IntegrityError) as caught, store.engine.begin() as conn:
        insert_dicts(
            conn,
            t.channels,
            [
                {"channel": "shopify", "registered": False, "created_at": AT},
                {"channel": "amazon", "registered": False, "created_at": AT},
            ],
        )
    if store.dialect == "postgresql":
        assert getattr(caught.value.orig, "sqlstate", None) == "23505"
    assert store.known_channels() == {"amazon"}
