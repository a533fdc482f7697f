"""Warehouses, channels, stock syncs and stock snapshots."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pytest

from engine import CarrierPickup, ServiceLevel
from server.store import (
    IdempotencyConflictError,
    InvalidLevelError,
    Shortfall,
    Store,
    UnknownWarehouseError,
)
from tests.store.helpers import NETWORK, WAREHOUSES, make_order, record, route


def _stock(store: Store, *skus: str) -> dict[tuple[str, str], tuple[int, int]]:
    table = store.load_stock(list(skus), NETWORK)
    return {
        (w, sku): (int(table.on_hand[i, j]), int(table.reserved[i, j]))
        for i, sku in enumerate(table.skus)
        for j, w in enumerate(NETWORK.warehouse_ids)
    }


def test_warehouses_round_trip_every_field(store: Store) -> None:
    """A warehouse comes back exactly as put, pickups and tags included."""
    rich = dataclasses.replace(
        WAREHOUSES[0],
        warehouse_id="wh-rich",
        handling_days=2,
        daily_capacity=500,
        tags=frozenset({"cold", "hazmat"}),
        pickups=(
            CarrierPickup(dt.time(14, 30), frozenset({ServiceLevel.NEXT_DAY}), frozenset({1, 3})),
            CarrierPickup(dt.time(17, 0, 15)),
        ),
    )
    store.put_warehouses([rich])
    assert {w.warehouse_id: w for w in store.list_warehouses()}["wh-rich"] == rich


def test_put_replaces_by_id_and_inactive_ones_are_listed_only_on_request(store: Store) -> None:
    """Putting a warehouse again replaces it; inactive warehouses are hidden by default."""
    store.put_warehouses([dataclasses.replace(WAREHOUSES[1], name="Renamed", active=False)])
    assert [w.warehouse_id for w in store.list_warehouses()] == ["wh-east", "wh-west"]
    everything = store.list_warehouses(include_inactive=True)
    assert [w.name for w in everything] == ["East", "Renamed", "West"]


def test_network_version_changes_on_every_put(store: Store) -> None:
    """Every put bumps the version (the server caches its Network by it)."""
    before = store.network_version()
    store.put_warehouses(WAREHOUSES[:1])
    middle = store.network_version()
    store.put_warehouses(WAREHOUSES[:1])
    assert before < middle < store.network_version()


def test_known_channels_are_registered_ones_plus_those_seen_on_orders(store: Store) -> None:
    """Channels come from registration and from routed orders."""
    store.register_channels(["amazon", "storefront"])
    store.sync([("wh-east", "A", 1)])
    route(store, record(make_order("o1", ("A", 1), channel="ebay")))
    store.register_channels(["amazon"])
    assert store.known_channels() == {"amazon", "storefront", "ebay"}


def test_sync_sets_absolute_counts_and_reports_touched_skus(store: Store) -> None:
    """A sync sets on_hand to the reported count (not a delta) and names the SKUs it touched."""
    store.sync([("wh-east", "A", 5), ("wh-mid", "B", 2)])
    result = store.sync([("wh-east", "A", 3), ("wh-west", "A", 7)])
    assert result.touched_skus == ("A",)
    assert result.shortfalls == ()
    stock = _stock(store, "A", "B")
    assert stock["wh-east", "A"] == (3, 0)
    assert stock["wh-west", "A"] == (7, 0)
    assert stock["wh-mid", "B"] == (2, 0)


def test_sync_below_reserved_keeps_reservations_and_reports_the_shortfall(store: Store) -> None:
    """A count below what is reserved is applied, the reservation stands, and the shortfall names
    the open fulfillment orders holding that SKU there."""
    store.sync([("wh-east", "A", 5)])
    routed = route(store, record(make_order("o1", ("A", 2))), record(make_order("o2", ("A", 2))))
    result = store.sync([("wh-east", "A", 1)])
    assert result.shortfalls == (
        Shortfall(
            "wh-east",
            "A",
            on_hand=1,
            reserved=4,
            short_by=3,
            fulfillment_order_ids=tuple(sorted(r.fulfillment_order_ids[0] for r in routed)),
        ),
    )
    assert _stock(store, "A")["wh-east", "A"] == (1, 4)
    assert store.check_invariants(allow_shortfall=True) == []
    assert store.check_invariants() == ["wh-east/A: reserved 4 > on_hand 1"]


def test_sync_with_a_request_id_applies_once(store: Store) -> None:
    """The same request id and levels answer the first result and apply nothing again, even
    after other syncs changed the count in between."""
    first = store.sync([("wh-east", "A", 5)], request_id="sync-1")
    store.sync([("wh-east", "A", 9)])
    again = store.sync([("wh-east", "A", 5)], request_id="sync-1")
    assert again == first
    assert _stock(store, "A")["wh-east", "A"] == (9, 0)


def test_sync_request_id_reused_with_other_levels_is_a_conflict(store: Store) -> None:
    """A request id reused with different levels raises and changes nothing."""
    store.sync([("wh-east", "A", 5)], request_id="sync-1")
    with pytest.raises(IdempotencyConflictError) as info:
        store.sync([("wh-east", "A", 6)], request_id="sync-1")
    assert isinstance(info.value, ValueError)
    assert _stock(store, "A")["wh-east", "A"] == (5, 0)


def test_sync_with_an_unknown_warehouse_names_the_level_and_applies_nothing(store: Store) -> None:
    """An unknown warehouse fails the whole sync with the index of the bad level."""
    with pytest.raises(UnknownWarehouseError) as info:
        store.sync([("wh-east", "A", 5), ("wh-east", "B", 1), ("wh-nowhere", "A", 1)])
    assert isinstance(info.value, KeyError)
    assert info.value.index == 2
    assert "levels[2].warehouse_id" in str(info.value)
    assert _stock(store, "A")["wh-east", "A"] == (0, 0)


@pytest.mark.parametrize(
    ("levels", "path"),
    [
        ([("wh-east", "A", 1), ("wh-east", "A", -1)], "levels[1].on_hand"),
        ([("wh-east", "A", 1), ("wh-mid", "A", 1), ("wh-east", "A", 2)], "levels[2].sku"),
    ],
)
def test_sync_rejects_negative_and_repeated_levels(
    store: Store, levels: list[tuple[str, str, int]], path: str
) -> None:
    """Negative counts and the same cell twice are errors naming the level; nothing applies."""
    with pytest.raises(InvalidLevelError, match=path.replace("[", r"\[").replace("]", r"\]")):
        store.sync(levels)
    assert _stock(store, "A")["wh-east", "A"] == (0, 0)


def test_load_stock_is_in_network_order_with_per_channel_reservations(store: Store) -> None:
    """The snapshot has one row per requested SKU (unknown SKUs are zeros), warehouses in network
    order, and live reservations per channel."""
    store.sync([("wh-mid", "A", 4), ("wh-west", "A", 6)])
    route(
        store,
        record(make_order("o1", ("A", 3), channel="amazon")),
        record(make_order("o2", ("A", 2), channel="shopify")),
    )
    table = store.load_stock(["Z", "A"], NETWORK)
    assert table.skus == ("Z", "A")
    np.testing.assert_array_equal(table.on_hand, [[0, 0, 0], [0, 4, 6]])
    np.testing.assert_array_equal(table.reserved, [[0, 0, 0], [0, 3, 2]])
    np.testing.assert_array_equal(table.reserved_by_channel["amazon"], [[0, 0, 0], [0, 3, 0]])
    np.testing.assert_array_equal(table.reserved_by_channel["shopify"], [[0, 0, 0], [0, 0, 2]])
