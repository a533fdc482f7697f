"""One test per condition construct: each condition gates a hold rule, so the order being held or
not shows the value the compiled condition took for it (evaluated through engine.Router)."""

from __future__ import annotations

import datetime as dt

import pytest

import engine
from tests.rules.helpers import NOW, order, route

ANCHORAGE = engine.Address(postal_code="99501", country_code="US", state="AK", city="Anchorage")


def held(condition: str, the_order: engine.Order, *, now: dt.datetime = NOW, **kw: object) -> bool:
    source = f'timezone "America/New_York"\nrule "probe"\n  when {condition}\n  hold "probe"\n'
    (decision,) = route(source, [the_order], now=now, **kw)  # type: ignore[arg-type]  # kw are route() keywords
    return decision.status is engine.RouteStatus.HELD


ORDER_FIELD_CASES = [
    # (condition, order, held?)
    ('order.channel == "amazon"', order(("MUG", 1), channel="amazon"), True),
    ('order.channel == "amazon"', order(("MUG", 1), channel="shopify"), False),
    ('order.channel != "amazon"', order(("MUG", 1), channel="shopify"), True),
    ('order.channel in ["amazon", "ebay"]', order(("MUG", 1), channel="ebay"), True),
    ('order.channel not in ["amazon", "ebay"]', order(("MUG", 1), channel="ebay"), False),
    ('order.channel matches "amaz*"', order(("MUG", 1), channel="amazon"), True),
    ('order.channel matches "am?zon"', order(("MUG", 1), channel="amazon"), True),
    ('order.channel matches "ama"', order(("MUG", 1), channel="amazon"), False),
    ('order.channel_order_id starts with "o-"', order(("MUG", 1)), True),
    (
        'order.service_level == "NEXT_DAY"',
        order(("MUG", 1), service_level=engine.ServiceLevel.NEXT_DAY),
        True,
    ),
    ('order.service_level in ["NEXT_DAY", "SAME_DAY"]', order(("MUG", 1)), False),
    ('order.ship_to.state == "AK"', order(("MUG", 1), ship_to=ANCHORAGE), True),
    ('order.ship_to.country_code != "US"', order(("MUG", 1)), False),
    ('order.ship_to.postal_code starts with "995"', order(("MUG", 1), ship_to=ANCHORAGE), True),
    ('order.ship_to.postal_code starts with "995"', order(("MUG", 1)), False),
    ('order.ship_to.city == "New York"', order(("MUG", 1)), True),
    ('order.attributes["po_box"] == "true"', order(("MUG", 1), attributes={"po_box": "true"}), 1),
    ('order.attributes["po_box"] == "true"', order(("MUG", 1)), False),
    ('order.attributes["gift"] == ""', order(("MUG", 1)), True),
    ("order.total_quantity > 10", order(("MUG", 6), ("TEE", 5)), True),
    ("order.total_quantity >= 11", order(("MUG", 6), ("TEE", 4)), False),
    ("order.total_quantity < 2", order(("MUG", 1)), True),
    ("order.total_quantity <= 1", order(("MUG", 2)), False),
    ("order.total_quantity == 3", order(("MUG", 3)), True),
    ("order.total_quantity between 2 and 4", order(("MUG", 4)), True),
    ("order.total_quantity in [1, 5]", order(("MUG", 5)), True),
    ("order.line_count >= 2", order(("MUG", 1), ("TEE", 1)), True),
    ("order.line_count >= 2", order(("MUG", 1)), False),
]


@pytest.mark.parametrize(("condition", "the_order", "expected"), ORDER_FIELD_CASES)
def test_order_field_conditions(condition: str, the_order: engine.Order, expected: int) -> None:
    """Each comparison operator over each order field evaluates as documented."""
    assert held(condition, the_order) is bool(expected)


LINE_CASES = [
    ('any line (line.sku matches "HZ-*")', order(("MUG", 1), ("HZ-1", 1)), True),
    ('any line (line.sku matches "HZ-*")', order(("MUG", 1), ("TEE", 1)), False),
    ('all lines (line.sku matches "HZ-*")', order(("MUG", 1), ("HZ-1", 1)), False),
    ('all lines (line.sku in ["MUG", "TEE"])', order(("MUG", 1), ("TEE", 1)), True),
    ("any line (line.quantity > 5)", order(("MUG", 1), ("TEE", 6)), True),
    ("all lines (line.quantity > 5)", order(("MUG", 1), ("TEE", 6)), False),
    ('any line (line.tags contains "fragile")', order(("MUG", 1)), True),
    ('any line (line.tags contains "fragile")', order(("TEE", 1)), False),
    ('any line (line.sku == "MUG" and order.channel == "shopify")', order(("MUG", 1)), True),
]


@pytest.mark.parametrize(("condition", "the_order", "expected"), LINE_CASES)
def test_line_quantifiers(condition: str, the_order: engine.Order, expected: bool) -> None:
    """any line (...) holds when one line matches, all lines (...) when every line does; line
    fields (sku, quantity, catalogue tags) and order fields combine inside them."""
    assert held(condition, the_order, sku_tags={"MUG": frozenset({"fragile"})}) is expected


BOOLEAN_CASES = [
    ('order.channel == "shopify" and order.total_quantity > 1', order(("MUG", 1)), False),
    ('order.channel == "amazon" or order.total_quantity == 1', order(("MUG", 1)), True),
    ('not order.channel == "amazon"', order(("MUG", 1)), True),
    ('not (order.channel == "shopify" or order.channel == "amazon")', order(("MUG", 1)), False),
    (
        '(order.channel == "amazon" or order.channel == "shopify") and order.total_quantity == 1',
        order(("MUG", 1)),
        True,
    ),
    # and binds tighter than or: false and false or true == true
    (
        'order.channel == "x" and order.channel == "y" or order.total_quantity == 1',
        order(("MUG", 1)),
        True,
    ),
]


@pytest.mark.parametrize(("condition", "the_order", "expected"), BOOLEAN_CASES)
def test_boolean_operators(condition: str, the_order: engine.Order, expected: bool) -> None:
    """and, or, not and parentheses combine conditions with the usual precedence."""
    assert held(condition, the_order) is expected


@pytest.mark.parametrize(
    ("condition", "now", "expected"),
    [
        ("today between 2026-11-15 and 2026-12-31", NOW, True),
        ("today between 2026-11-19 and 2026-12-31", NOW, False),
        ("today == 2026-11-18", NOW, True),
        ("today before 2026-11-18", NOW, False),
        ("today after 2026-11-17", NOW, True),
        ("time before 14:00", NOW, True),  # 10:00 in New York
        ("time after 14:00", NOW, False),
        ("time between 09:00 and 11:00", NOW, True),
        ("time >= 10:00", NOW, True),
        # 02:00 UTC on the 19th is still the 18th in New York (the policy's time zone)
        ("today == 2026-11-18", dt.datetime(2026, 11, 19, 2, 0, tzinfo=dt.UTC), True),
    ],
)
def test_clock_conditions(condition: str, now: dt.datetime, expected: bool) -> None:
    """today and time read the injected clock in the policy's time zone."""
    assert held(condition, order(("MUG", 1)), now=now) is expected
