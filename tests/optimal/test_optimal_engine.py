"""Optimal mode through the engine path: greedy state -> BatchProblem -> MILP -> decisions and
reservations (``engine.route_optimized``), checked against the constraints greedy respects."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import (
    CarrierPickup,
    DefaultPolicy,
    Directives,
    Hold,
    Network,
    Order,
    Policy,
    RouteDecision,
    Router,
    RouteStatus,
    RoutingContext,
    ServiceLevel,
    StockTable,
    route_optimized,
)
from tests.engine.helpers import HOME, NO_ZIPS, NOW, east, order, stock_of, warehouse

RESERVING_CHANNEL = "amazon"


def shipments(decisions: Sequence[RouteDecision]) -> int:
    return sum(len(d.shipments) for d in decisions)


def classic_case() -> tuple[Network, StockTable, list[Order]]:
    """Order 1 wants A; order 2 wants A and B. The near site W2 holds one A and the only B, the
    far site W1 one A. Greedy gives order 1 the near A, so order 2 must split (3 shipments); the
    optimum ships order 1 from W1 and order 2 whole from W2 (2 shipments)."""
    network = Network([warehouse("W1", east(4)), warehouse("W2", east(1))])
    stock = stock_of(network, {("W1", "A"): 1, ("W2", "A"): 1, ("W2", "B"): 1})
    orders = [order(("A", 1), order_id="o1"), order(("A", 1), ("B", 1), order_id="o2")]
    return network, stock, orders


def test_classic_case_uses_fewer_shipments_than_greedy() -> None:
    """On the case greedy gets wrong, the optimised batch ships every unit in 2 shipments where
    greedy needs 3, reserves exactly what it ships, and reports bound <= objective < greedy."""
    network, stock, orders = classic_case()
    router = Router(network, DefaultPolicy(), NO_ZIPS)
    greedy = router.route(orders, stock.copy(), now=NOW)
    assert shipments(greedy) == 3

    result = route_optimized(router, orders, stock, now=NOW, time_budget_s=5.0)
    assert [d.status for d in result.decisions] == [RouteStatus.ROUTED, RouteStatus.ROUTED]
    assert shipments(result.decisions) == 2
    assert [s.warehouse_id for s in result.decisions[0].shipments] == ["W1"]
    assert [s.warehouse_id for s in result.decisions[1].shipments] == ["W2"]
    assert stock.reserved.tolist() == stock.on_hand.tolist()
    assert stock.reserved_by_channel["shopify"].tolist() == stock.on_hand.tolist()
    report = result.report
    assert report.bound <= report.objective + 1e-6
    assert report.objective < report.greedy_objective
    assert report.gap <= 1e-3 and report.fallback_components == ()
    shipment = result.decisions[0].shipments[0]
    assert shipment.distance_km == pytest.approx(greedy[1].shipments[1].distance_km)
    assert shipment.ship_by <= shipment.deliver_by


def test_without_commit_the_stock_is_untouched() -> None:
    """commit=False decides but reserves nothing (the dry-run path)."""
    network, stock, orders = classic_case()
    router = Router(network, DefaultPolicy(), NO_ZIPS)
    result = route_optimized(router, orders, stock, now=NOW, commit=False)
    assert shipments(result.decisions) == 2
    assert not stock.reserved.any() and not stock.reserved_by_channel


def test_held_orders_keep_the_greedy_decision_and_take_nothing() -> None:
    """A policy hold stays HELD with its reason, and the optimiser gives its stock to others."""

    class HoldFirst(DefaultPolicy):
        def directives(self, ctx: RoutingContext, *, explain: bool = False) -> Directives:
            d = Directives.neutral(ctx)
            d.hold[0] = Hold("POLICY_HOLD", "review")
            return d

    network, stock, orders = classic_case()
    router = Router(network, HoldFirst(), NO_ZIPS)
    result = route_optimized(router, orders, stock, now=NOW)
    assert result.decisions[0].status == RouteStatus.HELD
    assert result.decisions[0].hold is not None and result.decisions[0].hold.reason == "review"
    assert result.decisions[1].status == RouteStatus.ROUTED
    assert [s.warehouse_id for s in result.decisions[1].shipments] == ["W2"]


def test_unfilled_units_come_back_with_a_reason_as_in_greedy() -> None:
    """Units nothing can ship are unfilled with greedy's code; the order is PARTIALLY_ROUTED."""
    network, stock, _ = classic_case()
    orders = [order(("A", 3), ("B", 1), order_id="short")]
    router = Router(network, DefaultPolicy(), NO_ZIPS)
    greedy = router.route(orders, stock.copy(), now=NOW)
    result = route_optimized(router, orders, stock, now=NOW)
    (decision,) = result.decisions
    assert decision.status == greedy[0].status == RouteStatus.PARTIALLY_ROUTED
    assert [(u.line_id, u.quantity, u.code) for u in decision.unfilled] == [
        (u.line_id, u.quantity, u.code) for u in greedy[0].unfilled
    ]
    assert decision.unfilled[0].reason


class RandomRules(Policy):
    """Seeded excludes, shipment limits, ship-complete and no-split orders, and a reserve for
    RESERVING_CHANNEL; remembers the directives it handed out so the test can check them."""

    version = "random-rules"

    def __init__(self, seed: int, reserve: int) -> None:
        self.seed = seed
        self.reserve = reserve
        self.given: list[Directives] = []

    def directives(self, ctx: RoutingContext, *, explain: bool = False) -> Directives:
        rng = np.random.default_rng(self.seed)
        n = len(ctx.orders)
        d = Directives.neutral(ctx, max_shipments=int(rng.integers(1, 4)))
        d.line_excluded[:] = rng.random(d.line_excluded.shape) < 0.2
        d.max_shipments[:] = rng.integers(1, 4, size=n)
        d.ship_complete[:] = rng.random(n) < 0.3
        d.allow_line_split[:] = rng.random(n) < 0.6
        self.given.append(d)
        return d

    def channel_reserves(
        self,
        skus: Sequence[str],
        on_hand: npt.NDArray[np.int64],
        now: dt.datetime,
        sku_tags: Mapping[str, frozenset[str]],
    ) -> dict[str, npt.NDArray[np.int64]]:
        return {RESERVING_CHANNEL: np.minimum(on_hand, self.reserve)}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31 - 1),
    n_orders=st.integers(1, 9),
    n_warehouses=st.integers(2, 5),
    n_skus=st.integers(1, 3),
    reserve=st.integers(0, 2),
)
def test_optimised_decisions_never_break_a_constraint_greedy_respects(
    seed: int, n_orders: int, n_warehouses: int, n_skus: int, reserve: int
) -> None:
    """Over random networks, stock and policies (excludes, inactive sites, a site whose pickups do
    not serve EXPEDITED, shipment limits, ship-complete, no-split lines, a channel reserve), the
    optimised decisions never oversell, never use an ineligible site, never give another channel
    units held for the reserving one, respect every order's limits, reserve exactly what they
    ship, and cost no more than greedy (bound <= objective <= greedy objective)."""
    rng = np.random.default_rng(seed)
    sites = [
        warehouse(
            f"W{w}",
            (HOME[0] + rng.uniform(-5, 5), HOME[1] + rng.uniform(-8, 8)),
            active=bool(w != 1 or rng.random() < 0.5),
            pickups=(CarrierPickup(dt.time(17), frozenset({ServiceLevel.STANDARD})),)
            if w == 0
            else (),
        )
        for w in range(n_warehouses)
    ]
    network = Network(sites)
    skus = [f"S{k}" for k in range(n_skus)]
    cells = {(site.warehouse_id, sku): int(rng.integers(0, 4)) for site in sites for sku in skus}
    stock = stock_of(network, cells, skus)
    orders = []
    for i in range(n_orders):
        chosen = rng.choice(n_skus, size=int(rng.integers(1, n_skus + 1)), replace=False)
        orders.append(
            order(
                *[(skus[k], int(rng.integers(1, 4))) for k in chosen.tolist()],
                at=(HOME[0] + rng.uniform(-5, 5), HOME[1] + rng.uniform(-8, 8)),
                channel=str(rng.choice([RESERVING_CHANNEL, "shopify", "storefront"])),
                order_id=f"o{i}",
                level=ServiceLevel.EXPEDITED if rng.random() < 0.3 else ServiceLevel.STANDARD,
            )
        )
    policy = RandomRules(seed, reserve)
    router = Router(network, policy, NO_ZIPS)
    on_hand = stock.on_hand.copy()
    result = route_optimized(router, orders, stock, now=NOW, time_budget_s=5.0)
    directives = policy.given[-1]

    taken: dict[tuple[int, int], int] = defaultdict(int)
    taken_by_others: dict[tuple[int, int], int] = defaultdict(int)
    line_base = 0
    for o, decision in zip(orders, result.decisions, strict=True):
        lines = {line.line_id: (line_base + n, line) for n, line in enumerate(o.lines)}
        line_base += len(o.lines)
        i = int(o.channel_order_id[1:])
        assert len(decision.shipments) <= directives.max_shipments[i]
        sources: dict[str, list[int]] = defaultdict(list)
        for shipment in decision.shipments:
            w = network.index_of(shipment.warehouse_id)
            assert network.active[w], "an inactive site shipped"
            assert not (w == 0 and o.service_level == ServiceLevel.EXPEDITED)
            for a in shipment.lines:
                index, line = lines[a.line_id]
                assert not directives.line_excluded[index, w], "an excluded site shipped"
                cell = (stock.row_of(a.sku), w)
                taken[cell] += a.quantity
                if o.channel != RESERVING_CHANNEL:
                    taken_by_others[cell] += a.quantity
                sources[a.line_id].append(a.quantity)
        filled = {lid: sum(q) for lid, q in sources.items()}
        for lid, (_, line) in lines.items():
            assert filled.get(lid, 0) <= line.quantity
            if not directives.allow_line_split[i] and lid in sources:
                assert sources[lid] == [line.quantity], "a no-split line was split"
        if directives.ship_complete[i]:
            units = sum(filled.values())
            assert units in (0, sum(line.quantity for line in o.lines))
    for (row, w), units in taken.items():
        assert units <= on_hand[row, w], "oversold"
        held = min(on_hand[row, w], reserve)
        assert taken_by_others[row, w] <= max(0, on_hand[row, w] - held), "reserve broken"
    reserved = np.zeros_like(on_hand)
    for (row, w), units in taken.items():
        reserved[row, w] = units
    assert stock.reserved.tolist() == reserved.tolist()
    report = result.report
    assert report.bound <= report.objective + 1e-6
    assert report.objective <= report.greedy_objective + 1e-6
