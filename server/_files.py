"""Quick-start files: a warehouse network as TOML, stock as CSV, an order as JSON.

Each loader returns the same protobuf messages the API takes, so a file goes through exactly the
validation an RPC does; problems raise :class:`ConfigFileError` naming the file and the place.

Network TOML::

    [[warehouses]]
    warehouse_id = "EWR-1"
    name = "Edison, NJ"
    latitude = 40.5187
    longitude = -74.4121
    postal_code = "08817"
    time_zone = "America/New_York"
    tags = ["east"]
    handling_days = 0
    daily_capacity = 0        # 0 = unlimited
    active = true             # default true in files

    [[warehouses.pickups]]
    cutoff = "17:00"          # local time
    service_levels = ["STANDARD", "EXPEDITED"]   # omitted: every level
    weekdays = [1, 2, 3, 4, 5]                   # omitted: Monday-Friday

Stock CSV: a header ``warehouse_id,sku,on_hand`` then one row per (warehouse, sku).
"""

from __future__ import annotations

import csv
import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from google.protobuf import json_format
from sortyard.v1 import inventory_service_pb2, network_service_pb2, routing_service_pb2, types_pb2

from server._validate import validate_put_warehouses

__all__ = ["ConfigFileError", "load_network", "load_route_request", "load_stock"]

_WAREHOUSE_KEYS = frozenset(
    {
        "warehouse_id",
        "name",
        "latitude",
        "longitude",
        "postal_code",
        "country_code",
        "time_zone",
        "tags",
        "handling_days",
        "daily_capacity",
        "pickups",
        "active",
    }
)
_PICKUP_KEYS = frozenset({"cutoff", "service_levels", "weekdays"})


class ConfigFileError(ValueError):
    """A quick-start file that cannot be used; the message says where and why."""


def _expect(value: Any, kind: type | tuple[type, ...], where: str) -> Any:
    # TOML has distinct int and float; a latitude written as 40 is still a latitude.
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise ConfigFileError(f"{where}: expected {names}, got {value!r}")
    return value


def _service_level(value: Any, where: str) -> types_pb2.ServiceLevel:
    name = _expect(value, str, where).upper()
    try:
        number = cast(types_pb2.ServiceLevel, types_pb2.ServiceLevel.Value(name))
    except ValueError:
        known = ", ".join(v.name for v in types_pb2.ServiceLevel.DESCRIPTOR.values if v.number)
        raise ConfigFileError(
            f"{where}: unknown service level {value!r} (one of {known})"
        ) from None
    return number


def _pickup(raw: Mapping[str, Any], where: str) -> types_pb2.CarrierPickup:
    unknown = set(raw) - _PICKUP_KEYS
    if unknown:
        raise ConfigFileError(f"{where}: unknown keys {sorted(unknown)}")
    if "cutoff" not in raw:
        raise ConfigFileError(f'{where}.cutoff: required, e.g. cutoff = "17:00"')
    levels = _expect(raw.get("service_levels", []), list, f"{where}.service_levels")
    weekdays = _expect(raw.get("weekdays", []), list, f"{where}.weekdays")
    return types_pb2.CarrierPickup(
        cutoff_local_time=_expect(raw["cutoff"], str, f"{where}.cutoff"),
        service_levels=[
            _service_level(v, f"{where}.service_levels[{i}]") for i, v in enumerate(levels)
        ],
        weekdays=[_expect(d, int, f"{where}.weekdays[{i}]") for i, d in enumerate(weekdays)],
    )


def _warehouse(raw: Mapping[str, Any], where: str) -> types_pb2.Warehouse:
    unknown = set(raw) - _WAREHOUSE_KEYS
    if unknown:
        raise ConfigFileError(f"{where}: unknown keys {sorted(unknown)}")
    for key in ("warehouse_id", "latitude", "longitude", "time_zone"):
        if key not in raw:
            raise ConfigFileError(f"{where}.{key}: required")
    pickups = _expect(raw.get("pickups", []), list, f"{where}.pickups")
    return types_pb2.Warehouse(
        warehouse_id=_expect(raw["warehouse_id"], str, f"{where}.warehouse_id"),
        name=_expect(raw.get("name", ""), str, f"{where}.name"),
        latitude=_expect(raw["latitude"], float, f"{where}.latitude"),
        longitude=_expect(raw["longitude"], float, f"{where}.longitude"),
        postal_code=_expect(raw.get("postal_code", ""), str, f"{where}.postal_code"),
        country_code=_expect(raw.get("country_code", "US"), str, f"{where}.country_code"),
        time_zone=_expect(raw["time_zone"], str, f"{where}.time_zone"),
        tags=[_expect(t, str, f"{where}.tags") for t in raw.get("tags", [])],
        handling_days=_expect(raw.get("handling_days", 0), int, f"{where}.handling_days"),
        daily_capacity=_expect(raw.get("daily_capacity", 0), int, f"{where}.daily_capacity"),
        pickups=[
            _pickup(_expect(p, dict, f"{where}.pickups[{j}]"), f"{where}.pickups[{j}]")
            for j, p in enumerate(pickups)
        ],
        # Unlike the wire format (proto3 bools default to false), a site listed in a file is live
        # unless it says otherwise.
        active=_expect(raw.get("active", True), bool, f"{where}.active"),
    )


def load_network(path: str | Path) -> list[types_pb2.Warehouse]:
    """Warehouses from a network TOML file, validated as PutWarehouses would validate them."""
    path = Path(path)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigFileError(f"{path}: {error.strerror or error}") from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigFileError(f"{path}: {error}") from error
    raw_warehouses = document.get("warehouses")
    if not isinstance(raw_warehouses, list) or not raw_warehouses:
        raise ConfigFileError(f"{path}: expected one or more [[warehouses]] tables")
    try:
        warehouses = [
            _warehouse(_expect(w, dict, f"warehouses[{i}]"), f"warehouses[{i}]")
            for i, w in enumerate(raw_warehouses)
        ]
    except ConfigFileError as error:
        raise ConfigFileError(f"{path}: {error}") from None
    violations = validate_put_warehouses(
        network_service_pb2.PutWarehousesRequest(warehouses=warehouses)
    )
    if violations:
        listed = "; ".join(f"{field}: {text}" for field, text in violations)
        raise ConfigFileError(f"{path}: {listed}")
    return warehouses


def load_stock(path: str | Path) -> list[inventory_service_pb2.StockLevel]:
    """Stock levels from a CSV file with the header ``warehouse_id,sku,on_hand``."""
    path = Path(path)
    levels: list[inventory_service_pb2.StockLevel] = []
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = {"warehouse_id", "sku", "on_hand"} - set(reader.fieldnames or ())
            if missing:
                raise ConfigFileError(
                    f"{path}:1: header must name warehouse_id,sku,on_hand"
                    f" (missing {sorted(missing)})"
                )
            for row in reader:
                where = f"{path}:{reader.line_num}"
                warehouse_id = (row["warehouse_id"] or "").strip()
                sku = (row["sku"] or "").strip()
                if not warehouse_id or not sku:
                    raise ConfigFileError(f"{where}: warehouse_id and sku are required")
                try:
                    on_hand = int((row["on_hand"] or "").strip())
                except ValueError:
                    raise ConfigFileError(
                        f"{where}: on_hand must be a whole number, got {row['on_hand']!r}"
                    ) from None
                if on_hand < 0:
                    raise ConfigFileError(f"{where}: on_hand must be ≥ 0, got {on_hand}")
                levels.append(
                    inventory_service_pb2.StockLevel(
                        warehouse_id=warehouse_id, sku=sku, on_hand=on_hand
                    )
                )
    except OSError as error:
        raise ConfigFileError(f"{path}: {error.strerror or error}") from error
    return levels


def load_route_request(path: str | Path) -> routing_service_pb2.RouteRequest:
    """A RouteRequest from JSON: either an Order, or a RouteRequest (``{"order": {...}, ...}``).

    Field names follow the protobuf JSON mapping (``channel_order_id`` or ``channelOrderId``; enums
    by name, e.g. ``"service_level": "NEXT_DAY"``; timestamps as RFC 3339 strings).
    """
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigFileError(f"{path}: {error.strerror or error}") from error
    except json.JSONDecodeError as error:
        raise ConfigFileError(f"{path}:{error.lineno}:{error.colno}: {error.msg}") from error
    if not isinstance(document, dict):
        raise ConfigFileError(f"{path}: expected a JSON object (an order)")
    request = routing_service_pb2.RouteRequest()
    try:
        if "order" in document:
            json_format.ParseDict(document, request)
        else:
            json_format.ParseDict(document, request.order)
    except json_format.ParseError as error:
        raise ConfigFileError(f"{path}: {error}") from error
    return request
