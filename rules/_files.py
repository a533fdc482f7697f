"""Reading the quick-start files the toolchain shares with ``sortyard serve``.

The formats (network TOML, stock CSV, order JSON) are the server's (``server/_files.py``), reused
rather than re-implemented so a file that works with ``serve`` works with ``rules test`` and
``rules explain``. The server modules are imported lazily, inside these functions: the rules
library itself (parse, check, compile) never needs them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import engine

__all__ = [
    "FileError",
    "load_network",
    "load_stock_levels",
    "order_from_file",
    "order_from_mapping",
    "stock_table",
]


class FileError(ValueError):
    """A network, stock or order file that cannot be read; the message names the file."""


def load_network(path: str | Path) -> engine.Network:
    from server._convert import warehouse_from_proto
    from server._files import ConfigFileError
    from server._files import load_network as load

    try:
        return engine.Network([warehouse_from_proto(w) for w in load(path)])
    except (ConfigFileError, ValueError) as error:
        raise FileError(str(error)) from error


def load_stock_levels(path: str | Path) -> list[tuple[str, str, int]]:
    from server._files import ConfigFileError, load_stock

    try:
        return [(level.warehouse_id, level.sku, level.on_hand) for level in load_stock(path)]
    except ConfigFileError as error:
        raise FileError(str(error)) from error


def stock_table(
    network: engine.Network,
    skus: list[str],
    levels: list[tuple[str, str, int]],
    where: str,
) -> engine.StockTable:
    """A stock table over ``skus`` (plus the SKUs of ``levels``) holding ``levels``; a level for a
    warehouse outside the network is an error naming it, not a crash."""
    names = list(dict.fromkeys([*skus, *(sku for _, sku, _ in levels)]))
    table = engine.StockTable.empty(network, names)
    for warehouse_id, sku, units in levels:
        if warehouse_id not in network:
            raise FileError(
                f"{where}: stock names warehouse {warehouse_id!r}, which is not in the network "
                f"({', '.join(network.warehouse_ids)})"
            )
        if units < 0:
            raise FileError(f"{where}: on_hand of {sku!r} at {warehouse_id!r} is negative")
        table.on_hand[table.row_of(sku), network.index_of(warehouse_id)] = units
    return table


def order_from_mapping(document: Mapping[str, Any], where: str) -> engine.Order:
    """An order from its protobuf-JSON shape (as in ORDER.json), checked like the API checks it."""
    from google.protobuf import json_format
    from sortyard.v1 import types_pb2

    from server._convert import order_from_proto

    message = types_pb2.Order()
    try:
        json_format.ParseDict(_jsonable(document), message)
    except json_format.ParseError as error:
        raise FileError(f"{where}: {error}") from error
    order = order_from_proto(message)
    problems = engine.validate_order(order)
    if problems:
        listed = "; ".join(f"{path}: {text}" for path, text in problems)
        raise FileError(f"{where}: {listed}")
    return order


def order_from_file(path: str | Path) -> engine.Order:
    from server._convert import order_from_proto
    from server._files import ConfigFileError, load_route_request

    try:
        order = order_from_proto(load_route_request(path).order)
    except ConfigFileError as error:
        raise FileError(str(error)) from error
    problems = engine.validate_order(order)
    if problems:
        listed = "; ".join(f"{field}: {text}" for field, text in problems)
        raise FileError(f"{path}: {listed}")
    return order


def _jsonable(value: Any) -> Any:
    """TOML gives datetimes; the protobuf JSON mapping wants RFC 3339 text."""
    if isinstance(value, Mapping):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    if hasattr(value, "isoformat") and not isinstance(value, str):
        text = value.isoformat()
        return text.replace("+00:00", "Z")
    return value
