"""The recorded stock history (append-only, written by Store.sync) and reading it back in order."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from engine import (
    Address,
    DefaultPolicy,
    Network,
    Order,
    OrderLine,
    RecordedOrder,
    RouteDecision,
    Router,
    StockSnapshot,
    StockTable,
    Warehouse,
)
from server.store import RouteRequestRecord, Store, load_history

T0 = dt.datetime(2026, 3, 10, 15, 0, tzinfo=dt.UTC)


def chicago_order(channel_order_id: str) -> Order:
    return Order(
        "storefront",
        channel_order_id,
        (OrderLine("1", "MUG", 1),),
        Address("", latitude=41.8, longitude=-87.7),
    )


def test_syncs_and_orders_come_back_in_the_order_they_happened(tmp_path: Path) -> None:
    """Sync, route, sync (repeated with the same request id: recorded once), route: the history
    reads back as snapshot, order, snapshot, order; levels before ``since`` become the initial
    stock and only orders from ``since`` on are in the window."""
    now = [T0]
    store = Store.open(f"sqlite:///{tmp_path / 'h.db'}", clock=lambda: now[0])
    warehouse = Warehouse("ORD-1", 41.5, -88.2)
    store.put_warehouses([warehouse])
    network = Network([warehouse])
    router = Router(network, DefaultPolicy())

    def route(channel_order_id: str) -> None:
        def decide(orders: Sequence[Order], stock: StockTable) -> list[RouteDecision]:
            return router.route(list(orders), stock, now=now[0])

        store.route([RouteRequestRecord(chicago_order(channel_order_id))], decide, network=network)

    store.sync([("ORD-1", "MUG", 5)], request_id="first")
    route("A")
    now[0] = T0 + dt.timedelta(hours=1)
    store.sync([("ORD-1", "MUG", 9)], request_id="second")
    store.sync([("ORD-1", "MUG", 9)], request_id="second")  # a retry: applied and recorded once
    route("B")

    history = load_history(store)
    kinds = [type(e).__name__ for e in history.events]
    assert kinds == ["StockSnapshot", "RecordedOrder", "StockSnapshot", "RecordedOrder"]
    assert history.events[2] == StockSnapshot((("ORD-1", "MUG", 9),))
    assert history.initial == ()
    first_order = history.events[1]
    assert isinstance(first_order, RecordedOrder) and first_order.routed_at == T0
    assert [len(d.shipments) for d in history.recorded] == [1, 1]

    window = load_history(store, since=T0 + dt.timedelta(minutes=30))
    assert window.initial == (("ORD-1", "MUG", 5),)
    assert [type(e).__name__ for e in window.events] == ["StockSnapshot", "RecordedOrder"]
    assert len(window.order_ids) == 1
    store.close()
