"""Scarce-stock batch scenarios and a plain sequential greedy, to test and measure the optimiser.

The greedy here is a stand-in with the default policy's shape (nearest warehouse that fills the
whole order, else each line from its nearest warehouse with stock), honouring reserves, no-split
lines, max shipments and ship-complete orders exactly as :func:`engine._optimize.check_feasible`
reads them. The Router's own greedy replaces it as the optimiser's warm start once wired.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from engine._optimize import BatchProblem

__all__ = ["scarce_batch", "sequential_greedy", "study_batch"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

EARTH_RADIUS_KM = 6371.0
# Contiguous US, roughly: where orders and warehouses are drawn.
US_LAT = (25.0, 49.0)
US_LON = (-124.0, -67.0)


def scarce_batch(
    seed: int,
    *,
    n_orders: int = 1000,
    n_warehouses: int = 50,
    skus_per_order: tuple[int, int] = (1, 3),
    stocked_share: float = 0.3,
    supply_ratio: tuple[float, float] = (1.0, 2.0),
    n_channels: int = 0,
    reserve_share: float = 0.0,
    no_split_share: float = 0.0,
    ship_complete_share: float = 0.0,
    max_shipments: int = 3,
    shipment_weight: float = 100.0,
    distance_weight: float = 0.1,
    unfilled_penalty: float | None = None,
) -> BatchProblem:
    """A batch in the style of the MILP study (``shared/brief/perf-limits.md`` section 4).

    Orders of 1-3 distinct SKUs (quantity 1-2) drawn from ``n_orders / 5`` SKUs so they compete;
    each SKU stocked in about ``stocked_share`` of the warehouses, its total supply
    ``supply_ratio`` times the batch's demand, spread at random over those warehouses. Optional
    channel reserves (a ``reserve_share`` of each cell held for one channel), no-split lines and
    ship-complete orders exercise the other constraints. The penalty per unfilled unit defaults
    to ten times the dearest shipment.
    """
    rng = np.random.default_rng(seed)
    n_skus = max(1, n_orders // 5)
    per_order = rng.integers(skus_per_order[0], skus_per_order[1] + 1, size=n_orders)
    per_order = np.minimum(per_order, n_skus)
    line_start = np.concatenate([[0], np.cumsum(per_order)]).astype(np.int64)
    line_sku = np.concatenate(
        [rng.choice(n_skus, size=int(m), replace=False) for m in per_order]
    ).astype(np.int64)
    line_qty = rng.integers(1, 3, size=len(line_sku)).astype(np.int64)

    wh_lat = rng.uniform(*US_LAT, size=n_warehouses)
    wh_lon = rng.uniform(*US_LON, size=n_warehouses)
    order_lat = rng.uniform(*US_LAT, size=n_orders)
    order_lon = rng.uniform(*US_LON, size=n_orders)
    distance = haversine_km(order_lat, order_lon, wh_lat, wh_lon)

    demand = np.bincount(line_sku, weights=line_qty, minlength=n_skus)
    stocked = rng.random((n_skus, n_warehouses)) < stocked_share
    stocked[np.arange(n_skus), rng.integers(0, n_warehouses, size=n_skus)] = True
    supply = demand * rng.uniform(*supply_ratio, size=n_skus)
    weights = rng.random((n_skus, n_warehouses)) * stocked
    weights /= weights.sum(axis=1, keepdims=True)
    share = supply[:, None] * weights
    free = (np.floor(share) + (rng.random(share.shape) < share - np.floor(share))).astype(np.int64)

    reserve = np.zeros((n_channels, n_skus, n_warehouses), dtype=np.int64)
    order_channel = np.full(n_orders, -1, dtype=np.int64)
    if n_channels:
        holder = rng.integers(0, n_channels, size=(n_skus, n_warehouses))
        held = np.floor(free * reserve_share * rng.random(free.shape) * 2).astype(np.int64)
        held = np.minimum(held, free)
        for c in range(n_channels):
            reserve[c] = np.where(holder == c, held, 0)
        order_channel = rng.integers(-1, n_channels, size=n_orders).astype(np.int64)

    n_lines = len(line_sku)
    return BatchProblem(
        line_start=line_start,
        line_sku_row=line_sku,
        line_qty=line_qty,
        eligible=np.ones((n_lines, n_warehouses), dtype=np.bool_),
        distance_km=distance,
        free=free,
        order_channel=order_channel,
        reserve_remaining=reserve,
        max_shipments=np.full(n_orders, max_shipments, dtype=np.int64),
        allow_line_split=rng.random(n_orders) >= no_split_share,
        ship_complete=rng.random(n_orders) < ship_complete_share,
        shipment_weight=shipment_weight,
        distance_weight=distance_weight,
        unfilled_penalty=(
            10.0 * (shipment_weight + distance_weight * float(distance.max()))
            if unfilled_penalty is None
            else unfilled_penalty
        ),
    )


def study_batch(
    seed: int,
    *,
    n_orders: int = 1000,
    n_warehouses: int = 50,
    n_channels: int = 0,
    reserve_share: float = 0.0,
    ship_complete_share: float = 0.0,
) -> BatchProblem:
    """The scarce batch of the MILP study in ``shared/brief/perf-limits.md`` section 4, which the
    optimiser's targets refer to: orders of 2-3 distinct SKUs (quantity 1-2, lines not split) from
    ``n_orders / 5`` SKUs, each stocked in half the warehouses with 1.5-3x the batch's demand; a
    shipment costs $5 + $0.005/km, an unfilled unit $1,000."""
    return scarce_batch(
        seed,
        n_orders=n_orders,
        n_warehouses=n_warehouses,
        skus_per_order=(2, 3),
        stocked_share=0.5,
        supply_ratio=(1.5, 3.0),
        n_channels=n_channels,
        reserve_share=reserve_share,
        no_split_share=1.0,
        ship_complete_share=ship_complete_share,
        shipment_weight=5.0,
        distance_weight=0.005,
        unfilled_penalty=1000.0,
    )


def haversine_km(
    lat_a: FloatArray, lon_a: FloatArray, lat_b: FloatArray, lon_b: FloatArray
) -> FloatArray:
    """``[len(a), len(b)]`` great-circle distances in km."""
    pa, pb = np.radians(lat_a)[:, None], np.radians(lat_b)[None, :]
    dlat = pb - pa
    dlon = np.radians(lon_b)[None, :] - np.radians(lon_a)[:, None]
    h = np.sin(dlat / 2) ** 2 + np.cos(pa) * np.cos(pb) * np.sin(dlon / 2) ** 2
    out: FloatArray = 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))
    return out


class _Stock:
    """Free stock and remaining reserves, updated the way the allocator updates them."""

    def __init__(self, problem: BatchProblem) -> None:
        self.free = problem.free.astype(np.int64).copy()
        self.reserve = problem.reserve_remaining.astype(np.int64).copy()

    def usable(self, channel: int, sku: int, wh: int) -> int:
        excess = int(self.free[sku, wh] - self.reserve[:, sku, wh].sum())
        own = int(self.reserve[channel, sku, wh]) if channel >= 0 else 0
        return max(0, excess + own)

    def take(self, channel: int, sku: int, wh: int, units: int) -> None:
        self.free[sku, wh] -= units
        if channel >= 0:
            self.reserve[channel, sku, wh] -= min(units, int(self.reserve[channel, sku, wh]))

    def snapshot(self) -> tuple[IntArray, IntArray]:
        return self.free.copy(), self.reserve.copy()

    def restore(self, saved: tuple[IntArray, IntArray]) -> None:
        self.free, self.reserve = saved[0].copy(), saved[1].copy()


def sequential_greedy(problem: BatchProblem) -> IntArray:
    """``[L, W]`` the greedy assignment, orders in sequence, later orders seeing earlier takes."""
    n_lines, n_wh = problem.eligible.shape
    quantity = np.zeros((n_lines, n_wh), dtype=np.int64)
    stock = _Stock(problem)
    for order in range(problem.n_orders):
        lines = range(int(problem.line_start[order]), int(problem.line_start[order + 1]))
        channel = int(problem.order_channel[order])
        dist = problem.distance_km[order]
        ranked = [int(w) for w in np.argsort(dist, kind="stable") if np.isfinite(dist[w])]
        if problem.max_shipments[order] <= 0 or not lines:
            continue
        if _fill_whole(problem, stock, quantity, lines, channel, ranked):
            continue
        complete_only = bool(problem.ship_complete[order])
        _fill_per_line(problem, stock, quantity, lines, channel, ranked, order, complete_only)
    return quantity


def _fill_whole(
    problem: BatchProblem,
    stock: _Stock,
    quantity: IntArray,
    lines: range,
    channel: int,
    ranked: list[int],
) -> bool:
    """Ship the whole order from the nearest warehouse that can; False when none can."""
    for wh in ranked:
        lines_here = [line for line in lines if problem.line_qty[line] > 0]
        if not lines_here or not all(problem.eligible[line, wh] for line in lines_here):
            continue
        saved = stock.snapshot()
        fits = True
        for line in lines_here:
            sku, units = int(problem.line_sku_row[line]), int(problem.line_qty[line])
            if stock.usable(channel, sku, wh) < units:
                fits = False
                break
            stock.take(channel, sku, wh, units)
        if fits:
            for line in lines_here:
                quantity[line, wh] = problem.line_qty[line]
            return True
        stock.restore(saved)
    return False


def _fill_per_line(
    problem: BatchProblem,
    stock: _Stock,
    quantity: IntArray,
    lines: range,
    channel: int,
    ranked: list[int],
    order: int,
    all_or_nothing: bool,
) -> None:
    """Each line from its nearest warehouses with stock, within the order's shipment limit."""
    saved = stock.snapshot()
    used: list[int] = []
    limit = int(problem.max_shipments[order])
    split = bool(problem.allow_line_split[order])
    for line in lines:
        sku, want = int(problem.line_sku_row[line]), int(problem.line_qty[line])
        # Warehouses already shipping this order first: a second line there costs no shipment.
        for wh in sorted(ranked, key=lambda w: w not in used):
            if want == 0:
                break
            if not problem.eligible[line, wh] or (wh not in used and len(used) >= limit):
                continue
            units = min(want, stock.usable(channel, sku, wh))
            if units == 0 or (not split and units < want):
                continue
            stock.take(channel, sku, wh, units)
            quantity[line, wh] += units
            want -= units
            if wh not in used:
                used.append(wh)
    if all_or_nothing and any(quantity[line].sum() < problem.line_qty[line] for line in lines):
        for line in lines:
            quantity[line] = 0
        stock.restore(saved)
