"""engine.replan_orders: re-solving routed orders never loses a unit, never oversells, never
costs more, and settles (a second replan of its result moves nothing)."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import (
    DefaultPolicy,
    Network,
    Order,
    OrderLine,
    RouteDecision,
    Router,
    StockTable,
    replan_orders,
)
from tests.engine.helpers import HOME, NO_ZIPS, NOW, order, stock_of, warehouse

Held = list[list[tuple[str, str, int]]]


def holdings(orders: list[Order], decisions: list[RouteDecision]) -> tuple[list[Order], Held]:
    """Each order reduced to the units it holds, and its allocations (warehouse, line, units)."""
    reduced, held = [], []
    for o, d in zip(orders, decisions, strict=True):
        units: dict[str, int] = defaultdict(int)
        mine = []
        for s in d.shipments:
            for a in s.lines:
                units[a.line_id] += a.quantity
                mine.append((s.warehouse_id, a.line_id, a.quantity))
        lines = tuple(
            OrderLine(ln.line_id, ln.sku, units[ln.line_id]) for ln in o.lines if units[ln.line_id]
        )
        if lines:
            reduced.append(Order(o.channel, o.channel_order_id, lines, o.ship_to))
            held.append(mine)
    return reduced, held


def released(stock: StockTable, orders: list[Order], held: Held) -> StockTable:
    free = stock.copy()
    for o, mine in zip(orders, held, strict=True):
        sku = {ln.line_id: ln.sku for ln in o.lines}
        for w, line_id, units in mine:
            free.reserved[free.row_of(sku[line_id]), free.network.index_of(w)] -= units
            free.reserved_by_channel[o.channel][
                free.row_of(sku[line_id]), free.network.index_of(w)
            ] -= units
    return free


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), n_orders=st.integers(1, 8), n_warehouses=st.integers(2, 4))
def test_replan_keeps_every_unit_never_oversells_and_settles(
    seed: int, n_orders: int, n_warehouses: int
) -> None:
    """Greedy routes a random scarce batch one order at a time; replanning it moves only orders
    whose component gets strictly cheaper, each moved order still holds exactly its units, the
    cells never hold more than is on hand, and replanning the result again moves nothing."""
    rng = np.random.default_rng(seed)
    network = Network(
        [
            warehouse(f"W{w}", (HOME[0] + rng.uniform(-4, 4), HOME[1] + rng.uniform(-8, 8)))
            for w in range(n_warehouses)
        ]
    )
    skus = ["A", "B", "C"]
    stock = stock_of(
        network,
        {(f"W{w}", s): int(rng.integers(0, 4)) for w in range(n_warehouses) for s in skus},
        skus,
    )
    orders = [
        order(
            *[
                (s, int(rng.integers(1, 3)))
                for s in rng.choice(skus, int(rng.integers(1, 3)), False)
            ],
            at=(HOME[0] + rng.uniform(-4, 4), HOME[1] + rng.uniform(-8, 8)),
            order_id=f"o{i}",
        )
        for i in range(n_orders)
    ]
    router = Router(network, DefaultPolicy(), NO_ZIPS)
    decisions = [router.route([o], stock, now=NOW)[0] for o in orders]  # one at a time
    reduced, held = holdings(orders, decisions)
    if not reduced:
        return
    outcome = replan_orders(
        router, reduced, held, released(stock, reduced, held), now=NOW, time_budget_s=10.0
    )
    assert outcome.cost_after <= outcome.cost_before + 1e-6
    assert bool(outcome.moved) == (outcome.cost_after < outcome.cost_before - 1e-6)
    after = [outcome.moved.get(i) for i in range(len(reduced))]
    new_held: Held = []
    taken: dict[tuple[str, str], int] = defaultdict(int)
    for i, (o, mine) in enumerate(zip(reduced, held, strict=True)):
        decision = after[i]
        now_mine = (
            mine
            if decision is None
            else [
                (s.warehouse_id, a.line_id, a.quantity) for s in decision.shipments for a in s.lines
            ]
        )
        new_held.append(now_mine)
        per_line: dict[str, int] = defaultdict(int)
        sku = {ln.line_id: ln.sku for ln in o.lines}
        for w, line_id, units in now_mine:
            per_line[line_id] += units
            taken[w, sku[line_id]] += units
        assert dict(per_line) == {ln.line_id: ln.quantity for ln in o.lines}
    for (w, s), units in taken.items():
        assert units <= stock.on_hand[stock.row_of(s), network.index_of(w)]

    base = released(stock, reduced, held)
    again = replan_orders(router, reduced, new_held, base, now=NOW, time_budget_s=10.0)
    assert again.moved == {}
