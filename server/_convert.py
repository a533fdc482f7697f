"""Protobuf ↔ engine conversions, in one place.

Enum numbers of the engine equal the protobuf enum numbers, so enums convert with ``Enum(int)``.
Validation happens before conversion (see ``server._validate``): these functions assume well-formed
input and never decide anything.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from functools import lru_cache
from typing import cast

from google.protobuf import timestamp_pb2
from sortyard.v1 import types_pb2

import engine
from server.store import StoredFulfillmentOrder

__all__ = [
    "address_from_proto",
    "datetime_from_proto",
    "datetime_to_proto",
    "explanation_to_proto",
    "fulfillment_state_to_proto",
    "order_from_proto",
    "order_state_to_proto",
    "order_to_proto",
    "parse_local_time",
    "shipment_to_proto",
    "stored_fulfillment_order_to_proto",
    "unfilled_to_proto",
    "warehouse_from_proto",
    "warehouse_to_proto",
]

# The API's meaning of an empty weekdays list.
_MONDAY_TO_FRIDAY = (1, 2, 3, 4, 5)


# Timestamps are converted by hand on the routing path (two per order in, two per fulfillment
# order out): the library's ToDatetime/FromDatetime go through time tuples and cost several times
# the arithmetic. Values outside Timestamp's range fall back to the library, which raises.
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MIN_SECONDS = -62_135_596_800  # 0001-01-01T00:00:00Z
_MAX_SECONDS = 253_402_300_799  # 9999-12-31T23:59:59Z


def datetime_from_proto(ts: timestamp_pb2.Timestamp) -> dt.datetime:
    """A protobuf Timestamp as an aware UTC datetime (the same value as
    ``ts.ToDatetime(tzinfo=dt.UTC)``: nanoseconds truncated to microseconds)."""
    seconds, nanos = ts.seconds, ts.nanos
    if not (_MIN_SECONDS <= seconds <= _MAX_SECONDS and 0 <= nanos <= 999_999_999):
        return ts.ToDatetime(tzinfo=dt.UTC)
    return _EPOCH + dt.timedelta(seconds=seconds, microseconds=nanos // 1000)


@lru_cache(maxsize=4096)
def _timestamp_fields(value: dt.datetime) -> tuple[int, int]:
    """(seconds, nanos) of an aware datetime; memoised: a batch's shipments share few dates."""
    delta = value - _EPOCH
    seconds = delta.days * 86_400 + delta.seconds
    if not _MIN_SECONDS <= seconds <= _MAX_SECONDS:
        timestamp_pb2.Timestamp().FromDatetime(value)  # raises the library's own error
    return seconds, delta.microseconds * 1000


def datetime_to_proto(value: dt.datetime) -> timestamp_pb2.Timestamp:
    """An aware datetime as a protobuf Timestamp (naive values are taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    seconds, nanos = _timestamp_fields(value)
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos)


def _service_level(level: int) -> types_pb2.ServiceLevel:
    # The engine's enum numbers equal the wire numbers by design.
    return cast(types_pb2.ServiceLevel, int(level))


def parse_local_time(text: str) -> dt.time:
    """``"HH:MM"`` (24-hour) as a time; raises ValueError otherwise."""
    hours, sep, minutes = text.partition(":")
    if not sep or len(hours) != 2 or len(minutes) != 2 or not (hours + minutes).isdigit():
        raise ValueError(f"expected HH:MM, got {text!r}")
    return dt.time(int(hours), int(minutes))


# ---- warehouses -------------------------------------------------------------------------------


def warehouse_from_proto(message: types_pb2.Warehouse) -> engine.Warehouse:
    pickups = tuple(
        engine.CarrierPickup(
            cutoff=parse_local_time(p.cutoff_local_time),
            service_levels=frozenset(engine.ServiceLevel(s) for s in p.service_levels),
            weekdays=frozenset(p.weekdays or _MONDAY_TO_FRIDAY),
        )
        for p in message.pickups
    )
    return engine.Warehouse(
        warehouse_id=message.warehouse_id,
        latitude=message.latitude,
        longitude=message.longitude,
        name=message.name,
        postal_code=message.postal_code,
        country_code=message.country_code or "US",
        time_zone=message.time_zone,
        tags=frozenset(message.tags),
        handling_days=message.handling_days,
        daily_capacity=message.daily_capacity,
        pickups=pickups,
        active=message.active,
    )


def warehouse_to_proto(warehouse: engine.Warehouse) -> types_pb2.Warehouse:
    return types_pb2.Warehouse(
        warehouse_id=warehouse.warehouse_id,
        name=warehouse.name,
        latitude=warehouse.latitude,
        longitude=warehouse.longitude,
        postal_code=warehouse.postal_code,
        country_code=warehouse.country_code,
        time_zone=warehouse.time_zone,
        tags=sorted(warehouse.tags),
        handling_days=warehouse.handling_days,
        daily_capacity=warehouse.daily_capacity,
        pickups=[
            types_pb2.CarrierPickup(
                service_levels=sorted(_service_level(s) for s in p.service_levels),
                cutoff_local_time=p.cutoff.strftime("%H:%M"),
                weekdays=sorted(p.weekdays),
            )
            for p in warehouse.pickups
        ],
        active=warehouse.active,
    )


# ---- orders -----------------------------------------------------------------------------------


def address_from_proto(message: types_pb2.Address) -> engine.Address:
    has_coordinates = message.HasField("latitude") and message.HasField("longitude")
    return engine.Address(
        postal_code=message.postal_code.strip(),
        country_code=(message.country_code or "US").upper(),
        state=message.state,
        city=message.city,
        latitude=message.latitude if has_coordinates else None,
        longitude=message.longitude if has_coordinates else None,
    )


def order_from_proto(message: types_pb2.Order) -> engine.Order:
    line = engine.OrderLine
    return engine.Order(
        channel=message.channel,
        channel_order_id=message.channel_order_id,
        lines=tuple([line(ln.line_id, ln.sku, ln.quantity) for ln in message.lines]),
        ship_to=address_from_proto(message.ship_to),
        service_level=engine.ServiceLevel(message.service_level),
        purchased_at=(
            datetime_from_proto(message.purchased_at) if message.HasField("purchased_at") else None
        ),
        latest_ship_date=(
            datetime_from_proto(message.latest_ship_date)
            if message.HasField("latest_ship_date")
            else None
        ),
        latest_delivery_date=(
            datetime_from_proto(message.latest_delivery_date)
            if message.HasField("latest_delivery_date")
            else None
        ),
        attributes=dict(message.attributes),
    )


def order_to_proto(order: engine.Order) -> types_pb2.Order:
    ship_to = types_pb2.Address(
        postal_code=order.ship_to.postal_code,
        country_code=order.ship_to.country_code,
        state=order.ship_to.state,
        city=order.ship_to.city,
    )
    if order.ship_to.latitude is not None and order.ship_to.longitude is not None:
        ship_to.latitude = order.ship_to.latitude
        ship_to.longitude = order.ship_to.longitude
    message = types_pb2.Order(
        channel=order.channel,
        channel_order_id=order.channel_order_id,
        lines=[
            types_pb2.OrderLine(line_id=line.line_id, sku=line.sku, quantity=line.quantity)
            for line in order.lines
        ],
        ship_to=ship_to,
        service_level=_service_level(order.service_level),
        attributes=dict(order.attributes),
    )
    for name in ("purchased_at", "latest_ship_date", "latest_delivery_date"):
        value = getattr(order, name)
        if value is not None:
            getattr(message, name).CopyFrom(datetime_to_proto(value))
    return message


# ---- decisions --------------------------------------------------------------------------------


def shipment_to_proto(
    shipment: engine.PlannedShipment,
    *,
    fulfillment_order_id: str = "",
    order: engine.Order | None = None,
    order_id: str = "",
) -> types_pb2.FulfillmentOrder:
    """One planned shipment as a FulfillmentOrder; ids are the store's (empty in a dry run)."""
    line = types_pb2.FulfillmentLine
    ship_s, ship_n = _timestamp_fields(_aware(shipment.ship_by))
    deliver_s, deliver_n = _timestamp_fields(_aware(shipment.deliver_by))
    # Everything in one constructor call: upb builds the message in C, with no Python-level
    # field-by-field assignment afterwards.
    return types_pb2.FulfillmentOrder(
        fulfillment_order_id=fulfillment_order_id,
        warehouse_id=shipment.warehouse_id,
        lines=[line(line_id=a.line_id, sku=a.sku, quantity=a.quantity) for a in shipment.lines],
        distance_km=shipment.distance_km,
        ship_by=timestamp_pb2.Timestamp(seconds=ship_s, nanos=ship_n),
        deliver_by=timestamp_pb2.Timestamp(seconds=deliver_s, nanos=deliver_n),
        order_id=order_id,
        channel=order.channel if order is not None else "",
        channel_order_id=order.channel_order_id if order is not None else "",
        service_level=(
            _service_level(order.service_level)
            if order is not None
            else types_pb2.SERVICE_LEVEL_UNSPECIFIED  # the field's default: left unset
        ),
    )


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def unfilled_to_proto(unfilled: Iterable[engine.Unfilled]) -> list[types_pb2.UnfilledLine]:
    return [
        types_pb2.UnfilledLine(
            line_id=u.line_id, sku=u.sku, quantity=u.quantity, reason=u.reason, code=u.code
        )
        for u in unfilled
    ]


def _candidate_to_proto(candidate: engine.Candidate) -> types_pb2.CandidateWarehouse:
    message = types_pb2.CandidateWarehouse(
        warehouse_id=candidate.warehouse_id,
        distance_km=candidate.distance_km,
        available=candidate.available,
        verdict=cast(types_pb2.CandidateVerdict, int(candidate.verdict)),  # same numbers
        reason=candidate.reason,
        rank=candidate.rank,
    )
    if candidate.ship_by is not None:
        message.ship_by.CopyFrom(datetime_to_proto(candidate.ship_by))
    if candidate.deliver_by is not None:
        message.deliver_by.CopyFrom(datetime_to_proto(candidate.deliver_by))
    return message


def explanation_to_proto(explanation: engine.Explanation) -> types_pb2.Explanation:
    return types_pb2.Explanation(
        summary=explanation.summary,
        lines=[
            types_pb2.LineExplanation(
                line_id=line.line_id,
                sku=line.sku,
                quantity=line.quantity,
                candidates=[_candidate_to_proto(c) for c in line.candidates],
            )
            for line in explanation.lines
        ],
        rules=[
            types_pb2.RuleEffect(rule=rule, effect=effect)
            for rule, effect in explanation.rule_effects
        ],
    )


# ---- stored orders ----------------------------------------------------------------------------


def order_state_to_proto(state: str) -> types_pb2.OrderState:
    """The store's state name (``ROUTED``...) as the protobuf enum (``ORDER_STATE_ROUTED``)."""
    try:
        return cast(types_pb2.OrderState, types_pb2.OrderState.Value(f"ORDER_STATE_{state}"))
    except ValueError:
        return types_pb2.ORDER_STATE_UNSPECIFIED


def fulfillment_state_to_proto(state: str) -> types_pb2.FulfillmentOrderState:
    try:
        return cast(
            types_pb2.FulfillmentOrderState,
            types_pb2.FulfillmentOrderState.Value(f"FULFILLMENT_ORDER_STATE_{state}"),
        )
    except ValueError:
        return types_pb2.FULFILLMENT_ORDER_STATE_UNSPECIFIED


def stored_fulfillment_order_to_proto(fo: StoredFulfillmentOrder) -> types_pb2.FulfillmentOrder:
    message = types_pb2.FulfillmentOrder(
        fulfillment_order_id=fo.fulfillment_order_id,
        warehouse_id=fo.warehouse_id,
        lines=[
            types_pb2.FulfillmentLine(line_id=a.line_id, sku=a.sku, quantity=a.quantity)
            for a in fo.lines
        ],
        distance_km=fo.distance_km,
        order_id=fo.order_id,
        channel=fo.channel,
        channel_order_id=fo.channel_order_id,
        state=fulfillment_state_to_proto(fo.state),
        service_level=_service_level(fo.service_level),
        shipments=[
            types_pb2.Shipment(
                carrier=s.carrier,
                tracking_number=s.tracking_number,
                shipped_at=datetime_to_proto(s.shipped_at),
                lines=[
                    types_pb2.FulfillmentLine(line_id=a.line_id, sku=a.sku, quantity=a.quantity)
                    for a in fo.lines
                ],
            )
            for s in fo.shipments
        ],
    )
    if fo.ship_by is not None:
        message.ship_by.CopyFrom(datetime_to_proto(fo.ship_by))
    if fo.deliver_by is not None:
        message.deliver_by.CopyFrom(datetime_to_proto(fo.deliver_by))
    return message
