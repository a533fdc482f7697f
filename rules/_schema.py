"""The fields a condition may name: their type and what they vary over (the batch axis)."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from engine import ServiceLevel, Warehouse

__all__ = ["FIELDS", "OPERATORS", "FieldSpec", "Level", "Type", "warehouses_of"]


class Level(enum.IntEnum):
    """What a field's value varies over. Conditions combine by broadcasting over these axes."""

    SCALAR = 0  # the clock: today, time
    ORDER = 1  # one value per order
    LINE = 2  # one value per order line
    WAREHOUSE = 3  # one value per warehouse
    ORDER_WAREHOUSE = 4  # one value per (order, warehouse): distance, ship date
    RETURN = 5  # returned units (refund rules only)


class Type(enum.Enum):
    TEXT = "text"
    SERVICE_LEVEL = "service level"
    NUMBER = "number"
    BOOL = "true/false"
    TAGS = "set of tags"
    DATE = "date"
    TIME = "time of day"


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    type: Type
    level: Level
    description: str
    keyed: bool = False  # order.attributes["name"]


FIELDS: dict[str, FieldSpec] = {
    spec.name: spec
    for spec in (
        FieldSpec("order.channel", Type.TEXT, Level.ORDER, "sales channel, e.g. amazon"),
        FieldSpec("order.channel_order_id", Type.TEXT, Level.ORDER, "the channel's order id"),
        FieldSpec("order.service_level", Type.SERVICE_LEVEL, Level.ORDER, "e.g. EXPEDITED"),
        FieldSpec("order.ship_to.country_code", Type.TEXT, Level.ORDER, "ISO country, e.g. US"),
        FieldSpec("order.ship_to.state", Type.TEXT, Level.ORDER, "state or region, e.g. AK"),
        FieldSpec("order.ship_to.postal_code", Type.TEXT, Level.ORDER, "postal code as given"),
        FieldSpec("order.ship_to.city", Type.TEXT, Level.ORDER, "city as given"),
        FieldSpec(
            "order.attributes", Type.TEXT, Level.ORDER, 'attribute text; "" if absent', keyed=True
        ),
        FieldSpec("order.total_quantity", Type.NUMBER, Level.ORDER, "units over all lines"),
        FieldSpec("order.line_count", Type.NUMBER, Level.ORDER, "number of lines"),
        FieldSpec("line.sku", Type.TEXT, Level.LINE, "the line's SKU"),
        FieldSpec("line.quantity", Type.NUMBER, Level.LINE, "units on the line"),
        FieldSpec("line.tags", Type.TAGS, Level.LINE, "the SKU's catalogue tags"),
        FieldSpec("warehouse.id", Type.TEXT, Level.WAREHOUSE, "warehouse id"),
        FieldSpec("warehouse.tags", Type.TAGS, Level.WAREHOUSE, "the warehouse's tags"),
        FieldSpec("warehouse.country_code", Type.TEXT, Level.WAREHOUSE, "the site's country"),
        FieldSpec("warehouse.postal_code", Type.TEXT, Level.WAREHOUSE, "the site's postal code"),
        FieldSpec("warehouse.handling_days", Type.NUMBER, Level.WAREHOUSE, "days to pick & pack"),
        FieldSpec("warehouse.distance_km", Type.NUMBER, Level.ORDER_WAREHOUSE, "km to the ship-to"),
        FieldSpec(
            "warehouse.ships_today",
            Type.BOOL,
            Level.ORDER_WAREHOUSE,
            "a pickup serving the order leaves today (site's local date)",
        ),
        FieldSpec(
            "warehouse.delivery_days",
            Type.NUMBER,
            Level.ORDER_WAREHOUSE,
            "calendar days from today to the estimated delivery",
        ),
        FieldSpec("return.reason", Type.TEXT, Level.RETURN, "reason code, e.g. CR-DEFECTIVE"),
        FieldSpec(
            "return.condition",
            Type.TEXT,
            Level.RETURN,
            "sellable, damaged, defective, customer_damaged, carrier_damaged or wrong_item",
        ),
        FieldSpec("return.channel", Type.TEXT, Level.RETURN, "the order's channel"),
        FieldSpec("return.sku", Type.TEXT, Level.RETURN, "the returned SKU"),
        FieldSpec("return.quantity", Type.NUMBER, Level.RETURN, "units in this condition"),
        FieldSpec("today", Type.DATE, Level.SCALAR, "today's date in the policy time zone"),
        FieldSpec("time", Type.TIME, Level.SCALAR, "the time of day in the policy time zone"),
    )
}

# Which operators each type accepts, and the value kind each operator needs.
OPERATORS: dict[Type, frozenset[str]] = {
    Type.TEXT: frozenset({"==", "!=", "in", "not in", "matches", "starts with"}),
    Type.SERVICE_LEVEL: frozenset({"==", "!=", "in", "not in"}),
    Type.NUMBER: frozenset({"==", "!=", "<", "<=", ">", ">=", "between", "in", "not in"}),
    Type.BOOL: frozenset({"==", "!="}),
    Type.TAGS: frozenset({"contains"}),
    Type.DATE: frozenset({"==", "!=", "<", "<=", ">", ">=", "between", "before", "after"}),
    Type.TIME: frozenset({"<", "<=", ">", ">=", "between", "before", "after"}),
}

SERVICE_LEVELS: frozenset[str] = frozenset(level.name for level in ServiceLevel)


def warehouses_of(network: Any) -> Sequence[Warehouse]:
    """The warehouses of an ``engine.Network`` or of a plain sequence of :class:`Warehouse`."""
    if network is None:
        return ()
    found = getattr(network, "warehouses", network)
    return tuple(found)
