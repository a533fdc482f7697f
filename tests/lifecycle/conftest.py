"""Fixtures of the lifecycle tests: a real server on 127.0.0.1:0 over SQLite and PostgreSQL, with a
clock the test moves, a two-warehouse network and client stubs of every service used here."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

import grpc
import pytest
from sortyard.v1 import (
    inventory_service_pb2,
    network_service_pb2,
    returns_service_pb2_grpc,
    routing_service_pb2,
    types_pb2,
)

from server import start_server
from server._app import RunningServer
from server._stubs import ApiStubs
from tests.db import db_url

__all__ = ["Api", "Clock", "api", "clock", "db_url", "server"]

TIMEOUT = 30.0
# A Tuesday, 10:00 in New York.
START = dt.datetime(2026, 3, 10, 15, 0, tzinfo=dt.UTC)


class Clock:
    """The server's clock; tests move it forward to put times on the history."""

    def __init__(self, now: dt.datetime = START) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now


@dataclass
class Api:
    """Client stubs on one channel to the test server, plus helpers that drive it."""

    channel: grpc.Channel
    stubs: ApiStubs
    returns: Any
    running: RunningServer

    @property
    def routing(self) -> Any:
        return self.stubs.routing

    @property
    def fulfillment(self) -> Any:
        return self.stubs.fulfillment

    @property
    def inventory(self) -> Any:
        return self.stubs.inventory

    def sync(self, *levels: tuple[str, str, int]) -> inventory_service_pb2.SyncResponse:
        return cast(
            inventory_service_pb2.SyncResponse,
            self.inventory.Sync(
                inventory_service_pb2.SyncRequest(
                    levels=[
                        inventory_service_pb2.StockLevel(warehouse_id=w, sku=s, on_hand=n)
                        for w, s, n in levels
                    ]
                ),
                timeout=TIMEOUT,
            ),
        )

    def route(
        self,
        channel_order_id: str,
        *lines: tuple[str, int],
        channel: str = "amazon",
        postal_code: str = "10001",
    ) -> routing_service_pb2.RouteResponse:
        order = types_pb2.Order(
            channel=channel,
            channel_order_id=channel_order_id,
            lines=[
                types_pb2.OrderLine(line_id=str(i), sku=sku, quantity=q)
                for i, (sku, q) in enumerate(lines, start=1)
            ],
            ship_to=types_pb2.Address(postal_code=postal_code, country_code="US"),
            service_level=types_pb2.STANDARD,
        )
        return cast(
            routing_service_pb2.RouteResponse,
            self.routing.Route(routing_service_pb2.RouteRequest(order=order), timeout=TIMEOUT),
        )

    def cell(self, warehouse_id: str, sku: str) -> tuple[int, int]:
        """(on_hand, reserved) of one stock cell, straight from the store."""
        network = self.running.runtime.network()
        table = self.running.store.load_stock([sku], network)
        j = network.index_of(warehouse_id)
        return int(table.on_hand[0, j]), int(table.reserved[0, j])


WAREHOUSES = [
    # East is nearest to New York (10001), West to Los Angeles (90001).
    types_pb2.Warehouse(
        warehouse_id="EAST",
        name="Edison, NJ",
        latitude=40.5171,
        longitude=-74.3973,
        postal_code="08817",
        country_code="US",
        time_zone="America/New_York",
        active=True,
    ),
    types_pb2.Warehouse(
        warehouse_id="WEST",
        name="Ontario, CA",
        latitude=34.0633,
        longitude=-117.6509,
        postal_code="91761",
        country_code="US",
        time_zone="America/Los_Angeles",
        active=True,
    ),
]


@pytest.fixture
def clock() -> Clock:
    """A clock the test moves; the server reads it for every timestamp it writes."""
    return Clock()


@pytest.fixture
def server(db_url: str, clock: Clock) -> Iterator[RunningServer]:
    """A real server on a free loopback port, on SQLite and PostgreSQL, with EAST and WEST."""
    running = start_server(db_url, "127.0.0.1:0", clock=clock)
    try:
        with grpc.insecure_channel(running.address) as channel:
            ApiStubs.connect(channel).network.PutWarehouses(
                network_service_pb2.PutWarehousesRequest(warehouses=WAREHOUSES), timeout=TIMEOUT
            )
        yield running
    finally:
        running.stop(grace=1.0)


@pytest.fixture
def api(server: RunningServer) -> Iterator[Api]:
    """Stubs of every service on one channel to ``server``."""
    with grpc.insecure_channel(server.address) as channel:
        yield Api(
            channel=channel,
            stubs=ApiStubs.connect(channel),
            returns=returns_service_pb2_grpc.ReturnsServiceStub(channel),  # type: ignore[no-untyped-call]  # generated
            running=server,
        )
