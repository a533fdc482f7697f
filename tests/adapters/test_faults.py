"""Faults: Amazon throttling and failing (20 % 429, 5 % 5xx, half of those after the change was
applied, rejected feed messages), and the adapter process killed with SIGKILL mid-cycle and
restarted. Either way: zero orders lost or routed twice, every tracking number on Amazon exactly
once, every quantity converged to the server's available-to-sell."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
import sqlalchemy as sa

from adapters.amazon import AdapterState, SpApiUnavailableError
from adapters.amazon.sandbox import SandboxServer, Scenario
from adapters.amazon.sandbox._scenario import ListingSpec
from tests.adapters.conftest import CREDENTIALS, SELLER_ID, make_adapter, seed_network
from tests.adapters.loop import (
    Warehouse,
    ensure_channel_services,
    server_availability,
    tracking_on_amazon,
)
from tests.db import database_urls

LISTINGS = [ListingSpec(f"SKU-00{i}", f"B0SANDBX00{i}", quantity=50) for i in range(1, 7)]
FAULTS = {
    "throttle_rate": 0.2,
    "server_error_rate": 0.05,
    "applied_then_failed_share": 0.5,
    "reject_message_rate": 0.1,
    "seed": 1234,
}
FAST_RETRY: dict[str, Any] = {"retry_soon": timedelta(0), "lease": timedelta(seconds=1)}


@pytest.fixture
def faulty_loop(
    make_sandbox: Callable[..., SandboxServer], sortyard_server: Any
) -> Iterator[tuple[SandboxServer, grpc.Channel, Any]]:
    ensure_channel_services(sortyard_server)
    scenario = Scenario(
        seed=21, orders_per_day=120, fba_share=0.1, pending_share=0.1, cancelled_share=0.05,
        max_lines=3, max_quantity=2, listings=LISTINGS, faults=FAULTS,
    )  # fmt: skip
    sandbox = make_sandbox(scenario)
    with grpc.insecure_channel(sortyard_server.address) as channel:
        seed_network(channel, [x.seller_sku for x in LISTINGS], on_hand=60)
        yield sandbox, channel, sortyard_server


def _amazon_orders_in_server(running: Any) -> Counter[str]:
    with running.store.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT channel_order_id FROM orders WHERE channel = 'amazon'"))
        return Counter(str(r[0]) for r in rows)


def _assert_converged(
    sandbox: SandboxServer, channel: grpc.Channel, running: Any, warehouse: Warehouse
) -> None:
    routed = _amazon_orders_in_server(running)
    assert all(count == 1 for count in routed.values()), "an order was stored twice"
    merchant_open = {
        o.order_id for o in sandbox.world.orders.values()
        if o.spec.fulfilled_by == "MERCHANT" and o.spec.status == "UNSHIPPED"
    }  # fmt: skip
    assert merchant_open <= set(routed), "an unshipped order was lost"
    fba = {o.order_id for o in sandbox.world.orders.values() if o.spec.fulfilled_by == "AMAZON"}
    assert not fba & set(routed), "an Amazon-fulfilled order was routed"
    expected = Counter((order_id, number) for order_id, number in warehouse.shipped.values())
    assert Counter(tracking_on_amazon(sandbox)) == expected
    skus = [x.seller_sku for x in LISTINGS]
    assert sandbox.world.record()["quantities"] == {**server_availability(channel, skus)}
    assert running.store.check_invariants() == []


@pytest.mark.parametrize("backend", database_urls())
def test_throttling_and_server_errors_lose_nothing_and_repeat_nothing(
    faulty_loop: tuple[SandboxServer, grpc.Channel, Any], backend: str
) -> None:
    """Under 20 % 429s, 5 % 5xx (half after the change was applied) and 10 % rejected feed messages,
    repeated cycles converge: every order in exactly once, every tracking number on Amazon exactly
    once, every quantity equal to the server's; the faults really happened."""
    sandbox, channel, running = faulty_loop
    adapter = make_adapter(sandbox, channel, **FAST_RETRY)
    warehouse = Warehouse(channel)

    def cycles(n: int) -> None:
        for _ in range(n):
            # A cycle may give up (SpApiUnavailableError); the next carries on from the checkpoint.
            with contextlib.suppress(SpApiUnavailableError):
                adapter.run_cycle()

    cycles(1)
    seed_network(
        channel, [x.seller_sku for x in LISTINGS], on_hand=60
    )  # a recount: queues all SKUs
    cycles(1)
    sandbox.world.release_pending()
    cycles(2)
    warehouse.ship(sandbox.world.orders)
    cycles(6)
    injected = sandbox.world.record()["faults_injected"]
    assert any(k.endswith(":throttle") for k in injected)
    assert any(k.endswith(":error-after") for k in injected)
    assert injected.get("confirmShipment:error-after", 0) > 0  # applied, yet reported failed
    _assert_converged(sandbox, channel, running, warehouse)


def _spawn(
    sandbox: SandboxServer, address: str, state: Path, log: Path, *extra: str
) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        {
            "SP_API_REFRESH_TOKEN": CREDENTIALS.refresh_token.reveal(),
            "LWA_APP_ID": CREDENTIALS.lwa_app_id.reveal(),
            "LWA_CLIENT_SECRET": CREDENTIALS.lwa_client_secret.reveal(),
            "NO_PROXY": "127.0.0.1,localhost",
        }
    )
    env.pop("SP_API_DEFAULT_MARKETPLACE", None)
    command = [
        sys.executable, "-m", "adapters.amazon", "adapter", "amazon",
        "--server", address, "--sp-api-endpoint", sandbox.url, "--lwa-endpoint", sandbox.url,
        "--seller-id", SELLER_ID, "--state", str(state), "--interval", "0.05",
        "--rate-scale", "10000", "--backoff-base", "0.001", "--feed-poll-interval", "0.01",
        "--feed-wait", "5", "--log-level", "DEBUG", "--lease-seconds", "1", "--retry-seconds", "0",
        *extra,
    ]  # fmt: skip
    with log.open("ab") as out:
        return subprocess.Popen(
            command, env=env, stdout=out, stderr=out, cwd=Path(__file__).parents[2]
        )


@pytest.mark.slow
def test_kill_9_mid_cycle_then_restart_loses_nothing(
    faulty_loop: tuple[SandboxServer, grpc.Channel, Any], tmp_path: Path
) -> None:
    """The adapter runs as its own process and is killed with SIGKILL at random moments while
    orders,
    tracking and feeds are in flight; after a restart the result is the same as without crashes:
    nothing lost, nothing twice, quantities converged. The logs hold no credential or buyer PII."""
    sandbox, channel, running = faulty_loop
    sandbox.world.set_faults({**FAULTS, "slow_rate": 0.3, "slow_seconds": 0.02})
    state, log = tmp_path / "amazon-state.json", tmp_path / "adapter.log"
    warehouse = Warehouse(channel)
    rng = random.Random(7)
    for round_number in range(5):
        process = _spawn(sandbox, running.address, state, log)
        time.sleep(rng.uniform(1.0, 2.5))
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        assert process.returncode == -signal.SIGKILL
        if round_number == 0:
            seed_network(channel, [x.seller_sku for x in LISTINGS], on_hand=60)  # a recount
        if round_number == 1:
            sandbox.world.release_pending()
        if round_number >= 2:
            warehouse.ship(sandbox.world.orders)
    AdapterState.load(state)  # never torn: it still loads after every SIGKILL
    sandbox.world.set_faults({})  # let the last clean runs converge quickly
    time.sleep(1.1)  # the killed processes' leases run out
    for _ in range(2):  # one to deliver what was in flight, one to prove nothing is left
        assert _spawn(sandbox, running.address, state, log, "--once").wait(timeout=60) == 0
    _assert_converged(sandbox, channel, running, warehouse)
    text = log.read_text(errors="replace")
    assert "cycle done" in text
    for secret in CREDENTIALS.secrets():
        assert secret not in text
    assert "Canary" not in text


@pytest.mark.parametrize("backend", database_urls())
def test_two_adapters_at_once_still_deliver_each_update_once(
    faulty_loop: tuple[SandboxServer, grpc.Channel, Any], backend: str
) -> None:
    """Two adapters' cycles (threads, separate checkpoints) run concurrently for the same seller
    under the same faults: the outbox lease hands each update to one of them and routing is
    idempotent, so every order is stored once, every tracking number reaches Amazon once, and
    quantities converge."""
    sandbox, channel, running = faulty_loop
    adapters = [make_adapter(sandbox, channel, **FAST_RETRY) for _ in range(2)]
    warehouse = Warehouse(channel)
    seed_network(channel, [x.seller_sku for x in LISTINGS], on_hand=60)

    def run(adapter: Any, cycles: int) -> None:
        for _ in range(cycles):
            with contextlib.suppress(SpApiUnavailableError):
                adapter.run_cycle()

    def together(cycles: int) -> None:
        threads = [threading.Thread(target=run, args=(a, cycles)) for a in adapters]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)

    together(2)
    seed_network(channel, [x.seller_sku for x in LISTINGS], on_hand=60)  # queue every SKU
    sandbox.world.release_pending()
    together(2)
    warehouse.ship(sandbox.world.orders)
    together(4)
    time.sleep(1.1)  # leases of anything still in flight run out
    run(adapters[0], 3)
    _assert_converged(sandbox, channel, running, warehouse)
