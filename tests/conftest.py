"""Fixtures any test package may use: a real Sortyard gRPC server on a free loopback port.

``start_sortyard(db_url=None, ...)`` starts one (SQLite in the test's tmp dir unless a URL is
given), loaded with the example network and stock through the real API, and stops it after the test;
``sortyard_server`` is one such server and ``sortyard_channel`` a client channel to it. Every server
runs on the fixed clock ``FIXED_NOW`` so decisions are reproducible.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

__all__ = ["FIXED_NOW", "sortyard_channel", "sortyard_server", "start_sortyard"]

# A Tuesday, 10:00 in New York.
FIXED_NOW = dt.datetime(2026, 3, 10, 15, 0, tzinfo=dt.UTC)
RPC_TIMEOUT = 30.0

StartSortyard = Callable[..., Any]


def load_examples(channel: grpc.Channel) -> None:
    """PutWarehouses + Sync the example network and stock through the API."""
    from sortyard.v1 import inventory_service_pb2, network_service_pb2

    from server._files import load_network, load_stock
    from server._stubs import ApiStubs

    examples = Path(__file__).resolve().parent.parent / "server" / "examples"
    api = ApiStubs.connect(channel)
    api.network.PutWarehouses(
        network_service_pb2.PutWarehousesRequest(
            warehouses=load_network(examples / "network.toml")
        ),
        timeout=RPC_TIMEOUT,
    )
    api.inventory.Sync(
        inventory_service_pb2.SyncRequest(levels=load_stock(examples / "stock.csv")),
        timeout=RPC_TIMEOUT,
    )


@pytest.fixture
def start_sortyard(tmp_path: Path) -> Iterator[StartSortyard]:
    """A factory of running servers: ``start_sortyard(db_url=None, examples=True, **kwargs)``."""
    from server import start_server

    started: list[Any] = []

    def start(db_url: str | None = None, *, examples: bool = True, **kwargs: Any) -> Any:
        url = db_url or f"sqlite:///{tmp_path / f'sortyard-{len(started)}.db'}"
        kwargs.setdefault("clock", lambda: FIXED_NOW)
        running = start_server(url, "127.0.0.1:0", **kwargs)
        started.append(running)
        if examples:
            with grpc.insecure_channel(running.address) as channel:
                load_examples(channel)
        return running

    yield start
    for running in reversed(started):
        running.stop(grace=1.0)


@pytest.fixture
def sortyard_server(start_sortyard: StartSortyard) -> Any:
    """A running server on SQLite with the example network (six US sites) and stock."""
    return start_sortyard()


@pytest.fixture
def sortyard_channel(sortyard_server: Any) -> Iterator[grpc.Channel]:
    """A client channel to ``sortyard_server``."""
    with grpc.insecure_channel(sortyard_server.address) as channel:
        yield channel
