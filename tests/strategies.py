"""Hypothesis strategies for Sortyard's domain: warehouses, networks, stock, orders.

Shared by the engine, rules, server and optimiser tests. Everything is small by default so property
tests stay fast; sizes are parameters.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

from engine import (
    Address,
    CarrierPickup,
    Network,
    Order,
    OrderLine,
    ServiceLevel,
    StockTable,
    Warehouse,
)

__all__ = [
    "UTC",
    "RoutingCase",
    "addresses",
    "carrier_pickups",
    "networks",
    "order_lines",
    "orders",
    "routing_cases",
    "stock_tables",
    "us_points",
    "warehouses",
]

UTC = dt.UTC
US_TIME_ZONES = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Phoenix",
)


def us_points() -> st.SearchStrategy[tuple[float, float]]:
    """(lat, lon) in the continental US box."""
    return st.tuples(
        st.floats(25.0, 49.0, allow_nan=False), st.floats(-124.0, -67.0, allow_nan=False)
    )


def carrier_pickups() -> st.SearchStrategy[CarrierPickup]:
    """A pickup at a whole hour, for some service levels (often all), on some weekdays."""
    return st.builds(
        CarrierPickup,
        cutoff=st.integers(8, 20).map(lambda h: dt.time(h, 0)),
        service_levels=st.one_of(
            st.just(frozenset()), st.frozensets(st.sampled_from(ServiceLevel), max_size=3)
        ),
        weekdays=st.one_of(
            st.just(frozenset({1, 2, 3, 4, 5})), st.frozensets(st.integers(1, 7), min_size=1)
        ),
    )


@st.composite
def warehouses(
    draw: st.DrawFn,
    min_size: int = 1,
    max_size: int = 5,
    *,
    with_pickups: bool = False,
    allow_inactive: bool = False,
) -> list[Warehouse]:
    """Warehouses with unique ids ``W0, W1, ...`` at US points."""
    count = draw(st.integers(min_size, max_size))
    result = []
    for position in range(count):
        lat, lon = draw(us_points())
        result.append(
            Warehouse(
                warehouse_id=f"W{position}",
                latitude=lat,
                longitude=lon,
                time_zone=draw(st.sampled_from(US_TIME_ZONES)),
                handling_days=draw(st.integers(0, 2)) if with_pickups else 0,
                pickups=tuple(draw(st.lists(carrier_pickups(), max_size=2)))
                if with_pickups
                else (),
                active=draw(st.booleans()) if allow_inactive else True,
            )
        )
    return result


def networks(min_size: int = 1, max_size: int = 5, **options: bool) -> st.SearchStrategy[Network]:
    """A :class:`Network` of :func:`warehouses`."""
    return warehouses(min_size, max_size, **options).map(Network)


@st.composite
def stock_tables(
    draw: st.DrawFn,
    network: Network,
    skus: list[str],
    *,
    max_units: int = 6,
    with_reserved: bool = False,
) -> StockTable:
    """Stock for ``skus`` across ``network``: many cells empty, the rest 1..max_units; optionally
    some units already reserved (never more than on hand)."""
    shape = (len(skus), len(network))
    cells = shape[0] * shape[1]
    on_hand = np.array(
        draw(
            st.lists(
                st.one_of(st.just(0), st.integers(0, max_units)), min_size=cells, max_size=cells
            )
        ),
        dtype=np.int64,
    ).reshape(shape)
    reserved = np.zeros(shape, dtype=np.int64)
    if with_reserved:
        fractions = np.array(
            draw(st.lists(st.floats(0.0, 1.0), min_size=cells, max_size=cells))
        ).reshape(shape)
        reserved = np.floor(on_hand * fractions).astype(np.int64)
    return StockTable(network, skus, on_hand, reserved)


def addresses() -> st.SearchStrategy[Address]:
    """A US address given by explicit coordinates (no geocoding needed)."""
    return us_points().map(lambda p: Address(postal_code="", latitude=p[0], longitude=p[1]))


def order_lines(skus: list[str], max_quantity: int = 6) -> st.SearchStrategy[OrderLine]:
    """A line of one of ``skus`` (line_id is set by :func:`orders`)."""
    return st.builds(
        OrderLine,
        line_id=st.just(""),
        sku=st.sampled_from(skus),
        quantity=st.integers(1, max_quantity),
    )


@st.composite
def orders(
    draw: st.DrawFn,
    skus: list[str],
    *,
    max_lines: int = 3,
    distinct_skus: bool = False,
    channels: tuple[str, ...] = ("shopify", "amazon", "storefront"),
    service_levels: tuple[ServiceLevel, ...] = (ServiceLevel.STANDARD,),
    order_id: str = "o",
    max_quantity: int = 6,
) -> Order:
    """A valid order with 1..max_lines lines (line ids ``L0, L1, ...``)."""
    if distinct_skus:
        chosen = draw(
            st.lists(
                st.sampled_from(skus), min_size=1, max_size=min(max_lines, len(skus)), unique=True
            )
        )
    else:
        chosen = draw(st.lists(st.sampled_from(skus), min_size=1, max_size=max_lines))
    lines = tuple(
        OrderLine(f"L{position}", sku, draw(st.integers(1, max_quantity)))
        for position, sku in enumerate(chosen)
    )
    return Order(
        channel=draw(st.sampled_from(channels)),
        channel_order_id=order_id,
        lines=lines,
        ship_to=draw(addresses()),
        service_level=draw(st.sampled_from(service_levels)),
    )


@dataclass(frozen=True)
class RoutingCase:
    """A network, its stock and a batch of orders over the same SKUs."""

    network: Network
    stock: StockTable
    orders: list[Order]


@st.composite
def routing_cases(
    draw: st.DrawFn,
    *,
    max_warehouses: int = 5,
    max_skus: int = 4,
    max_orders: int = 6,
    max_lines: int = 3,
    distinct_skus: bool = False,
    with_reserved: bool = False,
    allow_inactive: bool = False,
) -> RoutingCase:
    """A small, often scarce, routing problem."""
    network = draw(networks(1, max_warehouses, allow_inactive=allow_inactive))
    skus = [f"S{i}" for i in range(draw(st.integers(1, max_skus)))]
    stock = draw(stock_tables(network, skus, with_reserved=with_reserved))
    count = draw(st.integers(1, max_orders))
    batch = [
        draw(orders(skus, max_lines=max_lines, distinct_skus=distinct_skus, order_id=f"o{i}"))
        for i in range(count)
    ]
    return RoutingCase(network, stock, batch)
