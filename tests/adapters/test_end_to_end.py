"""End to end on loopback: sandbox ("Amazon") + a real Sortyard server on port 0 + the adapter
through the real python-amazon-sp-api client. Orders of every kind flow in and are routed, the
warehouse ships,
tracking and quantities flow out, and the sandbox's record shows them."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import grpc
import pytest
from sortyard.v1 import catalog_service_pb2, catalog_service_pb2_grpc, types_pb2

from adapters.amazon import CycleReport, from_orders_2026
from adapters.amazon._adapter import grpc_stub
from adapters.amazon.sandbox import SandboxServer, Scenario
from adapters.amazon.sandbox._scenario import ListingSpec
from tests.adapters.amazon_models import validate_definition, validate_schema
from tests.adapters.conftest import CREDENTIALS, make_adapter, seed_network
from tests.adapters.loop import (
    Warehouse,
    ensure_channel_services,
    server_availability,
    tracking_on_amazon,
)
from tests.db import database_urls

# Amazon SellerSKU -> master SKU in the server's catalog; the rest are the same on both sides, and
# AMZ-UNKNOWN is known to neither the catalog nor the stock (its orders must be held, not dropped).
CATALOG = {"AMZ-MUG-RED": "MUG-RED"}
LISTINGS = [ListingSpec("AMZ-MUG-RED", "B0SANDBX101", quantity=50)] + [
    ListingSpec(f"SKU-00{i}", f"B0SANDBX00{i}", quantity=50) for i in range(2, 7)
]
UNKNOWN = ListingSpec("AMZ-UNKNOWN", "B0SANDBX999", quantity=5)
SCENARIO = Scenario(
    seed=11, orders_per_day=30, fba_share=0.15, pending_share=0.15, cancelled_share=0.1,
    max_lines=2, max_quantity=2, listings=[*LISTINGS, UNKNOWN],
)  # fmt: skip


def master(seller_sku: str) -> str:
    return CATALOG.get(seller_sku, seller_sku)


@pytest.fixture
def loop(
    make_sandbox: Callable[..., SandboxServer], sortyard_server: Any
) -> Iterator[tuple[SandboxServer, grpc.Channel]]:
    ensure_channel_services(sortyard_server)
    sandbox = make_sandbox(SCENARIO)
    with grpc.insecure_channel(sortyard_server.address) as channel:
        seed_network(channel, sorted({master(x.seller_sku) for x in LISTINGS}), on_hand=40)
        grpc_stub(catalog_service_pb2_grpc.CatalogServiceStub, channel).ImportSkus(
            catalog_service_pb2.ImportSkusRequest(
                entries=[
                    catalog_service_pb2.CatalogEntry(sku=m, amazon_seller_sku=s)
                    for s, m in CATALOG.items()
                ]
            ),
            timeout=10,
        )
        yield sandbox, channel


def _orders_by(sandbox: SandboxServer, status: str, by: str = "MERCHANT") -> list[str]:
    return sorted(
        o.order_id
        for o in sandbox.world.orders.values()
        if o.status == status and o.spec.fulfilled_by == by
    )


@pytest.mark.parametrize("backend", database_urls())
def test_full_loop_orders_in_tracking_and_quantities_out(
    loop: tuple[SandboxServer, grpc.Channel], caplog: pytest.LogCaptureFixture, backend: str
) -> None:
    """Unshipped merchant orders are routed once; FBA, pending and cancelled ones are not; a pending
    order is routed after its payment clears; an order cancelled on Amazon is cancelled here; every
    split's tracking reaches Amazon exactly once; Amazon's quantities equal the server's
    available-to-sell; every body sent validates against Amazon's models; and the logs of it all
    hold no credential and no buyer name or street."""
    caplog.set_level(logging.DEBUG)
    sandbox, channel = loop
    adapter = make_adapter(sandbox, channel, page_size=7)  # every poll follows several pages
    warehouse = Warehouse(channel)
    unshipped = _orders_by(sandbox, "UNSHIPPED")
    pending = _orders_by(sandbox, "PENDING")
    fba = [o.order_id for o in sandbox.world.orders.values() if o.spec.fulfilled_by == "AMAZON"]
    cancelled = _orders_by(sandbox, "CANCELLED")
    assert unshipped and pending and fba and cancelled, "the scenario must hold every kind of order"

    # No recount anywhere: the adapter's first cycle (no checkpoint) asks the server to resync, so
    # SKUs no Amazon order touches still reach Amazon.
    adapter.run_cycle()
    assert all(warehouse.order(i) is not None for i in unshipped)
    assert all(warehouse.order(i) is None for i in pending + fba + cancelled)
    held = [
        i
        for i in unshipped
        if any(x.seller_sku == "AMZ-UNKNOWN" for x in sandbox.world.orders[i].items)
    ]
    assert held, "the scenario must hold an order for a SKU Sortyard does not know"
    for order_id in held:
        # Never dropped: stored, and the unknown SKU's line is not allocated anywhere.
        stored = warehouse.order(order_id)
        assert stored is not None
        allocated = {line.sku for fo in stored.fulfillment_orders for line in fo.lines}
        assert "AMZ-UNKNOWN" not in allocated
        assert stored.route_status == types_pb2.HELD or any(
            u.sku == "AMZ-UNKNOWN" for u in stored.unfilled
        ), str(stored)

    # Payment clears for the pending orders; the buyer cancels one routed order.
    sandbox.world.release_pending()
    victim = unshipped[0]
    sandbox.world.set_status(victim, "CANCELLED")
    adapter.run_cycle()
    assert all(warehouse.order(i) is not None for i in pending)
    assert warehouse.order(victim).status == types_pb2.ORDER_STATE_CANCELLED  # type: ignore[union-attr]

    # An older version of the cancelled order (still UNSHIPPED) arriving late changes nothing.
    current = from_orders_2026(
        sandbox.world.render_2026(sandbox.world.orders[victim], {"FULFILLMENT"})
    )
    stale = replace(
        current, status="UNSHIPPED", last_updated=current.last_updated - timedelta(minutes=5)
    )
    adapter._act([stale], CycleReport())
    assert warehouse.order(victim).status == types_pb2.ORDER_STATE_CANCELLED  # type: ignore[union-attr]

    live = [i for i in unshipped + pending if i != victim]
    shipped = warehouse.ship(live)
    assert shipped > 0
    adapter.run_cycle()
    adapter.run_cycle()  # a second pass must not send anything twice

    expected = Counter((order_id, number) for order_id, number in warehouse.shipped.values())
    assert Counter(tracking_on_amazon(sandbox)) == expected
    record = sandbox.world.record()
    for fo_id, (order_id, _number) in warehouse.shipped.items():
        assert record["orders"][order_id]["status"] in ("SHIPPED", "PARTIALLY_SHIPPED"), fo_id

    listed = [x.seller_sku for x in LISTINGS]
    available = server_availability(channel, [master(s) for s in listed])
    assert {s: record["quantities"][s] for s in listed} == {s: available[master(s)] for s in listed}

    _assert_conformant(sandbox)
    _assert_no_secrets_or_pii(caplog.text, sandbox)


def test_orders_v0_fallback_routes_the_same_orders(
    loop: tuple[SandboxServer, grpc.Channel],
) -> None:
    """With --orders-v0 the adapter reads getOrders + getOrderItems (paged) and routes exactly the
    unshipped merchant orders, as the 2026-01-01 path does."""
    sandbox, channel = loop
    sandbox.world.scenario.items_page_size = 1  # every multi-line order needs a second page
    adapter = make_adapter(sandbox, channel, use_orders_v0=True, page_size=9)
    report = adapter.run_cycle()
    warehouse = Warehouse(channel)
    routed = sorted(i for i in sandbox.world.orders if warehouse.order(i) is not None)
    assert routed == _orders_by(sandbox, "UNSHIPPED")
    assert report.routed == len(routed)
    for order_id in routed:
        lines = warehouse.order(order_id).order.lines  # type: ignore[union-attr]
        assert [x.line_id for x in lines] == [
            i.order_item_id for i in sandbox.world.orders[order_id].items
        ]


def test_order_change_notification_triggers_a_refetch(
    loop: tuple[SandboxServer, grpc.Channel],
) -> None:
    """An ORDER_CHANGE notification (Amazon's payload) makes the adapter fetch and route that order
    even when the poll window does not include it; a duplicate delivery of the same notification is
    ignored."""
    sandbox, channel = loop
    adapter = make_adapter(sandbox, channel)
    adapter.state.watermark = "2999-01-01T00:00:00+00:00"  # polling sees nothing
    order_id = _orders_by(sandbox, "PENDING")[0]
    sandbox.world.pop_notifications()
    sandbox.world.set_status(order_id, "UNSHIPPED")
    (notification,) = sandbox.world.pop_notifications()
    validate_schema("orderChange", notification)
    assert adapter.accept_notification(notification) == order_id
    assert adapter.accept_notification(notification) is None
    adapter.run_cycle()
    assert Warehouse(channel).order(order_id) is not None
    assert adapter.state.refetch == []


def test_notification_queue_is_drained_each_cycle(loop: tuple[SandboxServer, grpc.Channel]) -> None:
    """With --notifications-url the adapter reads ORDER_CHANGE messages from the queue every cycle
    and routes the orders they name, polling or not."""
    sandbox, channel = loop
    adapter = make_adapter(
        sandbox, channel, notifications_url=f"{sandbox.url}/_sandbox/notifications"
    )
    adapter.state.watermark = "2999-01-01T00:00:00+00:00"  # polling sees nothing
    sandbox.world.pop_notifications()
    released = sandbox.world.release_pending()
    adapter.run_cycle()
    merchant = [i for i in released if sandbox.world.orders[i].spec.fulfilled_by == "MERCHANT"]
    assert merchant
    assert all(Warehouse(channel).order(i) is not None for i in merchant)


def _assert_conformant(sandbox: SandboxServer) -> None:
    operations: Counter[str] = Counter()
    for received in sandbox.world.received:
        body = {k: v for k, v in received["body"].items() if k != "path"}  # the library's stray key
        definition = {
            "confirmShipment": ("ordersV0", "ConfirmShipmentRequest"),
            "createFeed": ("feeds", "CreateFeedSpecification"),
            "createFeedDocument": ("feeds", "CreateFeedDocumentSpecification"),
        }.get(received["operation"])
        if definition:
            validate_definition(*definition, body)
            operations[received["operation"]] += 1
    assert operations["confirmShipment"] and operations["createFeed"]
    for feed in sandbox.world.feeds.values():
        if feed.feed_type != "JSON_LISTINGS_FEED":
            continue
        validate_schema("listingsFeed", json.loads(sandbox.world.documents[feed.document_id]))


def _assert_no_secrets_or_pii(text: str, sandbox: SandboxServer) -> None:
    assert text, "the cycle logged nothing at all"
    for secret in CREDENTIALS.secrets():
        assert secret not in text
    for order in sandbox.world.orders.values():
        assert order.spec.buyer_name not in text
        assert order.spec.address_line1 not in text
    assert "Canary" not in text


def test_demo_runs_the_whole_loop(sortyard_server: Any) -> None:
    """The Amazon part of `sortyard demo` pulls orders from a fresh sandbox, routes them, ships them
    and ends with Amazon showing tracking on shipped orders and the server's quantities."""
    import io

    from adapters.amazon import run_amazon_demo

    ensure_channel_services(sortyard_server)
    skus = ["MUG-RED", "TEE-BLK-M", "CAP-GRN"]
    with grpc.insecure_channel(sortyard_server.address) as channel:
        seed_network(channel, skus, on_hand=30)
        out = io.StringIO()
        record = run_amazon_demo(sortyard_server.address, skus, out, orders=20)
        available = server_availability(channel, skus)
    text = out.getvalue()
    assert "what Amazon now shows" in text
    shipped = [o for o in record["orders"].values() if o["status"] == "SHIPPED"]
    assert shipped and all(o["packages"] for o in shipped)
    assert record["quantities"] == available
