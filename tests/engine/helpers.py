"""Small builders shared by the engine tests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from engine import (
    Address,
    DefaultPolicy,
    Directives,
    Geocoder,
    Hold,
    Network,
    Order,
    OrderLine,
    Policy,
    RouteDecision,
    Router,
    RoutingContext,
    ServiceLevel,
    StockTable,
    Warehouse,
)

UTC = dt.UTC
#: Thursday 2026-12-03, 10:00 in New York.
NOW = dt.datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
#: Knows no ZIPs: tests that give coordinates never need the real table.
NO_ZIPS = Geocoder.from_points({})
#: The customer most tests ship to; warehouses sit east of it along the same parallel.
HOME = (40.0, -100.0)


def east(degrees: float) -> tuple[float, float]:
    """A point ``degrees`` of longitude east of HOME (about 85 km per degree)."""
    return HOME[0], HOME[1] + degrees


def warehouse(warehouse_id: str, point: tuple[float, float], **options: Any) -> Warehouse:
    return Warehouse(warehouse_id, point[0], point[1], **options)


def order(
    *lines: tuple[str, int],
    at: tuple[float, float] = HOME,
    channel: str = "shopify",
    order_id: str = "o1",
    level: ServiceLevel = ServiceLevel.STANDARD,
    **options: Any,
) -> Order:
    """An order of (sku, quantity) lines with ids L0, L1, ... shipped to coordinates ``at``."""
    return Order(
        channel=channel,
        channel_order_id=order_id,
        lines=tuple(OrderLine(f"L{i}", sku, qty) for i, (sku, qty) in enumerate(lines)),
        ship_to=Address(postal_code="", latitude=at[0], longitude=at[1]),
        service_level=level,
        **options,
    )


def stock_of(
    network: Network, cells: Mapping[tuple[str, str], int], skus: Iterable[str] = ()
) -> StockTable:
    """Stock from {(warehouse_id, sku): on_hand}; ``skus`` adds SKUs with nothing on hand."""
    names = list(dict.fromkeys([*skus, *(sku for _, sku in cells)]))
    table = StockTable.empty(network, names)
    for (warehouse_id, sku), units in cells.items():
        table.on_hand[table.row_of(sku), network.index_of(warehouse_id)] = units
    return table


def route(
    network: Network,
    stock: StockTable,
    orders: list[Order],
    policy: Policy | None = None,
    **options: Any,
) -> list[RouteDecision]:
    options.setdefault("now", NOW)
    return Router(network, policy or DefaultPolicy(), NO_ZIPS).route(orders, stock, **options)


def shipped(decision: RouteDecision) -> dict[str, dict[str, int]]:
    """{warehouse_id: {line_id: units}} of a decision."""
    return {s.warehouse_id: {a.line_id: a.quantity for a in s.lines} for s in decision.shipments}


class TestPolicy(Policy):
    """A configurable policy for tests: excludes (sku, warehouse_id) cells, sets limits, holds
    orders by channel_order_id, and reserves units per channel."""

    __test__ = False  # not a pytest class

    def __init__(
        self,
        *,
        exclude: Iterable[tuple[str, str]] = (),
        max_shipments: int = 3,
        ship_complete: bool = False,
        allow_line_split: bool = True,
        hold: Iterable[str] = (),
        reserves: Mapping[str, Mapping[tuple[str, int], int]] | None = None,
        safety: Mapping[str, int] | None = None,
        prefer: Mapping[str, float] | None = None,
    ) -> None:
        self.exclude = frozenset(exclude)
        self.max_shipments = max_shipments
        self.ship_complete = ship_complete
        self.allow_line_split = allow_line_split
        self.hold = frozenset(hold)
        self.reserves = reserves or {}
        self.safety = safety or {}
        self.prefer = prefer or {}
        self.version = "test"

    def directives(self, ctx: RoutingContext, *, explain: bool = False) -> Directives:
        d = Directives.neutral(ctx, max_shipments=self.max_shipments)
        ids = ctx.network.warehouse_ids
        reasons: dict[tuple[int, int], str] = {}
        for line, sku in enumerate(ctx.line_sku):
            for w, warehouse_id in enumerate(ids):
                if (sku, warehouse_id) in self.exclude:
                    d.line_excluded[line, w] = True
                    reasons[(line, w)] = f"excluded by rule 'no-{sku}-at-{warehouse_id}'"
        for warehouse_id, bonus in self.prefer.items():
            d.rank_key[:, ctx.network.index_of(warehouse_id)] -= bonus
        d.ship_complete[:] = self.ship_complete
        d.allow_line_split[:] = self.allow_line_split
        d.hold = [
            Hold("POLICY_HOLD", "held for review", rule="review")
            if o.channel_order_id in self.hold
            else None
            for o in ctx.orders
        ]
        if explain:
            d.exclusion_reasons = reasons
            d.rule_effects = [[("test", "applied")] for _ in ctx.orders]
        return d

    def channel_reserves(
        self,
        skus: Any,
        on_hand: Any,
        now: dt.datetime,
        sku_tags: Mapping[str, frozenset[str]],
    ) -> dict[str, Any]:
        result = {}
        for channel, cells in self.reserves.items():
            gross = np.zeros(np.shape(on_hand), dtype=np.int64)
            for (sku, column), units in cells.items():
                if sku in skus:
                    gross[list(skus).index(sku), int(column)] = units
            result[channel] = gross
        return result

    def safety_stock(self, channel: str, skus: Any, available: Any, sku_tags: Any) -> Any:
        return np.full(len(skus), self.safety.get(channel, 0), dtype=np.int64)
