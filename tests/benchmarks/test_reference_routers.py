"""The suite's reference routers: the naive router states the default policy independently of the
engine and must decide exactly as the engine does; per-line greedy behaves as Saleor/Medusa do."""

from __future__ import annotations

import pytest

from benchmarks import NaiveRouter, PerLineGreedyRouter, generate_scenario
from benchmarks._engine_run import EngineBench, compare_decisions
from engine import Address, Order, OrderLine, RouteStatus, ServiceLevel, Warehouse


@pytest.mark.parametrize(
    ("seed", "orders", "warehouses"),
    [(3, 800, 20), (4, 400, 50), (5, 120, 200)],
)
def test_naive_router_and_engine_agree_decision_by_decision(
    seed: int, orders: int, warehouses: int
) -> None:
    """On scarce scenarios (half the orders multi-line, so whole-order fills, 2- and 3-covers and
    partial greedy routes all occur), every order gets the same warehouses, units per line, status
    and unfilled units from the engine as from the naive router."""
    scenario = generate_scenario(
        seed=seed,
        n_orders=orders,
        n_warehouses=warehouses,
        n_skus=max(50, orders // 4),
        multi_line_share=0.5,
        scarce_share=0.3,
    )
    engine_decisions = EngineBench(scenario).decisions(scenario.orders)
    naive_decisions = NaiveRouter(scenario.warehouses, scenario.stock_dict()).route(scenario.orders)
    mismatches = compare_decisions(scenario.orders, naive_decisions, engine_decisions)
    assert mismatches == []
    statuses = {d.status for d in naive_decisions}
    # The scenario is only a strong check if it exercises splits and shortages.
    assert {RouteStatus.ROUTED, RouteStatus.PARTIALLY_ROUTED} <= statuses
    assert any(len(d.shipments) >= 2 for d in naive_decisions)


def _wh(wid: str, lat: float, lon: float) -> Warehouse:
    return Warehouse(warehouse_id=wid, latitude=lat, longitude=lon)


def _order(lines: list[tuple[str, int]], zip_code: str = "10001") -> Order:
    return Order(
        channel="storefront",
        channel_order_id="o-1",
        lines=tuple(OrderLine(str(i + 1), sku, q) for i, (sku, q) in enumerate(lines)),
        ship_to=Address(postal_code=zip_code),
        service_level=ServiceLevel.STANDARD,
    )


def test_naive_router_prefers_nearest_whole_fill_and_splits_minimally() -> None:
    """New York order: the nearer warehouse wins when it has everything; when neither has
    everything, the order splits across exactly two and takes from the nearer first."""
    near, far = _wh("NJ", 40.5, -74.4), _wh("CA", 34.1, -117.4)
    stock = {("A", "NJ"): 1, ("A", "CA"): 5, ("B", "CA"): 5}
    router = NaiveRouter([far, near], stock)
    whole = router.route_one(_order([("A", 1), ("B", 1)]))
    assert [s.warehouse_id for s in whole.shipments] == ["CA"]  # only CA has both
    split = router.route_one(_order([("A", 5), ("B", 1)]))
    assert whole.status is RouteStatus.ROUTED
    assert split.status is RouteStatus.ROUTED
    assert {s.warehouse_id: s.lines for s in split.shipments} == {
        "CA": (("1", 4), ("2", 1)),
        "NJ": (("1", 1),),
    }
    assert stock[("A", "NJ")] == 0 and stock[("A", "CA")] == 0


def test_naive_router_holds_unknown_postal_codes_and_reports_shortage() -> None:
    """An unlocatable ZIP is HELD without touching stock; a short SKU routes what exists."""
    stock = {("A", "NJ"): 2}
    router = NaiveRouter([_wh("NJ", 40.5, -74.4)], stock)
    held = router.route_one(_order([("A", 1)], zip_code="00000"))
    assert held.status is RouteStatus.HELD and held.hold_code == "UNKNOWN_POSTAL_CODE"
    assert stock[("A", "NJ")] == 2
    partial = router.route_one(_order([("A", 3)]))
    assert partial.status is RouteStatus.PARTIALLY_ROUTED and partial.unfilled_units == 1


def test_per_line_greedy_takes_the_first_warehouse_in_list_order_regardless_of_distance() -> None:
    """Greedy fills each line from the first listed warehouse with stock (even across the
    country), spilling to the next one, as Saleor and Medusa allocate."""
    far, near = _wh("CA", 34.1, -117.4), _wh("NJ", 40.5, -74.4)
    stock = {("A", "CA"): 1, ("A", "NJ"): 5, ("B", "NJ"): 1}
    decision = PerLineGreedyRouter([far, near], stock).route_one(_order([("A", 2), ("B", 1)]))
    assert {s.warehouse_id: s.lines for s in decision.shipments} == {
        "CA": (("1", 1),),
        "NJ": (("1", 1), ("2", 1)),
    }
    assert stock == {("A", "CA"): 0, ("A", "NJ"): 4, ("B", "NJ"): 0}
