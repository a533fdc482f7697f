"""The MILP optimum the suite measures decision quality against."""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Sequence

import pytest

from benchmarks import (
    Decision,
    MilpResult,
    NaiveRouter,
    PerLineGreedyRouter,
    quality_totals,
    solve_optimum,
)
from benchmarks._quality import quality_scenario
from benchmarks._scenario import Scenario

WEIGHTS = {"shipment_weight": 100.0, "distance_weight": 0.1, "unit_penalty": 10_000.0}


def _optimum(scenario: Scenario, max_shipments: int = 3) -> MilpResult:
    return solve_optimum(
        scenario.orders,
        scenario.warehouses,
        scenario.stock_dict(),
        max_shipments=max_shipments,
        shipment_weight=WEIGHTS["shipment_weight"],
        distance_weight=WEIGHTS["distance_weight"],
        unit_penalty=WEIGHTS["unit_penalty"],
    )


def _cost(decisions: Sequence[Decision], scenario: Scenario) -> float:
    totals = quality_totals(decisions, scenario.orders)
    return totals.cost(
        WEIGHTS["shipment_weight"], WEIGHTS["distance_weight"], WEIGHTS["unit_penalty"]
    )


def _brute_force(scenario: Scenario, max_shipments: int) -> float:
    """Every way to split every line's units over the warehouses holding its SKU (or leave them
    unfilled); the cheapest one that respects stock and the shipment limit."""
    from benchmarks._naive import haversine_km, serves_level, zip_coordinates

    zips = zip_coordinates()
    stock = scenario.stock_dict()
    ids = [w.warehouse_id for w in scenario.warehouses]
    per_line = []
    for o, order in enumerate(scenario.orders):
        lat, lon = zips[order.ship_to.postal_code]
        for line in order.lines:
            sources = [
                w
                for w, wh in enumerate(scenario.warehouses)
                if serves_level(wh, order.service_level) and stock.get((line.sku, ids[w]), 0) > 0
            ]
            options = []
            for units in itertools.product(range(line.quantity + 1), repeat=len(sources)):
                if sum(units) <= line.quantity:
                    options.append(
                        (
                            o,
                            line.sku,
                            line.quantity,
                            {sources[k]: u for k, u in enumerate(units) if u},
                        )
                    )
            per_line.append(options)
    best = math.inf
    for choice in itertools.product(*per_line):
        used: dict[tuple[str, int], int] = {}
        ships: dict[int, set[int]] = {}
        unfilled = 0
        for o, sku, quantity, take in choice:
            for w, u in take.items():
                used[(sku, w)] = used.get((sku, w), 0) + u
                ships.setdefault(o, set()).add(w)
            unfilled += quantity - sum(take.values())
        if any(u > stock.get((sku, ids[w]), 0) for (sku, w), u in used.items()):
            continue
        if any(len(ws) > max_shipments for ws in ships.values()):
            continue
        cost = WEIGHTS["unit_penalty"] * unfilled
        for o, ws in ships.items():
            lat, lon = zips[scenario.orders[o].ship_to.postal_code]
            for w in ws:
                wh = scenario.warehouses[w]
                cost += WEIGHTS["shipment_weight"] + WEIGHTS["distance_weight"] * haversine_km(
                    lat, lon, wh.latitude, wh.longitude
                )
        best = min(best, cost)
    return best


def _tiny(seed: int) -> Scenario:
    """3 orders of at most 2 lines of at most 2 units, 2 warehouses: small enough to enumerate."""
    scenario = quality_scenario(seed, n_orders=3, n_warehouses=2)
    orders = tuple(
        dataclasses.replace(
            o,
            lines=tuple(
                dataclasses.replace(ln, quantity=min(ln.quantity, 2)) for ln in o.lines[:2]
            ),
        )
        for o in scenario.orders
    )
    return dataclasses.replace(scenario, orders=orders)


@pytest.mark.parametrize("seed", range(8))
def test_milp_matches_brute_force_on_tiny_batches(seed: int) -> None:
    """On tiny batches the MILP's cost equals the exhaustive optimum, with the split limit
    binding (1) and not (2)."""
    scenario = _tiny(seed)
    for limit in (1, 2):
        result = _optimum(scenario, limit)
        assert result.optimal
        assert _cost(result.decisions, scenario) == pytest.approx(_brute_force(scenario, limit))
        assert result.objective == pytest.approx(_cost(result.decisions, scenario))


@pytest.mark.parametrize("seed", range(8))
def test_milp_is_never_worse_than_the_default_policy_or_per_line_greedy(seed: int) -> None:
    """With the same split limit the optimum costs no more than the default policy; without one
    (greedy has none) no more than per-line greedy; and it never oversells."""
    scenario = quality_scenario(100 + seed, n_orders=40, n_warehouses=8)
    default = NaiveRouter(scenario.warehouses, scenario.stock_dict()).route(scenario.orders)
    greedy = PerLineGreedyRouter(scenario.warehouses, scenario.stock_dict()).route(scenario.orders)
    limited = _optimum(scenario)
    free = _optimum(scenario, max_shipments=8)
    assert _cost(limited.decisions, scenario) <= _cost(default, scenario) + 1e-6
    assert _cost(free.decisions, scenario) <= _cost(greedy, scenario) + 1e-6
    stock = scenario.stock_dict()
    taken: dict[tuple[str, str], int] = {}
    for order, decision in zip(scenario.orders, limited.decisions, strict=True):
        sku_of = {line.line_id: line.sku for line in order.lines}
        assert len(decision.shipments) <= 3
        for shipment in decision.shipments:
            for line_id, units in shipment.lines:
                key = (sku_of[line_id], shipment.warehouse_id)
                taken[key] = taken.get(key, 0) + units
    assert all(units <= stock[key] for key, units in taken.items())
