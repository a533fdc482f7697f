"""Domain types of the routing core: warehouses, orders, and routing decisions.

Plain frozen dataclasses with no I/O. The server converts protobuf messages to these and back; the
rules language and the benchmarks build them directly. Enum numbers equal the protobuf enum numbers
(``sortyard.v1.ServiceLevel`` and ``RouteStatus``) so conversion is ``Enum(int)``.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "Address",
    "Allocation",
    "Candidate",
    "CandidateVerdict",
    "CarrierPickup",
    "Explanation",
    "Hold",
    "LineExplanation",
    "Order",
    "OrderLine",
    "PlannedShipment",
    "RouteDecision",
    "RouteStatus",
    "ServiceLevel",
    "Unfilled",
    "Warehouse",
]


class ServiceLevel(enum.IntEnum):
    """Amazon's ShipmentServiceLevelCategory; numbers match ``sortyard.v1.ServiceLevel``."""

    STANDARD = 1
    EXPEDITED = 2
    PRIORITY = 3
    SECOND_DAY = 4
    NEXT_DAY = 5
    SAME_DAY = 6
    SCHEDULED = 7
    FREE_ECONOMY = 8


class RouteStatus(enum.IntEnum):
    """The outcome of routing one order; numbers match ``sortyard.v1.RouteStatus``."""

    ROUTED = 1
    PARTIALLY_ROUTED = 2
    BACKORDERED = 3
    HELD = 4
    REJECTED = 5


class CandidateVerdict(enum.IntEnum):
    CHOSEN = 1
    RANKED_LOWER = 2
    EXCLUDED = 3


WEEKDAYS_MON_FRI: frozenset[int] = frozenset({1, 2, 3, 4, 5})


@dataclass(frozen=True, slots=True)
class CarrierPickup:
    """A daily carrier pickup: orders handed over before ``cutoff`` (local time) leave that day."""

    cutoff: dt.time
    service_levels: frozenset[ServiceLevel] = frozenset()  # empty: serves every level
    weekdays: frozenset[int] = WEEKDAYS_MON_FRI  # ISO weekdays, 1 = Monday


@dataclass(frozen=True, slots=True)
class Warehouse:
    warehouse_id: str
    latitude: float
    longitude: float
    name: str = ""
    postal_code: str = ""
    country_code: str = "US"
    time_zone: str = "America/New_York"
    tags: frozenset[str] = frozenset()
    handling_days: int = 0
    daily_capacity: int = 0  # shipments per local day; 0 = unlimited
    pickups: tuple[CarrierPickup, ...] = ()  # none configured: every level, once a day at 17:00
    active: bool = True


@dataclass(frozen=True, slots=True)
class Address:
    postal_code: str
    country_code: str = "US"
    state: str = ""
    city: str = ""
    latitude: float | None = None  # explicit coordinates win over the postal code
    longitude: float | None = None


@dataclass(frozen=True, slots=True)
class OrderLine:
    line_id: str
    sku: str
    quantity: int


@dataclass(frozen=True, slots=True)
class Order:
    channel: str
    channel_order_id: str
    lines: tuple[OrderLine, ...]
    ship_to: Address
    service_level: ServiceLevel = ServiceLevel.STANDARD
    purchased_at: dt.datetime | None = None
    latest_ship_date: dt.datetime | None = None
    latest_delivery_date: dt.datetime | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Allocation:
    """Units of one order line assigned to one warehouse."""

    line_id: str
    sku: str
    quantity: int


@dataclass(frozen=True, slots=True)
class PlannedShipment:
    """One fulfillment order: what one warehouse ships for one order."""

    warehouse_id: str
    lines: tuple[Allocation, ...]
    distance_km: float
    ship_by: dt.datetime
    deliver_by: dt.datetime


@dataclass(frozen=True, slots=True)
class Unfilled:
    line_id: str
    sku: str
    quantity: int
    code: str  # stable UPPER_SNAKE code, e.g. INSUFFICIENT_STOCK
    reason: str  # plain words for a person


@dataclass(frozen=True, slots=True)
class Hold:
    code: str  # e.g. UNKNOWN_POSTAL_CODE, UNKNOWN_SKU, UNSUPPORTED_COUNTRY, POLICY_HOLD
    reason: str
    rule: str | None = None  # the rule that held it, when a policy rule did


@dataclass(frozen=True, slots=True)
class Candidate:
    warehouse_id: str
    distance_km: float
    available: int
    ship_by: dt.datetime | None
    deliver_by: dt.datetime | None
    verdict: CandidateVerdict
    reason: str
    rank: int  # 1-based among eligible candidates; 0 when excluded


@dataclass(frozen=True, slots=True)
class LineExplanation:
    line_id: str
    sku: str
    quantity: int
    candidates: tuple[Candidate, ...]


@dataclass(frozen=True, slots=True)
class Explanation:
    summary: str
    lines: tuple[LineExplanation, ...] = ()
    rule_effects: tuple[tuple[str, str], ...] = ()  # (rule, effect in plain words)


@dataclass(frozen=True, slots=True)
class RouteDecision:
    status: RouteStatus
    shipments: tuple[PlannedShipment, ...] = ()
    unfilled: tuple[Unfilled, ...] = ()
    hold: Hold | None = None
    explanation: Explanation | None = None
    policy_version: str = "default"
    # REJECTED only: (field path in proto terms such as ``order.lines[2].quantity``, what is wrong).
    violations: tuple[tuple[str, str], ...] = ()
