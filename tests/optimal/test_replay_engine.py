"""The pure replay core (engine/_replay.py): greedy replay in recorded order, hindsight windows."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import numpy as np
import pytest

from engine import (
    Allocation,
    CostWeights,
    DefaultPolicy,
    Network,
    Order,
    PlannedShipment,
    RecordedOrder,
    ReplayEvent,
    RouteDecision,
    RouteStatus,
    StockSnapshot,
    gap_share,
    measure,
    replay_greedy,
    replay_hindsight,
)
from tests.engine.helpers import HOME, NOW, order, warehouse


def scarce_history(
    seed: int, n_orders: int = 60
) -> tuple[Network, list[tuple[str, str, int]], list[ReplayEvent]]:
    """Five sites around HOME, four SKUs stocked thinly, orders of 1-2 lines at random places."""
    rng = np.random.default_rng(seed)
    network = Network(
        [
            warehouse(f"W{w}", (HOME[0] + rng.uniform(-6, 6), HOME[1] + rng.uniform(-12, 12)))
            for w in range(5)
        ]
    )
    initial = [(f"W{w}", f"S{k}", int(rng.integers(0, 6))) for w in range(5) for k in range(4)]
    events: list[ReplayEvent] = []
    for i in range(n_orders):
        skus = rng.choice(4, size=int(rng.integers(1, 3)), replace=False)
        o = order(
            *[(f"S{k}", int(rng.integers(1, 3))) for k in skus.tolist()],
            at=(HOME[0] + rng.uniform(-6, 6), HOME[1] + rng.uniform(-12, 12)),
            order_id=f"o{i}",
        )
        events.append(RecordedOrder(o, NOW))
    return network, initial, events


def orders_of(events: list[ReplayEvent]) -> list[Order]:
    return [e.order for e in events if isinstance(e, RecordedOrder)]


def test_a_recorded_sync_changes_what_later_orders_see() -> None:
    """Stock is replayed as recorded: an order before a sync that brings stock in is
    backordered, the same order after it is routed."""
    network = Network([warehouse("W1", HOME)])
    events: list[ReplayEvent] = [
        RecordedOrder(order(("A", 1), order_id="early"), NOW),
        StockSnapshot((("W1", "A", 1),)),
        RecordedOrder(order(("A", 1), order_id="late"), NOW),
    ]
    decisions = replay_greedy(network, [("W1", "A", 0)], events, DefaultPolicy())
    assert [d.status for d in decisions] == [RouteStatus.BACKORDERED, RouteStatus.ROUTED]


@pytest.mark.parametrize("seed", range(2))
def test_hindsight_never_costs_more_than_greedy_and_never_oversells(seed: int) -> None:
    """Over a scarce history, hindsight (small windows, so several carry stock forward) costs no
    more than greedy and its reservations over all windows stay within what is on hand."""
    network, initial, events = scarce_history(seed)
    weights = CostWeights.of(DefaultPolicy())
    orders = orders_of(events)
    greedy = measure(
        "greedy", orders, replay_greedy(network, initial, events, DefaultPolicy()), weights
    )
    decided, report = replay_hindsight(
        network, initial, events, DefaultPolicy(), window=1000, time_budget_s=10.0
    )
    hindsight = measure("hindsight", orders, decided, weights)
    assert hindsight.cost <= greedy.cost + 1e-6
    assert report.bound <= report.objective + 1e-6
    windowed, _ = replay_hindsight(network, initial, events, DefaultPolicy(), window=15)
    taken: dict[tuple[str, str], int] = defaultdict(int)
    for d in windowed:
        for s in d.shipments:
            for a in s.lines:
                taken[s.warehouse_id, a.sku] += a.quantity
    on_hand = {(w, s): n for w, s, n in initial}
    assert all(units <= on_hand[cell] for cell, units in taken.items())


def test_hindsight_is_reproducible() -> None:
    """The same history and window give the same hindsight decisions twice."""
    network, initial, events = scarce_history(7, n_orders=40)
    first, _ = replay_hindsight(network, initial, events, DefaultPolicy(), window=20)
    second, _ = replay_hindsight(network, initial, events, DefaultPolicy(), window=20)
    assert first == second


def test_measure_counts_shipments_fill_and_late_orders() -> None:
    """measure() counts shipments, distance, units, and orders whose delivery estimate is after
    their promise (held orders count as unfilled)."""
    promised = order(("A", 2), order_id="p", latest_delivery_date=NOW)
    held = order(("A", 3), order_id="h")
    late = RouteDecision(
        RouteStatus.PARTIALLY_ROUTED,
        shipments=(
            PlannedShipment(
                "W1", (Allocation("L0", "A", 1),), 120.0, NOW, NOW + dt.timedelta(days=2)
            ),
        ),
    )
    weights = CostWeights(100.0, 0.1, 1000.0)
    m = measure("x", [promised, held], [late, RouteDecision(RouteStatus.HELD)], weights)
    assert (m.shipments, m.units_ordered, m.units_filled, m.late_orders) == (1, 5, 1, 1)
    assert m.fill_rate == pytest.approx(0.2)
    assert m.cost == pytest.approx(100.0 + 12.0 + 4 * 1000.0)


def test_gap_share_is_the_captured_fraction() -> None:
    """(greedy - policy) / (greedy - hindsight); None when there is no gap to capture."""
    assert gap_share(100.0, 70.0, 40.0) == pytest.approx(0.5)
    assert gap_share(100.0, 100.0, 40.0) == 0.0
    assert gap_share(100.0, 90.0, 100.0) is None
