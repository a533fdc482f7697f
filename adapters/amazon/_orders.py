"""Amazon orders (Orders 2026-01-01 or v0) to one neutral shape, and that shape to a Sortyard order.

Only what routing needs crosses over: order and item ids, SKUs and quantities, the service level and
promise dates, and the destination's postal code, state, city and country. Names, street lines and
phone numbers are never read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from google.protobuf.timestamp_pb2 import Timestamp
from sortyard.v1 import types_pb2

__all__ = [
    "AmazonLine",
    "AmazonOrder",
    "OrderMappingError",
    "from_orders_2026",
    "from_orders_v0",
    "parse_time",
    "to_sortyard_order",
]

CHANNEL = "amazon"

_V0_STATUS = {
    "Pending": "PENDING",
    "PendingAvailability": "PENDING_AVAILABILITY",
    "Unshipped": "UNSHIPPED",
    "PartiallyShipped": "PARTIALLY_SHIPPED",
    "Shipped": "SHIPPED",
    "Canceled": "CANCELLED",
    "Unfulfillable": "UNFULFILLABLE",
    "InvoiceUnconfirmed": "UNSHIPPED",
}
_V0_LEVEL = {
    "Standard": "STANDARD",
    "Expedited": "EXPEDITED",
    "Priority": "PRIORITY",
    "SecondDay": "SECOND_DAY",
    "NextDay": "NEXT_DAY",
    "SameDay": "SAME_DAY",
    "Scheduled": "SCHEDULED",
    "FreeEconomy": "FREE_ECONOMY",
}


# Amazon's categories and ours share their names (the proto mirrors ShipmentServiceLevelCategory).
_SERVICE_LEVELS: dict[str, int] = {
    name: types_pb2.ServiceLevel.Value(name)
    for name in types_pb2.ServiceLevel.keys()  # noqa: SIM118 - the enum wrapper is not a dict
    if name != "SERVICE_LEVEL_UNSPECIFIED"
}


class OrderMappingError(ValueError):
    """An Amazon order this adapter cannot read; `field` is the JSON path at fault."""

    def __init__(self, order_id: str, field: str, message: str) -> None:
        super().__init__(f"order {order_id}: {field}: {message}")
        self.order_id = order_id
        self.field = field


@dataclass(frozen=True)
class AmazonLine:
    order_item_id: str
    seller_sku: str
    quantity: int  # ordered
    shipped: int = 0


@dataclass(frozen=True)
class AmazonOrder:
    order_id: str
    last_updated: datetime
    status: str  # Orders 2026 FulfillmentStatus: PENDING, UNSHIPPED, CANCELLED, ...
    fulfilled_by: str  # MERCHANT | AMAZON
    service_level: str  # STANDARD, NEXT_DAY, ...
    purchased_at: datetime | None
    latest_ship: datetime | None
    latest_delivery: datetime | None
    postal_code: str
    state: str
    city: str
    country_code: str
    lines: tuple[AmazonLine, ...] = field(default_factory=tuple)
    is_prime: bool = False


def parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _required(order_id: str, raw: Mapping[str, Any], key: str, path: str) -> Any:
    value = raw.get(key)
    if value in (None, ""):
        raise OrderMappingError(order_id, path, "is missing")
    return value


def _time(order_id: str, raw: Mapping[str, Any], key: str, path: str) -> datetime | None:
    try:
        return parse_time(raw.get(key))
    except ValueError as exc:
        raise OrderMappingError(order_id, path, "is not an ISO 8601 date-time") from exc


def from_orders_2026(raw: Mapping[str, Any]) -> AmazonOrder:
    order_id = str(raw.get("orderId") or "")
    if not order_id:
        raise OrderMappingError("?", "orderId", "is missing")
    fulfillment = raw.get("fulfillment") or {}
    address = (raw.get("recipient") or {}).get("deliveryAddress") or {}
    lines = []
    for n, item in enumerate(raw.get("orderItems") or []):
        product = item.get("product") or {}
        ordered = item.get("quantityOrdered")
        if not isinstance(ordered, int):
            raise OrderMappingError(
                order_id, f"orderItems[{n}].quantityOrdered", "is not an integer"
            )
        shipped = (item.get("fulfillment") or {}).get("quantityFulfilled") or 0
        lines.append(
            AmazonLine(
                order_item_id=str(
                    _required(order_id, item, "orderItemId", f"orderItems[{n}].orderItemId")
                ),
                seller_sku=str(product.get("sellerSku") or ""),
                quantity=ordered,
                shipped=int(shipped),
            )
        )
    updated = _time(order_id, raw, "lastUpdatedTime", "lastUpdatedTime")
    if updated is None:
        raise OrderMappingError(order_id, "lastUpdatedTime", "is missing")
    return AmazonOrder(
        order_id=order_id,
        last_updated=updated,
        status=str(
            _required(order_id, fulfillment, "fulfillmentStatus", "fulfillment.fulfillmentStatus")
        ),
        fulfilled_by=str(fulfillment.get("fulfilledBy") or "MERCHANT"),
        service_level=str(fulfillment.get("fulfillmentServiceLevel") or "STANDARD"),
        purchased_at=_time(order_id, raw, "createdTime", "createdTime"),
        latest_ship=_time(
            order_id,
            fulfillment.get("shipByWindow") or {},
            "latestDateTime",
            "fulfillment.shipByWindow.latestDateTime",
        ),
        latest_delivery=_time(
            order_id,
            fulfillment.get("deliverByWindow") or {},
            "latestDateTime",
            "fulfillment.deliverByWindow.latestDateTime",
        ),
        postal_code=str(address.get("postalCode") or ""),
        state=str(address.get("stateOrRegion") or ""),
        city=str(address.get("city") or ""),
        country_code=str(address.get("countryCode") or ""),
        lines=tuple(lines),
        is_prime="PRIME" in (raw.get("programs") or []),
    )


def from_orders_v0(raw: Mapping[str, Any], items: Sequence[Mapping[str, Any]]) -> AmazonOrder:
    order_id = str(raw.get("AmazonOrderId") or "")
    if not order_id:
        raise OrderMappingError("?", "AmazonOrderId", "is missing")
    status = str(_required(order_id, raw, "OrderStatus", "OrderStatus"))
    if status not in _V0_STATUS:
        raise OrderMappingError(order_id, "OrderStatus", f"unknown value {status!r}")
    address = raw.get("ShippingAddress") or {}
    lines = []
    for n, item in enumerate(items):
        ordered = item.get("QuantityOrdered")
        if not isinstance(ordered, int):
            raise OrderMappingError(
                order_id, f"OrderItems[{n}].QuantityOrdered", "is not an integer"
            )
        lines.append(
            AmazonLine(
                order_item_id=str(
                    _required(order_id, item, "OrderItemId", f"OrderItems[{n}].OrderItemId")
                ),
                seller_sku=str(item.get("SellerSKU") or ""),
                quantity=ordered,
                shipped=int(item.get("QuantityShipped") or 0),
            )
        )
    updated = _time(order_id, raw, "LastUpdateDate", "LastUpdateDate")
    if updated is None:
        raise OrderMappingError(order_id, "LastUpdateDate", "is missing")
    return AmazonOrder(
        order_id=order_id,
        last_updated=updated,
        status=_V0_STATUS[status],
        fulfilled_by="AMAZON" if raw.get("FulfillmentChannel") == "AFN" else "MERCHANT",
        service_level=_V0_LEVEL.get(str(raw.get("ShipmentServiceLevelCategory")), "STANDARD"),
        purchased_at=_time(order_id, raw, "PurchaseDate", "PurchaseDate"),
        latest_ship=_time(order_id, raw, "LatestShipDate", "LatestShipDate"),
        latest_delivery=_time(order_id, raw, "LatestDeliveryDate", "LatestDeliveryDate"),
        postal_code=str(address.get("PostalCode") or ""),
        state=str(address.get("StateOrRegion") or ""),
        city=str(address.get("City") or ""),
        country_code=str(address.get("CountryCode") or ""),
        lines=tuple(lines),
        is_prime=bool(raw.get("IsPrime")),
    )


def _timestamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value.astimezone(UTC))
    return stamp


def to_sortyard_order(order: AmazonOrder, master_skus: Mapping[str, str]) -> types_pb2.Order:
    """The units still to ship, SKUs through the catalog (unmapped SKUs pass through unchanged, and
    the server holds a line whose SKU it does not know, with the reason)."""
    out = types_pb2.Order(
        channel=CHANNEL,
        channel_order_id=order.order_id,
        ship_to=types_pb2.Address(
            postal_code=order.postal_code,
            country_code=order.country_code,
            state=order.state,
            city=order.city,
        ),
        service_level=cast(
            "types_pb2.ServiceLevel", _SERVICE_LEVELS.get(order.service_level, types_pb2.STANDARD)
        ),
    )
    for line in order.lines:
        remaining = line.quantity - line.shipped
        if remaining <= 0:
            continue
        out.lines.add(
            line_id=line.order_item_id,
            sku=master_skus.get(line.seller_sku, line.seller_sku),
            quantity=remaining,
        )
    if order.purchased_at:
        out.purchased_at.CopyFrom(_timestamp(order.purchased_at))
    if order.latest_ship:
        out.latest_ship_date.CopyFrom(_timestamp(order.latest_ship))
    if order.latest_delivery:
        out.latest_delivery_date.CopyFrom(_timestamp(order.latest_delivery))
    out.attributes["amazon.fulfilled_by"] = order.fulfilled_by
    if order.is_prime:
        out.attributes["amazon.prime"] = "true"
    return out
