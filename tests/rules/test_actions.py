"""One test per action and setting of the language, routed through engine.Router on the example
network (from New York: 3PL-NJ is nearest, then EWR-1, ATL-1, ORD-1, DFW-1, LAX-1)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

import engine
from rules import RuleSet
from tests.rules.helpers import NOW, network, order, route, stock_of, warehouses


def first_choice(source: str, the_order: engine.Order | None = None, **kw: object) -> list[str]:
    (decision,) = route(source, [the_order or order(("MUG", 1))], **kw)  # type: ignore[arg-type]  # kw are route() keywords
    return warehouses(decision)


def test_no_rules_routes_to_the_nearest() -> None:
    """An empty policy behaves like the default: nearest warehouse with stock."""
    assert first_choice("") == ["3PL-NJ"]


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ('exclude warehouse "3PL-NJ"', ["EWR-1"]),
        ('exclude warehouses ["3PL-NJ", "EWR-1"]', ["ORD-1"]),
        ('exclude warehouses tagged "east"', ["ORD-1"]),
        ("exclude warehouses where warehouse.distance_km < 1000", ["ORD-1"]),
        ('exclude warehouses where warehouse.id matches "*-NJ"', ["EWR-1"]),
        ('exclude warehouses where warehouse.tags contains "3pl"', ["EWR-1"]),
        ('exclude warehouses where warehouse.postal_code starts with "07"', ["EWR-1"]),
        ('exclude warehouses where warehouse.country_code == "US"', []),
        ('require warehouse "DFW-1"', ["DFW-1"]),
        ('require warehouses ["ORD-1", "LAX-1"]', ["ORD-1"]),
        ('require warehouses tagged "west"', ["LAX-1"]),
        ("require warehouses where warehouse.distance_km > 3000", ["LAX-1"]),
        ('prefer warehouse "EWR-1" by 100 km', ["EWR-1"]),
        ('prefer warehouse "ORD-1" by 100 km', ["3PL-NJ"]),
        ('prefer warehouses tagged "central" by 1500 km', ["ORD-1"]),
    ],
)
def test_eligibility_and_preference(action: str, expected: list[str]) -> None:
    """exclude / require / prefer with each way of naming warehouses (id, list, tag, where)."""
    assert first_choice(f'rule "r"\n  {action}\n') == expected


def test_delivery_days_and_ships_today_fields() -> None:
    """warehouse.delivery_days and warehouse.ships_today read the engine's estimates."""
    late = dt.datetime(2026, 11, 18, 22, 30, tzinfo=dt.UTC)  # 17:30 NY: 3PL-NJ's 16:00 pickup left
    assert first_choice(
        'rule "r"\n  exclude warehouses where not warehouse.ships_today\n', now=late
    ) == ["EWR-1"]
    assert first_choice(
        'timezone "America/New_York"\n'
        'rule "r"\n  require warehouses where warehouse.delivery_days <= 1\n'
    ) == ["3PL-NJ"]  # delivers 2026-11-19 20:00 New York time: tomorrow
    assert first_choice('rule "r"\n  exclude warehouses where warehouse.handling_days == 0\n') == []


def test_exclude_beats_require_beats_prefer() -> None:
    """A warehouse both required and excluded is excluded; a preferred, non-required one is not
    used; rule order does not matter."""
    rules_a = (
        'rule "a"\n  require warehouses ["EWR-1", "ATL-1"]\n'
        'rule "b"\n  exclude warehouse "EWR-1"\n'
        'rule "c"\n  prefer warehouse "3PL-NJ" by 5000 km\n'
    )
    assert first_choice(rules_a) == ["ATL-1"]
    reordered = (
        'rule "c"\n  prefer warehouse "3PL-NJ" by 5000 km\n'
        'rule "b"\n  exclude warehouse "EWR-1"\n'
        'rule "a"\n  require warehouses ["EWR-1", "ATL-1"]\n'
    )
    assert first_choice(reordered) == ["ATL-1"]


def test_two_requires_must_both_hold() -> None:
    """Matching require rules intersect: a warehouse must satisfy each."""
    source = (
        'rule "a"\n  require warehouses tagged "east"\n'
        'rule "b"\n  require warehouses tagged "hazmat"\n'
    )
    assert first_choice(source) == ["EWR-1"]


def test_prefer_bonuses_add_up() -> None:
    """Two prefer rules for the same warehouse add their bonuses."""
    one = 'rule "a"\n  prefer warehouse "ATL-1" by 700 km\n'
    two = one + 'rule "b"\n  prefer warehouse "ATL-1" by 700 km\n'
    assert first_choice(one) == ["3PL-NJ"]
    assert first_choice(two) == ["ATL-1"]


def test_for_lines_where_scopes_an_exclude_to_matching_lines() -> None:
    """for lines where: the action applies to the matching lines only."""
    source = (
        'rule "r"\n  for lines where line.sku == "HZ-1"\n  require warehouses tagged "hazmat"\n'
    )
    levels = {("3PL-NJ", "MUG"): 1, ("3PL-NJ", "HZ-1"): 1, ("EWR-1", "HZ-1"): 1}
    (decision,) = route(source, [order(("MUG", 1), ("HZ-1", 1))], levels)
    by_line = {a.line_id: s.warehouse_id for s in decision.shipments for a in s.lines}
    assert by_line == {"1": "3PL-NJ", "2": "EWR-1"}


def test_hold_carries_reason_and_rule() -> None:
    """hold: nothing is allocated and the caller sees the reason and the rule."""
    source = (
        'rule "PO boxes"\n  when order.attributes["po_box"] == "true"\n'
        '  hold "carrier cannot deliver to a PO box"\n'
    )
    (decision,) = route(source, [order(("MUG", 1), attributes={"po_box": "true"})])
    assert decision.status is engine.RouteStatus.HELD
    assert decision.hold == engine.Hold(
        "POLICY_HOLD", "carrier cannot deliver to a PO box", rule="PO boxes"
    )
    assert decision.shipments == ()


def test_hold_reason_follows_priority_then_name() -> None:
    """Of several matching holds, the highest priority gives the reason; then the rule name."""
    source = (
        'rule "b" priority 1\n  hold "from b"\n'
        'rule "a"\n  hold "from a"\n'
        'rule "c" priority 1\n  hold "from c"\n'
    )
    (decision,) = route(source, [order(("MUG", 1))])
    assert decision.hold is not None and decision.hold.reason == "from b"


# one unit at each of five sites: an order of 3 units must split
SPLIT_STOCK = {(w, "MUG"): 1 for w in ("3PL-NJ", "EWR-1", "ATL-1", "ORD-1", "DFW-1")}


def shipped(decision: engine.RouteDecision) -> tuple[int, int]:
    """(number of shipments, units allocated)"""
    return len(decision.shipments), sum(a.quantity for s in decision.shipments for a in s.lines)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("", (3, 3)),  # default: at most 3 shipments
        ("default max shipments 2", (2, 2)),
        ('rule "r"\n  max shipments 1\n', (1, 1)),
        ('rule "r"\n  when order.channel == "amazon"\n  max shipments 1\n', (3, 3)),
        ('rule "r"\n  no line split\n', (0, 0)),  # no site has the whole line
    ],
)
def test_split_limits(source: str, expected: tuple[int, int]) -> None:
    """default max shipments, max shipments and no line split limit how an order is split."""
    (decision,) = route(source, [order(("MUG", 3))], SPLIT_STOCK)
    assert shipped(decision) == expected


def test_max_shipments_priority_and_minimum() -> None:
    """Matching max-shipments rules: the highest priority wins; at equal priority the smallest."""
    both = 'rule "a"\n  max shipments 3\nrule "b"\n  max shipments 1\n'
    (decision,) = route(both, [order(("MUG", 3))], SPLIT_STOCK)
    assert shipped(decision) == (1, 1)
    prioritised = 'rule "a" priority 5\n  max shipments 3\nrule "b"\n  max shipments 1\n'
    (decision,) = route(prioritised, [order(("MUG", 3))], SPLIT_STOCK)
    assert shipped(decision) == (3, 3)


def test_ship_complete_holds_instead_of_partial() -> None:
    """ship complete: an order that cannot be filled whole is held, not partly routed."""
    (decision,) = route('rule "r"\n  ship complete\n', [order(("MUG", 9))], SPLIT_STOCK)
    assert decision.status is engine.RouteStatus.HELD
    assert decision.hold is not None and decision.hold.code == "SHIP_COMPLETE"
    (partial,) = route("", [order(("MUG", 9))], SPLIT_STOCK)
    assert partial.status is engine.RouteStatus.PARTIALLY_ROUTED


def test_rank_by_priority_list() -> None:
    """rank by priority [...]: listed sites first in list order, distance breaks ties after."""
    assert first_choice('rank by priority ["DFW-1", "ORD-1"]') == ["DFW-1"]
    excluded_first = 'rank by priority ["DFW-1", "LAX-1"]\nrule "r"\n  exclude warehouse "DFW-1"\n'
    assert first_choice(excluded_first) == ["LAX-1"]


def test_rank_by_cost() -> None:
    """rank by cost: km × shipping cost plus the handling cost of a site."""
    source = (
        'rank by cost\nshipping cost 0.01 per km\nhandling cost 5 at warehouses tagged "east"\n'
    )
    # east sites cost 5 = 500 km of shipping extra: ORD-1 (~1,150 km) beats ATL-1 but loses to
    # 3PL-NJ (~8 km + 500)
    assert first_choice(source) == ["3PL-NJ"]
    assert first_choice(source.replace("handling cost 5", "handling cost 20")) == ["ORD-1"]


def test_optimize_weights_and_version() -> None:
    """optimize weights sets the batch optimiser's objective weights on the compiled policy."""
    policy = RuleSet.compile("optimize weights shipment 250 km 0.5", version="v7")
    assert (policy.shipment_weight, policy.distance_weight, policy.version) == (250.0, 0.5, "v7")
    default = RuleSet.compile("")
    assert (default.shipment_weight, default.distance_weight) == (100.0, 0.1)


@pytest.mark.parametrize(
    ("statement", "channel", "expected"),
    [
        ('reserve 20% for "amazon"', "amazon", 10),
        ('reserve 20% for "amazon"', "shopify", 8),  # floor(20% of 10) = 2 held back
        ('reserve 25% for "amazon"', "shopify", 8),  # floor(2.5) = 2
        ('reserve 3 units for "amazon"', "shopify", 7),
        ('reserve 30 units for "amazon"', "shopify", 0),  # capped at on-hand
        ('reserve 20% of skus matching "MU*" for "amazon"', "shopify", 8),
        ('reserve 20% of skus matching "TEE*" for "amazon"', "shopify", 10),
        ('reserve 50% of skus tagged "fragile" for "amazon"', "shopify", 5),
        ('reserve 20% for "amazon" between 2026-12-01 and 2026-12-31', "shopify", 10),
        ('reserve 20% for "amazon" between 2026-11-01 and 2026-11-30', "shopify", 8),
        ('reserve 20% for "amazon"\nreserve 5 units for "amazon"', "shopify", 5),  # largest
        ('reserve 20% for "amazon"\nreserve 30% for "ebay"', "shopify", 5),  # channels sum
        ('reserve 20% for "amazon"\nreserve 30% for "ebay"', "ebay", 8),
    ],
)
def test_reserves(statement: str, channel: str, expected: int) -> None:
    """reserve: percent (rounded down) or units per (sku, warehouse) cell, SKU globs and tags,
    date windows; a channel's reserves take the largest, different channels' reserves add up."""
    (decision,) = route(
        statement,
        [order(("MUG", 10), channel=channel)],
        {("EWR-1", "MUG"): 10},
        sku_tags={"MUG": frozenset({"fragile"})},
    )
    assert sum(a.quantity for s in decision.shipments for a in s.lines) == expected


@pytest.mark.parametrize(
    ("statement", "available", "expected"),
    [
        ('safety stock 3 units for "amazon"', [10, 2], [3, 2]),
        ('safety stock 10% for "amazon"', [10, 15], [1, 2]),  # rounded up
        ('safety stock 5 units of skus matching "TEE*" for "amazon"', [10, 10], [0, 5]),
        ('safety stock 5 units of skus tagged "slow" for "amazon"', [10, 10], [5, 0]),
        ('safety stock 5 units for "ebay"', [10, 10], [0, 0]),
        ('safety stock 1 unit for "amazon"\nsafety stock 10% for "amazon"', [30, 5], [3, 1]),
    ],
)
def test_safety_stock(statement: str, available: list[int], expected: list[int]) -> None:
    """safety stock: units or percent (rounded up) per SKU, per channel, capped at availability."""
    policy = RuleSet.compile(statement)
    got = policy.safety_stock(
        "amazon", ["MUG", "TEE"], np.array(available), {"MUG": frozenset({"slow"})}
    )
    assert got.tolist() == expected


def test_available_to_sell_reflects_reserves_and_safety_stock() -> None:
    """engine.available_to_sell sees both: others lose the reserve, Amazon its safety stock."""
    policy = RuleSet.compile('reserve 20% for "amazon"\nsafety stock 3 units for "amazon"')
    stock = stock_of({("EWR-1", "MUG"): 10, ("ATL-1", "MUG"): 4})  # 2 + 0 units held back
    ats = engine.available_to_sell(stock, policy, ["amazon", "shopify"], NOW, {})
    assert ats["amazon"].tolist() == [14 - 3] and ats["shopify"].tolist() == [14 - 2]
    assert policy.channels() == frozenset({"amazon"})


def test_channels_lists_every_named_channel() -> None:
    """channels() names the channels of reserves, safety stock and conditions."""
    policy = RuleSet.compile(
        'safety stock 1 unit for "ebay"\n'
        'rule "r"\n  when order.channel in ["amazon", "walmart"]\n  hold "x"\n'
    )
    assert policy.channels() == frozenset({"ebay", "amazon", "walmart"})


def test_explanation_names_rules_and_ranking() -> None:
    """With explain, each matching rule says what it did in plain words, plus the ranking."""
    source = (
        'rule "no 3PL"\n  exclude warehouses tagged "3pl"\n'
        'rule "unused"\n  when order.channel == "x"\n  hold "x"\n'
    )
    (decision,) = route(source, [order(("MUG", 1))])
    assert decision.explanation is not None
    effects = dict(decision.explanation.rule_effects)
    assert effects["no 3PL"] == "excluded 3PL-NJ for every line"
    assert "unused" not in effects
    assert effects["ranking"].startswith("candidates by distance: 3PL-NJ, EWR-1")
    assert "after the rules: EWR-1" in effects["ranking"]


def test_network_given_to_compile_is_optional() -> None:
    """Compiling without a network skips name checks; unknown ids then simply match nothing."""
    policy = RuleSet.compile('rule "r"\n  exclude warehouse "NOPE-1"\n')
    (decision,) = engine.Router(network(), policy).route(
        [order(("MUG", 1))], stock_of({("EWR-1", "MUG"): 1}), now=NOW
    )
    assert warehouses(decision) == ["EWR-1"]


def test_handling_cost_depends_on_the_warehouse_only() -> None:
    """A handling cost naming an order field is refused: costs belong to sites."""
    from rules import check

    source = (
        "rank by cost\nshipping cost 0.01 per km\n"
        'handling cost 5 at warehouses where order.channel == "amazon"\n'
    )
    assert [d.code for d in check(source)] == ["misplaced-field"]
