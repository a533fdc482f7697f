"""Test data and a tiny deterministic ``decide`` for the store tests.

``nearest_decide`` stands in for the engine's Router where a test needs decisions that are easy to
predict: each line goes whole to the first warehouse (in network order) that still has the units,
and otherwise stays unfilled; an order naming a SKU absent from the stock table is HELD
(UNKNOWN_SKU), as the Router does. Like the Router, it adds what it allocates to
``stock.reserved`` (and ``stock.reserved_by_channel``) in place, so later orders of a batch see
earlier ones.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence

import numpy as np

from engine import (
    Address,
    Allocation,
    Hold,
    Network,
    Order,
    OrderLine,
    PlannedShipment,
    RouteDecision,
    RouteStatus,
    StockTable,
    Unfilled,
    Warehouse,
)
from server.store import RouteRequestRecord, Store, StoredRoute

NOW = dt.datetime(2026, 12, 3, 15, 0, tzinfo=dt.UTC)

WAREHOUSES = [
    Warehouse("wh-east", 40.7, -74.0, name="East", postal_code="10001", tags=frozenset({"cold"})),
    Warehouse("wh-mid", 41.9, -87.6, name="Mid", postal_code="60601", time_zone="America/Chicago"),
    Warehouse(
        "wh-west", 34.0, -118.2, name="West", postal_code="90001", time_zone="America/Los_Angeles"
    ),
]
NETWORK = Network(WAREHOUSES)


def make_order(
    channel_order_id: str,
    *lines: tuple[str, int],
    channel: str = "shopify",
    hold: bool = False,
) -> Order:
    """An order with lines ``(sku, quantity)``; ``hold=True`` makes ``nearest_decide`` hold it."""
    return Order(
        channel=channel,
        channel_order_id=channel_order_id,
        lines=tuple(OrderLine(f"L{i}", sku, q) for i, (sku, q) in enumerate(lines, start=1)),
        ship_to=Address("10001"),
        attributes={"hold": "yes"} if hold else {},
    )


def record(
    order: Order, request_id: str = "", request_hash: str | None = None
) -> RouteRequestRecord:
    """A route request; the hash defaults to one derived from the order's content."""
    if request_hash is None:
        request_hash = hashlib.sha256(repr(order).encode()).hexdigest()
    return RouteRequestRecord(order, request_id, request_hash)


def nearest_decide(orders: Sequence[Order], stock: StockTable) -> list[RouteDecision]:
    """First warehouse in network order with the whole line available; see the module doc."""
    rows = stock.row_index
    decisions = []
    for order in orders:
        if order.attributes.get("hold"):
            decisions.append(
                RouteDecision(RouteStatus.HELD, hold=Hold("POLICY_HOLD", "held by the test"))
            )
            continue
        unknown = [line.sku for line in order.lines if line.sku not in rows]
        if unknown:  # like the Router: a SKU missing from the stock table holds the order
            decisions.append(
                RouteDecision(
                    RouteStatus.HELD, hold=Hold("UNKNOWN_SKU", f"unknown SKU {', '.join(unknown)}")
                )
            )
            continue
        by_warehouse: dict[int, list[Allocation]] = {}
        unfilled = []
        for line in order.lines:
            row = rows[line.sku]
            available = stock.on_hand[row] - stock.reserved[row]
            candidates = np.flatnonzero(available >= line.quantity)
            if len(candidates) == 0:
                unfilled.append(
                    Unfilled(
                        line.line_id, line.sku, line.quantity, "INSUFFICIENT_STOCK", "no stock"
                    )
                )
                continue
            w = int(candidates[0])
            stock.reserved[row, w] += line.quantity
            per_channel = stock.reserved_by_channel.setdefault(
                order.channel, np.zeros_like(stock.reserved)
            )
            per_channel[row, w] += line.quantity
            by_warehouse.setdefault(w, []).append(Allocation(line.line_id, line.sku, line.quantity))
        shipments = tuple(
            PlannedShipment(
                warehouse_id=stock.network.warehouse_ids[w],
                lines=tuple(allocs),
                distance_km=100.0 * (w + 1),
                ship_by=NOW + dt.timedelta(hours=4),
                deliver_by=NOW + dt.timedelta(days=3),
            )
            for w, allocs in sorted(by_warehouse.items())
        )
        if not shipments:
            status = RouteStatus.BACKORDERED
        elif unfilled:
            status = RouteStatus.PARTIALLY_ROUTED
        else:
            status = RouteStatus.ROUTED
        decisions.append(
            RouteDecision(
                status, shipments=shipments, unfilled=tuple(unfilled), policy_version="t1"
            )
        )
    return decisions


def route(store: Store, *records: RouteRequestRecord, dry_run: bool = False) -> list[StoredRoute]:
    """Route ``records`` as one batch with ``nearest_decide``."""
    return store.route(list(records), nearest_decide, network=NETWORK, dry_run=dry_run)
