"""Errors the store raises; each subclasses the builtin a caller would naturally catch."""

from __future__ import annotations

from engine import UnknownWarehouseError as EngineUnknownWarehouseError

__all__ = [
    "ConflictRetryError",
    "IdempotencyConflictError",
    "InvalidLevelError",
    "InvalidStateError",
    "NotFoundError",
    "OversellError",
    "UnknownWarehouseError",
]


class UnknownWarehouseError(EngineUnknownWarehouseError):
    """A stock level names a warehouse the network does not have (a ``KeyError``, and the engine's
    ``UnknownWarehouseError``).

    ``index`` is the position of the offending level in the request, so the servicer can point at
    ``levels[3].warehouse_id``.
    """

    def __init__(self, warehouse_id: str, index: int) -> None:
        super().__init__(warehouse_id)
        self.index = index

    def __str__(self) -> str:
        return f"levels[{self.index}].warehouse_id: unknown warehouse {self.warehouse_id!r}"


class InvalidLevelError(ValueError):
    """A stock level that cannot be applied (negative count, the same cell twice in one sync)."""

    def __init__(self, index: int, field: str, message: str) -> None:
        super().__init__(f"levels[{index}].{field}: {message}")
        self.index = index
        self.field = field


class IdempotencyConflictError(ValueError):
    """A request id was used before with a different payload (mapped to INVALID_ARGUMENT)."""

    def __init__(self, request_id: str) -> None:
        super().__init__(f"request_id {request_id!r} was already used with a different payload")
        self.request_id = request_id


class InvalidStateError(ValueError):
    """The operation is not allowed in the current state (mapped to FAILED_PRECONDITION)."""

    def __init__(self, message: str, state: str) -> None:
        super().__init__(message)
        self.state = state


class NotFoundError(KeyError):
    """No order or fulfillment order with that id."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what

    def __str__(self) -> str:
        return f"not found: {self.what}"


class OversellError(RuntimeError):
    """A decision reserved more than was available: a bug in ``decide``, never committed."""


class ConflictRetryError(RuntimeError):
    """A transaction kept colliding with concurrent ones (deadlock, serialization failure, lock
    timeout) through every retry. Safe to retry later (gRPC ABORTED)."""
