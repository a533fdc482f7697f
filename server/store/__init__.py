"""Sortyard's persistence layer: orders, stock and reservations in SQLite or PostgreSQL.

``Store.open(url)`` connects and migrates to the newest schema; every method is one transaction and
safe to call from many threads. See ``server/store/_store.py`` for the concurrency model.
"""

from server.store._errors import (
    ConflictRetryError,
    IdempotencyConflictError,
    InvalidLevelError,
    InvalidStateError,
    NotFoundError,
    OversellError,
    UnknownWarehouseError,
)
from server.store._handoff import REROUTE_UNFILLED, RerouteResult, ShipmentLineError
from server.store._history import RecordedHistory, load_history
from server.store._lifecycle import (
    FULFILLMENT_TRANSITIONS,
    LIVE_FULFILLMENT_STATES,
    ORDER_TRANSITIONS,
    RETURN_TRANSITIONS,
    ReturnState,
)
from server.store._replan import ReplanCandidate, ReplanDecide, ReplanResult, replan
from server.store._store import Decide, Store
from server.store._types import (
    CancelResult,
    FulfillmentState,
    OrderEvent,
    OrderState,
    OutboxEntry,
    RouteRequestRecord,
    Shipment,
    Shortfall,
    StoredFulfillmentOrder,
    StoredOrder,
    StoredRoute,
    SyncResult,
    fulfillment_order_id,
    order_id_for,
)

__all__ = [
    "FULFILLMENT_TRANSITIONS",
    "LIVE_FULFILLMENT_STATES",
    "ORDER_TRANSITIONS",
    "REROUTE_UNFILLED",
    "RETURN_TRANSITIONS",
    "CancelResult",
    "ConflictRetryError",
    "Decide",
    "FulfillmentState",
    "IdempotencyConflictError",
    "InvalidLevelError",
    "InvalidStateError",
    "NotFoundError",
    "OrderEvent",
    "OrderState",
    "OutboxEntry",
    "OversellError",
    "RecordedHistory",
    "ReplanCandidate",
    "ReplanDecide",
    "ReplanResult",
    "RerouteResult",
    "ReturnState",
    "RouteRequestRecord",
    "Shipment",
    "ShipmentLineError",
    "Shortfall",
    "Store",
    "StoredFulfillmentOrder",
    "StoredOrder",
    "StoredRoute",
    "SyncResult",
    "UnknownWarehouseError",
    "fulfillment_order_id",
    "load_history",
    "order_id_for",
    "replan",
]
