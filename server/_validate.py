"""Request validation at the edge, before anything touches the store.

Each check returns ``(field path, description)`` pairs, the shape of a google.rpc.BadRequest field
violation, with paths as a client spells them: ``order.lines[2].quantity``,
``requests[3].order.service_level``, ``levels[0].warehouse_id``. An empty list means valid.
Limits follow the reliability brief (≤ 500 lines per order, 1 ≤ quantity ≤ 1,000,000, ids ≤ 64
printable ASCII).
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Collection, Iterable
from functools import lru_cache

from sortyard.v1 import (
    fulfillment_service_pb2,
    inventory_service_pb2,
    network_service_pb2,
    routing_service_pb2,
    types_pb2,
)

import engine
from server._convert import order_from_proto, parse_local_time

__all__ = [
    "MAX_BATCH_REQUESTS",
    "MAX_LINES_PER_ORDER",
    "MAX_QUANTITY",
    "MAX_SYNC_LEVELS",
    "Violation",
    "validate_availability_request",
    "validate_cancel_request",
    "validate_confirm_request",
    "validate_get_order_request",
    "validate_put_warehouses",
    "validate_route_batch_size",
    "validate_route_request",
    "validate_sync_request",
]

Violation = tuple[str, str]

MAX_LINES_PER_ORDER = 500
MAX_QUANTITY = 1_000_000
MAX_ID_LENGTH = 64
MAX_BATCH_REQUESTS = 5_000
MAX_SYNC_LEVELS = 100_000
MAX_SKUS_PER_QUERY = 10_000
# A response listing ten thousand violations helps nobody; the first ones show the pattern.
MAX_VIOLATIONS = 50

_VALID_SERVICE_LEVELS = frozenset(
    v.number for v in types_pb2.ServiceLevel.DESCRIPTOR.values if v.number != 0
)


class _Collector:
    """Collects violations up to MAX_VIOLATIONS; later ones are counted, not listed."""

    def __init__(self) -> None:
        self.items: list[Violation] = []
        self.dropped = 0

    def add(self, field: str, description: str) -> None:
        if len(self.items) < MAX_VIOLATIONS:
            self.items.append((field, description))
        else:
            self.dropped += 1

    def result(self) -> list[Violation]:
        if self.dropped:
            return [*self.items, ("", f"and {self.dropped} more violations not listed")]
        return self.items


def _is_printable_ascii(text: str) -> bool:
    return text.isascii() and text.isprintable()


def _check_id(out: _Collector, field: str, value: str, *, required: bool = True) -> None:
    if not value:
        if required:
            out.add(field, "required")
        return
    if len(value) > MAX_ID_LENGTH:
        out.add(field, f"at most {MAX_ID_LENGTH} characters (got {len(value)})")
    elif not _is_printable_ascii(value):
        out.add(field, "printable ASCII only")


def _check_service_level(out: _Collector, field: str, value: int) -> None:
    if value == types_pb2.SERVICE_LEVEL_UNSPECIFIED:
        out.add(field, "required: SERVICE_LEVEL_UNSPECIFIED is not a service level")
    elif value not in _VALID_SERVICE_LEVELS:
        out.add(field, f"unknown service level {value}")


# ---- orders -----------------------------------------------------------------------------------


def _check_order(out: _Collector, prefix: str, order: types_pb2.Order) -> None:
    _check_id(out, f"{prefix}.channel", order.channel)
    _check_id(out, f"{prefix}.channel_order_id", order.channel_order_id)
    _check_service_level(out, f"{prefix}.service_level", order.service_level)

    lines = order.lines
    if not lines:
        out.add(f"{prefix}.lines", "an order needs at least one line")
    elif len(lines) > MAX_LINES_PER_ORDER:
        # Checking each of ten thousand lines would only bury this one actionable message.
        out.add(f"{prefix}.lines", f"at most {MAX_LINES_PER_ORDER} lines (got {len(lines)})")
    else:
        first_seen: dict[str, int] = {}
        for i, line in enumerate(lines):
            path = f"{prefix}.lines[{i}]"
            _check_id(out, f"{path}.line_id", line.line_id)
            if line.line_id in first_seen:
                out.add(
                    f"{path}.line_id",
                    f"duplicate line_id {line.line_id!r} "
                    f"(first used at {prefix}.lines[{first_seen[line.line_id]}])",
                )
            elif line.line_id:
                first_seen[line.line_id] = i
            _check_id(out, f"{path}.sku", line.sku)
            if line.quantity <= 0:
                out.add(f"{path}.quantity", f"must be at least 1 (got {line.quantity})")
            elif line.quantity > MAX_QUANTITY:
                out.add(f"{path}.quantity", f"at most {MAX_QUANTITY:,} (got {line.quantity:,})")

    if not order.HasField("ship_to"):
        out.add(f"{prefix}.ship_to", "required")
    else:
        _check_address(out, f"{prefix}.ship_to", order.ship_to)

    if (
        order.HasField("latest_ship_date")
        and order.HasField("latest_delivery_date")
        and order.latest_delivery_date.ToNanoseconds() < order.latest_ship_date.ToNanoseconds()
    ):
        out.add(f"{prefix}.latest_delivery_date", "earlier than latest_ship_date")
    for key, value in order.attributes.items():
        if len(key) > MAX_ID_LENGTH or len(value) > 1024:
            out.add(f"{prefix}.attributes[{key[:MAX_ID_LENGTH]!r}]", "key ≤ 64, value ≤ 1024 chars")


def _check_address(out: _Collector, prefix: str, address: types_pb2.Address) -> None:
    has_lat = address.HasField("latitude")
    has_lon = address.HasField("longitude")
    if has_lat != has_lon:
        missing = "longitude" if has_lat else "latitude"
        out.add(f"{prefix}.{missing}", "latitude and longitude come together")
    if has_lat and not -90.0 <= address.latitude <= 90.0:
        out.add(f"{prefix}.latitude", f"must be within [-90, 90] (got {address.latitude})")
    if has_lon and not -180.0 <= address.longitude <= 180.0:
        out.add(f"{prefix}.longitude", f"must be within [-180, 180] (got {address.longitude})")
    if not address.postal_code.strip() and not (has_lat and has_lon):
        out.add(f"{prefix}.postal_code", "required unless latitude and longitude are given")
    elif len(address.postal_code) > 16:
        out.add(f"{prefix}.postal_code", "at most 16 characters")
    code = address.country_code
    if code and (len(code) != 2 or not code.isascii() or not code.isalpha()):
        out.add(f"{prefix}.country_code", f"ISO 3166-1 alpha-2, e.g. US (got {code!r})")


def validate_route_request(
    request: routing_service_pb2.RouteRequest, prefix: str = ""
) -> list[Violation]:
    """Violations of one RouteRequest; ``prefix`` is ``requests[i].`` inside a batch."""
    out = _Collector()
    if not request.HasField("order"):
        out.add(f"{prefix}order", "required")
    else:
        _check_order(out, f"{prefix}order", request.order)
        if not out.items:
            # The engine's own structural checks (shared with the rules tests and benchmarks) catch
            # anything the wire-level checks above do not know about.
            for field, description in engine.validate_order(order_from_proto(request.order)):
                out.add(f"{prefix}{field}", description)
    _check_id(out, f"{prefix}request_id", request.request_id, required=False)
    return out.result()


def validate_route_batch_size(request: routing_service_pb2.RouteBatchRequest) -> list[Violation]:
    """Whole-batch problems, which fail the call rather than one entry."""
    if len(request.requests) > MAX_BATCH_REQUESTS:
        return [
            (
                "requests",
                f"at most {MAX_BATCH_REQUESTS:,} orders per batch (got {len(request.requests):,});"
                " split the batch",
            )
        ]
    return []


# ---- network ----------------------------------------------------------------------------------


@lru_cache(maxsize=1024)
def _time_zone_exists(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def validate_put_warehouses(request: network_service_pb2.PutWarehousesRequest) -> list[Violation]:
    out = _Collector()
    if not request.warehouses:
        out.add("warehouses", "at least one warehouse")
    seen: dict[str, int] = {}
    for i, w in enumerate(request.warehouses):
        path = f"warehouses[{i}]"
        _check_id(out, f"{path}.warehouse_id", w.warehouse_id)
        if w.warehouse_id in seen:
            out.add(
                f"{path}.warehouse_id",
                f"duplicate warehouse_id {w.warehouse_id!r}"
                f" (also warehouses[{seen[w.warehouse_id]}])",
            )
        elif w.warehouse_id:
            seen[w.warehouse_id] = i
        if not -90.0 <= w.latitude <= 90.0:
            out.add(f"{path}.latitude", f"must be within [-90, 90] (got {w.latitude})")
        if not -180.0 <= w.longitude <= 180.0:
            out.add(f"{path}.longitude", f"must be within [-180, 180] (got {w.longitude})")
        if not w.time_zone:
            out.add(f"{path}.time_zone", "required: an IANA time zone such as America/Chicago")
        elif not _time_zone_exists(w.time_zone):
            out.add(f"{path}.time_zone", f"unknown IANA time zone {w.time_zone!r}")
        if w.handling_days < 0:
            out.add(f"{path}.handling_days", f"must be ≥ 0 (got {w.handling_days})")
        if w.daily_capacity < 0:
            out.add(
                f"{path}.daily_capacity", f"must be ≥ 0, 0 = unlimited (got {w.daily_capacity})"
            )
        for j, pickup in enumerate(w.pickups):
            ppath = f"{path}.pickups[{j}]"
            try:
                parse_local_time(pickup.cutoff_local_time)
            except ValueError:
                out.add(
                    f"{ppath}.cutoff_local_time",
                    f'expected "HH:MM" 24-hour local time (got {pickup.cutoff_local_time!r})',
                )
            for k, day in enumerate(pickup.weekdays):
                if not 1 <= day <= 7:
                    out.add(f"{ppath}.weekdays[{k}]", f"ISO weekday 1..7 (got {day})")
            for k, level in enumerate(pickup.service_levels):
                _check_service_level(out, f"{ppath}.service_levels[{k}]", level)
    return out.result()


# ---- inventory --------------------------------------------------------------------------------


def validate_sync_request(
    request: inventory_service_pb2.SyncRequest, known_warehouses: Collection[str]
) -> list[Violation]:
    out = _Collector()
    if len(request.levels) > MAX_SYNC_LEVELS:
        out.add(
            "levels", f"at most {MAX_SYNC_LEVELS:,} levels per sync (got {len(request.levels):,})"
        )
        return out.result()
    seen: dict[tuple[str, str], int] = {}
    for i, level in enumerate(request.levels):
        path = f"levels[{i}]"
        _check_id(out, f"{path}.warehouse_id", level.warehouse_id)
        if level.warehouse_id and level.warehouse_id not in known_warehouses:
            out.add(
                f"{path}.warehouse_id",
                f"unknown warehouse {level.warehouse_id!r}; add it with PutWarehouses first",
            )
        _check_id(out, f"{path}.sku", level.sku)
        if level.on_hand < 0:
            out.add(f"{path}.on_hand", f"must be ≥ 0 (got {level.on_hand})")
        key = (level.warehouse_id, level.sku)
        if key in seen:
            out.add(f"{path}", f"duplicate of levels[{seen[key]}] (same warehouse and sku)")
        else:
            seen[key] = i
    _check_id(out, "request_id", request.request_id, required=False)
    return out.result()


def validate_availability_request(
    request: inventory_service_pb2.GetAvailabilityRequest,
) -> list[Violation]:
    out = _Collector()
    if not request.skus:
        out.add("skus", "at least one sku")
    elif len(request.skus) > MAX_SKUS_PER_QUERY:
        out.add("skus", f"at most {MAX_SKUS_PER_QUERY:,} skus (got {len(request.skus):,})")
    else:
        for i, sku in enumerate(request.skus):
            _check_id(out, f"skus[{i}]", sku)
    _check_id(out, "channel", request.channel, required=False)
    return out.result()


# ---- fulfillment ------------------------------------------------------------------------------


def _check_order_reference(
    out: _Collector, order_id: str, channel: str, channel_order_id: str
) -> None:
    if order_id:
        if channel or channel_order_id:
            out.add("order_id", "give either order_id or channel + channel_order_id, not both")
        return
    if not channel and not channel_order_id:
        out.add("order_id", "required: order_id, or channel + channel_order_id")
        return
    _check_id(out, "channel", channel)
    _check_id(out, "channel_order_id", channel_order_id)


def validate_get_order_request(
    request: fulfillment_service_pb2.GetOrderRequest,
) -> list[Violation]:
    out = _Collector()
    _check_order_reference(out, request.order_id, request.channel, request.channel_order_id)
    return out.result()


def validate_cancel_request(
    request: fulfillment_service_pb2.CancelOrderRequest,
) -> list[Violation]:
    out = _Collector()
    _check_order_reference(out, request.order_id, request.channel, request.channel_order_id)
    if len(request.reason) > 1024:
        out.add("reason", "at most 1024 characters")
    return out.result()


def validate_confirm_request(
    request: fulfillment_service_pb2.ConfirmShipmentRequest,
) -> list[Violation]:
    out = _Collector()
    _check_id(out, "fulfillment_order_id", request.fulfillment_order_id)
    _check_id(out, "carrier", request.carrier, required=False)
    if len(request.tracking_number) > 128:
        out.add("tracking_number", "at most 128 characters")
    return out.result()


def merge(*groups: Iterable[Violation]) -> list[Violation]:
    """Violations of several checks without repeating the same (field, text) pair."""
    return list(dict.fromkeys(v for group in groups for v in group))
