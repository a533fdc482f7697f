"""The lifecycle state machines of orders, fulfillment orders and returns: pure tables, no I/O.

Every state change the store makes goes through :func:`transition`, which raises
:class:`InvalidStateError` (mapped to gRPC FAILED_PRECONDITION, naming the current state) for a move
the table does not allow. The tables are the single source of truth: tests walk every legal and
every illegal pair of them.

Orders
    RECEIVED -> ROUTED | BACKORDERED | HELD -> RELEASED -> PARTIALLY_SHIPPED -> SHIPPED ->
    DELIVERED, and CANCELLED from anything not yet fully shipped. A re-route (a warehouse cancel or
    a short sync) may move a routed or released order back to ROUTED, or to BACKORDERED / HELD
    when nothing can take its lines.

Fulfillment orders (one per warehouse of an order)
    RESERVED -> RELEASED -> PARTIALLY_SHIPPED -> SHIPPED -> DELIVERED, CANCELLED before it has
    shipped completely. A shipment confirmed for a RESERVED fulfillment order implies its release
    (warehouses that pick from their own screens never ask for the pick list).

Returns
    REQUESTED -> AUTHORIZED -> RECEIVED -> INSPECTED -> RESTOCKED | WRITTEN_OFF -> REFUNDED.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import TypeVar

from server.store._errors import InvalidStateError
from server.store._types import FulfillmentState, OrderState

__all__ = [
    "FULFILLMENT_TRANSITIONS",
    "LIVE_FULFILLMENT_STATES",
    "ORDER_TRANSITIONS",
    "RETURN_TRANSITIONS",
    "ReturnState",
    "derive_order_state",
    "is_allowed",
    "transition",
]


class ReturnState(enum.StrEnum):
    """Where a return (RMA) is (stored as text)."""

    REQUESTED = "REQUESTED"
    AUTHORIZED = "AUTHORIZED"
    RECEIVED = "RECEIVED"
    INSPECTED = "INSPECTED"
    RESTOCKED = "RESTOCKED"  # at least one unit went back to on-hand
    WRITTEN_OFF = "WRITTEN_OFF"  # every unit went to the write-off bucket
    REFUNDED = "REFUNDED"


_O = OrderState
_F = FulfillmentState
_R = ReturnState

ORDER_TRANSITIONS: Mapping[OrderState, frozenset[OrderState]] = {
    _O.RECEIVED: frozenset({_O.ROUTED, _O.BACKORDERED, _O.HELD, _O.CANCELLED}),
    _O.HELD: frozenset({_O.ROUTED, _O.BACKORDERED, _O.CANCELLED}),
    _O.BACKORDERED: frozenset({_O.ROUTED, _O.HELD, _O.CANCELLED}),
    _O.ROUTED: frozenset(
        {_O.RELEASED, _O.PARTIALLY_SHIPPED, _O.SHIPPED, _O.BACKORDERED, _O.HELD, _O.CANCELLED}
    ),
    _O.RELEASED: frozenset(
        {_O.ROUTED, _O.PARTIALLY_SHIPPED, _O.SHIPPED, _O.BACKORDERED, _O.HELD, _O.CANCELLED}
    ),
    # Part shipped: the rest may still be cancelled (the shipped part stands) or re-routed.
    _O.PARTIALLY_SHIPPED: frozenset({_O.SHIPPED, _O.DELIVERED, _O.CANCELLED}),
    _O.SHIPPED: frozenset({_O.DELIVERED}),
    _O.DELIVERED: frozenset(),
    _O.CANCELLED: frozenset(),
}

FULFILLMENT_TRANSITIONS: Mapping[FulfillmentState, frozenset[FulfillmentState]] = {
    _F.RESERVED: frozenset({_F.RELEASED, _F.PARTIALLY_SHIPPED, _F.SHIPPED, _F.CANCELLED}),
    _F.RELEASED: frozenset({_F.PARTIALLY_SHIPPED, _F.SHIPPED, _F.CANCELLED}),
    # Another package of the same fulfillment order keeps it PARTIALLY_SHIPPED (a self-loop).
    _F.PARTIALLY_SHIPPED: frozenset({_F.PARTIALLY_SHIPPED, _F.SHIPPED, _F.CANCELLED}),
    _F.SHIPPED: frozenset({_F.DELIVERED}),
    _F.DELIVERED: frozenset(),
    _F.CANCELLED: frozenset(),
}

RETURN_TRANSITIONS: Mapping[ReturnState, frozenset[ReturnState]] = {
    _R.REQUESTED: frozenset({_R.AUTHORIZED}),
    _R.AUTHORIZED: frozenset({_R.RECEIVED}),
    _R.RECEIVED: frozenset({_R.INSPECTED}),
    _R.INSPECTED: frozenset({_R.RESTOCKED, _R.WRITTEN_OFF}),
    _R.RESTOCKED: frozenset({_R.REFUNDED}),
    _R.WRITTEN_OFF: frozenset({_R.REFUNDED}),
    _R.REFUNDED: frozenset(),
}

#: Fulfillment orders whose unshipped allocations still hold reserved units.
LIVE_FULFILLMENT_STATES: frozenset[FulfillmentState] = frozenset(
    {_F.RESERVED, _F.RELEASED, _F.PARTIALLY_SHIPPED}
)

_TABLES: dict[type[enum.Enum], Mapping[object, frozenset[object]]] = {
    OrderState: ORDER_TRANSITIONS,  # type: ignore[dict-item]  # keyed by its own enum
    FulfillmentState: FULFILLMENT_TRANSITIONS,  # type: ignore[dict-item]  # keyed by its own enum
    ReturnState: RETURN_TRANSITIONS,  # type: ignore[dict-item]  # keyed by its own enum
}
_NOUN = {OrderState: "order", FulfillmentState: "fulfillment order", ReturnState: "return"}


def is_allowed(current: enum.StrEnum, target: enum.StrEnum) -> bool:
    """Whether the table of ``current``'s machine allows ``current -> target``."""
    if type(current) is not type(target):
        raise TypeError(f"{current!r} and {target!r} belong to different state machines")
    return target in _TABLES[type(current)][current]


S = TypeVar("S", bound=enum.StrEnum)


def transition(what: str, current: S, target: S) -> S:
    """``target`` when the move is legal, else :class:`InvalidStateError` naming ``current``.

    ``what`` names the object for the message, e.g. ``"fulfillment order so_ab-1"``.
    """
    if not is_allowed(current, target):
        raise InvalidStateError(
            f"{what} is {current.value}: it cannot become {target.value}", current.value
        )
    return target


def derive_order_state(
    fulfillment_states: Iterable[FulfillmentState], *, fallback: OrderState
) -> OrderState:
    """An order's state from its fulfillment orders (cancelled ones ignored).

    ``fallback`` answers when no fulfillment order is left (BACKORDERED or HELD after a re-route
    that found nowhere to go, or the order's current state).
    """
    states = [s for s in fulfillment_states if s != _F.CANCELLED]
    if not states:
        return fallback
    shipped = {_F.SHIPPED, _F.DELIVERED}
    if all(s == _F.DELIVERED for s in states):
        return _O.DELIVERED
    if all(s in shipped for s in states):
        return _O.SHIPPED
    if any(s in shipped or s == _F.PARTIALLY_SHIPPED for s in states):
        return _O.PARTIALLY_SHIPPED
    if all(s == _F.RELEASED for s in states):
        return _O.RELEASED
    if any(s == _F.RELEASED for s in states):
        return _O.RELEASED  # part handed over, part still reserved: the warehouse has work
    return _O.ROUTED
