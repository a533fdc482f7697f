"""Unknown SKUs over a real gRPC server (example network and stock): HELD with UNKNOWN_SKU.

A SKU with no stock row anywhere and no catalog entry is unknown; an order naming one is held with
the code UNKNOWN_SKU and a reason naming the SKU, on SQLite and PostgreSQL, in unary Route and in
RouteBatch, and GetOrder tells the same story afterwards.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import pytest
from sortyard.v1 import fulfillment_service_pb2, routing_service_pb2, types_pb2

from tests.db import database_url, database_urls
from tests.server.helpers import TIMEOUT, order, route_request, stubs


@pytest.fixture(params=database_urls())
def channel(request: pytest.FixtureRequest, tmp_path: Path, start_sortyard: Any) -> Any:
    """A client channel to a server with the example network and stock, once per backend."""
    with database_url(request.param, tmp_path) as url:
        running = start_sortyard(url)
        with grpc.insecure_channel(running.address) as ch:
            yield ch
        running.stop(grace=1.0)


def test_route_holds_an_order_with_an_unknown_sku(channel: grpc.Channel) -> None:
    """Unary Route of an order with an unknown SKU answers HELD, hold_code UNKNOWN_SKU, a reason
    naming the SKU and no fulfillment orders; GetOrder reports the stored order as HELD."""
    s = stubs(channel)
    response = s.routing.Route(
        route_request(order("SF-GHOST", [("NO-SUCH-SKU", 1)])), timeout=TIMEOUT
    )
    assert response.status == types_pb2.HELD
    assert response.hold_code == "UNKNOWN_SKU"
    assert "NO-SUCH-SKU" in response.hold_reason
    assert len(response.fulfillment_orders) == 0
    stored = s.fulfillment.GetOrder(
        fulfillment_service_pb2.GetOrderRequest(order_id=response.order_id), timeout=TIMEOUT
    )
    assert stored.status == types_pb2.ORDER_STATE_HELD
    assert stored.route_status == types_pb2.HELD
    assert "NO-SUCH-SKU" in stored.hold_reason
    assert len(stored.fulfillment_orders) == 0


def test_route_batch_holds_only_the_orders_with_unknown_skus(channel: grpc.Channel) -> None:
    """In a RouteBatch, an order mixing a stocked SKU with an unknown one is held whole (naming
    only the unknown SKU) while a plain order of the stocked SKU routes as usual."""
    s = stubs(channel)
    response = s.routing.RouteBatch(
        routing_service_pb2.RouteBatchRequest(
            requests=[
                route_request(order("SF-B1", [("MUG-11OZ-WHT", 1), ("GHOST-TEE", 1)])),
                route_request(order("SF-B2", [("MUG-11OZ-WHT", 1)])),
            ]
        ),
        timeout=TIMEOUT,
    )
    held, routed = response.responses
    assert held.status == types_pb2.HELD and held.hold_code == "UNKNOWN_SKU"
    assert "GHOST-TEE" in held.hold_reason and "MUG-11OZ-WHT" not in held.hold_reason
    assert len(held.fulfillment_orders) == 0
    assert routed.status == types_pb2.ROUTED
    assert [ln.sku for fo in routed.fulfillment_orders for ln in fo.lines] == ["MUG-11OZ-WHT"]
