"""Hypothesis properties of routing: stock is never oversold, units are conserved, ineligible
warehouses are never used, and on small cases the split is as good as brute force finds."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict

import numpy as np
import numpy.typing as npt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import Order, RouteDecision, RouteStatus, StockTable
from tests.engine.helpers import TestPolicy, route
from tests.strategies import RoutingCase, routing_cases

PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def allocated_cells(
    case: RoutingCase, decisions: list[RouteDecision]
) -> dict[tuple[str, str, str], int]:
    """{(channel, sku, warehouse_id): units} over the batch."""
    cells: dict[tuple[str, str, str], int] = defaultdict(int)
    for order, decision in zip(case.orders, decisions, strict=True):
        for shipment in decision.shipments:
            for allocation in shipment.lines:
                cells[(order.channel, allocation.sku, shipment.warehouse_id)] += allocation.quantity
    return cells


@st.composite
def policies(draw: st.DrawFn, case: RoutingCase) -> TestPolicy:
    """A policy excluding random (sku, warehouse) cells, random limits, maybe an amazon reserve."""
    ids = case.network.warehouse_ids
    cells = [(sku, w) for sku in case.stock.skus for w in ids]
    reserve = {
        (sku, column): draw(st.integers(0, 4))
        for sku in case.stock.skus
        for column in range(len(ids))
    }
    return TestPolicy(
        exclude=draw(st.lists(st.sampled_from(cells), max_size=len(cells))) if cells else [],
        max_shipments=draw(st.integers(1, 4)),
        ship_complete=draw(st.booleans()),
        allow_line_split=draw(st.booleans()),
        reserves={"amazon": reserve} if draw(st.booleans()) else {},
    )


@PROPERTY_SETTINGS
@given(data=st.data(), case=routing_cases(with_reserved=True, allow_inactive=True))
def test_never_oversold_units_conserved_and_only_eligible_warehouses(
    data: st.DataObject, case: RoutingCase
) -> None:
    """Over a whole batch: no (sku, warehouse) gives more than it had available, another channel
    never eats into a reserve, every routed order's units are allocated or unfilled exactly once,
    committed reservations equal the decisions, and excluded, inactive or out-of-capacity
    warehouses are never used."""
    policy = data.draw(policies(case))
    width = len(case.network)
    capacity = np.array(
        data.draw(st.lists(st.sampled_from([-1, 0, 1, 2]), min_size=width, max_size=width)),
        dtype=np.int64,
    )
    start_capacity = capacity.copy()
    stock = case.stock
    before = stock.available().copy()
    reserved_before = stock.reserved.copy()
    gross = policy.channel_reserves(stock.skus, stock.on_hand, None, {})  # type: ignore[arg-type]
    decisions = route(case.network, stock, case.orders, policy, capacity_left=capacity)

    cells = allocated_cells(case, decisions)
    for sku, warehouse_id in {(s, w) for _, s, w in cells}:
        row, column = stock.row_of(sku), case.network.index_of(warehouse_id)
        total = sum(u for (_, s, w), u in cells.items() if (s, w) == (sku, warehouse_id))
        assert total <= max(0, before[row, column])
        assert stock.reserved[row, column] == reserved_before[row, column] + total
        if "amazon" in gross:
            others = sum(
                u
                for (c, s, w), u in cells.items()
                if (s, w) == (sku, warehouse_id) and c != "amazon"
            )
            assert others <= max(0, before[row, column] - gross["amazon"][row, column])
        assert case.network.warehouses[column].active
        assert (sku, warehouse_id) not in policy.exclude
        assert start_capacity[column] != 0
    shipments_per_warehouse: dict[str, int] = defaultdict(int)
    for order, decision in zip(case.orders, decisions, strict=True):
        for shipment in decision.shipments:
            shipments_per_warehouse[shipment.warehouse_id] += 1
        placed = {line.line_id: 0 for line in order.lines}
        for shipment in decision.shipments:
            for allocation in shipment.lines:
                placed[allocation.line_id] += allocation.quantity
        if decision.status in (
            RouteStatus.ROUTED,
            RouteStatus.PARTIALLY_ROUTED,
            RouteStatus.BACKORDERED,
        ):
            unfilled = {u.line_id: u.quantity for u in decision.unfilled}
            for line in order.lines:
                assert placed[line.line_id] + unfilled.get(line.line_id, 0) == line.quantity
            assert len(decision.shipments) <= policy.max_shipments
            if decision.status is RouteStatus.ROUTED:
                assert not decision.unfilled
            if decision.status is RouteStatus.BACKORDERED:
                assert not decision.shipments
        else:
            assert not decision.shipments
        if not policy.allow_line_split:
            assert all(
                v in (0, line.quantity) for line in order.lines for v in [placed[line.line_id]]
            )
    for warehouse_id, count in shipments_per_warehouse.items():
        limit = start_capacity[case.network.index_of(warehouse_id)]
        assert limit < 0 or count <= limit


def brute_force(
    order: Order,
    stock: StockTable,
    distance: list[float],
    excluded: set[tuple[str, int]],
    split: bool,
) -> tuple[int, float] | None:
    """(fewest warehouses, least total distance among those) covering the order, at most 3."""
    available = np.maximum(stock.available(), 0)
    width = len(distance)
    for size in (1, 2, 3):
        best = math.inf
        for subset in itertools.combinations(range(width), size):
            if _covers(order, stock, available, subset, excluded, split):
                best = min(best, sum(distance[w] for w in subset))
        if best < math.inf:
            return size, best
    return None


def _covers(
    order: Order,
    stock: StockTable,
    available: npt.NDArray[np.int64],
    subset: tuple[int, ...],
    excluded: set[tuple[str, int]],
    split: bool,
) -> bool:
    if split:
        need: dict[str, int] = defaultdict(int)
        for line in order.lines:
            need[line.sku] += line.quantity
        return all(
            sum(int(available[stock.row_of(sku), w]) for w in subset if (sku, w) not in excluded)
            >= units
            for sku, units in need.items()
        )
    for assignment in itertools.product(subset, repeat=len(order.lines)):
        load: dict[tuple[str, int], int] = defaultdict(int)
        for line, w in zip(order.lines, assignment, strict=True):
            load[(line.sku, w)] += line.quantity
        if all(
            (sku, w) not in excluded and units <= available[stock.row_of(sku), w]
            for (sku, w), units in load.items()
        ):
            return True
    return False


@PROPERTY_SETTINGS
@given(
    data=st.data(),
    case=routing_cases(max_warehouses=5, max_orders=1, max_lines=3, distinct_skus=True),
)
def test_split_matches_brute_force_minimum_on_small_cases(
    data: st.DataObject, case: RoutingCase
) -> None:
    """For one order over at most 5 warehouses and 3 lines, the router uses exactly the fewest
    warehouses that can cover it (at most 3), with the least total distance among such covers;
    when no cover exists it does not claim ROUTED. Checked with and without line splitting and
    with excluded cells."""
    from engine import distance_matrix_km

    ids = case.network.warehouse_ids
    cells = [(sku, w) for sku in case.stock.skus for w in ids]
    exclude = data.draw(st.lists(st.sampled_from(cells), max_size=3))
    split = data.draw(st.booleans())
    policy = TestPolicy(exclude=exclude, allow_line_split=split)
    [order] = case.orders
    distance = distance_matrix_km(
        np.array([order.ship_to.latitude]), np.array([order.ship_to.longitude]), case.network.unit
    )[0].tolist()
    excluded = {(sku, case.network.index_of(w)) for sku, w in exclude}
    expected = brute_force(order, case.stock, distance, excluded, split)
    [decision] = route(case.network, case.stock, [order], policy)
    if expected is None:
        assert decision.status is not RouteStatus.ROUTED
        return
    size, best = expected
    assert decision.status is RouteStatus.ROUTED
    assert len(decision.shipments) == size
    total = sum(s.distance_km for s in decision.shipments)
    assert math.isclose(total, best, rel_tol=1e-9, abs_tol=1e-6)
