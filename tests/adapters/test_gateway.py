"""The SP-API gateway against the sandbox: LWA refresh before expiry and after a refused token,
retries with backoff on 429/5xx only, and per-operation Prometheus metrics."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import generate_latest

from adapters.amazon import (
    AdapterMetrics,
    RateLimiter,
    RetryPolicy,
    SpApiError,
    SpApiGateway,
    SpApiUnavailableError,
)
from adapters.amazon.sandbox import SandboxServer, SandboxWorld, Scenario
from tests.adapters.conftest import CREDENTIALS, fast_gateway


class SharedClock:
    """One fake clock for the sandbox's token expiry and the adapter's refresh decision."""

    def __init__(self) -> None:
        self.offset = 0.0

    def wall(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.offset)

    def monotonic(self) -> float:
        return self.offset


def _search(gateway: SpApiGateway) -> int:
    return sum(
        len(page.payload["orders"]) for page in gateway.search_orders("2020-01-01T00:00:00Z")
    )


def test_token_is_refreshed_before_it_expires() -> None:
    """With tokens living an hour, the adapter fetches a new one before the hour is up (at 55 min),
    so no call is ever refused for an expired token; within the hour it reuses the token."""
    clock = SharedClock()
    sandbox = SandboxServer(SandboxWorld(Scenario(orders_per_day=3), clock=clock.wall)).start()
    metrics = AdapterMetrics()
    gateway = SpApiGateway(
        CREDENTIALS, endpoint=sandbox.url, lwa_endpoint=sandbox.url,
        limiter=RateLimiter(scale=10_000), retry=RetryPolicy(3, 0.001, 0.01),
        metrics=metrics, clock=clock.monotonic,
    )  # fmt: skip
    try:
        for _ in range(5):  # polls at 0, 30, 60, 90 and 120 minutes
            assert _search(gateway) == 3
            clock.offset += 1800  # half an hour between polls
        assert gateway.tokens.refreshes == 3  # at 0, 60 and 120 minutes (each past 55 min)
        assert sandbox.world.calls["lwa.token"] == 3
        text = generate_latest(metrics.registry).decode()
        assert 'outcome="unauthorized"' not in text
    finally:
        gateway.close()
        sandbox.stop()


def test_refused_token_is_replaced_once_and_the_call_succeeds(
    make_sandbox: Callable[..., SandboxServer],
) -> None:
    """When Amazon refuses the access token (403 Unauthorized, e.g. revoked), the gateway fetches a
    new one and repeats the call once; the caller sees success."""
    sandbox = make_sandbox(orders_per_day=2)
    gateway = fast_gateway(sandbox.url)
    try:
        assert _search(gateway) == 2
        sandbox.world.tokens.clear()  # every issued token is now unknown to "Amazon"
        assert _search(gateway) == 2
        assert gateway.tokens.refreshes == 2
    finally:
        gateway.close()


def test_throttling_is_retried_and_counted(make_sandbox: Callable[..., SandboxServer]) -> None:
    """Half the requests throttled: the call still succeeds after jittered retries, and the 429s
    show in the per-operation throttle and error metrics."""
    sandbox = make_sandbox(orders_per_day=2, faults={"throttle_rate": 0.5, "seed": 3})
    metrics = AdapterMetrics()
    gateway = fast_gateway(sandbox.url, metrics)
    try:
        for _ in range(5):
            assert _search(gateway) == 2
        text = generate_latest(metrics.registry).decode()
        assert 'sortyard_amazon_throttles_total{operation="searchOrders"}' in text
        assert 'sortyard_amazon_calls_total{operation="searchOrders",outcome="ok"} 5.0' in text
        assert 'sortyard_amazon_call_seconds_count{operation="searchOrders"}' in text
    finally:
        gateway.close()


def test_client_errors_are_not_retried_and_outages_give_up(
    make_sandbox: Callable[..., SandboxServer],
) -> None:
    """A 400 is final (SpApiError, one request, no retry); a persistent 5xx gives up after the
    configured attempts with SpApiUnavailableError, for a later cycle to try again."""
    sandbox = make_sandbox(orders_per_day=1)
    gateway = fast_gateway(sandbox.url)
    try:
        with pytest.raises(SpApiError) as caught:
            gateway.confirm_shipment("111-0000000-0000000", {"marketplaceId": "ATVPDKIKX0DER"})
        assert caught.value.status == 404
        assert sandbox.world.calls["confirmShipment"] == 1
        sandbox.world.set_faults({"server_error_rate": 1.0, "applied_then_failed_share": 0.0})
        with pytest.raises(SpApiUnavailableError):
            gateway.get_feed("1")
        assert sandbox.world.faults_injected["getFeed:error-before"] == gateway.retry.attempts
    finally:
        gateway.close()
