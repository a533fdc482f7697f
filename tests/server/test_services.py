"""NetworkService, InventoryService and FulfillmentService over a real server."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from sortyard.v1 import (
    fulfillment_service_pb2,
    inventory_service_pb2,
    network_service_pb2,
    types_pb2,
)

from tests.server.helpers import TIMEOUT, error_reason, order, route_request, stubs

# ---- network ----------------------------------------------------------------------------------


def test_put_then_list_warehouses_round_trips_every_field(sortyard_channel: grpc.Channel) -> None:
    """A warehouse put through the API lists back identically; inactive ones only when asked."""
    s = stubs(sortyard_channel)
    seattle = types_pb2.Warehouse(
        warehouse_id="SEA-1",
        name="Kent, WA",
        latitude=47.3776,
        longitude=-122.2854,
        postal_code="98032",
        country_code="US",
        time_zone="America/Los_Angeles",
        tags=["cold", "west"],  # the API answers sets sorted
        handling_days=1,
        daily_capacity=500,
        pickups=[
            types_pb2.CarrierPickup(
                service_levels=[types_pb2.SECOND_DAY, types_pb2.NEXT_DAY],
                cutoff_local_time="14:30",
                weekdays=[1, 2, 3, 4, 5, 6],
            )
        ],
        active=False,
    )
    put = s.network.PutWarehouses(
        network_service_pb2.PutWarehousesRequest(warehouses=[seattle]), timeout=TIMEOUT
    )
    assert list(put.warehouses) == [seattle]
    active = s.network.ListWarehouses(network_service_pb2.ListWarehousesRequest(), timeout=TIMEOUT)
    everything = s.network.ListWarehouses(
        network_service_pb2.ListWarehousesRequest(include_inactive=True), timeout=TIMEOUT
    )
    assert "SEA-1" not in {w.warehouse_id for w in active.warehouses}
    assert len(active.warehouses) == 6
    assert seattle in everything.warehouses


def test_new_warehouse_is_used_by_the_next_route(sortyard_channel: grpc.Channel) -> None:
    """The cached network is rebuilt after PutWarehouses: stock synced at a new Seattle site
    makes it the choice for a Seattle order."""
    s = stubs(sortyard_channel)
    seattle = types_pb2.Warehouse(
        warehouse_id="SEA-1",
        latitude=47.3776,
        longitude=-122.2854,
        time_zone="America/Los_Angeles",
        active=True,
    )
    s.network.PutWarehouses(
        network_service_pb2.PutWarehousesRequest(warehouses=[seattle]), timeout=TIMEOUT
    )
    s.inventory.Sync(
        inventory_service_pb2.SyncRequest(
            levels=[
                inventory_service_pb2.StockLevel(
                    warehouse_id="SEA-1", sku="MUG-11OZ-WHT", on_hand=5
                )
            ]
        ),
        timeout=TIMEOUT,
    )
    response = s.routing.Route(route_request(order("SF-SEA", postal_code="98103")), timeout=TIMEOUT)
    assert [fo.warehouse_id for fo in response.fulfillment_orders] == ["SEA-1"]


# ---- inventory --------------------------------------------------------------------------------


def test_sync_reports_availability_for_every_touched_sku_and_known_channel(
    sortyard_channel: grpc.Channel,
) -> None:
    """After orders from two channels, a sync answers one row per (touched SKU, known channel) and
    the numbers equal on-hand minus reserved over active sites."""
    s = stubs(sortyard_channel)
    s.routing.Route(route_request(order("A-1", channel="amazon")), timeout=TIMEOUT)
    s.routing.Route(
        route_request(order("S-1", [("CAP-TRK-NVY", 2)], channel="shopify")), timeout=TIMEOUT
    )
    response = s.inventory.Sync(
        inventory_service_pb2.SyncRequest(
            levels=[
                inventory_service_pb2.StockLevel(
                    warehouse_id="ORD-1", sku="MUG-11OZ-WHT", on_hand=20
                ),
                inventory_service_pb2.StockLevel(
                    warehouse_id="ORD-1", sku="CAP-TRK-NVY", on_hand=7
                ),
            ]
        ),
        timeout=TIMEOUT,
    )
    rows = {(a.sku, a.channel): a.available for a in response.availability}
    assert set(rows) == {
        (sku, ch) for sku in ("MUG-11OZ-WHT", "CAP-TRK-NVY") for ch in ("amazon", "shopify")
    }
    detail = s.inventory.GetAvailability(
        inventory_service_pb2.GetAvailabilityRequest(skus=["MUG-11OZ-WHT"]), timeout=TIMEOUT
    )
    free = sum(w.on_hand - w.reserved for w in detail.warehouses)
    assert rows["MUG-11OZ-WHT", "amazon"] == free
    assert {w.warehouse_id: w.on_hand for w in detail.warehouses}["ORD-1"] == 20
    assert not response.shortfalls


def test_sync_below_reserved_reports_a_shortfall_and_keeps_the_reservation(
    sortyard_channel: grpc.Channel, sortyard_server: Any
) -> None:
    """Counting fewer units than are reserved never destroys the reservation: the shortfall names
    the warehouse, SKU, amount and the fulfillment order to re-route."""
    s = stubs(sortyard_channel)
    routed = s.routing.Route(
        route_request(order("SF-SHORT", [("MUG-11OZ-WHT", 5)])), timeout=TIMEOUT
    )
    (fo,) = routed.fulfillment_orders
    response = s.inventory.Sync(
        inventory_service_pb2.SyncRequest(
            levels=[
                inventory_service_pb2.StockLevel(
                    warehouse_id=fo.warehouse_id, sku="MUG-11OZ-WHT", on_hand=2
                )
            ]
        ),
        timeout=TIMEOUT,
    )
    (shortfall,) = response.shortfalls
    assert (shortfall.warehouse_id, shortfall.sku) == (fo.warehouse_id, "MUG-11OZ-WHT")
    assert (shortfall.on_hand, shortfall.reserved, shortfall.short_by) == (2, 5, 3)
    assert list(shortfall.fulfillment_order_ids) == [fo.fulfillment_order_id]
    assert sortyard_server.store.check_invariants(allow_shortfall=True) == []


def test_get_availability_changes_nothing_and_filters_by_channel(
    sortyard_channel: grpc.Channel,
) -> None:
    """GetAvailability answers like Sync without applying anything; a channel narrows the rows."""
    s = stubs(sortyard_channel)
    s.routing.Route(route_request(order("A-2", channel="amazon")), timeout=TIMEOUT)
    request = inventory_service_pb2.GetAvailabilityRequest(skus=["MUG-11OZ-WHT"], channel="amazon")
    first = s.inventory.GetAvailability(request, timeout=TIMEOUT)
    second = s.inventory.GetAvailability(request, timeout=TIMEOUT)
    assert first == second
    assert [(a.channel, a.sku) for a in first.availability] == [("amazon", "MUG-11OZ-WHT")]
    assert first.availability[0].available == sum(w.available for w in first.warehouses)


def test_sync_request_id_replays_and_conflicts(sortyard_channel: grpc.Channel) -> None:
    """The same sync request_id with the same levels answers again; with other levels it is
    INVALID_ARGUMENT on ``request_id``."""
    s = stubs(sortyard_channel)
    level = inventory_service_pb2.StockLevel(warehouse_id="ORD-1", sku="MUG-11OZ-WHT", on_hand=30)
    request = inventory_service_pb2.SyncRequest(levels=[level], request_id="sync-1")
    assert s.inventory.Sync(request, timeout=TIMEOUT) == s.inventory.Sync(request, timeout=TIMEOUT)
    other = inventory_service_pb2.SyncRequest(
        levels=[
            inventory_service_pb2.StockLevel(warehouse_id="ORD-1", sku="MUG-11OZ-WHT", on_hand=1)
        ],
        request_id="sync-1",
    )
    with pytest.raises(grpc.RpcError) as caught:
        s.inventory.Sync(other, timeout=TIMEOUT)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_reason(caught.value) == "IDEMPOTENCY_CONFLICT"


# ---- fulfillment ------------------------------------------------------------------------------


def test_get_order_by_id_and_by_channel_reference(sortyard_channel: grpc.Channel) -> None:
    """GetOrder finds a routed order by order_id and by channel + channel_order_id, with its
    fulfillment orders (RESERVED), the order itself and a 'routed' history entry."""
    s = stubs(sortyard_channel)
    routed = s.routing.Route(route_request(order("SF-GET", [("MUG-11OZ-WHT", 2)])), timeout=TIMEOUT)
    by_id = s.fulfillment.GetOrder(
        fulfillment_service_pb2.GetOrderRequest(order_id=routed.order_id), timeout=TIMEOUT
    )
    by_ref = s.fulfillment.GetOrder(
        fulfillment_service_pb2.GetOrderRequest(channel="storefront", channel_order_id="SF-GET"),
        timeout=TIMEOUT,
    )
    assert by_id == by_ref
    assert by_id.status == types_pb2.ORDER_STATE_ROUTED
    assert by_id.route_status == types_pb2.ROUTED
    assert by_id.order.channel_order_id == "SF-GET" and by_id.order.lines[0].quantity == 2
    (fo,) = by_id.fulfillment_orders
    assert fo.fulfillment_order_id == routed.fulfillment_orders[0].fulfillment_order_id
    assert fo.state == types_pb2.FULFILLMENT_ORDER_STATE_RESERVED
    assert [e.event for e in by_id.history] == ["routed"]
    assert by_id.policy_version == "default"


def test_get_order_unknown_is_not_found_and_an_empty_reference_is_invalid(
    sortyard_channel: grpc.Channel,
) -> None:
    """An order nobody routed is NOT_FOUND; a request naming no order is INVALID_ARGUMENT."""
    s = stubs(sortyard_channel)
    with pytest.raises(grpc.RpcError) as missing:
        s.fulfillment.GetOrder(
            fulfillment_service_pb2.GetOrderRequest(order_id="so_nope"), timeout=TIMEOUT
        )
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as empty:
        s.fulfillment.GetOrder(fulfillment_service_pb2.GetOrderRequest(), timeout=TIMEOUT)
    assert empty.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_cancel_releases_every_reservation_and_is_idempotent(
    sortyard_channel: grpc.Channel, sortyard_server: Any
) -> None:
    """Cancelling a split order releases all its units; cancelling again releases nothing."""
    s = stubs(sortyard_channel)
    routed = s.routing.Route(
        route_request(order("SF-CXL", [("LAMP-DESK-LED", 10)])), timeout=TIMEOUT
    )
    assert len(routed.fulfillment_orders) >= 2
    first = s.fulfillment.CancelOrder(
        fulfillment_service_pb2.CancelOrderRequest(channel="storefront", channel_order_id="SF-CXL"),
        timeout=TIMEOUT,
    )
    again = s.fulfillment.CancelOrder(
        fulfillment_service_pb2.CancelOrderRequest(order_id=routed.order_id), timeout=TIMEOUT
    )
    assert (first.status, first.units_released) == (types_pb2.ORDER_STATE_CANCELLED, 10)
    assert (again.status, again.units_released) == (types_pb2.ORDER_STATE_CANCELLED, 0)
    detail = s.inventory.GetAvailability(
        inventory_service_pb2.GetAvailabilityRequest(skus=["LAMP-DESK-LED"]), timeout=TIMEOUT
    )
    assert all(w.reserved == 0 for w in detail.warehouses)
    assert sortyard_server.store.check_invariants() == []


def test_confirm_shipment_moves_units_out_and_answers_the_same_when_repeated(
    sortyard_channel: grpc.Channel, sortyard_server: Any
) -> None:
    """Confirming a shipment takes its units off on-hand and reserved; a repeat changes nothing and
    answers the same fulfillment order with already_confirmed=true."""
    s = stubs(sortyard_channel)
    routed = s.routing.Route(
        route_request(order("SF-SHIP", [("MUG-11OZ-WHT", 2)])), timeout=TIMEOUT
    )
    (fo,) = routed.fulfillment_orders
    request = fulfillment_service_pb2.ConfirmShipmentRequest(
        fulfillment_order_id=fo.fulfillment_order_id,
        carrier="UPS",
        tracking_number="1Z999AA10123456784",
    )
    first = s.fulfillment.ConfirmShipment(request, timeout=TIMEOUT)
    second = s.fulfillment.ConfirmShipment(request, timeout=TIMEOUT)
    assert not first.already_confirmed and second.already_confirmed
    assert first.fulfillment_order == second.fulfillment_order
    assert first.fulfillment_order.state == types_pb2.FULFILLMENT_ORDER_STATE_SHIPPED
    assert first.fulfillment_order.shipments[0].tracking_number == "1Z999AA10123456784"
    detail = s.inventory.GetAvailability(
        inventory_service_pb2.GetAvailabilityRequest(skus=["MUG-11OZ-WHT"]), timeout=TIMEOUT
    )
    cell = {w.warehouse_id: w for w in detail.warehouses}[fo.warehouse_id]
    assert (cell.on_hand, cell.reserved) == (16 - 2, 0)
    got = s.fulfillment.GetOrder(
        fulfillment_service_pb2.GetOrderRequest(order_id=routed.order_id), timeout=TIMEOUT
    )
    assert got.status == types_pb2.ORDER_STATE_SHIPPED
    assert sortyard_server.store.check_invariants() == []


def test_cancel_reason_reaches_the_order_history(sortyard_channel: grpc.Channel) -> None:
    """The caller's cancel reason is kept: GetOrder's history shows it on the cancel event."""
    s = stubs(sortyard_channel)
    routed = s.routing.Route(route_request(order("SF-WHY")), timeout=TIMEOUT)
    s.fulfillment.CancelOrder(
        fulfillment_service_pb2.CancelOrderRequest(
            order_id=routed.order_id, reason="buyer changed their mind"
        ),
        timeout=TIMEOUT,
    )
    got = s.fulfillment.GetOrder(
        fulfillment_service_pb2.GetOrderRequest(order_id=routed.order_id), timeout=TIMEOUT
    )
    cancelled = [e for e in got.history if "buyer changed their mind" in e.detail]
    assert len(cancelled) == 1


def test_cancel_after_shipping_is_failed_precondition_naming_the_state(
    sortyard_channel: grpc.Channel,
) -> None:
    """A fully shipped order cannot be cancelled: FAILED_PRECONDITION with the current state."""
    s = stubs(sortyard_channel)
    routed = s.routing.Route(route_request(order("SF-LATE")), timeout=TIMEOUT)
    s.fulfillment.ConfirmShipment(
        fulfillment_service_pb2.ConfirmShipmentRequest(
            fulfillment_order_id=routed.fulfillment_orders[0].fulfillment_order_id, carrier="UPS"
        ),
        timeout=TIMEOUT,
    )
    with pytest.raises(grpc.RpcError) as caught:
        s.fulfillment.CancelOrder(
            fulfillment_service_pb2.CancelOrderRequest(order_id=routed.order_id), timeout=TIMEOUT
        )
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "SHIPPED" in caught.value.details()
    assert error_reason(caught.value) == "ORDER_STATE"


def test_confirm_unknown_fulfillment_order_is_not_found(sortyard_channel: grpc.Channel) -> None:
    """ConfirmShipment of an id that does not exist is NOT_FOUND."""
    with pytest.raises(grpc.RpcError) as caught:
        stubs(sortyard_channel).fulfillment.ConfirmShipment(
            fulfillment_service_pb2.ConfirmShipmentRequest(fulfillment_order_id="so_x-1"),
            timeout=TIMEOUT,
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
