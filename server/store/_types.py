"""Values the store hands back: plain frozen dataclasses, no database handles."""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
from dataclasses import dataclass, field
from typing import Any

from engine import Allocation, Hold, Order, RouteDecision, RouteStatus, ServiceLevel, Unfilled

__all__ = [
    "CancelResult",
    "FulfillmentState",
    "OrderEvent",
    "OrderState",
    "OutboxEntry",
    "RouteRequestRecord",
    "Shipment",
    "Shortfall",
    "StoredFulfillmentOrder",
    "StoredOrder",
    "StoredRoute",
    "SyncResult",
    "fulfillment_order_id",
    "order_id_for",
]


def order_id_for(channel: str, channel_order_id: str) -> str:
    """The deterministic order id: a replayed or retried order maps to the same row."""
    digest = hashlib.sha256(f"{channel}\0{channel_order_id}".encode()).hexdigest()
    return "so_" + digest[:20]


def fulfillment_order_id(order_id: str, n: int) -> str:
    """The id of the ``n``-th (1-based) fulfillment order of an order."""
    return f"{order_id}-{n}"


class OrderState(enum.StrEnum):
    """Where an order is in its life (stored as text)."""

    RECEIVED = "RECEIVED"  # known, not yet decided (the state machine's start)
    ROUTED = "ROUTED"  # some units reserved, nothing shipped yet
    RELEASED = "RELEASED"  # handed to the warehouse(s): pick lists are out
    BACKORDERED = "BACKORDERED"
    HELD = "HELD"
    PARTIALLY_SHIPPED = "PARTIALLY_SHIPPED"
    SHIPPED = "SHIPPED"
    DELIVERED = "DELIVERED"
    CANCELLED = "CANCELLED"


class FulfillmentState(enum.StrEnum):
    """Where a fulfillment order is: its unshipped units stay reserved while RESERVED, RELEASED or
    PARTIALLY_SHIPPED (see ``server/store/_lifecycle.py``)."""

    RESERVED = "RESERVED"
    RELEASED = "RELEASED"  # handed to the warehouse; only then does it appear in ListReleased
    PARTIALLY_SHIPPED = "PARTIALLY_SHIPPED"  # some packages out, units still reserved for the rest
    SHIPPED = "SHIPPED"
    DELIVERED = "DELIVERED"
    CANCELLED = "CANCELLED"


@dataclass(frozen=True, slots=True)
class RouteRequestRecord:
    """One order to route, with the caller's idempotency key and the hash of its payload."""

    order: Order
    request_id: str = ""
    request_hash: str = ""


@dataclass(frozen=True, slots=True)
class StoredRoute:
    """The outcome of routing one request: the decision (stored or replayed) or an error."""

    order_id: str
    decision: RouteDecision | None
    fulfillment_order_ids: tuple[str, ...] = ()
    replayed: bool = False
    error: Exception | None = None


@dataclass(frozen=True, slots=True)
class Shipment:
    carrier: str
    tracking_number: str
    shipped_at: dt.datetime
    # The units in this package (migration 0003). Not part of equality: a shipment is identified by
    # its carrier, tracking number and time.
    lines: tuple[Allocation, ...] = field(default=(), compare=False)


@dataclass(frozen=True, slots=True)
class StoredFulfillmentOrder:
    fulfillment_order_id: str
    order_id: str
    channel: str
    channel_order_id: str
    warehouse_id: str
    state: FulfillmentState
    lines: tuple[Allocation, ...]
    distance_km: float
    ship_by: dt.datetime | None
    deliver_by: dt.datetime | None
    service_level: ServiceLevel
    shipments: tuple[Shipment, ...] = ()
    # Lifecycle (migration 0003): the units still to ship (the pick list), and when it was handed
    # to the warehouse and delivered.
    remaining: tuple[Allocation, ...] = ()
    released_at: dt.datetime | None = None
    delivered_at: dt.datetime | None = None
    cancel_reason: str | None = None


@dataclass(frozen=True, slots=True)
class OrderEvent:
    at: dt.datetime
    kind: str  # ROUTED, CANCELLED, SHIPPED, ...
    detail: str
    fulfillment_order_id: str | None = None


@dataclass(frozen=True, slots=True)
class StoredOrder:
    order_id: str
    order: Order
    route_status: RouteStatus
    state: OrderState
    fulfillment_orders: tuple[StoredFulfillmentOrder, ...]
    unfilled: tuple[Unfilled, ...]
    hold: Hold | None
    policy_version: str
    created_at: dt.datetime
    events: tuple[OrderEvent, ...]
    decision: RouteDecision


@dataclass(frozen=True, slots=True)
class CancelResult:
    order_id: str
    state: OrderState
    units_released: int


@dataclass(frozen=True, slots=True)
class Shortfall:
    """A sync counted fewer units than are reserved; the reservations stand, ``short_by`` short."""

    warehouse_id: str
    sku: str
    on_hand: int
    reserved: int
    short_by: int
    fulfillment_order_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SyncResult:
    shortfalls: tuple[Shortfall, ...]
    touched_skus: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """A message to a channel, committed with the change that caused it."""

    outbox_id: int
    channel: str
    kind: str  # 'tracking' | 'quantity' | 'refund'
    dedup_key: str
    payload: dict[str, Any]
    created_at: dt.datetime
    attempts: int
    last_error: str | None
