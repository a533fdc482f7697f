"""Bad input over a real server: INVALID_ARGUMENT with BadRequest field paths, nothing stored, and
the server keeps serving afterwards."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sortyard.v1 import (
    inventory_service_pb2,
    network_service_pb2,
    routing_service_pb2,
    types_pb2,
)

from tests.conftest import FIXED_NOW, load_examples
from tests.server.helpers import (
    TIMEOUT,
    Stubs,
    error_reason,
    field_violations,
    order,
    route_request,
    stubs,
)


def _no_lines() -> types_pb2.Order:
    o = order("SF-1")
    del o.lines[:]
    return o


def _with_line(sku: str, quantity: int) -> types_pb2.Order:
    return order("SF-1", [(sku, quantity)])


def _ten_thousand_lines() -> types_pb2.Order:
    return order("SF-1", [(f"SKU-{i}", 1) for i in range(10_000)])


def _duplicate_line_ids() -> types_pb2.Order:
    o = order("SF-1", [("MUG-11OZ-WHT", 1), ("TEE-CREW-BLK-M", 1)])
    o.lines[1].line_id = o.lines[0].line_id
    return o


def _no_address() -> types_pb2.Order:
    o = order("SF-1")
    o.ClearField("ship_to")
    return o


def _half_coordinates() -> types_pb2.Order:
    o = order("SF-1")
    o.ship_to.latitude = 41.0
    return o


ROUTE_CASES: list[tuple[str, Callable[[], types_pb2.Order], str]] = [
    ("no lines", _no_lines, "order.lines"),
    ("zero quantity", lambda: _with_line("MUG-11OZ-WHT", 0), "order.lines[0].quantity"),
    ("negative quantity", lambda: _with_line("MUG-11OZ-WHT", -3), "order.lines[0].quantity"),
    ("missing sku", lambda: _with_line("", 1), "order.lines[0].sku"),
    (
        "unspecified service level",
        lambda: order("SF-1", service_level=types_pb2.SERVICE_LEVEL_UNSPECIFIED),
        "order.service_level",
    ),
    ("unknown enum number", lambda: order("SF-1", service_level=42), "order.service_level"),
    ("ten thousand lines", _ten_thousand_lines, "order.lines"),
    ("duplicate line ids", _duplicate_line_ids, "order.lines[1].line_id"),
    ("no channel", lambda: order("SF-1", channel=""), "order.channel"),
    ("no channel order id", lambda: order(""), "order.channel_order_id"),
    ("no ship-to", _no_address, "order.ship_to"),
    ("latitude without longitude", _half_coordinates, "order.ship_to.longitude"),
]


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One server for the whole module: invalid requests write nothing, so tests can share it
    (and each test checks that they did not)."""
    from server import start_server

    db = tmp_path_factory.mktemp("bad-input") / "sortyard.db"
    running = start_server(f"sqlite:///{db}", "127.0.0.1:0", clock=lambda: FIXED_NOW)
    with grpc.insecure_channel(running.address) as channel:
        load_examples(channel)
    yield running
    running.stop(grace=1.0)


@pytest.fixture
def sortyard_server(shared_server: Any) -> Any:
    """This module's tests use the shared server."""
    return shared_server


@pytest.fixture
def sortyard_channel(shared_server: Any) -> Iterator[grpc.Channel]:
    """A fresh client channel to the shared server."""
    with grpc.insecure_channel(shared_server.address) as channel:
        yield channel


def assert_still_serving(s: Stubs, channel: grpc.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service=""), timeout=TIMEOUT
    )
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    ok = s.routing.Route(route_request(order("SF-AFTER")), timeout=TIMEOUT)
    assert ok.status == types_pb2.ROUTED


@pytest.mark.parametrize(
    ("case", "make", "path"), ROUTE_CASES, ids=[case for case, _, _ in ROUTE_CASES]
)
def test_malformed_order_is_invalid_argument_with_the_field_path(
    sortyard_channel: grpc.Channel,
    sortyard_server: Any,
    case: str,
    make: Callable[[], types_pb2.Order],
    path: str,
) -> None:
    """Each malformed order fails with INVALID_ARGUMENT naming the broken field; no order is stored
    and the server answers the next request normally."""
    s = stubs(sortyard_channel)
    with pytest.raises(grpc.RpcError) as caught:
        s.routing.Route(route_request(make()), timeout=TIMEOUT)
    error = caught.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, case
    violations = field_violations(error)
    assert path in violations, violations
    assert error_reason(error) == "ORDER_INVALID"
    assert path in error.details()
    assert_still_serving(s, sortyard_channel)
    assert sortyard_server.store.check_invariants() == []


def test_ten_thousand_lines_report_one_violation_not_ten_thousand(
    sortyard_channel: grpc.Channel,
) -> None:
    """An order far over the line limit gets one actionable violation, not one per line."""
    with pytest.raises(grpc.RpcError) as caught:
        stubs(sortyard_channel).routing.Route(route_request(_ten_thousand_lines()), timeout=TIMEOUT)
    violations = field_violations(caught.value)
    assert list(violations) == ["order.lines"]
    assert "10000" in violations["order.lines"]


def test_missing_order_is_invalid_argument(sortyard_channel: grpc.Channel) -> None:
    """A RouteRequest without an order names ``order``."""
    with pytest.raises(grpc.RpcError) as caught:
        stubs(sortyard_channel).routing.Route(routing_service_pb2.RouteRequest(), timeout=TIMEOUT)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "order" in field_violations(caught.value)


def test_sync_with_an_unknown_warehouse_applies_nothing(sortyard_channel: grpc.Channel) -> None:
    """A sync naming a warehouse the network lacks fails on ``levels[i].warehouse_id`` and leaves
    every count as it was (the valid level in the same request is not applied either)."""
    s = stubs(sortyard_channel)
    request = inventory_service_pb2.SyncRequest(
        levels=[
            inventory_service_pb2.StockLevel(warehouse_id="ORD-1", sku="MUG-11OZ-WHT", on_hand=999),
            inventory_service_pb2.StockLevel(warehouse_id="NOPE-9", sku="MUG-11OZ-WHT", on_hand=5),
        ]
    )
    with pytest.raises(grpc.RpcError) as caught:
        s.inventory.Sync(request, timeout=TIMEOUT)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "levels[1].warehouse_id" in field_violations(caught.value)
    after = s.inventory.GetAvailability(
        inventory_service_pb2.GetAvailabilityRequest(skus=["MUG-11OZ-WHT"]), timeout=TIMEOUT
    )
    assert {w.warehouse_id: w.on_hand for w in after.warehouses}["ORD-1"] == 16
    assert_still_serving(s, sortyard_channel)


@pytest.mark.parametrize(
    ("level", "path"),
    [
        (
            inventory_service_pb2.StockLevel(warehouse_id="ORD-1", sku="X", on_hand=-1),
            "levels[0].on_hand",
        ),
        (
            inventory_service_pb2.StockLevel(warehouse_id="ORD-1", sku="", on_hand=1),
            "levels[0].sku",
        ),
        (
            inventory_service_pb2.StockLevel(warehouse_id="", sku="X", on_hand=1),
            "levels[0].warehouse_id",
        ),
    ],
    ids=["negative on_hand", "no sku", "no warehouse"],
)
def test_malformed_stock_level_is_invalid_argument(
    sortyard_channel: grpc.Channel, level: inventory_service_pb2.StockLevel, path: str
) -> None:
    """Stock levels are checked field by field before the store sees them."""
    with pytest.raises(grpc.RpcError) as caught:
        stubs(sortyard_channel).inventory.Sync(
            inventory_service_pb2.SyncRequest(levels=[level]), timeout=TIMEOUT
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert path in field_violations(caught.value)


def _warehouse(**changes: Any) -> types_pb2.Warehouse:
    w = types_pb2.Warehouse(
        warehouse_id="SEA-1",
        name="Kent, WA",
        latitude=47.3776,
        longitude=-122.2854,
        time_zone="America/Los_Angeles",
        active=True,
        pickups=[types_pb2.CarrierPickup(cutoff_local_time="16:00")],
    )
    for key, value in changes.items():
        if key == "pickup":
            w.pickups[0].CopyFrom(value)
        else:
            setattr(w, key, value)
    return w


@pytest.mark.parametrize(
    ("warehouse", "path"),
    [
        (_warehouse(warehouse_id=""), "warehouses[0].warehouse_id"),
        (_warehouse(latitude=91.0), "warehouses[0].latitude"),
        (_warehouse(longitude=-181.0), "warehouses[0].longitude"),
        (_warehouse(time_zone="Mars/Olympus_Mons"), "warehouses[0].time_zone"),
        (_warehouse(time_zone=""), "warehouses[0].time_zone"),
        (
            _warehouse(pickup=types_pb2.CarrierPickup(cutoff_local_time="5pm")),
            "warehouses[0].pickups[0].cutoff_local_time",
        ),
        (
            _warehouse(pickup=types_pb2.CarrierPickup(cutoff_local_time="25:00")),
            "warehouses[0].pickups[0].cutoff_local_time",
        ),
        (
            _warehouse(pickup=types_pb2.CarrierPickup(cutoff_local_time="16:00", weekdays=[1, 8])),
            "warehouses[0].pickups[0].weekdays[1]",
        ),
        (
            _warehouse(
                pickup=types_pb2.CarrierPickup(
                    cutoff_local_time="16:00",
                    service_levels=[types_pb2.SERVICE_LEVEL_UNSPECIFIED],
                )
            ),
            "warehouses[0].pickups[0].service_levels[0]",
        ),
        (_warehouse(handling_days=-1), "warehouses[0].handling_days"),
    ],
    ids=[
        "no id",
        "latitude",
        "longitude",
        "unknown time zone",
        "no time zone",
        "cutoff not HH:MM",
        "cutoff hour 25",
        "weekday 8",
        "unspecified service level",
        "negative handling days",
    ],
)
def test_malformed_warehouse_is_invalid_argument_and_not_stored(
    sortyard_channel: grpc.Channel, warehouse: types_pb2.Warehouse, path: str
) -> None:
    """PutWarehouses checks ids, coordinates, IANA zones, HH:MM cutoffs, ISO weekdays and service
    levels; a bad warehouse is not stored."""
    s = stubs(sortyard_channel)
    with pytest.raises(grpc.RpcError) as caught:
        s.network.PutWarehouses(
            network_service_pb2.PutWarehousesRequest(warehouses=[warehouse]), timeout=TIMEOUT
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert path in field_violations(caught.value)
    listed = s.network.ListWarehouses(
        network_service_pb2.ListWarehousesRequest(include_inactive=True), timeout=TIMEOUT
    )
    assert "SEA-1" not in {w.warehouse_id for w in listed.warehouses}
