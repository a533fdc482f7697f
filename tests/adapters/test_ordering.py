"""Repeated and out-of-order order updates are harmless: whatever order Amazon's versions of an
order arrive in, and however often, Sortyard ends where the newest version says (Hypothesis, against
the real server)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sortyard.v1 import types_pb2

from adapters.amazon import (
    AdapterConfig,
    AdapterState,
    AmazonAdapter,
    AmazonLine,
    AmazonOrder,
    CycleReport,
)
from adapters.amazon.sandbox import SandboxServer
from tests.adapters.conftest import SELLER_ID, make_adapter, seed_network
from tests.adapters.loop import Warehouse

# Realistic lives of an order: payment pending for a while, then unshipped or cancelled; an
# unshipped order may be cancelled later.
LIVES: st.SearchStrategy[tuple[int, list[str]]] = st.one_of(
    st.tuples(st.integers(0, 2), st.just(["UNSHIPPED"])),
    st.tuples(st.integers(0, 2), st.just(["UNSHIPPED", "CANCELLED"])),
    st.tuples(st.integers(1, 2), st.just(["CANCELLED"])),
    st.tuples(st.integers(1, 3), st.just([])),
)


def _version(order_id: str, status: str, minute: int) -> AmazonOrder:
    return AmazonOrder(
        order_id=order_id,
        last_updated=datetime(2026, 12, 1, tzinfo=UTC) + timedelta(minutes=minute),
        status=status,
        fulfilled_by="MERCHANT",
        service_level="STANDARD",
        purchased_at=datetime(2026, 12, 1, tzinfo=UTC),
        latest_ship=None,
        latest_delivery=None,
        postal_code="10001",
        state="NY",
        city="New York",
        country_code="US",
        lines=(AmazonLine(f"{order_id}-1", "SKU-001", 1),),
    )


def test_any_delivery_order_ends_at_the_newest_version(
    make_sandbox: Callable[..., SandboxServer], sortyard_server: Any
) -> None:
    """Property: an order's versions delivered shuffled, duplicated and in arbitrary batches leave
    it routed exactly when its newest version is UNSHIPPED, cancelled (or never routed) when the
    newest is CANCELLED, and untouched while it is still PENDING."""
    sandbox = make_sandbox(orders_per_day=0)
    with grpc.insecure_channel(sortyard_server.address) as channel:
        seed_network(channel, ["SKU-001"], on_hand=10_000)
        warehouse = Warehouse(channel)
        counter = iter(range(10**6))
        gateway = make_adapter(sandbox, channel).gateway  # shared: building clients is slow

        @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(life=LIVES, data=st.data())
        def check(life: tuple[int, list[str]], data: st.DataObject) -> None:
            pending, later = life
            order_id = f"111-{next(counter):07d}-0000000"
            truth = [_version(order_id, s, m) for m, s in enumerate(["PENDING"] * pending + later)]
            deliveries = data.draw(
                st.lists(st.sampled_from(truth), min_size=len(truth), max_size=3 * len(truth))
            )
            deliveries += truth  # every version arrives at least once, in some order
            deliveries = data.draw(st.permutations(deliveries))
            cuts = sorted(data.draw(st.sets(st.integers(1, len(deliveries)), max_size=4)))
            adapter = AmazonAdapter(
                AdapterConfig(seller_id=SELLER_ID), gateway, channel, AdapterState()
            )  # a fresh memory per example
            start = 0
            for cut in [*cuts, len(deliveries)]:
                adapter._act(deliveries[start:cut], CycleReport())
                start = cut
            newest = truth[-1].status
            stored = warehouse.order(order_id)
            if newest == "PENDING":
                assert stored is None
            elif newest == "UNSHIPPED":
                assert stored is not None
                assert stored.status != types_pb2.ORDER_STATE_CANCELLED
            else:
                assert stored is None or stored.status == types_pb2.ORDER_STATE_CANCELLED

        check()
