"""Shared helpers for the rules tests: the example network, and routing an order under a policy."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping, Sequence
from pathlib import Path

import engine
from rules import RuleSet
from rules._files import load_network

EXAMPLES = Path(__file__).resolve().parents[2] / "rules" / "examples"
# Wednesday 2026-11-18, 10:00 in New York: before every cutoff of the example network.
NOW = dt.datetime(2026, 11, 18, 15, 0, tzinfo=dt.UTC)
NYC = engine.Address(postal_code="10001", country_code="US", state="NY", city="New York")


@functools.cache
def network() -> engine.Network:
    return load_network(EXAMPLES / "network.toml")


def order(
    *lines: tuple[str, int],
    channel: str = "shopify",
    ship_to: engine.Address = NYC,
    service_level: engine.ServiceLevel = engine.ServiceLevel.STANDARD,
    attributes: Mapping[str, str] | None = None,
    order_id: str = "o-1",
) -> engine.Order:
    return engine.Order(
        channel=channel,
        channel_order_id=order_id,
        lines=tuple(
            engine.OrderLine(line_id=str(i + 1), sku=sku, quantity=qty)
            for i, (sku, qty) in enumerate(lines)
        ),
        ship_to=ship_to,
        service_level=service_level,
        attributes=dict(attributes or {}),
    )


def stock_of(levels: Mapping[tuple[str, str], int], skus: Sequence[str] = ()) -> engine.StockTable:
    """Stock from {(warehouse_id, sku): on_hand}; ``skus`` adds SKUs with nothing on hand."""
    net = network()
    names = list(dict.fromkeys([*(sku for _, sku in levels), *skus]))
    table = engine.StockTable.empty(net, names)
    for (warehouse_id, sku), units in levels.items():
        table.on_hand[table.row_of(sku), net.index_of(warehouse_id)] = units
    return table


PLENTY = {(w, sku): 100 for w in network().warehouse_ids for sku in ("MUG", "TEE", "HZ-1")}


def route(
    source: str,
    orders: Sequence[engine.Order],
    levels: Mapping[tuple[str, str], int] = PLENTY,
    *,
    now: dt.datetime = NOW,
    sku_tags: Mapping[str, frozenset[str]] | None = None,
    explain: bool = True,
) -> list[engine.RouteDecision]:
    policy = RuleSet.compile(source, "test.rules", network())
    skus = [line.sku for o in orders for line in o.lines]
    return engine.Router(network(), policy).route(
        list(orders), stock_of(levels, skus), now=now, explain=explain, sku_tags=sku_tags or {}
    )


def warehouses(decision: engine.RouteDecision) -> list[str]:
    return sorted(s.warehouse_id for s in decision.shipments)
