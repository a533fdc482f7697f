"""``rules explain``: route one order with a compiled policy and say, in plain words, which rules
matched and how each changed the candidate warehouses and their ranking."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

import engine
from rules._compile import CompiledPolicy
from rules._files import stock_table
from rules._testing import describe_decision

__all__ = ["PLENTIFUL_UNITS", "explain"]

PLENTIFUL_UNITS = 1_000_000  # stock assumed at every site when the author gives none


def explain(
    policy: CompiledPolicy,
    order: engine.Order,
    network: engine.Network,
    *,
    now: dt.datetime,
    stock_levels: Iterable[tuple[str, str, int]] | None = None,
    sku_tags: Mapping[str, frozenset[str]] | None = None,
    stock_name: str = "stock",
) -> str:
    """The decision ``policy`` makes for ``order`` (nothing is reserved), explained."""
    skus = list(dict.fromkeys(line.sku for line in order.lines))
    if stock_levels is None:
        stock = engine.StockTable.empty(network, skus)
        stock.on_hand[:] = PLENTIFUL_UNITS
        stock_note = "stock: none given, so every warehouse is assumed to have plenty"
    else:
        levels = list(stock_levels)
        stock = stock_table(network, skus, levels, stock_name)
        stock_note = f"stock: {len(levels)} (warehouse, sku) levels given"
    router = engine.Router(network, policy)
    (decision,) = router.route(
        [order], stock, now=now, explain=True, commit=False, sku_tags=sku_tags or {}
    )
    ship_to = order.ship_to
    head = [
        f"order {order.channel_order_id} from {order.channel}, {order.service_level.name}, "
        f"to {ship_to.postal_code} {ship_to.country_code}, {len(order.lines)} line(s)",
        f"policy {policy.version} ({policy.file_name}); clock {now.isoformat()}",
        stock_note,
    ]
    effects = decision.explanation.rule_effects if decision.explanation else ()
    matched = [(rule, effect) for rule, effect in effects if rule not in ("ranking", "default")]
    body = ["", "rules that matched:"]
    body += [f"  - {rule!r}: {effect}" for rule, effect in matched] or ["  (none)"]
    body += ["", "ranking:"]
    body += [f"  {effect}" for rule, effect in effects if rule == "ranking"] or ["  (not ranked)"]
    body += [f"  {effect}" for rule, effect in effects if rule == "default"]
    body += ["", "decision:"]
    body += [f"  {text}" for text in describe_decision(decision, rule_effects=False).splitlines()]
    return "\n".join(head + body) + "\n"
