"""Fixtures for the Amazon adapter tests: a sandbox on loopback, a real Sortyard server on port 0
(SQLite in a temporary directory), and adapters wired to both with fast clocks."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from adapters.amazon import (
    AdapterConfig,
    AdapterMetrics,
    AdapterState,
    AmazonAdapter,
    LwaCredentials,
    RateLimiter,
    RetryPolicy,
    Secret,
    SpApiGateway,
)
from adapters.amazon._adapter import grpc_stub
from adapters.amazon.sandbox import SandboxServer, SandboxWorld, Scenario
from tests.db import database_url

SELLER_ID = "A1SANDBOXSELLER"
# Canary credentials: a log scan proves none of them leaked.
CREDENTIALS = LwaCredentials(
    Secret("Atzr|canary-refresh-token-7f3a9"),
    Secret("amzn1.application-oa2-client.canary51c2"),
    Secret("canary-client-secret-0d9e4"),
)
WAREHOUSES = (
    ("EWR-1", 40.5171, -74.3973, "08817", "America/New_York"),
    ("DFW-1", 32.8998, -97.0403, "75261", "America/Chicago"),
    ("ONT-1", 34.0633, -117.6509, "91761", "America/Los_Angeles"),
)


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    # SP_API_DEFAULT_MARKETPLACE would replace our endpoint with Amazon's; proxies would catch
    # loopback.
    for name in ("SP_API_DEFAULT_MARKETPLACE", "AWS_ENV", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def make_sandbox() -> Iterator[Callable[..., SandboxServer]]:
    started: list[SandboxServer] = []

    def make(scenario: Scenario | None = None, **kwargs: Any) -> SandboxServer:
        server = SandboxServer(SandboxWorld(scenario or Scenario(**kwargs))).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


def fast_gateway(sandbox_url: str, metrics: AdapterMetrics | None = None) -> SpApiGateway:
    """Amazon's rates scaled up 10,000 times and millisecond backoff: tests never wait minutes."""
    return SpApiGateway(
        CREDENTIALS,
        endpoint=sandbox_url,
        lwa_endpoint=sandbox_url,
        limiter=RateLimiter(scale=10_000),
        retry=RetryPolicy(attempts=12, base_seconds=0.001, cap_seconds=0.01),
        metrics=metrics,
    )


@pytest.fixture
def sortyard_server(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A real server on 127.0.0.1:0. SQLite, unless the test is parametrised with `backend`
    (`database_urls()`: SQLite and PostgreSQL)."""
    from server import start_server

    callspec = getattr(request.node, "callspec", None)
    backend = callspec.params.get("backend", "sqlite") if callspec else "sqlite"
    with tempfile.TemporaryDirectory() as tmp, database_url(backend, Path(tmp)) as url:
        running = start_server(url)
        try:
            yield running
        finally:
            running.stop(grace=1.0)


def seed_network(channel: grpc.Channel, skus: list[str], on_hand: int) -> None:
    from sortyard.v1 import (
        inventory_service_pb2,
        inventory_service_pb2_grpc,
        network_service_pb2,
        network_service_pb2_grpc,
        types_pb2,
    )

    grpc_stub(network_service_pb2_grpc.NetworkServiceStub, channel).PutWarehouses(
        network_service_pb2.PutWarehousesRequest(
            warehouses=[
                types_pb2.Warehouse(
                    warehouse_id=w,
                    name=w,
                    latitude=lat,
                    longitude=lon,
                    postal_code=z,
                    country_code="US",
                    time_zone=tz,
                    active=True,
                )
                for w, lat, lon, z, tz in WAREHOUSES
            ]
        ),
        timeout=10,
    )
    grpc_stub(inventory_service_pb2_grpc.InventoryServiceStub, channel).Sync(
        inventory_service_pb2.SyncRequest(
            levels=[
                inventory_service_pb2.StockLevel(warehouse_id=w[0], sku=sku, on_hand=on_hand)
                for w in WAREHOUSES
                for sku in skus
            ]
        ),
        timeout=10,
    )


_GATEWAYS: list[SpApiGateway] = []


@pytest.fixture(autouse=True)
def _close_gateways() -> Iterator[None]:
    yield
    while _GATEWAYS:
        _GATEWAYS.pop().close()


def make_adapter(
    sandbox: SandboxServer,
    channel: grpc.Channel,
    state: AdapterState | None = None,
    notifications_url: str = "",
    **config: Any,
) -> AmazonAdapter:
    settings: dict[str, Any] = {"seller_id": SELLER_ID, "feed_poll_interval": 0.0, "feed_wait": 5.0}
    settings.update(config)
    gateway = fast_gateway(sandbox.url)
    _GATEWAYS.append(gateway)
    return AmazonAdapter(
        AdapterConfig(**settings),
        gateway,
        channel,
        state or AdapterState(),
        sleep=lambda _s: None,
        notifications_url=notifications_url,
    )


@pytest.fixture
def quiet_sp_api_logs() -> None:
    logging.getLogger("sortyard.sandbox.amazon").setLevel(logging.WARNING)
