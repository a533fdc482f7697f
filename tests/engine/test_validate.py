"""validate_order: field paths in proto terms and clear messages."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from engine import (
    MAX_LINES_PER_ORDER,
    Address,
    InvalidOrderError,
    Order,
    OrderLine,
    validate_order,
)
from engine._validate import is_plainly_valid
from tests.engine.helpers import order


def good() -> Order:
    return Order("shopify", "1001", (OrderLine("a", "SKU-1", 2),), Address("60601"))


def test_valid_order_has_no_violations() -> None:
    """A well-formed order passes both the full and the quick check."""
    assert validate_order(good()) == []
    assert is_plainly_valid(good())


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"channel": ""}, ("order.channel", "required")),
        ({"channel_order_id": " "}, ("order.channel_order_id", "required")),
        ({"channel_order_id": "x" * 129}, ("order.channel_order_id", "at most 128 characters")),
        ({"lines": ()}, ("order.lines", "at least one line is required")),
        (
            {"lines": (OrderLine("a", "S", 1),) * (MAX_LINES_PER_ORDER + 1)},
            ("order.lines", "at most 1000 lines"),
        ),
        ({"lines": (OrderLine("", "S", 1),)}, ("order.lines[0].line_id", "required")),
        (
            {"lines": (OrderLine("a", "S", 1), OrderLine("a", "S", 1))},
            ("order.lines[1].line_id", "duplicate line_id 'a'"),
        ),
        ({"lines": (OrderLine("a", "", 1),)}, ("order.lines[0].sku", "required")),
        (
            {"lines": (OrderLine("a", "S", 1), OrderLine("b", "S", 0))},
            ("order.lines[1].quantity", "must be positive"),
        ),
        ({"lines": (OrderLine("a", "S", -3),)}, ("order.lines[0].quantity", "must be positive")),
        (
            {"lines": (OrderLine("a", "S", 1_000_001),)},
            ("order.lines[0].quantity", "at most 1000000"),
        ),
        (
            {"ship_to": Address("")},
            ("order.ship_to.postal_code", "required unless latitude and longitude are given"),
        ),
        (
            {"ship_to": Address("", latitude=91.0, longitude=0.0)},
            ("order.ship_to.latitude", "must be between -90 and 90"),
        ),
        (
            {"ship_to": Address("1", latitude=float("nan"), longitude=0.0)},
            ("order.ship_to.latitude", "must be between -90 and 90"),
        ),
        (
            {"ship_to": Address("60601", latitude=40.0)},
            ("order.ship_to.longitude", "latitude and longitude go together"),
        ),
        ({"service_level": 3}, ("order.service_level", "must be a ServiceLevel")),
        (
            {"latest_ship_date": dt.datetime(2026, 1, 1)},
            ("order.latest_ship_date", "must be timezone-aware"),
        ),
    ],
)
def test_each_violation_names_its_field(
    change: dict[str, object], expected: tuple[str, str]
) -> None:
    """Each malformed field is reported with its proto-style path and a plain message, and the
    quick check never accepts it."""
    bad = dataclasses.replace(good(), **change)  # type: ignore[arg-type]
    assert expected in validate_order(bad)
    assert not is_plainly_valid(bad)


def test_all_violations_are_reported_together() -> None:
    """Several problems come back at once, in field order."""
    bad = Order("", "", (OrderLine("a", "", 0),), Address(""))
    paths = [path for path, _ in validate_order(bad)]
    assert paths == [
        "order.channel",
        "order.channel_order_id",
        "order.lines[0].sku",
        "order.lines[0].quantity",
        "order.ship_to.postal_code",
    ]


def test_coordinates_make_postal_code_optional() -> None:
    """An address with latitude and longitude needs no postal code."""
    assert validate_order(order(("S", 1))) == []


def test_invalid_order_error_carries_violations() -> None:
    """InvalidOrderError is a ValueError with the violations and a readable message."""
    error = InvalidOrderError([("order.lines[2].quantity", "must be positive")])
    assert isinstance(error, ValueError)
    assert error.violations == (("order.lines[2].quantity", "must be positive"),)
    assert "order.lines[2].quantity: must be positive" in str(error)
