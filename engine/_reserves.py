"""Channel reserves and available-to-sell, following the contract in :mod:`engine._policy`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import numpy.typing as npt

from engine._policy import Policy
from engine._stock import StockTable

__all__ = ["available_to_sell", "remaining_reserves", "usable_by_channel"]

IntArray = npt.NDArray[np.int64]


def remaining_reserves(
    gross: Mapping[str, IntArray], reserved_by_channel: Mapping[str, IntArray]
) -> dict[str, IntArray]:
    """``max(0, gross[c] - reserved_by_channel[c])`` per reserving channel: what is left of each
    reserve after the channel's own live reservations."""
    remaining: dict[str, IntArray] = {}
    for channel, units in gross.items():
        units = np.asarray(units, dtype=np.int64)
        own = reserved_by_channel.get(channel)
        left = units - own if own is not None else units.copy()
        remaining[channel] = np.maximum(left, 0)
    return remaining


def usable_by_channel(
    available: IntArray, remaining: Mapping[str, IntArray], channel: str
) -> IntArray:
    """``max(0, available - sum(remaining[c] for c != channel))`` per (sku, warehouse)."""
    held_for_others = np.zeros_like(available)
    for other, units in remaining.items():
        if other != channel:
            held_for_others += units
    usable: IntArray = np.maximum(available - held_for_others, 0)
    return usable


def available_to_sell(
    stock: StockTable,
    policy: Policy,
    channels: Iterable[str],
    now: dt.datetime,
    sku_tags: Mapping[str, frozenset[str]] | None = None,
) -> dict[str, IntArray]:
    """Units each channel may be shown as sellable, per SKU (``int64 [k]`` in ``stock.skus`` order).

    Usable units summed over active warehouses, minus ``policy.safety_stock``, floored at 0.
    Inactive warehouses never ship, so their units are not sellable.
    """
    tags: Mapping[str, frozenset[str]] = sku_tags or {}
    skus: Sequence[str] = stock.skus
    gross = policy.channel_reserves(skus, stock.on_hand, now, tags)
    remaining = remaining_reserves(gross, stock.reserved_by_channel)
    available = stock.available()
    active = stock.network.active
    result: dict[str, IntArray] = {}
    for channel in dict.fromkeys(channels):
        usable = usable_by_channel(available, remaining, channel)
        per_sku = usable[:, active].sum(axis=1, dtype=np.int64)
        safety = np.asarray(policy.safety_stock(channel, skus, per_sku, tags), dtype=np.int64)
        result[channel] = np.maximum(per_sku - safety, 0)
    return result
