"""Cancelling orders and confirming shipments."""

from __future__ import annotations

import pytest

from server.store import (
    CancelResult,
    FulfillmentState,
    InvalidStateError,
    NotFoundError,
    OrderState,
    Shipment,
    Store,
    StoredRoute,
)
from tests.store.helpers import NETWORK, NOW, make_order, record, route


def _cell(store: Store, warehouse_id: str, sku: str) -> tuple[int, int]:
    table = store.load_stock([sku], NETWORK)
    j = NETWORK.index_of(warehouse_id)
    return int(table.on_hand[0, j]), int(table.reserved[0, j])


def _split_order(store: Store) -> StoredRoute:
    """o1: A x2 from wh-east and B x1 from wh-west (two fulfillment orders)."""
    store.sync([("wh-east", "A", 5), ("wh-west", "B", 3)])
    [routed] = route(store, record(make_order("o1", ("A", 2), ("B", 1), channel="amazon")))
    assert len(routed.fulfillment_order_ids) == 2
    return routed


def test_cancel_releases_every_reservation_once(store: Store) -> None:
    """Cancelling releases all reserved units; cancelling again releases nothing and answers
    the same state."""
    routed = _split_order(store)
    first = store.cancel_order(routed.order_id)
    assert first == CancelResult(routed.order_id, OrderState.CANCELLED, 3)
    again = store.cancel_order(channel="amazon", channel_order_id="o1")
    assert again == CancelResult(routed.order_id, OrderState.CANCELLED, 0)
    assert _cell(store, "wh-east", "A") == (5, 0)
    assert _cell(store, "wh-west", "B") == (3, 0)
    stored = store.get_order(routed.order_id)
    assert stored is not None and stored.state == OrderState.CANCELLED
    assert {f.state for f in stored.fulfillment_orders} == {FulfillmentState.CANCELLED}
    assert [e.kind for e in stored.events] == ["ROUTED", "CANCELLED"]
    table = store.load_stock(["A", "B"], NETWORK)
    assert int(table.reserved_by_channel.get("amazon", table.reserved).sum()) == 0
    assert store.check_invariants() == []


def test_cancel_of_a_backordered_order_releases_nothing(store: Store) -> None:
    """An order without reservations cancels cleanly with nothing released."""
    store.sync([("wh-east", "A", 0)])  # known but out of stock: backordered, not held
    [back] = route(store, record(make_order("o1", ("A", 1))))
    assert store.cancel_order(back.order_id) == CancelResult(back.order_id, OrderState.CANCELLED, 0)


def test_cancel_unknown_order_is_not_found(store: Store) -> None:
    """An unknown order raises NotFoundError (a KeyError)."""
    with pytest.raises(NotFoundError):
        store.cancel_order("so_nothing")
    with pytest.raises(KeyError):
        store.cancel_order(channel="amazon", channel_order_id="nope")


def test_confirm_shipment_moves_units_out_of_on_hand_once(store: Store) -> None:
    """Confirming takes the reserved units out of on_hand and reserved; confirming the same
    shipment again changes nothing and answers the same."""
    routed = _split_order(store)
    fid = routed.fulfillment_order_ids[0]
    shipped, already = store.confirm_shipment(fid, "UPS", "1Z999", NOW)
    assert not already
    assert shipped.state == FulfillmentState.SHIPPED
    assert shipped.shipments == (Shipment("UPS", "1Z999", NOW),)
    assert _cell(store, "wh-east", "A") == (3, 0)
    again, already = store.confirm_shipment(fid, "UPS", "1Z999", NOW)
    assert already and again == shipped
    assert _cell(store, "wh-east", "A") == (3, 0)
    stored = store.get_order(routed.order_id)
    assert stored is not None and stored.state == OrderState.PARTIALLY_SHIPPED
    assert store.check_invariants() == []


def test_shipping_every_fulfillment_order_ships_the_order(store: Store) -> None:
    """The order is SHIPPED once its last fulfillment order ships, and can no longer be
    cancelled: the error names the state."""
    routed = _split_order(store)
    for n, fid in enumerate(routed.fulfillment_order_ids):
        store.confirm_shipment(fid, "USPS", f"94{n}", NOW)
    stored = store.get_order(routed.order_id)
    assert stored is not None and stored.state == OrderState.SHIPPED
    assert [e.kind for e in stored.events] == ["ROUTED", "SHIPPED", "SHIPPED"]
    with pytest.raises(InvalidStateError, match="SHIPPED") as info:
        store.cancel_order(routed.order_id)
    assert info.value.state == "SHIPPED"
    assert _cell(store, "wh-west", "B") == (2, 0)


def test_cancel_after_a_partial_shipment_releases_only_the_rest(store: Store) -> None:
    """Cancelling a partly shipped order releases the unshipped fulfillment orders and leaves
    the shipped one shipped."""
    routed = _split_order(store)
    store.confirm_shipment(routed.fulfillment_order_ids[0], "UPS", "1Z1", NOW)
    result = store.cancel_order(routed.order_id)
    assert result.units_released == 1
    stored = store.get_order(routed.order_id)
    assert stored is not None
    assert [f.state for f in stored.fulfillment_orders] == [
        FulfillmentState.SHIPPED,
        FulfillmentState.CANCELLED,
    ]
    assert _cell(store, "wh-east", "A") == (3, 0)
    assert _cell(store, "wh-west", "B") == (3, 0)
    assert store.check_invariants() == []


def test_confirm_with_another_tracking_number_is_refused(store: Store) -> None:
    """A shipped fulfillment order confirmed with a different tracking number raises
    InvalidStateError (a ValueError) and nothing changes."""
    routed = _split_order(store)
    fid = routed.fulfillment_order_ids[0]
    store.confirm_shipment(fid, "UPS", "1Z1", NOW)
    with pytest.raises(InvalidStateError, match="another tracking number"):
        store.confirm_shipment(fid, "UPS", "1Z2", NOW)
    assert _cell(store, "wh-east", "A") == (3, 0)


def test_confirm_of_a_cancelled_or_unknown_fulfillment_order_fails(store: Store) -> None:
    """A cancelled fulfillment order cannot ship; an unknown id is NotFoundError."""
    routed = _split_order(store)
    store.cancel_order(routed.order_id)
    with pytest.raises(InvalidStateError, match="CANCELLED"):
        store.confirm_shipment(routed.fulfillment_order_ids[0], "UPS", "1Z1", NOW)
    with pytest.raises(NotFoundError):
        store.confirm_shipment("so_nothing-1", "UPS", "1Z1", NOW)
    assert _cell(store, "wh-east", "A") == (5, 0)


def test_confirm_when_the_count_is_short_refuses_instead_of_going_negative(store: Store) -> None:
    """After a sync counted fewer units than a fulfillment order reserves, confirming it
    raises InvalidStateError rather than driving on_hand negative."""
    routed = _split_order(store)
    store.sync([("wh-east", "A", 1)])
    with pytest.raises(InvalidStateError, match="below"):
        store.confirm_shipment(routed.fulfillment_order_ids[0], "UPS", "1Z1", NOW)
    assert _cell(store, "wh-east", "A") == (1, 2)


def test_naive_datetimes_are_refused(store: Store) -> None:
    """Timestamps must be timezone-aware; a naive one is an error, not a silent guess."""
    routed = _split_order(store)
    with pytest.raises(ValueError, match="timezone-aware"):
        store.confirm_shipment(
            routed.fulfillment_order_ids[0], "UPS", "1Z1", NOW.replace(tzinfo=None)
        )
    assert _cell(store, "wh-east", "A") == (5, 2)


def test_check_invariants_names_each_kind_of_corruption(store: Store) -> None:
    """Stock that disagrees with the allocations is reported, one message per broken rule:
    reserved above on_hand, reserved unlike the live allocations, and per-channel reservations
    unlike that channel's allocations."""
    routed = _split_order(store)
    assert routed.error is None and store.check_invariants() == []
    with store.engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE stock SET reserved = reserved + 4 WHERE warehouse_id = 'wh-east' AND sku = 'A'"
        )
        conn.exec_driver_sql(
            "UPDATE stock_channel_reserved SET reserved = 0"
            " WHERE warehouse_id = 'wh-west' AND sku = 'B'"
        )
    assert store.check_invariants() == [
        "wh-east/A: reserved 6 > on_hand 5",
        "wh-east/A: reserved 6 != live allocations 2",
        "wh-west/B channel amazon: reserved 0 != live allocations 1",
    ]


def test_stock_totals_and_order_counts(store: Store) -> None:
    """The metric aggregates: units per warehouse and orders per state."""
    routed = _split_order(store)
    store.confirm_shipment(routed.fulfillment_order_ids[1], "UPS", "1Z", NOW)
    store.sync([("wh-west", "NONE", 0)])  # known but out of stock: backordered, not held
    route(store, record(make_order("o2", ("NONE", 1))))
    assert store.stock_totals() == [("wh-east", 5, 2), ("wh-west", 2, 0)]
    assert store.order_counts() == {"PARTIALLY_SHIPPED": 1, "BACKORDERED": 1}
