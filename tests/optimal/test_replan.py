"""RoutingService/Replan over a real server: move reserved, unreleased orders only when cheaper."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.protobuf import timestamp_pb2
from sortyard.v1 import fulfillment_service_pb2, routing_service_pb2, types_pb2

from server.store import _replan
from tests.conftest import FIXED_NOW
from tests.optimal.test_optimal_server import CLASSIC_STOCK, sync
from tests.server.helpers import TIMEOUT, field_violations, order, route_request, stubs


def route_classic_greedily(channel: grpc.Channel) -> list[str]:
    """Route the classic pair one by one (greedy): 3 fulfillment orders. Returns the order ids."""
    routing = stubs(channel).routing
    ids = []
    for oid, lines in (("RP-1", [("OPT-A", 1)]), ("RP-2", [("OPT-A", 1), ("OPT-B", 1)])):
        response = routing.Route(route_request(order(oid, lines)), timeout=TIMEOUT)
        assert response.status == types_pb2.ROUTED
        ids.append(response.order_id)
    return ids


def live_reservations(server: Any) -> dict[tuple[str, str], int]:
    """Reserved units per (warehouse, sku), straight from the store."""
    with server.store.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT warehouse_id, sku, reserved FROM stock WHERE reserved > 0"
        ).all()
    return {(w, s): int(n) for w, s, n in rows}


def fulfillment_states(channel: grpc.Channel, order_id: str) -> list[tuple[str, str, int]]:
    response = stubs(channel).fulfillment.GetOrder(
        fulfillment_service_pb2.GetOrderRequest(order_id=order_id), timeout=TIMEOUT
    )
    return [
        (fo.fulfillment_order_id.rsplit("-", 1)[1], fo.warehouse_id, fo.state)
        for fo in response.fulfillment_orders
    ]


def test_replan_moves_what_lowers_the_cost_and_reports_before_and_after(
    backend_server: Any,
) -> None:
    """Greedily routed one by one, the pair uses 3 shipments; Replan moves both orders (order 1 to
    the far site, order 2 whole to the near one): 2 shipments, new fulfillment orders continuing
    each order's sequence, the old ones CANCELLED with a "replanned" event, reservations equal to
    the live allocations (invariants hold)."""
    with grpc.insecure_channel(backend_server.address) as channel:
        sync(channel, CLASSIC_STOCK)
        first, second = route_classic_greedily(channel)
        response = stubs(channel).routing.Replan(
            routing_service_pb2.ReplanRequest(), timeout=TIMEOUT
        )
        assert (response.shipments_before, response.shipments_after) == (3, 2)
        assert response.distance_km_after < response.distance_km_before
        assert sorted(response.moved_order_ids) == sorted([first, second])
        assert response.orders_considered == 2
        report = response.report
        assert report.bound <= report.objective + 1e-6
        assert report.objective < report.greedy_objective
        assert fulfillment_states(channel, first) == [
            ("1", "ORD-1", types_pb2.FULFILLMENT_ORDER_STATE_CANCELLED),
            ("2", "ATL-1", types_pb2.FULFILLMENT_ORDER_STATE_RESERVED),
        ]
        states = fulfillment_states(channel, second)
        assert [s for _, _, s in states[:2]] == [types_pb2.FULFILLMENT_ORDER_STATE_CANCELLED] * 2
        assert states[2:] == [("3", "ORD-1", types_pb2.FULFILLMENT_ORDER_STATE_RESERVED)]
        history = backend_server.store.get_order(second).events
        assert any(e.kind == "replanned" for e in history)
        assert backend_server.store.check_invariants() == []
        assert live_reservations(backend_server) == {
            ("ATL-1", "OPT-A"): 1,
            ("ORD-1", "OPT-A"): 1,
            ("ORD-1", "OPT-B"): 1,
        }
        # A client retry of the original route answers the order as it stands now.
        retry = stubs(channel).routing.Route(
            route_request(order("RP-2", [("OPT-A", 1), ("OPT-B", 1)])), timeout=TIMEOUT
        )
        assert retry.replayed
        assert [(fo.fulfillment_order_id, fo.warehouse_id) for fo in retry.fulfillment_orders] == [
            (f"{second}-3", "ORD-1")
        ]


def test_a_second_replan_moves_nothing(backend_server: Any) -> None:
    """Replanning again with nothing new changes nothing: no order moves, the numbers stay."""
    with grpc.insecure_channel(backend_server.address) as channel:
        sync(channel, CLASSIC_STOCK)
        route_classic_greedily(channel)
        routing = stubs(channel).routing
        routing.Replan(routing_service_pb2.ReplanRequest(), timeout=TIMEOUT)
        before = live_reservations(backend_server)
        again = routing.Replan(routing_service_pb2.ReplanRequest(), timeout=TIMEOUT)
        assert list(again.moved_order_ids) == []
        assert again.shipments_before == again.shipments_after == 2
        assert again.distance_km_before == pytest.approx(again.distance_km_after)
        assert live_reservations(backend_server) == before
        assert backend_server.store.check_invariants() == []


def test_a_failure_mid_replan_leaves_every_reservation_as_it_was(
    backend_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure after the old fulfillment orders were cancelled and released, before the new
    ones are written, rolls the whole transaction back: same reservations, same states."""
    with grpc.insecure_channel(backend_server.address) as channel:
        sync(channel, CLASSIC_STOCK)
        first, second = route_classic_greedily(channel)
        before = live_reservations(backend_server)
        states = [fulfillment_states(channel, oid) for oid in (first, second)]

        def explode(*args: object) -> None:
            raise RuntimeError("disk full")

        monkeypatch.setattr(_replan, "_write_new_fulfillment_orders", explode)
        with pytest.raises(grpc.RpcError):
            stubs(channel).routing.Replan(routing_service_pb2.ReplanRequest(), timeout=TIMEOUT)
        assert live_reservations(backend_server) == before
        assert [fulfillment_states(channel, oid) for oid in (first, second)] == states
        assert backend_server.store.check_invariants() == []


def test_dry_run_and_windows_change_nothing(backend_server: Any) -> None:
    """A dry run reports the move but writes nothing; a window that excludes every order (or an
    explicit id list naming none of them) considers nothing."""
    with grpc.insecure_channel(backend_server.address) as channel:
        sync(channel, CLASSIC_STOCK)
        first, _ = route_classic_greedily(channel)
        before = live_reservations(backend_server)
        routing = stubs(channel).routing
        dry = routing.Replan(routing_service_pb2.ReplanRequest(dry_run=True), timeout=TIMEOUT)
        assert (dry.shipments_before, dry.shipments_after) == (3, 2)
        assert live_reservations(backend_server) == before
        later = timestamp_pb2.Timestamp(seconds=int(FIXED_NOW.timestamp()) + 60)
        none = routing.Replan(routing_service_pb2.ReplanRequest(since=later), timeout=TIMEOUT)
        assert none.orders_considered == 0 and list(none.moved_order_ids) == []
        only_first = routing.Replan(
            routing_service_pb2.ReplanRequest(order_ids=[first]), timeout=TIMEOUT
        )
        # Alone, order 1 is already where it is cheapest: nothing to gain.
        assert only_first.orders_considered == 1 and list(only_first.moved_order_ids) == []
        assert live_reservations(backend_server) == before


def test_bad_replan_requests_are_invalid_argument(sortyard_server: Any) -> None:
    """A blank order id or an empty window is INVALID_ARGUMENT with the field path."""
    with grpc.insecure_channel(sortyard_server.address) as channel:
        routing = stubs(channel).routing
        with pytest.raises(grpc.RpcError) as caught:
            routing.Replan(routing_service_pb2.ReplanRequest(order_ids=["x", " "]), timeout=TIMEOUT)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "order_ids[1]" in field_violations(caught.value)
        t = timestamp_pb2.Timestamp(seconds=1000)
        with pytest.raises(grpc.RpcError) as caught:
            routing.Replan(routing_service_pb2.ReplanRequest(since=t, until=t), timeout=TIMEOUT)
        assert "until" in field_violations(caught.value)


def test_replans_racing_routes_and_cancels_never_oversell(backend_server: Any) -> None:
    """Eight clients route scarce orders while another cancels some and a third replans again
    and again: afterwards no unit is oversold, reservations equal the live allocations, and
    every routed order holds exactly the units it was routed with."""
    import threading

    with grpc.insecure_channel(backend_server.address) as channel:
        sync(channel, (("ORD-1", "OPT-A", 6), ("ORD-1", "OPT-B", 4), ("ATL-1", "OPT-A", 6)))
        api = stubs(channel)
        routed: dict[str, int] = {}
        errors: list[BaseException] = []
        lock = threading.Lock()

        def client(k: int) -> None:
            try:
                for i in range(6):
                    lines = [("OPT-A", 1)] if (k + i) % 2 else [("OPT-A", 1), ("OPT-B", 1)]
                    r = api.routing.Route(route_request(order(f"C{k}-{i}", lines)), timeout=TIMEOUT)
                    units = sum(ln.quantity for fo in r.fulfillment_orders for ln in fo.lines)
                    with lock:
                        routed[r.order_id] = units
                    if i == 3:
                        api.fulfillment.CancelOrder(
                            fulfillment_service_pb2.CancelOrderRequest(order_id=r.order_id),
                            timeout=TIMEOUT,
                        )
                        with lock:
                            routed[r.order_id] = 0
            except BaseException as error:  # surfaced below, in the test's thread
                errors.append(error)

        def replanner() -> None:
            try:
                for _ in range(4):
                    api.routing.Replan(routing_service_pb2.ReplanRequest(), timeout=TIMEOUT)
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
        threads.append(threading.Thread(target=replanner))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert backend_server.store.check_invariants() == []
        for order_id, units in routed.items():
            stored = backend_server.store.get_order(order_id)
            assert stored is not None
            live = [fo for fo in stored.fulfillment_orders if fo.state.value == "RESERVED"]
            assert sum(a.quantity for fo in live for a in fo.lines) == units
