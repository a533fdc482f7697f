"""The column-wise fast path (``OrderBatch`` -> ``Router.route_columns`` -> ``BatchResult``) decides
exactly what the object path decides, builds the same objects lazily, and checks input as
strictly as ``validate_order``."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import (
    Address,
    BatchResult,
    DefaultPolicy,
    Geocoder,
    Network,
    Order,
    OrderBatch,
    OrderLine,
    RouteDecision,
    Router,
    RouteStatus,
    ServiceLevel,
    StockTable,
    Warehouse,
    validate_order,
)
from tests.engine.helpers import NO_ZIPS, NOW, TestPolicy
from tests.strategies import RoutingCase, routing_cases

PROPERTY_SETTINGS = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
ALL_LEVELS = tuple(ServiceLevel)


def _copy(stock: StockTable) -> StockTable:
    return stock.copy()


def _same_stock(a: StockTable, b: StockTable) -> None:
    assert np.array_equal(a.reserved, b.reserved)
    assert set(a.reserved_by_channel) == set(b.reserved_by_channel)
    for channel, values in a.reserved_by_channel.items():
        assert np.array_equal(values, b.reserved_by_channel[channel])


def _four_ways(
    network: Network,
    stock: StockTable,
    orders: list[Order],
    geocoder: Geocoder,
    now: dt.datetime,
    capacity: np.ndarray | None = None,
) -> tuple[list[RouteDecision], BatchResult, StockTable]:
    """Route the same batch through the fast column path, ``route()``, the full-context path
    (``route_with_state``) and a policy spelling the same neutral directives as writable arrays;
    assert they agree on every decision and on the committed stock."""
    fast_stock, route_stock, state_stock, arrays_stock = (_copy(stock) for _ in range(4))
    caps = [None if capacity is None else capacity.copy() for _ in range(4)]
    router = Router(network, DefaultPolicy(), geocoder)
    batch = OrderBatch.from_orders(orders, fast_stock, geocoder)
    result = router.route_columns(batch, fast_stock, now=now, capacity_left=caps[0])
    fast = result.decisions()
    objects = router.route(orders, route_stock, now=now, capacity_left=caps[1])
    with_state, _ = router.route_with_state(orders, state_stock, now=now, capacity_left=caps[2])
    neutral_arrays = Router(network, TestPolicy(), geocoder).route(
        orders, arrays_stock, now=now, capacity_left=caps[3]
    )
    neutral_arrays = [
        RouteDecision(
            d.status, d.shipments, d.unfilled, d.hold, d.explanation, "default", d.violations
        )
        for d in neutral_arrays
    ]
    assert fast == objects
    assert fast == with_state
    assert fast == neutral_arrays
    for other_stock in (route_stock, state_stock, arrays_stock):
        _same_stock(fast_stock, other_stock)
    if capacity is not None:
        for other_capacity in caps[1:]:
            assert caps[0] is not None and other_capacity is not None
            assert np.array_equal(caps[0], other_capacity)
    return fast, result, fast_stock


@PROPERTY_SETTINGS
@given(
    case=routing_cases(
        max_warehouses=6, max_orders=8, max_lines=4, with_reserved=True, allow_inactive=True
    ),
    capacity=st.lists(st.sampled_from([-1, 0, 1, 2]), min_size=6, max_size=6),
)
def test_column_path_decides_like_the_object_path(case: RoutingCase, capacity: list[int]) -> None:
    """On Hypothesis batches (scarce stock, reservations, inactive sites, capacity limits) the
    fast column path (no routing context, no policy call) gives exactly the decisions and committed
    stock of route(), of the full-context path and of neutral directives spelled as arrays."""
    width = len(case.network)
    _four_ways(
        case.network,
        case.stock,
        case.orders,
        NO_ZIPS,
        NOW,
        np.array(capacity[:width], dtype=np.int64),
    )


@PROPERTY_SETTINGS
@given(case=routing_cases(max_warehouses=5, max_orders=6, max_lines=3, with_reserved=True))
def test_lazy_decisions_equal_eager_ones(case: RoutingCase) -> None:
    """BatchResult.decision(i), built on its own, equals decisions()[i] for every order."""
    router = Router(case.network, DefaultPolicy(), NO_ZIPS)
    batch = OrderBatch.from_orders(case.orders, case.stock, NO_ZIPS)
    result = router.route_columns(batch, case.stock, now=NOW)
    eager = result.decisions()
    assert [result.decision(i) for i in range(len(case.orders))] == eager
    with pytest.raises(IndexError):
        result.decision(len(case.orders))


@PROPERTY_SETTINGS
@given(case=routing_cases(max_warehouses=5, max_orders=6, max_lines=3), data=st.data())
def test_columns_given_as_arrays_route_like_the_orders(
    case: RoutingCase, data: st.DataObject
) -> None:
    """A batch given as plain arrays (OrderBatch.from_arrays: coordinates, SKU rows, quantities,
    channel codes, service levels, ids) routes exactly like the same orders as objects."""
    levels = [data.draw(st.sampled_from(ALL_LEVELS)) for _ in case.orders]
    orders = [
        Order(o.channel, o.channel_order_id, o.lines, o.ship_to, level)
        for o, level in zip(case.orders, levels, strict=True)
    ]
    names = sorted({o.channel for o in orders})
    lines = [line for o in orders for line in o.lines]
    batch = OrderBatch.from_arrays(
        stock=case.stock,
        line_start=np.cumsum([0] + [len(o.lines) for o in orders]),
        line_sku_row=[case.stock.row_of(line.sku) for line in lines],
        line_qty=[line.quantity for line in lines],
        channel_code=[names.index(o.channel) for o in orders],
        channel_names=names,
        lat=[float(o.ship_to.latitude or 0.0) for o in orders],  # the strategy gives both
        lon=[float(o.ship_to.longitude or 0.0) for o in orders],
        service_level=[int(level) for level in levels],
        order_ids=[o.channel_order_id for o in orders],
        line_ids=[line.line_id for line in lines],
    )
    router = Router(case.network, DefaultPolicy(), NO_ZIPS)
    array_stock = case.stock.copy()
    from_arrays = router.route_columns(batch, array_stock, now=NOW).decisions()
    object_stock = case.stock.copy()
    assert from_arrays == router.route(orders, object_stock, now=NOW)
    _same_stock(array_stock, object_stock)


# Malformed or odd values the column checks must catch (each then goes through validate_order).
_LINE_FAULTS = (
    ("quantity", 0),
    ("quantity", -3),
    ("quantity", 10**7),
    ("quantity", True),
    ("quantity", 2.0),
    ("quantity", 10**30),
    ("sku", ""),
    ("sku", "   "),
    ("sku", "X" * 200),
    ("line_id", ""),
    ("line_id", "L" * 200),
    ("line_id", "L0"),  # a duplicate when it is not the first line
)
_ORDER_FAULTS = (
    ("channel", ""),
    ("channel", " "),
    ("channel", "c" * 100),
    ("channel_order_id", ""),
    ("service_level", 2),
    ("latest_ship_date", dt.datetime(2026, 12, 4, 12, 0)),  # naive
    ("purchased_at", "yesterday"),
    ("lines", ()),
    ("ship_to", Address(postal_code="", country_code="US")),
    ("ship_to", Address(postal_code="10001", latitude=95.0, longitude=0.0)),
    ("ship_to", Address(postal_code="10001", latitude=40.0)),
    ("ship_to", Address(postal_code="10001", country_code="DE")),
    ("ship_to", Address(postal_code="99999", country_code="US")),
    ("ship_to", Address(postal_code="1000", country_code="US")),
)


def _faulty(draw: Callable[[st.SearchStrategy[Any]], Any], order: Order) -> Order:
    if draw(st.booleans()):  # a ZIP instead of coordinates: the column geocoder's path
        zip_code = draw(st.sampled_from(["10001", "00501", "501", "10001-0001"]))
        order = Order(
            order.channel,
            order.channel_order_id,
            order.lines,
            Address(zip_code),
            order.service_level,
        )
    if draw(st.booleans()):
        return order
    if draw(st.booleans()):
        field, value = draw(st.sampled_from(_ORDER_FAULTS))
        fields = {
            "channel": order.channel,
            "channel_order_id": order.channel_order_id,
            "lines": order.lines,
            "ship_to": order.ship_to,
            "service_level": order.service_level,
            field: value,
        }
        return Order(**fields)  # deliberately wrong types
    position = draw(st.integers(0, len(order.lines) - 1))
    field, value = draw(st.sampled_from(_LINE_FAULTS))
    line = order.lines[position]
    parts = {"line_id": line.line_id, "sku": line.sku, "quantity": line.quantity, field: value}
    broken = OrderLine(**parts)  # deliberately wrong types
    lines = (*order.lines[:position], broken, *order.lines[position + 1 :])
    return Order(order.channel, order.channel_order_id, lines, order.ship_to, order.service_level)


@functools.cache
def _small_zips() -> Geocoder:
    return Geocoder.from_points({"10001": (40.75, -73.99), "00501": (40.81, -73.04)})


@PROPERTY_SETTINGS
@given(case=routing_cases(max_warehouses=4, max_orders=6, max_lines=3), data=st.data())
def test_column_checks_reject_exactly_what_validate_order_rejects(
    case: RoutingCase, data: st.DataObject
) -> None:
    """Orders with bad quantities, texts, ids, enums, timestamps, coordinates or addresses are
    REJECTED with exactly validate_order's field violations, odd-but-valid ones (ZIP forms, foreign
    or unknown addresses) are HELD with the right code, and the rest of the batch is routed like it
    would be without them."""
    orders = [_faulty(data.draw, o) for o in case.orders]
    geocoder = _small_zips()
    decisions, result, _ = _four_ways(case.network, case.stock, orders, geocoder, NOW)
    for i, (order, decision) in enumerate(zip(orders, decisions, strict=True)):
        violations = validate_order(order)
        if violations:
            assert decision.status is RouteStatus.REJECTED
            assert list(decision.violations) == violations
            assert result.status[i] == RouteStatus.REJECTED
        else:
            assert decision.status is not RouteStatus.REJECTED
        if decision.status is RouteStatus.HELD:
            assert decision.hold is not None
            assert result.hold_codes[result.hold_code[i]] == decision.hold.code
            ship_to = order.ship_to
            if ship_to.country_code == "DE":
                assert decision.hold.code == "UNSUPPORTED_COUNTRY"
            elif ship_to.latitude is None and ship_to.postal_code in ("99999", "1000"):
                assert decision.hold.code == "UNKNOWN_POSTAL_CODE"


def test_zip_forms_and_holds_through_columns() -> None:
    """ZIP+4, leading-zero-less and spaced forms geocode through the column path; an unknown ZIP,
    a foreign address and an unknown SKU are held with the object path's codes and reasons."""
    network = Network([Warehouse("W0", 40.7, -74.0)])
    stock = StockTable(network, ["A"], [[10]], [[0]])

    def at(code: str, country: str = "US", sku: str = "A") -> Order:
        return Order("shop", f"o-{code}-{sku}", (OrderLine("1", sku, 1),), Address(code, country))

    orders = [
        at("10001"),
        at("10001-1234"),
        at("100011234"),
        at(" 10001 "),
        at("501"),
        at("99999"),
        at("10001", "DE"),
        at("10001", sku="B"),
        at("10001\x00"),  # not a ZIP, even though a bytes array would drop the NUL
    ]
    decisions, result, _ = _four_ways(network, stock, orders, _small_zips(), NOW)
    assert [d.status for d in decisions[:5]] == [RouteStatus.ROUTED] * 5
    assert [d.hold.code for d in decisions[5:] if d.hold] == [
        "UNKNOWN_POSTAL_CODE",
        "UNSUPPORTED_COUNTRY",
        "UNKNOWN_SKU",
        "UNKNOWN_POSTAL_CODE",
    ]
    assert decisions[5].hold is not None and "'99999'" in decisions[5].hold.reason
    assert decisions[7].hold is not None and decisions[7].hold.reason == "unknown SKU 'B'"
    assert result.hold_code[:5].tolist() == [-1] * 5


def test_from_arrays_rejects_bad_rows_with_field_paths() -> None:
    """Column input with a zero quantity, a row outside the stock table, no lines, an unknown
    service level or coordinates out of range rejects only those orders, with proto field paths;
    ZIP keys are geocoded and the good orders route."""
    network = Network([Warehouse("W0", 40.7, -74.0)])
    stock = StockTable(network, ["A", "B"], [[10], [10]], [[0], [0]])
    batch = OrderBatch.from_arrays(
        stock=stock,
        line_start=[0, 1, 3, 4, 4, 5, 6, 7],
        line_sku_row=[0, 0, 1, 5, 0, 1, 0],
        line_qty=[1, 2, 0, 1, 1, 1, 1],
        service_level=[1, 1, 1, 1, 9, 1, 1],
        lat=[np.nan, np.nan, np.nan, np.nan, np.nan, 91.0, np.nan],
        lon=[np.nan] * 7,
        zip5=[10001, 10001, 10001, 10001, 10001, -1, 99999],
        geocoder=_small_zips(),
    )
    result = Router(network, DefaultPolicy(), _small_zips()).route_columns(batch, stock, now=NOW)
    decisions = result.decisions()
    assert decisions[0].status is RouteStatus.ROUTED
    assert decisions[0].shipments[0].lines[0].line_id == "1"
    assert decisions[1].violations == (("order.lines[1].quantity", "must be positive"),)
    assert decisions[2].violations == (("order.lines[0].sku", "row outside the stock table"),)
    assert decisions[3].violations == (("order.lines", "at least one line is required"),)
    assert decisions[4].violations == (("order.service_level", "must be a ServiceLevel"),)
    assert decisions[5].violations == (("order.ship_to.latitude", "must be between -90 and 90"),)
    assert decisions[6].hold is not None and decisions[6].hold.code == "UNKNOWN_POSTAL_CODE"
    assert stock.reserved.tolist() == [[1], [0]]


def test_route_columns_refuses_a_batch_built_for_other_skus() -> None:
    """Rows of a batch only mean something for the SKUs it was built against: routing it against a
    table with other SKUs is a ValueError, not a silent misallocation."""
    network = Network([Warehouse("W0", 40.7, -74.0)])
    stock = StockTable(network, ["A", "B"], [[10], [10]], [[0], [0]])
    other = StockTable(network, ["B", "A"], [[10], [10]], [[0], [0]])
    batch = OrderBatch.from_arrays(
        stock=stock, line_start=[0, 1], line_sku_row=[0], line_qty=[1], lat=[40.0], lon=[-74.0]
    )
    with pytest.raises(ValueError, match="other SKUs"):
        Router(network, DefaultPolicy(), NO_ZIPS).route_columns(batch, other, now=NOW)


def test_a_policy_that_speaks_needs_the_orders() -> None:
    """A non-default policy is consulted with the orders themselves; a batch given only as arrays
    cannot offer them, which is a clear ValueError rather than a wrong decision."""
    network = Network([Warehouse("W0", 40.7, -74.0)])
    stock = StockTable(network, ["A"], [[10]], [[0]])
    batch = OrderBatch.from_arrays(
        stock=stock, line_start=[0, 1], line_sku_row=[0], line_qty=[1], lat=[40.0], lon=[-74.0]
    )
    with pytest.raises(ValueError, match="needs the orders"):
        Router(network, TestPolicy(), NO_ZIPS).route_columns(batch, stock, now=NOW)


def test_seeded_scenario_columns_match_objects_and_the_naive_router() -> None:
    """On a seeded benchmark scenario (real ZIPs, 20 warehouses with cutoffs and handling days,
    scarce SKUs, multi-line orders) the column path, route() and the full-context path agree
    decision by decision, lazily built decisions equal eager ones, and every decision matches the
    independent naive router's."""
    from benchmarks._decisions import from_engine
    from benchmarks._naive import NaiveRouter
    from benchmarks._scenario import generate_scenario

    scenario = generate_scenario(seed=11, n_orders=1_500, n_warehouses=20, n_skus=3_000)
    network = Network(scenario.warehouses)
    index = scenario.ordered_sku_index()
    on_hand = scenario.dense_on_hand(index)
    stock = StockTable(
        network, [scenario.skus[i] for i in index.tolist()], on_hand, np.zeros_like(on_hand)
    )
    orders = list(scenario.orders)
    decisions, result, _ = _four_ways(network, stock, orders, Geocoder.default(), scenario.now)
    assert [result.decision(i) for i in range(0, len(orders), 7)] == decisions[::7]
    naive = NaiveRouter(scenario.warehouses, scenario.stock_dict()).route(orders)
    ours = [from_engine(d, o) for d, o in zip(decisions, orders, strict=True)]
    assert [d.key() for d in ours] == [d.key() for d in naive]
    statuses = {d.status for d in decisions}
    assert {RouteStatus.ROUTED, RouteStatus.PARTIALLY_ROUTED} <= statuses  # a real mix
    assert any(len(d.shipments) > 1 for d in decisions)
