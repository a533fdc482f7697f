"""Many clients routing at once against scarce stock, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from engine import Order, RouteDecision, Router, StockTable
from server.store import Store, StoredRoute
from server.store import _schema as t
from server.store._codec import decision_from_json
from tests.store.helpers import NETWORK, NOW, make_order, record

ROUTER = Router(NETWORK)


def _decide(orders: Sequence[Order], stock: StockTable) -> list[RouteDecision]:
    """The engine's real Router with the default policy, on a pinned clock."""
    return ROUTER.route(orders, stock, now=NOW)


CLIENTS = 16
ORDERS_PER_CLIENT = 200
SKUS = [f"S{i}" for i in range(8)]
# Neighbouring clients share 50 order ids, so the same order is routed concurrently twice.
ID_POOL = CLIENTS * 150


def _client_orders(client: int) -> list[int]:
    return [(client * 150 + i) % ID_POOL for i in range(ORDERS_PER_CLIENT)]


def _order(n: int) -> Order:
    rng = random.Random(n)
    lines = [(sku, rng.randint(1, 3)) for sku in rng.sample(SKUS, rng.choice([1, 1, 1, 2, 3]))]
    return make_order(f"o{n}", *lines, channel=rng.choice(["amazon", "shopify"]))


@pytest.mark.slow
def test_concurrent_routing_never_oversells_and_stores_each_order_once(store: Store) -> None:
    """16 clients x 200 orders (batches of 1 to 4, the engine's Router deciding) against stock
    worth about a fifth of the demand:
    no cell is oversold, the invariants hold, every acknowledged order is stored exactly once with
    the decision its client was given, and reserved units equal allocated units."""
    levels = [(w, sku, 15) for w in NETWORK.warehouse_ids for sku in SKUS]
    store.sync(levels)
    initial_on_hand = sum(q for _, _, q in levels)
    acknowledged: dict[str, list[StoredRoute]] = {}
    lock = threading.Lock()
    start = threading.Barrier(CLIENTS)

    def client(c: int) -> None:
        ids = _client_orders(c)
        rng = random.Random(c)
        start.wait()
        i = 0
        while i < len(ids):
            size = rng.randint(1, 4)
            chunk = ids[i : i + size]
            i += size
            results = store.route(
                [record(_order(n), f"req-{n}") for n in chunk], _decide, network=NETWORK
            )
            with lock:
                for r in results:
                    assert r.error is None
                    acknowledged.setdefault(r.order_id, []).append(r)

    with ThreadPoolExecutor(CLIENTS) as pool:
        for future in [pool.submit(client, c) for c in range(CLIENTS)]:
            future.result()

    assert store.check_invariants() == []
    assert sum(len(v) for v in acknowledged.values()) == CLIENTS * ORDERS_PER_CLIENT
    with store.engine.connect() as conn:
        stored = dict(conn.execute(sa.select(t.orders.c.order_id, t.orders.c.decision)).all())
        allocated = conn.execute(sa.select(sa.func.sum(t.allocations.c.quantity))).scalar_one()
        reserved, on_hand = conn.execute(
            sa.select(sa.func.sum(t.stock.c.reserved), sa.func.sum(t.stock.c.on_hand))
        ).one()
    assert sorted(stored) == sorted(acknowledged)  # each acknowledged order exactly once
    for order_id, results in acknowledged.items():
        assert sum(not r.replayed for r in results) == 1
        first = results[0]
        assert all(r.decision == first.decision for r in results)
        assert all(r.fulfillment_order_ids == first.fulfillment_order_ids for r in results)
        assert first.decision is not None
        assert decision_from_json(stored[order_id]) == first.decision
    assert on_hand == initial_on_hand
    assert reserved == allocated
    assert 0 < allocated <= initial_on_hand
    table = store.load_stock(SKUS, NETWORK)
    assert (table.reserved <= table.on_hand).all()


@pytest.mark.parametrize("sku", ["S0", "NO-STOCK-ROW"])
def test_the_same_order_routed_by_many_clients_at_once_is_stored_once(
    store: Store, sku: str
) -> None:
    """Eight clients route one order simultaneously (under one request id and under different
    ones): exactly one stores it, the others get the same decision as a replay, and its units are
    reserved once. With a SKU that has no stock row there is no row lock to queue on, so this
    exercises the unique-key race and the whole-transaction retry."""
    store.sync([("wh-east", "S0", 5)])
    start = threading.Barrier(8)
    order = make_order("hot-1", (sku, 2))

    def client(n: int) -> StoredRoute:
        start.wait()
        [result] = store.route([record(order, f"req-{n % 2}")], _decide, network=NETWORK)
        return result

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(client, range(8)))
    assert all(r.error is None for r in results)
    assert sum(not r.replayed for r in results) == 1
    assert len({repr(r.decision) for r in results}) == 1
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.orders)).scalar_one() == 1
    assert store.check_invariants() == []
    reserved = int(store.load_stock(["S0"], NETWORK).reserved.sum())
    assert reserved == (2 if sku == "S0" else 0)
