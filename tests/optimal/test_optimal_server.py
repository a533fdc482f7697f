"""RouteBatch(optimize=true) over a real server on a loopback port (SQLite, example network)."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.protobuf import duration_pb2
from sortyard.v1 import inventory_service_pb2, routing_service_pb2, types_pb2

from tests.server.helpers import TIMEOUT, field_violations, order, route_request, stubs

# Chicago (60629): Joliet (ORD-1) is next door, McDonough (ATL-1) about 950 km away.
CLASSIC_STOCK = (("ORD-1", "OPT-A", 1), ("ORD-1", "OPT-B", 1), ("ATL-1", "OPT-A", 1))


def sync(channel: grpc.Channel, levels: tuple[tuple[str, str, int], ...]) -> None:
    stubs(channel).inventory.Sync(
        inventory_service_pb2.SyncRequest(
            levels=[
                inventory_service_pb2.StockLevel(warehouse_id=w, sku=s, on_hand=n)
                for w, s, n in levels
            ]
        ),
        timeout=TIMEOUT,
    )


def classic_batch(**kwargs: Any) -> routing_service_pb2.RouteBatchRequest:
    return routing_service_pb2.RouteBatchRequest(
        requests=[
            route_request(order("OPT-1", [("OPT-A", 1)])),
            route_request(order("OPT-2", [("OPT-A", 1), ("OPT-B", 1)])),
        ],
        **kwargs,
    )


def test_optimized_batch_uses_fewer_shipments_and_reserves_them(
    backend_server: Any,
) -> None:
    """Greedy (a dry run) splits the second order (3 fulfillment orders); optimize=true ships both
    orders whole (2), reserves exactly those units, reports bound <= objective < greedy
    objective, and the store's invariants hold. Sending the batch again replays it."""
    with grpc.insecure_channel(backend_server.address) as channel:
        sync(channel, CLASSIC_STOCK)
        routing = stubs(channel).routing
        dry = classic_batch()
        for r in dry.requests:
            r.dry_run = True
        greedy = routing.RouteBatch(dry, timeout=TIMEOUT)
        assert sum(len(r.fulfillment_orders) for r in greedy.responses) == 3
        assert not greedy.HasField("optimization")

        batch = classic_batch(optimize=True, time_budget=duration_pb2.Duration(seconds=5))
        optimized = routing.RouteBatch(batch, timeout=TIMEOUT)
        assert [r.status for r in optimized.responses] == [types_pb2.ROUTED, types_pb2.ROUTED]
        sites = [[fo.warehouse_id for fo in r.fulfillment_orders] for r in optimized.responses]
        assert sites == [["ATL-1"], ["ORD-1"]]
        fo = optimized.responses[0].fulfillment_orders[0]
        assert fo.fulfillment_order_id and fo.distance_km > 500
        assert fo.HasField("ship_by") and fo.HasField("deliver_by")
        report = optimized.optimization
        assert report.bound <= report.objective + 1e-6
        assert report.objective < report.greedy_objective
        assert report.components == 1 and list(report.fallback_components) == []
        assert report.gap == pytest.approx((report.objective - report.bound) / report.objective)

        availability = stubs(channel).inventory.GetAvailability(
            inventory_service_pb2.GetAvailabilityRequest(skus=["OPT-A", "OPT-B"]),
            timeout=TIMEOUT,
        )
        held = {(w.warehouse_id, w.sku): w.reserved for w in availability.warehouses}
        assert {k: v for k, v in held.items() if v} == {
            ("ATL-1", "OPT-A"): 1,
            ("ORD-1", "OPT-A"): 1,
            ("ORD-1", "OPT-B"): 1,
        }
        assert backend_server.store.check_invariants() == []

        again = routing.RouteBatch(batch, timeout=TIMEOUT)
        assert all(r.replayed for r in again.responses)
        assert [[fo.warehouse_id for fo in r.fulfillment_orders] for r in again.responses] == sites
        assert backend_server.store.check_invariants() == []


def test_optimized_dry_run_reserves_nothing(backend_server: Any) -> None:
    """optimize=true with dry runs decides jointly, reports, and writes nothing."""
    with grpc.insecure_channel(backend_server.address) as channel:
        sync(channel, CLASSIC_STOCK)
        batch = classic_batch(optimize=True)
        for r in batch.requests:
            r.dry_run = True
        response = stubs(channel).routing.RouteBatch(batch, timeout=TIMEOUT)
        assert sum(len(r.fulfillment_orders) for r in response.responses) == 2
        assert response.optimization.objective < response.optimization.greedy_objective
        assert all(not r.order_id for r in response.responses)
        again = stubs(channel).routing.RouteBatch(batch, timeout=TIMEOUT)
        assert sum(len(r.fulfillment_orders) for r in again.responses) == 2


def test_rejected_orders_stay_rejected_in_an_optimized_batch(backend_server: Any) -> None:
    """A malformed order is REJECTED with its field path; the rest is optimised."""
    with grpc.insecure_channel(backend_server.address) as channel:
        sync(channel, CLASSIC_STOCK)
        batch = classic_batch(optimize=True)
        batch.requests.insert(1, route_request(order("BAD", [("OPT-A", 0)])))
        response = stubs(channel).routing.RouteBatch(batch, timeout=TIMEOUT)
        statuses = [r.status for r in response.responses]
        assert statuses == [types_pb2.ROUTED, types_pb2.REJECTED, types_pb2.ROUTED]
        assert (
            response.responses[1].field_violations[0].field == "requests[1].order.lines[0].quantity"
        )
        assert sum(len(r.fulfillment_orders) for r in response.responses) == 2


def test_a_negative_time_budget_is_invalid_argument(sortyard_server: Any) -> None:
    """time_budget < 0 is INVALID_ARGUMENT naming the field, and nothing is routed."""
    with grpc.insecure_channel(sortyard_server.address) as channel:
        batch = classic_batch(optimize=True, time_budget=duration_pb2.Duration(seconds=-1))
        with pytest.raises(grpc.RpcError) as caught:
            stubs(channel).routing.RouteBatch(batch, timeout=TIMEOUT)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "time_budget" in field_violations(caught.value)
        assert (
            sortyard_server.store.get_order(channel="storefront", channel_order_id="OPT-1") is None
        )


@pytest.mark.parametrize(
    ("budget", "expected"),
    [
        (None, 2.0),
        (duration_pb2.Duration(nanos=250_000_000), 0.25),
        (duration_pb2.Duration(seconds=3600), 15.0),
    ],
)
def test_the_time_budget_reaches_the_solver_defaulted_and_capped(
    sortyard_server: Any,
    monkeypatch: pytest.MonkeyPatch,
    budget: duration_pb2.Duration | None,
    expected: float,
) -> None:
    """The solver gets time_budget (2 s when unset), never more than half of the caller's
    deadline (30 s here) nor the server's cap."""
    import engine

    seen: list[float] = []
    real = engine.route_optimized

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs["time_budget_s"])
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "route_optimized", spy)
    with grpc.insecure_channel(sortyard_server.address) as channel:
        sync(channel, CLASSIC_STOCK)
        batch = classic_batch(optimize=True)
        if budget is not None:
            batch.time_budget.CopyFrom(budget)
        stubs(channel).routing.RouteBatch(batch, timeout=TIMEOUT)
    assert len(seen) == 1
    assert seen[0] == pytest.approx(expected, abs=0.5 if expected == 15.0 else 1e-9)
