"""Structural validation of an order, reported as field violations in proto terms."""

from __future__ import annotations

import datetime as dt

from engine._model import Order, ServiceLevel

__all__ = [
    "MAX_CHANNEL_LENGTH",
    "MAX_CHANNEL_ORDER_ID_LENGTH",
    "MAX_LINES_PER_ORDER",
    "MAX_LINE_ID_LENGTH",
    "MAX_LINE_QUANTITY",
    "MAX_SKU_LENGTH",
    "is_plainly_valid",
    "validate_order",
]

MAX_CHANNEL_LENGTH = 64
MAX_CHANNEL_ORDER_ID_LENGTH = 128
MAX_LINES_PER_ORDER = 1000
MAX_LINE_ID_LENGTH = 128
MAX_SKU_LENGTH = 128
MAX_LINE_QUANTITY = 1_000_000


def _check_text(violations: list[tuple[str, str]], path: str, value: object, limit: int) -> None:
    if not isinstance(value, str) or not value.strip():
        violations.append((path, "required"))
    elif len(value) > limit:
        violations.append((path, f"at most {limit} characters"))


def _check_instant(violations: list[tuple[str, str]], path: str, value: object) -> None:
    if value is None:
        return
    if not isinstance(value, dt.datetime):
        violations.append((path, "must be a timestamp"))
    elif value.tzinfo is None or value.utcoffset() is None:
        violations.append((path, "must be timezone-aware"))


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def validate_order(order: Order) -> list[tuple[str, str]]:
    """Every structural problem of ``order`` as ``(field path, what is wrong)``; empty when valid.

    Business conditions (unknown SKU or ZIP, unsupported country) are not violations: the router
    holds such orders instead.
    """
    violations: list[tuple[str, str]] = []
    _check_text(violations, "order.channel", order.channel, MAX_CHANNEL_LENGTH)
    _check_text(
        violations, "order.channel_order_id", order.channel_order_id, MAX_CHANNEL_ORDER_ID_LENGTH
    )
    lines = order.lines
    if not lines:
        violations.append(("order.lines", "at least one line is required"))
    elif len(lines) > MAX_LINES_PER_ORDER:
        # Per-line checks are skipped: the order is rejected anyway and the report stays short.
        violations.append(("order.lines", f"at most {MAX_LINES_PER_ORDER} lines"))
    else:
        seen: set[str] = set()
        for position, line in enumerate(lines):
            prefix = f"order.lines[{position}]"
            line_id = line.line_id
            if not isinstance(line_id, str) or not line_id:
                violations.append((f"{prefix}.line_id", "required"))
            elif len(line_id) > MAX_LINE_ID_LENGTH:
                violations.append((f"{prefix}.line_id", f"at most {MAX_LINE_ID_LENGTH} characters"))
            elif line_id in seen:
                violations.append((f"{prefix}.line_id", f"duplicate line_id {line_id!r}"))
            else:
                seen.add(line_id)
            sku = line.sku
            if not isinstance(sku, str) or not sku.strip():
                violations.append((f"{prefix}.sku", "required"))
            elif len(sku) > MAX_SKU_LENGTH:
                violations.append((f"{prefix}.sku", f"at most {MAX_SKU_LENGTH} characters"))
            quantity = line.quantity
            if not isinstance(quantity, int) or isinstance(quantity, bool):
                violations.append((f"{prefix}.quantity", "must be an integer"))
            elif quantity <= 0:
                violations.append((f"{prefix}.quantity", "must be positive"))
            elif quantity > MAX_LINE_QUANTITY:
                violations.append((f"{prefix}.quantity", f"at most {MAX_LINE_QUANTITY}"))
    ship_to = order.ship_to
    latitude, longitude = ship_to.latitude, ship_to.longitude
    has_coordinates = latitude is not None and longitude is not None
    if latitude is not None and (not _is_number(latitude) or not -90.0 <= latitude <= 90.0):
        violations.append(("order.ship_to.latitude", "must be between -90 and 90"))
    if longitude is not None and (not _is_number(longitude) or not -180.0 <= longitude <= 180.0):
        violations.append(("order.ship_to.longitude", "must be between -180 and 180"))
    if (latitude is None) != (longitude is None):
        missing = "longitude" if longitude is None else "latitude"
        violations.append((f"order.ship_to.{missing}", "latitude and longitude go together"))
    if not has_coordinates:
        postal_code = ship_to.postal_code
        if not isinstance(postal_code, str) or not postal_code.strip():
            violations.append(
                ("order.ship_to.postal_code", "required unless latitude and longitude are given")
            )
    if not isinstance(order.service_level, ServiceLevel):
        violations.append(("order.service_level", "must be a ServiceLevel"))
    _check_instant(violations, "order.purchased_at", order.purchased_at)
    _check_instant(violations, "order.latest_ship_date", order.latest_ship_date)
    _check_instant(violations, "order.latest_delivery_date", order.latest_delivery_date)
    return violations


def is_plainly_valid(order: Order) -> bool:
    """A cheap check that accepts the common well-formed order (the router's hot path); False means
    "run :func:`validate_order`", not necessarily "invalid"."""
    channel = order.channel
    order_id = order.channel_order_id
    lines = order.lines
    if (
        type(channel) is not str
        or not 0 < len(channel) <= MAX_CHANNEL_LENGTH
        or channel.isspace()
        or type(order_id) is not str
        or not 0 < len(order_id) <= MAX_CHANNEL_ORDER_ID_LENGTH
        or order_id.isspace()
        or not 0 < len(lines) <= MAX_LINES_PER_ORDER
        or type(order.service_level) is not ServiceLevel
    ):
        return False
    for line in lines:
        quantity = line.quantity
        sku = line.sku
        line_id = line.line_id
        if (
            type(quantity) is not int
            or not 0 < quantity <= MAX_LINE_QUANTITY
            or type(sku) is not str
            or not 0 < len(sku) <= MAX_SKU_LENGTH
            or sku.isspace()
            or type(line_id) is not str
            or not 0 < len(line_id) <= MAX_LINE_ID_LENGTH
        ):
            return False
    if len(lines) > 1 and len({line.line_id for line in lines}) != len(lines):
        return False
    ship_to = order.ship_to
    if (
        ship_to.latitude is not None
        or ship_to.longitude is not None
        or type(ship_to.postal_code) is not str
        or not ship_to.postal_code
        or ship_to.postal_code.isspace()
    ):
        return False
    return (
        order.purchased_at is None
        and order.latest_ship_date is None
        and (order.latest_delivery_date is None)
    )
