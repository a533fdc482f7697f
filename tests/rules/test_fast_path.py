"""The compiled policy's row-wise evaluation (used when no explanation is asked) gives exactly the
directives of its full-array evaluation (used for explanations)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
import pytest

import engine
from benchmarks._engine_run import EngineBench
from benchmarks._scaling import fifty_rule_policy
from benchmarks._scenario import generate_scenario
from rules import RuleSet


class _BothWays(engine.Policy):
    """Evaluates the wrapped policy with and without explanations on every batch and keeps both."""

    def __init__(self, inner: engine.Policy) -> None:
        self.inner = inner
        self.version = inner.version
        self.pairs: list[tuple[engine.Directives, engine.Directives]] = []

    def directives(self, ctx: engine.RoutingContext, *, explain: bool = False) -> engine.Directives:
        fast = self.inner.directives(ctx, explain=False)
        full = self.inner.directives(ctx, explain=True)
        self.pairs.append((fast, full))
        return fast

    def channel_reserves(
        self,
        skus: Sequence[str],
        on_hand: npt.NDArray[np.int64],
        now: dt.datetime,
        sku_tags: Mapping[str, frozenset[str]],
    ) -> dict[str, npt.NDArray[np.int64]]:
        return self.inner.channel_reserves(skus, on_hand, now, sku_tags)


def test_fifty_rule_policy_directives_are_the_same_with_and_without_explanations() -> None:
    """On a seeded 3,000-order batch over 50 warehouses, the 50-rule benchmark policy yields the
    same exclusions, ranking keys, holds, split limits and ship-complete flags whether it
    evaluates row-wise (routing) or on whole arrays (explaining)."""
    scenario = generate_scenario(seed=11, n_orders=3_000, n_warehouses=50, n_skus=5_000)
    bench = EngineBench(scenario)
    policy = _BothWays(fifty_rule_policy(bench.network))
    engine.Router(bench.network, policy).route(
        scenario.orders, bench.fresh_stock(), now=scenario.now
    )
    assert policy.pairs
    for fast, full in policy.pairs:
        assert full.line_excluded.any() and (full.rank_key != fast.rank_key).sum() == 0
        _assert_same(fast, full)


def _assert_same(fast: engine.Directives, full: engine.Directives) -> None:
    np.testing.assert_array_equal(fast.line_excluded, full.line_excluded)
    np.testing.assert_array_equal(fast.rank_key, full.rank_key)
    np.testing.assert_array_equal(fast.max_shipments, full.max_shipments)
    np.testing.assert_array_equal(fast.ship_complete, full.ship_complete)
    np.testing.assert_array_equal(fast.allow_line_split, full.allow_line_split)
    assert fast.hold == full.hold


# Each rule exercises one way the row-wise path evaluates a target or writes its effect (see
# CompiledPolicy._apply_rows): a target evaluated on the few orders a rule hits (restricted
# frame) or on the whole batch (a rule hitting more than a quarter of it), order-level fields and
# quantifiers picked for the hit orders inside a target, per-warehouse masks touching a few
# columns or most of them, per-order masks sparse or dense, every text operator on order and line
# fields, holds decided by priority.
_PATHS_POLICY = """
timezone "America/Chicago"
{ranking}

rule "every order: near sites, per-order sparse mask, whole batch"
  prefer warehouses where warehouse.distance_km < 700 by 40 km

rule "shopify: dense per-order mask"
  when order.channel == "shopify"
  prefer warehouses where warehouse.distance_km > 300 by 5 km

rule "priority: order and per-(order, warehouse) fields together, few orders"
  when order.service_level == "PRIORITY"
  prefer warehouses where warehouse.distance_km < 1500 and order.total_quantity >= 2 by 60 km

rule "storefront: a quantifier inside a target"
  when order.channel == "storefront"
  exclude warehouses where any line (line.quantity >= 2) and warehouse.delivery_days > 3

rule "next day: ships today"
  when order.service_level in ["NEXT_DAY", "SAME_DAY"]
  require warehouses where warehouse.ships_today or order.line_count >= 3

rule "west: two named sites, a few columns"
  when order.ship_to.postal_code starts with "9"
  exclude warehouses ["WH003-46241", "WH005-38118"]

rule "some ZIPs: most columns"
  when order.ship_to.postal_code in ["85043", "10001", "60446", "75001", "30349"]
  exclude warehouses tagged "regional"

rule "California by state"
  when order.ship_to.state == "CA" and order.ship_to.city != "Fresno"
  prefer warehouse "WH000-92376" by 150 km

rule "gift orders wait"
  priority 5
  when order.attributes["gift"] == "yes"
  hold "gift wrap"

rule "gift orders from a channel wait too"
  when order.attributes["gift"] matches "y*" and order.channel not in ["ebay"]
  hold "channel gift"

rule "low SKUs from ready sites"
  for lines where line.sku matches "SKU-000001?" or line.sku == "SKU-0000003"
  require warehouses where warehouse.handling_days == 0

rule "fragile lines off regional sites"
  for lines where line.tags contains "fragile" and order.channel_order_id starts with "S"
  exclude warehouses tagged "regional"

rule "SKU range lines: per-order mask on lines"
  for lines where line.sku starts with "SKU-00002"
  exclude warehouses where warehouse.distance_km > 2500 or order.ship_to.country_code != "US"

rule "multi-line orders from hubs"
  when today >= 2020-01-01 and all lines (line.quantity <= 4) and order.line_count >= 2
  prefer warehouses tagged "hub" by 20 km
  max shipments 2

rule "big orders ship complete"
  priority 2
  when order.total_quantity >= 5
  ship complete
  max shipments 1

rule "amazon singles stay whole"
  when order.channel == "amazon" and order.line_count == 1
  no line split
"""

_RANKINGS = {
    "distance": "rank by distance",
    "priority": 'rank by priority ["WH004-30349", "WH001-18031", "WH010-85043"]',
    "cost": (
        'rank by cost\nshipping cost 0.5 per km\nhandling cost 3 at warehouses tagged "regional"'
    ),
}


@pytest.mark.parametrize("ranking", sorted(_RANKINGS))
def test_every_row_wise_path_gives_the_full_array_directives(ranking: str) -> None:
    """On a seeded 3,000-order batch over 50 warehouses (some orders given a state, a city and a
    gift attribute, some SKUs a tag), a policy whose rules take every row-wise path (restricted
    and whole-batch targets, sparse and dense masks, few and many columns, quantifiers and order
    fields inside targets, all text operators, competing holds) yields, under each ranking, the
    same directives with and without explanations, and each kind of effect actually happens."""
    scenario = generate_scenario(seed=5, n_orders=3_000, n_warehouses=50, n_skus=5_000)
    orders = tuple(
        dataclasses.replace(
            order,
            ship_to=dataclasses.replace(
                order.ship_to,
                state="CA" if i % 5 == 0 else "",
                city="Fresno" if i % 15 == 0 else "",
            ),
            attributes={"gift": "yes"} if i % 7 == 0 else ({"gift": "y"} if i % 11 == 0 else {}),
        )
        for i, order in enumerate(scenario.orders)
    )
    scenario = dataclasses.replace(scenario, orders=orders)
    bench = EngineBench(scenario)
    text = _PATHS_POLICY.format(ranking=_RANKINGS[ranking])
    compiled = RuleSet.compile(text, "paths.rules", bench.network)
    policy = _BothWays(compiled)
    tags = {f"SKU-{k:07d}": frozenset({"fragile"}) for k in range(0, 40, 3)}
    engine.Router(bench.network, policy).route(
        list(orders), bench.fresh_stock(), now=scenario.now, sku_tags=tags
    )
    assert policy.pairs
    for fast, full in policy.pairs:
        _assert_same(fast, full)
        assert full.rule_effects is not None
        fired = {name for effects in full.rule_effects for name, _ in effects}
        assert fired >= set(compiled.rule_names)  # every rule hit some order
        assert full.line_excluded.any()
        assert (full.max_shipments == 1).any() and (full.max_shipments == 2).any()
        assert full.ship_complete.any() and not full.allow_line_split.all()
        holds = {hold.reason for hold in full.hold if hold is not None}
        assert holds == {"gift wrap", "channel gift"}
