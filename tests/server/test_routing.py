"""RoutingService over a real server on a loopback port, with the example network and stock.

Stock facts the tests rely on (server/examples/stock.csv): KEYB-MECH-TKL exists only at ONT-1 (3
units); LAMP-DESK-LED is scarce everywhere (at most 6 units at any one site, 18 in all).
"""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from sortyard.v1 import (
    fulfillment_service_pb2,
    inventory_service_pb2,
    routing_service_pb2,
    types_pb2,
)

from tests.server.helpers import TIMEOUT, field_violations, order, route_request, stubs


def reserved(channel: grpc.Channel, sku: str) -> dict[str, int]:
    """Reserved units of ``sku`` per warehouse, as GetAvailability reports them."""
    response = stubs(channel).inventory.GetAvailability(
        inventory_service_pb2.GetAvailabilityRequest(skus=[sku]), timeout=TIMEOUT
    )
    return {w.warehouse_id: w.reserved for w in response.warehouses if w.reserved}


def test_route_reserves_at_the_nearest_site_that_fills_the_order(
    sortyard_channel: grpc.Channel,
) -> None:
    """A Chicago order ships whole from Joliet (ORD-1) and its units are reserved there."""
    s = stubs(sortyard_channel)
    response = s.routing.Route(
        route_request(order("SF-1", [("MUG-11OZ-WHT", 2), ("TEE-CREW-BLK-M", 1)])),
        timeout=TIMEOUT,
    )
    assert response.status == types_pb2.ROUTED
    assert response.order_id and response.channel_order_id == "SF-1"
    assert [fo.warehouse_id for fo in response.fulfillment_orders] == ["ORD-1"]
    fo = response.fulfillment_orders[0]
    assert fo.fulfillment_order_id and fo.channel_order_id == "SF-1"
    assert {(ln.sku, ln.quantity) for ln in fo.lines} == {
        ("MUG-11OZ-WHT", 2),
        ("TEE-CREW-BLK-M", 1),
    }
    assert fo.distance_km < 100 and fo.HasField("ship_by") and fo.HasField("deliver_by")
    assert response.policy_version == "default"
    assert reserved(sortyard_channel, "MUG-11OZ-WHT") == {"ORD-1": 2}


def test_route_splits_across_sites_and_every_split_points_back_to_the_order(
    sortyard_channel: grpc.Channel,
) -> None:
    """10 desk lamps exist at no single site: the order splits, units add up, each split names the
    channel order."""
    response = stubs(sortyard_channel).routing.Route(
        route_request(order("SF-SPLIT", [("LAMP-DESK-LED", 10)])), timeout=TIMEOUT
    )
    assert response.status == types_pb2.ROUTED
    assert len(response.fulfillment_orders) >= 2
    assert len({fo.warehouse_id for fo in response.fulfillment_orders}) == len(
        response.fulfillment_orders
    )
    assert sum(ln.quantity for fo in response.fulfillment_orders for ln in fo.lines) == 10
    assert all(fo.channel_order_id == "SF-SPLIT" for fo in response.fulfillment_orders)
    assert all(fo.order_id == response.order_id for fo in response.fulfillment_orders)


def test_replaying_an_order_answers_the_stored_decision_and_reserves_nothing_more(
    sortyard_channel: grpc.Channel,
) -> None:
    """The same order routed twice (a client retry) is answered from the store: replayed=True, the
    same fulfillment orders, and the reservation counted once."""
    s = stubs(sortyard_channel)
    request = route_request(order("SF-RETRY", [("MUG-11OZ-WHT", 3)]), request_id="req-retry-1")
    first = s.routing.Route(request, timeout=TIMEOUT)
    second = s.routing.Route(request, timeout=TIMEOUT)
    assert not first.replayed and second.replayed
    assert [fo.fulfillment_order_id for fo in second.fulfillment_orders] == [
        fo.fulfillment_order_id for fo in first.fulfillment_orders
    ]
    assert second.status == first.status == types_pb2.ROUTED
    assert sum(reserved(sortyard_channel, "MUG-11OZ-WHT").values()) == 3


def test_request_id_reused_with_another_order_is_invalid_argument(
    sortyard_channel: grpc.Channel,
) -> None:
    """An idempotency key reused with a different payload fails with INVALID_ARGUMENT on
    ``request_id`` and reserves nothing for the second order."""
    s = stubs(sortyard_channel)
    s.routing.Route(route_request(order("SF-A"), request_id="same-key"), timeout=TIMEOUT)
    with pytest.raises(grpc.RpcError) as caught:
        s.routing.Route(route_request(order("SF-B"), request_id="same-key"), timeout=TIMEOUT)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "request_id" in field_violations(caught.value)
    with pytest.raises(grpc.RpcError) as missing:
        s.fulfillment.GetOrder(
            fulfillment_service_pb2.GetOrderRequest(channel="storefront", channel_order_id="SF-B"),
            timeout=TIMEOUT,
        )
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


def test_dry_run_explains_and_writes_nothing(sortyard_channel: grpc.Channel) -> None:
    """A dry run always explains (even without explain=true), reserves nothing and stores no order;
    routing the same order for real afterwards is not a replay."""
    s = stubs(sortyard_channel)
    request = route_request(order("SF-DRY", [("MUG-11OZ-WHT", 2)]), dry_run=True)
    response = s.routing.Route(request, timeout=TIMEOUT)
    assert response.status == types_pb2.ROUTED
    assert response.explanation.lines and response.explanation.summary
    assert response.order_id == ""
    assert all(fo.fulfillment_order_id == "" for fo in response.fulfillment_orders)
    assert reserved(sortyard_channel, "MUG-11OZ-WHT") == {}
    with pytest.raises(grpc.RpcError) as caught:
        s.fulfillment.GetOrder(
            fulfillment_service_pb2.GetOrderRequest(
                channel="storefront", channel_order_id="SF-DRY"
            ),
            timeout=TIMEOUT,
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    real = s.routing.Route(route_request(order("SF-DRY", [("MUG-11OZ-WHT", 2)])), timeout=TIMEOUT)
    assert not real.replayed and real.order_id


def test_explanation_is_returned_only_when_asked(sortyard_channel: grpc.Channel) -> None:
    """explain=true returns every candidate with a verdict; without it the response has none."""
    s = stubs(sortyard_channel)
    plain = s.routing.Route(route_request(order("SF-E1")), timeout=TIMEOUT)
    explained = s.routing.Route(route_request(order("SF-E2"), explain=True), timeout=TIMEOUT)
    assert not plain.HasField("explanation")
    (line,) = explained.explanation.lines
    verdicts = {c.warehouse_id: c.verdict for c in line.candidates}
    assert verdicts["ORD-1"] == types_pb2.CANDIDATE_VERDICT_CHOSEN
    assert len(verdicts) == 6


def test_unknown_postal_code_is_held_with_a_reason(sortyard_channel: grpc.Channel) -> None:
    """An unknown ZIP holds the order (never a guessed location), reserving nothing."""
    response = stubs(sortyard_channel).routing.Route(
        route_request(order("SF-NOZIP", postal_code="00000")), timeout=TIMEOUT
    )
    assert response.status == types_pb2.HELD
    assert response.hold_code == "UNKNOWN_POSTAL_CODE" and response.hold_reason
    assert not response.fulfillment_orders
    assert reserved(sortyard_channel, "MUG-11OZ-WHT") == {}


def test_batch_answers_in_request_order_and_later_orders_see_earlier_reservations(
    sortyard_channel: grpc.Channel,
) -> None:
    """Three orders for 2 of the 3 keyboards at ONT-1: the first is routed, the second gets the
    last unit, the third is backordered, and the responses come back in request order."""
    batch = routing_service_pb2.RouteBatchRequest(
        requests=[
            route_request(order(f"SF-K{i}", [("KEYB-MECH-TKL", 2)], postal_code="90011"))
            for i in range(3)
        ]
    )
    responses = stubs(sortyard_channel).routing.RouteBatch(batch, timeout=TIMEOUT).responses
    assert [r.channel_order_id for r in responses] == ["SF-K0", "SF-K1", "SF-K2"]
    assert [r.status for r in responses] == [
        types_pb2.ROUTED,
        types_pb2.PARTIALLY_ROUTED,
        types_pb2.BACKORDERED,
    ]
    assert responses[1].unfilled[0].quantity == 1 and responses[1].unfilled[0].code
    assert reserved(sortyard_channel, "KEYB-MECH-TKL") == {"ONT-1": 3}


def test_batch_rejects_malformed_entries_with_their_paths_and_routes_the_rest(
    sortyard_channel: grpc.Channel,
) -> None:
    """A bad entry is REJECTED with violations named ``requests[i].order...``; the rest proceed."""
    bad = order("SF-BAD", [("MUG-11OZ-WHT", 0)])
    unspecified = order("SF-UNSPEC", service_level=types_pb2.SERVICE_LEVEL_UNSPECIFIED)
    batch = routing_service_pb2.RouteBatchRequest(
        requests=[
            route_request(order("SF-OK1")),
            route_request(bad),
            route_request(unspecified),
            route_request(order("SF-OK2")),
        ]
    )
    responses = stubs(sortyard_channel).routing.RouteBatch(batch, timeout=TIMEOUT).responses
    assert [r.status for r in responses] == [
        types_pb2.ROUTED,
        types_pb2.REJECTED,
        types_pb2.REJECTED,
        types_pb2.ROUTED,
    ]
    assert {v.field for v in responses[1].field_violations} == {
        "requests[1].order.lines[0].quantity"
    }
    assert {v.field for v in responses[2].field_violations} == {"requests[2].order.service_level"}
    assert not responses[1].order_id and not responses[1].fulfillment_orders


def test_batch_entry_reusing_a_request_id_is_rejected_alone(sortyard_channel: grpc.Channel) -> None:
    """In a batch, a request_id conflict rejects that entry alone (``requests[i].request_id``)."""
    s = stubs(sortyard_channel)
    s.routing.Route(route_request(order("SF-KEY1"), request_id="k-1"), timeout=TIMEOUT)
    batch = routing_service_pb2.RouteBatchRequest(
        requests=[
            route_request(order("SF-KEY2"), request_id="k-1"),
            route_request(order("SF-KEY3"), request_id="k-3"),
        ]
    )
    responses = s.routing.RouteBatch(batch, timeout=TIMEOUT).responses
    assert responses[0].status == types_pb2.REJECTED
    assert [v.field for v in responses[0].field_violations] == ["requests[0].request_id"]
    assert responses[1].status == types_pb2.ROUTED


def test_batch_larger_than_the_limit_fails_whole_with_a_clear_violation(
    sortyard_channel: grpc.Channel,
) -> None:
    """More than MAX_BATCH_REQUESTS entries: INVALID_ARGUMENT on ``requests``, nothing routed."""
    from server._validate import MAX_BATCH_REQUESTS

    tiny = route_request(order("SF-X"))
    batch = routing_service_pb2.RouteBatchRequest(requests=[tiny] * (MAX_BATCH_REQUESTS + 1))
    with pytest.raises(grpc.RpcError) as caught:
        stubs(sortyard_channel).routing.RouteBatch(batch, timeout=TIMEOUT)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "split the batch" in field_violations(caught.value)["requests"]
    assert reserved(sortyard_channel, "MUG-11OZ-WHT") == {}


def test_batch_with_dry_run_entries_commits_only_the_others(
    sortyard_channel: grpc.Channel, sortyard_server: Any
) -> None:
    """Dry-run entries in a batch write nothing; the real entries around them are stored."""
    batch = routing_service_pb2.RouteBatchRequest(
        requests=[
            route_request(order("SF-M1", [("MUG-11OZ-WHT", 1)])),
            route_request(order("SF-M2", [("MUG-11OZ-WHT", 5)]), dry_run=True),
            route_request(order("SF-M3", [("MUG-11OZ-WHT", 1)])),
        ]
    )
    responses = stubs(sortyard_channel).routing.RouteBatch(batch, timeout=TIMEOUT).responses
    assert [bool(r.order_id) for r in responses] == [True, False, True]
    assert responses[1].explanation.lines
    assert sum(reserved(sortyard_channel, "MUG-11OZ-WHT").values()) == 2
    assert sortyard_server.store.check_invariants() == []
