"""The warehouse handoff over gRPC: release, pick lists, push, partial shipments, delivery,
warehouse cancels and short syncs that re-route, on SQLite and PostgreSQL."""

from __future__ import annotations

import queue
import threading
from typing import cast

import grpc
import pytest
from sortyard.v1 import fulfillment_service_pb2 as fs
from sortyard.v1 import types_pb2

from server._convert import datetime_to_proto
from tests.lifecycle.conftest import TIMEOUT, Api, Clock

FO = types_pb2


def _order(api: Api, order_id: str) -> fs.GetOrderResponse:
    return cast(
        fs.GetOrderResponse,
        api.fulfillment.GetOrder(fs.GetOrderRequest(order_id=order_id), timeout=TIMEOUT),
    )


def _release(api: Api, *ids: str) -> fs.ReleaseFulfillmentOrdersResponse:
    return cast(
        fs.ReleaseFulfillmentOrdersResponse,
        api.fulfillment.ReleaseFulfillmentOrders(
            fs.ReleaseFulfillmentOrdersRequest(fulfillment_order_ids=list(ids)), timeout=TIMEOUT
        ),
    )


def _confirm(
    api: Api, fid: str, tracking: str, lines: list[tuple[str, int]] | None = None
) -> fs.ConfirmShipmentResponse:
    return cast(
        fs.ConfirmShipmentResponse,
        api.fulfillment.ConfirmShipment(
            fs.ConfirmShipmentRequest(
                fulfillment_order_id=fid,
                carrier="UPS",
                tracking_number=tracking,
                lines=[
                    types_pb2.FulfillmentLine(line_id=line_id, quantity=q)
                    for line_id, q in lines or []
                ],
            ),
            timeout=TIMEOUT,
        ),
    )


def test_release_list_ship_deliver_records_every_step_with_its_time(api: Api, clock: Clock) -> None:
    """A routed order walks RESERVED -> RELEASED -> SHIPPED -> DELIVERED; the pick list carries
    lines, service level and ship-by; GetOrder's history has each step at the time it happened."""
    api.sync(("EAST", "MUG", 10))
    routed = api.route("A-1", ("MUG", 2))
    [fo] = routed.fulfillment_orders
    assert fo.warehouse_id == "EAST"
    assert (
        api.fulfillment.ListReleased(
            fs.ListReleasedRequest(warehouse_id="EAST"), timeout=TIMEOUT
        ).pick_lists
        == []
    )

    released_at = clock.advance(hours=1)
    [released] = _release(api, fo.fulfillment_order_id).released
    assert released.fulfillment_order.state == FO.FULFILLMENT_ORDER_STATE_RELEASED
    waiting = api.fulfillment.ListReleased(
        fs.ListReleasedRequest(warehouse_id="EAST"), timeout=TIMEOUT
    ).pick_lists
    assert [p.fulfillment_order.fulfillment_order_id for p in waiting] == [fo.fulfillment_order_id]
    pick = waiting[0]
    assert [(ln.sku, ln.quantity) for ln in pick.lines] == [("MUG", 2)]
    assert pick.service_level == types_pb2.STANDARD
    assert pick.ship_by == fo.ship_by and pick.ship_by.seconds > 0
    assert pick.released_at == datetime_to_proto(released_at)
    assert _order(api, routed.order_id).status == FO.ORDER_STATE_RELEASED

    clock.advance(hours=2)
    _confirm(api, fo.fulfillment_order_id, "1Z1")
    assert api.cell("EAST", "MUG") == (8, 0)
    assert _order(api, routed.order_id).status == FO.ORDER_STATE_SHIPPED
    assert (
        api.fulfillment.ListReleased(
            fs.ListReleasedRequest(warehouse_id="EAST"), timeout=TIMEOUT
        ).pick_lists
        == []
    )

    delivered_at = clock.advance(days=2)
    answer = api.fulfillment.MarkDelivered(
        fs.MarkDeliveredRequest(fulfillment_order_id=fo.fulfillment_order_id), timeout=TIMEOUT
    )
    assert answer.fulfillment_order.state == FO.FULFILLMENT_ORDER_STATE_DELIVERED
    assert not answer.already_delivered
    again = api.fulfillment.MarkDelivered(
        fs.MarkDeliveredRequest(fulfillment_order_id=fo.fulfillment_order_id), timeout=TIMEOUT
    )
    assert again.already_delivered

    order = _order(api, routed.order_id)
    assert order.status == FO.ORDER_STATE_DELIVERED
    history = [(e.event, e.at.ToDatetime().hour) for e in order.history]
    assert [e for e, _ in history] == ["routed", "released", "shipped", "delivered"]
    assert [e.at for e in order.history][1] == datetime_to_proto(released_at)
    assert [e.at for e in order.history][3] == datetime_to_proto(delivered_at)
    assert api.running.store.check_invariants() == []


def test_release_by_warehouse_takes_only_what_ships_before_the_cutoff(api: Api) -> None:
    """Releasing for a warehouse with ship_by_before takes its reserved fulfillment orders that
    must ship before that time, and nothing of another warehouse."""
    api.sync(("EAST", "MUG", 10), ("WEST", "MUG", 10))
    east = api.route("A-1", ("MUG", 1)).fulfillment_orders[0]
    west = api.route("A-2", ("MUG", 1), postal_code="90001").fulfillment_orders[0]
    assert (east.warehouse_id, west.warehouse_id) == ("EAST", "WEST")
    none = api.fulfillment.ReleaseFulfillmentOrders(
        fs.ReleaseFulfillmentOrdersRequest(warehouse_id="EAST", ship_by_before=east.ship_by),
        timeout=TIMEOUT,
    )
    assert list(none.released) == []
    later = east.ship_by.seconds + 1
    done = api.fulfillment.ReleaseFulfillmentOrders(
        fs.ReleaseFulfillmentOrdersRequest(warehouse_id="EAST", ship_by_before={"seconds": later}),
        timeout=TIMEOUT,
    )
    assert [p.fulfillment_order.fulfillment_order_id for p in done.released] == [
        east.fulfillment_order_id
    ]
    assert (
        api.fulfillment.ListReleased(
            fs.ListReleasedRequest(warehouse_id="WEST"), timeout=TIMEOUT
        ).pick_lists
        == []
    )


def test_release_of_a_shipped_fulfillment_order_is_failed_precondition(api: Api) -> None:
    """A shipped fulfillment order cannot be released; the error names its state. Releasing a
    released one again is a harmless no-op."""
    api.sync(("EAST", "MUG", 10))
    fo = api.route("A-1", ("MUG", 1)).fulfillment_orders[0]
    _release(api, fo.fulfillment_order_id)
    _release(api, fo.fulfillment_order_id)  # retried: no error
    _confirm(api, fo.fulfillment_order_id, "1Z1")
    with pytest.raises(grpc.RpcError) as caught:
        _release(api, fo.fulfillment_order_id)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "current state: SHIPPED" in (caught.value.details() or "")
    with pytest.raises(grpc.RpcError) as caught:
        api.fulfillment.MarkDelivered(
            fs.MarkDeliveredRequest(fulfillment_order_id="so_missing-1"), timeout=TIMEOUT
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_delivery_before_shipment_is_refused_naming_the_state(api: Api) -> None:
    """MarkDelivered on a fulfillment order that has not shipped is FAILED_PRECONDITION naming
    RESERVED, and changes nothing."""
    api.sync(("EAST", "MUG", 10))
    fo = api.route("A-1", ("MUG", 1)).fulfillment_orders[0]
    with pytest.raises(grpc.RpcError) as caught:
        api.fulfillment.MarkDelivered(
            fs.MarkDeliveredRequest(fulfillment_order_id=fo.fulfillment_order_id),
            timeout=TIMEOUT,
        )
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "RESERVED" in (caught.value.details() or "")
    assert api.cell("EAST", "MUG") == (10, 1)


def test_partial_shipments_take_each_unit_from_on_hand_exactly_once(api: Api) -> None:
    """A fulfillment order shipped in two packages: the first confirms part (PARTIALLY_SHIPPED,
    the rest still reserved and on the pick list), a retry of it changes nothing, the second
    ships the rest; on_hand drops by exactly the units, and each package carries its own lines."""
    api.sync(("EAST", "MUG", 10), ("EAST", "CUP", 5))
    routed = api.route("A-1", ("MUG", 3), ("CUP", 2))
    [fo] = routed.fulfillment_orders
    fid = fo.fulfillment_order_id
    _release(api, fid)

    first = _confirm(api, fid, "1Z1", [("1", 2)])
    assert first.fulfillment_order.state == FO.FULFILLMENT_ORDER_STATE_PARTIALLY_SHIPPED
    assert [(ln.sku, ln.quantity) for ln in first.fulfillment_order.remaining] == [
        ("MUG", 1),
        ("CUP", 2),
    ]
    assert api.cell("EAST", "MUG") == (8, 1)
    assert api.cell("EAST", "CUP") == (5, 2)
    assert _order(api, routed.order_id).status == FO.ORDER_STATE_PARTIALLY_SHIPPED
    [still] = api.fulfillment.ListReleased(
        fs.ListReleasedRequest(warehouse_id="EAST"), timeout=TIMEOUT
    ).pick_lists
    assert [(ln.sku, ln.quantity) for ln in still.lines] == [("MUG", 1), ("CUP", 2)]

    retry = _confirm(api, fid, "1Z1", [("1", 2)])
    assert retry.already_confirmed
    assert api.cell("EAST", "MUG") == (8, 1)

    with pytest.raises(grpc.RpcError) as caught:
        _confirm(api, fid, "1Z2", [("1", 2)])  # only one MUG is left
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert api.cell("EAST", "MUG") == (8, 1)

    second = _confirm(api, fid, "1Z2")
    assert second.fulfillment_order.state == FO.FULFILLMENT_ORDER_STATE_SHIPPED
    assert api.cell("EAST", "MUG") == (7, 0)
    assert api.cell("EAST", "CUP") == (3, 0)
    packages = {
        s.tracking_number: [(ln.sku, ln.quantity) for ln in s.lines]
        for s in second.fulfillment_order.shipments
    }
    assert packages == {"1Z1": [("MUG", 2)], "1Z2": [("MUG", 1), ("CUP", 2)]}
    assert _order(api, routed.order_id).status == FO.ORDER_STATE_SHIPPED
    tracking = [
        e.payload["lines"] for e in api.running.store.pull_outbox("amazon", kinds=("tracking",))
    ]
    assert tracking == [
        [{"line_id": "1", "sku": "MUG", "quantity": 2}],
        [
            {"line_id": "1", "sku": "MUG", "quantity": 1},
            {"line_id": "2", "sku": "CUP", "quantity": 2},
        ],
    ]
    assert api.running.store.check_invariants() == []


def test_watch_released_pushes_a_release_made_after_subscribing(api: Api) -> None:
    """A WatchReleased stream receives the pick list of a fulfillment order released after it
    subscribed (and not one of another warehouse), and ends when the client cancels."""
    api.sync(("EAST", "MUG", 10), ("WEST", "MUG", 10))
    east = api.route("A-1", ("MUG", 1)).fulfillment_orders[0]
    west = api.route("A-2", ("MUG", 1), postal_code="90001").fulfillment_orders[0]
    stream = api.fulfillment.WatchReleased(
        fs.WatchReleasedRequest(warehouse_id="EAST"), timeout=TIMEOUT
    )
    received: queue.Queue[fs.PickList | Exception] = queue.Queue()

    def read() -> None:
        try:
            for item in stream:
                received.put(item)
        except grpc.RpcError as error:
            received.put(error)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    # The first release may land before the server has taken its snapshot; that one is not
    # "after subscribing", so release WEST (not watched) and then EAST.
    _release(api, west.fulfillment_order_id)
    _release(api, east.fulfillment_order_id)
    item = received.get(timeout=TIMEOUT)
    assert isinstance(item, fs.PickList)
    assert item.fulfillment_order.fulfillment_order_id == east.fulfillment_order_id
    assert [(ln.sku, ln.quantity) for ln in item.lines] == [("MUG", 1)]
    stream.cancel()
    reader.join(timeout=TIMEOUT)
    assert not reader.is_alive()
    end = received.get(timeout=TIMEOUT)
    assert isinstance(end, grpc.RpcError) and end.code() == grpc.StatusCode.CANCELLED


def test_watch_released_with_backlog_then_ends_cleanly_on_shutdown(api: Api) -> None:
    """``include_existing`` first sends what already waits; stopping the server ends the stream
    promptly instead of holding the shutdown for its grace period."""
    api.sync(("EAST", "MUG", 10))
    fo = api.route("A-1", ("MUG", 1)).fulfillment_orders[0]
    _release(api, fo.fulfillment_order_id)
    stream = api.fulfillment.WatchReleased(
        fs.WatchReleasedRequest(warehouse_id="EAST", include_existing=True), timeout=TIMEOUT
    )
    first = next(stream)
    assert first.fulfillment_order.fulfillment_order_id == fo.fulfillment_order_id
    stopper = threading.Thread(target=api.running.stop, kwargs={"grace": 20.0})
    stopper.start()
    items = list(stream)  # ends (normally) when the hub closes
    stopper.join(timeout=TIMEOUT)
    assert items == []
    assert not stopper.is_alive()


def test_warehouse_cancel_reroutes_the_lines_elsewhere(api: Api) -> None:
    """A warehouse that cannot ship cancels its fulfillment order: its reservation is released
    and the lines are routed again under the policy, never back to that warehouse."""
    api.sync(("EAST", "MUG", 10), ("WEST", "MUG", 10))
    routed = api.route("A-1", ("MUG", 2))
    fid = routed.fulfillment_orders[0].fulfillment_order_id
    _release(api, fid)
    answer = api.fulfillment.CancelFulfillmentOrder(
        fs.CancelFulfillmentOrderRequest(fulfillment_order_id=fid, reason="flooded"),
        timeout=TIMEOUT,
    )
    outcome = answer.outcome
    assert list(outcome.from_fulfillment_order_ids) == [fid]
    [new] = outcome.new_fulfillment_orders
    assert new.warehouse_id == "WEST"
    assert [(ln.sku, ln.quantity) for ln in new.lines] == [("MUG", 2)]
    assert outcome.status == FO.ORDER_STATE_ROUTED
    assert api.cell("EAST", "MUG") == (10, 0)
    assert api.cell("WEST", "MUG") == (10, 2)
    order = _order(api, routed.order_id)
    states = {f.fulfillment_order_id: f.state for f in order.fulfillment_orders}
    assert states == {
        fid: FO.FULFILLMENT_ORDER_STATE_CANCELLED,
        new.fulfillment_order_id: FO.FULFILLMENT_ORDER_STATE_RESERVED,
    }
    assert "flooded" in next(
        f.cancel_reason for f in order.fulfillment_orders if f.fulfillment_order_id == fid
    )
    assert [e.event for e in order.history][-2:] == ["rerouted", "routed"]
    again = api.fulfillment.CancelFulfillmentOrder(
        fs.CancelFulfillmentOrderRequest(fulfillment_order_id=fid, reason="flooded"),
        timeout=TIMEOUT,
    )
    assert list(again.outcome.new_fulfillment_orders) == []
    assert api.cell("WEST", "MUG") == (10, 2)
    assert api.running.store.check_invariants() == []


def test_warehouse_cancel_with_nowhere_to_go_holds_the_order_with_a_reason(api: Api) -> None:
    """When no other warehouse has the units, the order is HELD with a reason naming the line,
    and nothing stays reserved."""
    api.sync(("EAST", "MUG", 10))
    routed = api.route("A-1", ("MUG", 2))
    fid = routed.fulfillment_orders[0].fulfillment_order_id
    outcome = api.fulfillment.CancelFulfillmentOrder(
        fs.CancelFulfillmentOrderRequest(fulfillment_order_id=fid, reason="scanner down"),
        timeout=TIMEOUT,
    ).outcome
    assert list(outcome.new_fulfillment_orders) == []
    assert [(u.sku, u.quantity) for u in outcome.unfilled] == [("MUG", 2)]
    order = _order(api, routed.order_id)
    assert order.status == FO.ORDER_STATE_HELD
    assert "MUG" in order.hold_reason and "scanner down" in order.hold_reason
    assert api.cell("EAST", "MUG") == (10, 0)
    assert api.running.store.check_invariants() == []


def test_warehouse_cancel_after_a_partial_shipment_reroutes_only_the_rest(api: Api) -> None:
    """Part of the fulfillment order left: that part stands (SHIPPED), only the unshipped units are
    routed again, and the order stays partially shipped."""
    api.sync(("EAST", "MUG", 10), ("WEST", "MUG", 10))
    routed = api.route("A-1", ("MUG", 3))
    fid = routed.fulfillment_orders[0].fulfillment_order_id
    _confirm(api, fid, "1Z1", [("1", 1)])
    outcome = api.fulfillment.CancelFulfillmentOrder(
        fs.CancelFulfillmentOrderRequest(fulfillment_order_id=fid, reason="out of boxes"),
        timeout=TIMEOUT,
    ).outcome
    [new] = outcome.new_fulfillment_orders
    assert (new.warehouse_id, new.lines[0].quantity) == ("WEST", 2)
    assert api.cell("EAST", "MUG") == (9, 0)
    assert api.cell("WEST", "MUG") == (10, 2)
    order = _order(api, routed.order_id)
    assert order.status == FO.ORDER_STATE_PARTIALLY_SHIPPED
    shipped = next(f for f in order.fulfillment_orders if f.fulfillment_order_id == fid)
    assert shipped.state == FO.FULFILLMENT_ORDER_STATE_SHIPPED
    assert [(ln.sku, ln.quantity) for ln in shipped.lines] == [("MUG", 1)]
    assert api.running.store.check_invariants() == []


def test_short_sync_reroutes_unreleased_reservations(api: Api) -> None:
    """A sync that counts fewer units than are reserved re-routes the newest unreleased
    fulfillment orders there until the reservations fit; a released one stays put."""
    api.sync(("EAST", "MUG", 4), ("WEST", "MUG", 10))
    first = api.route("A-1", ("MUG", 2))
    second = api.route("A-2", ("MUG", 2))
    assert {f.warehouse_id for f in (*first.fulfillment_orders, *second.fulfillment_orders)} == {
        "EAST"
    }
    _release(api, first.fulfillment_orders[0].fulfillment_order_id)
    response = api.sync(("EAST", "MUG", 2))
    assert [(s.warehouse_id, s.short_by) for s in response.shortfalls] == [("EAST", 2)]
    assert api.cell("EAST", "MUG") == (2, 2)
    assert api.cell("WEST", "MUG") == (10, 2)
    moved = _order(api, second.order_id)
    assert moved.status == FO.ORDER_STATE_ROUTED
    live = [f for f in moved.fulfillment_orders if f.state == FO.FULFILLMENT_ORDER_STATE_RESERVED]
    assert [f.warehouse_id for f in live] == ["WEST"]
    assert "rerouted" in [e.event for e in moved.history]
    kept = _order(api, first.order_id)
    assert kept.status == FO.ORDER_STATE_RELEASED
    assert api.running.store.check_invariants() == []


def test_cancelling_a_delivered_order_is_refused(api: Api) -> None:
    """An order whose every fulfillment order was delivered cannot be cancelled: the error
    names DELIVERED."""
    api.sync(("EAST", "MUG", 10))
    routed = api.route("A-1", ("MUG", 1))
    fid = routed.fulfillment_orders[0].fulfillment_order_id
    _confirm(api, fid, "1Z1")
    api.fulfillment.MarkDelivered(
        fs.MarkDeliveredRequest(fulfillment_order_id=fid), timeout=TIMEOUT
    )
    with pytest.raises(grpc.RpcError) as caught:
        api.fulfillment.CancelOrder(
            fs.CancelOrderRequest(order_id=routed.order_id), timeout=TIMEOUT
        )
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "DELIVERED" in (caught.value.details() or "")
