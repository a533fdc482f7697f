"""Stock as dense ``int64 [sku, warehouse]`` arrays, updated in place by committed routes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

from engine._errors import InvalidStockError, UnknownSkuError
from engine._network import Network
from engine._validate import MAX_SKU_LENGTH

__all__ = ["StockTable"]

IntArray = npt.NDArray[np.int64]


def _as_stock_array(name: str, values: npt.ArrayLike, shape: tuple[int, int]) -> IntArray:
    # Keep the caller's array when it already is C-contiguous int64: the router updates it in place.
    array = np.asarray(values)
    if array.dtype.kind not in "iu" and array.size:
        raise InvalidStockError(f"{name} must hold integers, got dtype {array.dtype}")
    array = np.ascontiguousarray(array, dtype=np.int64)
    if array.shape != shape:
        raise InvalidStockError(
            f"{name} has shape {array.shape}, expected {shape} (skus x warehouses)"
        )
    return array


class StockTable:
    """On-hand and reserved units for the SKUs of interest across every warehouse of a network.

    ``reserved`` is the total of live reservations; ``reserved_by_channel`` breaks it down per
    channel (what the channel reserves of :mod:`engine._policy` are measured against), so every
    channel's array is ``>= 0`` and their sum never exceeds ``reserved``. ``reserved <= on_hand``
    is *not* required: a stock sync can report fewer units than are already reserved, and that
    shortfall must stay visible rather than be clipped away.
    """

    __slots__ = ("_plain", "_row", "network", "on_hand", "reserved", "reserved_by_channel", "skus")

    def __init__(
        self,
        network: Network,
        skus: Sequence[str],
        on_hand: npt.ArrayLike,
        reserved: npt.ArrayLike,
        reserved_by_channel: dict[str, IntArray] | None = None,
    ) -> None:
        self.network = network
        self.skus: tuple[str, ...] = tuple(skus)
        self._row: dict[str, int] = {}
        for row, sku in enumerate(self.skus):
            if sku in self._row:
                raise InvalidStockError(f"duplicate SKU {sku!r}")
            self._row[sku] = row
        shape = (len(self.skus), len(network))
        self.on_hand = _as_stock_array("on_hand", on_hand, shape)
        self.reserved = _as_stock_array("reserved", reserved, shape)
        self.reserved_by_channel: dict[str, IntArray] = {
            channel: _as_stock_array(f"reserved_by_channel[{channel!r}]", values, shape)
            for channel, values in (reserved_by_channel or {}).items()
        }
        self._plain: npt.NDArray[np.bool_] | None = None
        self.check()

    def plain_sku_rows(self) -> npt.NDArray[np.bool_]:
        """``[k]`` True where the SKU name would pass order validation (non-blank, at most
        ``MAX_SKU_LENGTH`` characters); computed once per table (its SKUs never change)."""
        if self._plain is None:
            self._plain = np.fromiter(
                (0 < len(s) <= MAX_SKU_LENGTH and not s.isspace() for s in self.skus),
                dtype=np.bool_,
                count=len(self.skus),
            )
        return self._plain

    def check(self) -> None:
        """Raise ``InvalidStockError`` unless on_hand >= 0, reserved >= 0, every channel's
        reservations >= 0 and their sum <= reserved."""
        if (self.on_hand < 0).any():
            raise InvalidStockError("on_hand must not be negative")
        if (self.reserved < 0).any():
            raise InvalidStockError("reserved must not be negative")
        if self.reserved_by_channel:
            total = np.zeros_like(self.reserved)
            for channel, values in self.reserved_by_channel.items():
                if (values < 0).any():
                    raise InvalidStockError(
                        f"reserved_by_channel[{channel!r}] must not be negative"
                    )
                total += values
            if (total > self.reserved).any():
                raise InvalidStockError("reserved_by_channel adds up to more than reserved")

    @classmethod
    def empty(cls, network: Network, skus: Sequence[str]) -> StockTable:
        """A table of ``skus`` with nothing on hand and nothing reserved."""
        shape = (len(skus), len(network))
        return cls(network, skus, np.zeros(shape, np.int64), np.zeros(shape, np.int64))

    @classmethod
    def from_levels(cls, network: Network, levels: Iterable[tuple[str, str, int]]) -> StockTable:
        """Build from ``(warehouse_id, sku, on_hand)`` rows (a later row for the same cell wins),
        with nothing reserved. SKUs keep their order of first appearance."""
        cells: dict[tuple[int, str], int] = {}
        sku_order: dict[str, None] = {}
        for warehouse_id, sku, units in levels:
            column = network.index_of(warehouse_id)
            sku_order.setdefault(sku, None)
            cells[(column, sku)] = int(units)
        table = cls.empty(network, list(sku_order))
        for (column, sku), units in cells.items():
            table.on_hand[table._row[sku], column] = units
        table.check()
        return table

    def row_of(self, sku: str) -> int:
        """Row of ``sku`` in every array; ``UnknownSkuError`` (a ``KeyError``) if absent."""
        try:
            return self._row[sku]
        except KeyError:
            raise UnknownSkuError(sku) from None

    def __contains__(self, sku: object) -> bool:
        return sku in self._row

    @property
    def row_index(self) -> dict[str, int]:
        """SKU -> row mapping (read it, do not change it)."""
        return self._row

    def available(self) -> IntArray:
        """``on_hand - reserved`` per cell; negative where a sync dropped on-hand below reserved."""
        return self.on_hand - self.reserved

    def copy(self) -> StockTable:
        """An independent copy (for dry runs that must not touch the original)."""
        return StockTable(
            self.network,
            self.skus,
            self.on_hand.copy(),
            self.reserved.copy(),
            {channel: values.copy() for channel, values in self.reserved_by_channel.items()},
        )

    def __repr__(self) -> str:
        return f"StockTable({len(self.skus)} skus x {len(self.network)} warehouses)"
