"""Errors the routing core raises. Each subclasses the builtin a caller would naturally catch."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "InvalidOrderError",
    "InvalidStockError",
    "SortyardError",
    "UnknownSkuError",
    "UnknownWarehouseError",
]


class SortyardError(Exception):
    """Root of every error Sortyard raises on purpose."""


class UnknownWarehouseError(SortyardError, KeyError):
    """A warehouse id that the network does not contain."""

    def __init__(self, warehouse_id: str) -> None:
        super().__init__(warehouse_id)
        self.warehouse_id = warehouse_id

    def __str__(self) -> str:
        return f"unknown warehouse {self.warehouse_id!r}"


class UnknownSkuError(SortyardError, KeyError):
    """A SKU that a stock table does not hold a row for."""

    def __init__(self, sku: str) -> None:
        super().__init__(sku)
        self.sku = sku

    def __str__(self) -> str:
        return f"unknown SKU {self.sku!r}"


class InvalidStockError(SortyardError, ValueError):
    """Stock arrays with a wrong shape or type, or a broken invariant (negative reservations)."""


class InvalidOrderError(SortyardError, ValueError):
    """A malformed order; ``violations`` are (field path, what is wrong) pairs."""

    def __init__(self, violations: Sequence[tuple[str, str]]) -> None:
        self.violations: tuple[tuple[str, str], ...] = tuple(violations)
        text = "; ".join(f"{path}: {message}" for path, message in self.violations)
        super().__init__(f"invalid order: {text}")
