"""Concurrency through the real gRPC server: many clients, scarce stock, SQLite and PostgreSQL.

16 client threads each route ORDERS_PER_CLIENT orders (every tenth sent twice, as a client retry
would) for SKUs whose total stock is far below the demand. Afterwards: nothing oversold, the store's
invariants hold, every acknowledged allocation is exactly what is reserved, and every acknowledged
order is stored exactly once.
"""

from __future__ import annotations

import os
import random
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import pytest
import sqlalchemy as sa
from sortyard.v1 import inventory_service_pb2, routing_service_pb2, types_pb2

from server._files import load_stock
from tests.db import db_url
from tests.server.helpers import TIMEOUT, order, route_request, stubs

__all__ = ["db_url"]

CLIENTS = 16
ORDERS_PER_CLIENT = int(os.environ.get("SORTYARD_CONCURRENCY_ORDERS", "200"))
EXAMPLE_STOCK = Path(__file__).resolve().parents[2] / "server" / "examples" / "stock.csv"
# Units in all of the scarce SKUs (a few dozen at most), from the example stock file.
SCARCE = {
    sku: sum(lv.on_hand for lv in load_stock(EXAMPLE_STOCK) if lv.sku == sku)
    for sku in ("LAMP-DESK-LED", "KEYB-MECH-TKL", "GRINDER-BURR")
}
ZIPS = ("10001", "90011", "60629", "77084", "85032", "98103", "33012", "80219")


def _client(address: str, client: int, ack: list[tuple[int, str, Any]]) -> None:
    rng = random.Random(client)
    skus = [*sorted(SCARCE), "MUG-11OZ-WHT"]
    with grpc.insecure_channel(address) as channel:
        routing = stubs(channel).routing
        for n in range(ORDERS_PER_CLIENT):
            lines = [(sku, rng.randint(1, 2)) for sku in rng.sample(skus, rng.randint(1, 2))]
            request = route_request(
                order(f"C{client}-{n}", lines, postal_code=rng.choice(ZIPS), channel="shopify"),
                request_id=f"c{client}-{n}",
            )
            for _attempt in range(2 if n % 10 == 0 else 1):
                response = routing.Route(request, timeout=TIMEOUT)
                ack.append((client, f"C{client}-{n}", response))


@pytest.mark.slow
def test_concurrent_clients_never_oversell_and_store_each_order_once(
    db_url: str, start_sortyard: Any
) -> None:
    """16 clients route concurrently against scarce stock: zero oversold units, invariants hold,
    acknowledged allocations equal the reservations, each acknowledged order is stored exactly once,
    and a retried order is answered with the same decision (replayed)."""
    running = start_sortyard(db_url)
    ack: list[tuple[int, str, Any]] = []
    lock = threading.Lock()

    def run(client: int) -> None:
        mine: list[tuple[int, str, Any]] = []
        _client(running.address, client, mine)
        with lock:
            ack.extend(mine)

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        for future in [pool.submit(run, c) for c in range(CLIENTS)]:
            future.result()

    # Every order answered; retries answered with the stored decision.
    by_order: dict[str, list[routing_service_pb2.RouteResponse]] = {}
    for _client_id, key, response in ack:
        by_order.setdefault(key, []).append(response)
    assert len(by_order) == CLIENTS * ORDERS_PER_CLIENT
    for responses in by_order.values():
        first = responses[0]
        for again in responses[1:]:
            assert again.replayed and again.order_id == first.order_id
            assert [fo.fulfillment_order_id for fo in again.fulfillment_orders] == [
                fo.fulfillment_order_id for fo in first.fulfillment_orders
            ]

    # What the clients were told they got is exactly what the store holds reserved.
    allocated: Counter[tuple[str, str]] = Counter()
    for responses in by_order.values():
        for fo in responses[0].fulfillment_orders:
            for line in fo.lines:
                allocated[fo.warehouse_id, line.sku] += line.quantity
    skus = [*SCARCE, "MUG-11OZ-WHT"]
    detail = stubs_for(running).inventory.GetAvailability(
        inventory_service_pb2.GetAvailabilityRequest(skus=skus), timeout=TIMEOUT
    )
    cells = {(w.warehouse_id, w.sku): w for w in detail.warehouses}
    for (warehouse, sku), units in allocated.items():
        cell = cells[warehouse, sku]
        assert cell.reserved == units, (warehouse, sku)
        assert cell.reserved <= cell.on_hand, f"oversold {warehouse}/{sku}"
    assert sum(c.reserved for c in cells.values()) == sum(allocated.values())
    for sku, total in SCARCE.items():
        assert sum(allocated[w, s] for (w, s) in allocated if s == sku) <= total
    # Demand far exceeds the scarce supply, so the run exercised contention to exhaustion.
    assert (
        sum(allocated[w, s] for (w, s) in allocated if s == "KEYB-MECH-TKL")
        == SCARCE["KEYB-MECH-TKL"]
    )

    assert running.store.check_invariants() == []
    with running.store.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT COUNT(*) FROM orders")).scalar_one()
        distinct = conn.execute(sa.text("SELECT COUNT(DISTINCT order_id) FROM orders")).scalar_one()
    assert stored == distinct == len(by_order)
    statuses = Counter(r[0].status for r in by_order.values())
    assert statuses[types_pb2.BACKORDERED] > 0 and statuses[types_pb2.ROUTED] > 0


def stubs_for(running: Any) -> Any:
    return stubs(grpc.insecure_channel(running.address))
