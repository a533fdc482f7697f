"""The router: validate, geocode, measure, ask the policy, then allocate a whole batch at once.

Steps per batch (everything but the allocation pass is vectorised over the batch):

1. ``validate_order`` each order; a malformed one is REJECTED with its violations.
2. Geocode the ship-to addresses (explicit coordinates win); an address that cannot be located is
   HELD (``UNSUPPORTED_COUNTRY`` for a non-US address without coordinates, else
   ``UNKNOWN_POSTAL_CODE``). A line whose SKU is not in the stock table holds the order
   (``UNKNOWN_SKU``).
3. Distances ``[n, W]``, ship dates per (service level, warehouse) and delivery estimates, then the
   policy's :class:`~engine._policy.Directives` for the batch; a policy hold is HELD as given.
4. The compiled sequential pass (:mod:`engine._allocate`) over the orders in input order.

Eligibility of warehouse ``w`` for line ``l`` of order ``i``: active, a pickup serves the order's
service level, the ship date meets ``latest_ship_date`` and the delivery estimate meets
``latest_delivery_date`` (when present), not ``line_excluded[l, w]``, and ``capacity_left[w] != 0``
(negative: unlimited). Usable units follow the reserve contract of :mod:`engine._policy`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from engine._allocate import (
    CODE_INSUFFICIENT_STOCK,
    CODE_MAX_SHIPMENTS,
    CODE_NO_ELIGIBLE_WAREHOUSE,
    STATUS_PARTIAL,
    STATUS_ROUTED,
    STATUS_SHIP_COMPLETE_HOLD,
    allocate_batch,
)
from engine._distance import distance_matrix_km
from engine._geocode import US_COUNTRY_CODES, Geocoder
from engine._model import (
    Allocation,
    Explanation,
    Hold,
    Order,
    PlannedShipment,
    RouteDecision,
    RouteStatus,
    Unfilled,
)
from engine._network import Network
from engine._policy import DefaultPolicy, Directives, Policy, RoutingContext
from engine._reserves import remaining_reserves
from engine._schedule import Schedule, distance_band
from engine._stock import StockTable
from engine._validate import is_plainly_valid, validate_order

__all__ = ["TRIPLE_CANDIDATES", "BatchState", "Router"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

UTC = dt.UTC
#: 3-warehouse covers are searched exactly among this many best-ranked useful candidates.
TRIPLE_CANDIDATES = 24

_UNFILLED_CODES = {
    CODE_INSUFFICIENT_STOCK: "INSUFFICIENT_STOCK",
    CODE_NO_ELIGIBLE_WAREHOUSE: "NO_ELIGIBLE_WAREHOUSE",
    CODE_MAX_SHIPMENTS: "MAX_SHIPMENTS_REACHED",
}
_ROUTED = RouteStatus.ROUTED
_PARTIAL = RouteStatus.PARTIALLY_ROUTED
_BACKORDERED = RouteStatus.BACKORDERED
_HELD = RouteStatus.HELD


def _instants64(values: Sequence[dt.datetime | None]) -> npt.NDArray[np.datetime64]:
    return np.array(
        [
            np.datetime64(v.astimezone(UTC).replace(tzinfo=None), "s")
            if v is not None
            else np.datetime64("NaT", "s")
            for v in values
        ],
        dtype="datetime64[s]",
    )


def _unfilled_reason(code: int, left: int, quantity: int, max_shipments: int) -> str:
    if code == CODE_NO_ELIGIBLE_WAREHOUSE:
        return (
            "no warehouse is eligible for this line (service level, promised dates, "
            "exclusions or capacity)"
        )
    if code == CODE_MAX_SHIPMENTS:
        return (
            f"{left} of {quantity} units are in stock elsewhere, but the order is limited to "
            f"{max_shipments} shipment(s)"
        )
    return f"{left} of {quantity} units are not in stock at any eligible warehouse"


@dataclass
class BatchState:
    """What the allocation pass saw and decided for the routable orders of a batch.

    Kept for explanations (and tests): indices ``j`` run over ``ctx.orders``.
    """

    ctx: RoutingContext
    directives: Directives
    order_ok: BoolArray  # [m, W] active and schedule-eligible
    line_row: IntArray  # [L] row in the compact stock arrays
    order_channel: IntArray  # [m] index into reserve_channels, -1 when it reserves nothing
    reserve_channels: tuple[str, ...]
    avail: IntArray  # compact [k', W] available before the batch
    remaining: IntArray  # [C, k', W] reserves left before the batch
    capacity: IntArray  # [W] before the batch
    status: IntArray
    how: IntArray
    ship_start: IntArray
    ship_wh: IntArray
    alloc_start: IntArray
    alloc_line: IntArray
    alloc_qty: IntArray
    schedule: Schedule
    #: Seconds spent per phase (validate, locate, geometry, policy, allocate, commit, results),
    #: for benchmarks that report where the time goes.
    timings: dict[str, float] = field(default_factory=dict)


class Router:
    """Routes batches of orders over one network with one policy. Thread-compatible: it holds no
    per-batch state, so one instance may serve concurrent calls on separate stock tables."""

    def __init__(
        self,
        network: Network,
        policy: Policy | None = None,
        geocoder: Geocoder | None = None,
    ) -> None:
        self.network = network
        self.policy: Policy = policy if policy is not None else DefaultPolicy()
        self._geocoder = geocoder

    @property
    def geocoder(self) -> Geocoder:
        """The geocoder in use (the process-wide default unless one was given)."""
        if self._geocoder is None:
            self._geocoder = Geocoder.default()
        return self._geocoder

    def route(
        self,
        orders: Sequence[Order],
        stock: StockTable,
        *,
        now: dt.datetime,
        explain: bool = False,
        commit: bool = True,
        capacity_left: IntArray | None = None,
        sku_tags: Mapping[str, frozenset[str]] | None = None,
    ) -> list[RouteDecision]:
        """Route ``orders`` in sequence (later orders see the stock earlier ones took).

        With ``commit`` the allocations are added to ``stock.reserved`` and
        ``stock.reserved_by_channel[order.channel]`` in place, and each shipment takes one from
        ``capacity_left[w]`` in place (``-1`` = unlimited; None = no capacity limits). Without it,
        the batch still sees its own earlier allocations but nothing outside changes.
        """
        decisions, _ = self.route_with_state(
            orders,
            stock,
            now=now,
            explain=explain,
            commit=commit,
            capacity_left=capacity_left,
            sku_tags=sku_tags,
        )
        return decisions

    def route_with_state(
        self,
        orders: Sequence[Order],
        stock: StockTable,
        *,
        now: dt.datetime,
        explain: bool = False,
        commit: bool = True,
        capacity_left: IntArray | None = None,
        sku_tags: Mapping[str, frozenset[str]] | None = None,
    ) -> tuple[list[RouteDecision], BatchState | None]:
        """:meth:`route`, also returning the batch's arrays (None if nothing reached the policy)."""
        with _gc_paused():
            return self._route(
                orders,
                stock,
                now=now,
                explain=explain,
                commit=commit,
                capacity_left=capacity_left,
                sku_tags=sku_tags,
            )

    def _route(
        self,
        orders: Sequence[Order],
        stock: StockTable,
        *,
        now: dt.datetime,
        explain: bool,
        commit: bool,
        capacity_left: IntArray | None,
        sku_tags: Mapping[str, frozenset[str]] | None,
    ) -> tuple[list[RouteDecision], BatchState | None]:
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("now must be timezone-aware")
        network = self.network
        if stock.network is not network and stock.network.warehouse_ids != network.warehouse_ids:
            raise ValueError("the stock table belongs to a different network")
        width = len(network)
        if capacity_left is not None and np.shape(capacity_left) != (width,):
            raise ValueError(f"capacity_left must have shape ({width},)")
        now = now.astimezone(UTC)
        version = self.policy.version
        tags: Mapping[str, frozenset[str]] = sku_tags or {}
        decisions: list[RouteDecision | None] = [None] * len(orders)

        clock = time.perf_counter
        timings: dict[str, float] = {}
        mark = clock()
        # 1. Validation.
        valid: list[int] = []
        for position, order in enumerate(orders):
            if is_plainly_valid(order):
                valid.append(position)
                continue
            violations = validate_order(order)
            if violations:
                decisions[position] = RouteDecision(
                    RouteStatus.REJECTED, policy_version=version, violations=tuple(violations)
                )
            else:
                valid.append(position)

        timings["validate"], mark = clock() - mark, clock()
        # 2. Geocoding and SKU lookup (flat comprehensions: this runs once per line of the batch).
        valid_orders = [orders[p] for p in valid]
        lat_all, lon_all = self.geocoder.locate_many([o.ship_to for o in valid_orders])
        row_index = stock.row_index
        lines_of = [o.lines for o in valid_orders]
        flat_lines = [line for lines in lines_of for line in lines]
        all_skus = [line.sku for line in flat_lines]
        all_rows = np.fromiter(
            (row_index.get(sku, -1) for sku in all_skus), dtype=np.int64, count=len(all_skus)
        )
        counts = np.fromiter((len(lines) for lines in lines_of), dtype=np.int64, count=len(valid))
        starts_all = np.zeros(len(valid) + 1, dtype=np.int64)
        np.cumsum(counts, out=starts_all[1:])
        unknown_line = all_rows < 0
        has_unknown = np.zeros(len(valid), dtype=np.bool_)
        if unknown_line.any():
            has_unknown[np.repeat(np.arange(len(valid)), counts)[unknown_line]] = True
        located = ~np.isnan(lat_all)
        routable = located & ~has_unknown
        for k in np.flatnonzero(~routable).tolist():
            order = valid_orders[k]
            ship_to = order.ship_to
            if not located[k]:
                if ship_to.country_code.upper() not in US_COUNTRY_CODES:
                    hold = Hold(
                        "UNSUPPORTED_COUNTRY",
                        f"country {ship_to.country_code!r} is not supported without coordinates",
                    )
                else:
                    hold = Hold(
                        "UNKNOWN_POSTAL_CODE", f"postal code {ship_to.postal_code!r} is not known"
                    )
            else:
                unknown = dict.fromkeys(
                    line.sku for line in order.lines if line.sku not in row_index
                )
                names = ", ".join(repr(sku) for sku in unknown)
                hold = Hold("UNKNOWN_SKU", f"unknown SKU {names}")
            decisions[valid[k]] = RouteDecision(_HELD, hold=hold, policy_version=version)
        take = np.flatnonzero(routable)
        if not len(take):
            return [d for d in decisions if d is not None], None
        if len(take) == len(valid):
            kept = valid
            kept_orders = valid_orders
            line_row_array = all_rows
            line_qty_array = np.fromiter(
                (line.quantity for line in flat_lines), dtype=np.int64, count=len(flat_lines)
            )
            line_sku = all_skus
            starts = starts_all
        else:
            kept = [valid[k] for k in take.tolist()]
            kept_orders = [valid_orders[k] for k in take.tolist()]
            keep_line = np.repeat(routable, counts)
            line_row_array = all_rows[keep_line]
            line_sku = [sku for sku, keep in zip(all_skus, keep_line.tolist(), strict=True) if keep]
            line_qty_array = np.fromiter(
                (line.quantity for lines in lines_of for line in lines),
                dtype=np.int64,
                count=len(flat_lines),
            )[keep_line]
            starts = np.zeros(len(take) + 1, dtype=np.int64)
            np.cumsum(counts[take], out=starts[1:])

        timings["locate"], mark = clock() - mark, clock()
        # 3. Geometry, schedule, policy.
        count = len(kept)
        distance = distance_matrix_km(lat_all[take], lon_all[take], network.unit)
        level_index = np.fromiter(
            (int(o.service_level) for o in kept_orders), dtype=np.int64, count=count
        )
        schedule = Schedule(network, now, (o.service_level for o in kept_orders))
        ship_by = schedule.ship_by(level_index)
        band = distance_band(distance)
        deliver_by = schedule.deliver_by(level_index, band)
        order_ok = ~np.isnat(ship_by)
        order_ok &= network.active[None, :]
        latest_ship = [o.latest_ship_date for o in kept_orders]
        if any(v is not None for v in latest_ship):
            limit64 = _instants64(latest_ship)[:, None]
            order_ok &= np.isnat(limit64) | (ship_by <= limit64)
        latest_delivery = [o.latest_delivery_date for o in kept_orders]
        if any(v is not None for v in latest_delivery):
            limit64 = _instants64(latest_delivery)[:, None]
            order_ok &= np.isnat(limit64) | (deliver_by <= limit64)
        ctx = RoutingContext(
            orders=kept_orders,
            network=network,
            now=now,
            distance_km=distance,
            ship_by=ship_by,
            deliver_by=deliver_by,
            line_start=starts,
            line_order=np.repeat(np.arange(count, dtype=np.int64), np.diff(starts)),
            line_sku=line_sku,
            line_quantity=line_qty_array,
            sku_tags=tags,
        )
        timings["geometry"], mark = clock() - mark, clock()
        directives = self.policy.directives(ctx, explain=explain)
        timings["policy"], mark = clock() - mark, clock()
        self._check_directives(directives, count, len(line_sku), width)
        skip = np.array([h is not None for h in directives.hold], dtype=np.bool_)

        # 4. Compact stock for the batch's SKUs, reserves, and the compiled pass.
        rows_all = line_row_array
        used_rows = np.unique(rows_all)
        compact_row = np.searchsorted(used_rows, rows_all).astype(np.int64)
        on_hand = stock.on_hand[used_rows]
        avail = on_hand - stock.reserved[used_rows]
        gross = self.policy.channel_reserves(
            [stock.skus[r] for r in used_rows.tolist()], on_hand, now, tags
        )
        remaining_map = remaining_reserves(
            gross, {c: v[used_rows] for c, v in stock.reserved_by_channel.items()}
        )
        reserve_channels = tuple(remaining_map)
        if reserve_channels:
            remaining = np.ascontiguousarray(np.stack([remaining_map[c] for c in reserve_channels]))
        else:
            remaining = np.zeros((1, len(used_rows), width), dtype=np.int64)
        total_remaining = remaining.sum(axis=0)
        channel_slot = {c: s for s, c in enumerate(reserve_channels)}
        order_channel = np.fromiter(
            (channel_slot.get(o.channel, -1) for o in kept_orders), dtype=np.int64, count=count
        )
        capacity = (
            np.asarray(capacity_left, dtype=np.int64).copy()
            if capacity_left is not None
            else np.full(width, -1, dtype=np.int64)
        )
        max_shipments = np.asarray(directives.max_shipments, dtype=np.int64)
        max_set = int(max(1, min(int(max_shipments.max(initial=1)), width)))
        rank_key = np.ascontiguousarray(directives.rank_key, dtype=np.float64)
        if np.isnan(rank_key).any():
            rank_key = np.where(np.isnan(rank_key), np.inf, rank_key)
        state_avail = avail.copy()
        state_remaining = remaining.copy()
        state_capacity = capacity.copy()
        (
            status,
            how,
            ship_start,
            ship_wh,
            alloc_start,
            alloc_line,
            alloc_qty,
            unfilled_qty,
            unfilled_code,
        ) = allocate_batch(
            starts,
            compact_row,
            ctx.line_quantity,
            order_channel,
            skip,
            rank_key,
            np.ascontiguousarray(order_ok),
            np.ascontiguousarray(directives.line_excluded, dtype=np.bool_),
            max_shipments,
            np.ascontiguousarray(directives.ship_complete, dtype=np.bool_),
            np.ascontiguousarray(directives.allow_line_split, dtype=np.bool_),
            avail,
            remaining,
            total_remaining,
            capacity,
            TRIPLE_CANDIDATES,
            max_set,
        )

        timings["allocate"], mark = clock() - mark, clock()
        # 5. Commit.
        alloc_wh = np.repeat(ship_wh, np.diff(alloc_start))
        if commit and len(alloc_qty):
            alloc_rows = rows_all[alloc_line]
            np.add.at(stock.reserved, (alloc_rows, alloc_wh), alloc_qty)
            alloc_order = ctx.line_order[alloc_line]
            channel_names = [o.channel for o in kept_orders]
            by_channel: dict[str, list[int]] = {}
            for a, j in enumerate(alloc_order.tolist()):
                by_channel.setdefault(channel_names[j], []).append(a)
            for channel, members in by_channel.items():
                target = stock.reserved_by_channel.get(channel)
                if target is None:
                    target = np.zeros_like(stock.reserved)
                    stock.reserved_by_channel[channel] = target
                picks = np.asarray(members, dtype=np.int64)
                np.add.at(target, (alloc_rows[picks], alloc_wh[picks]), alloc_qty[picks])
        if commit and capacity_left is not None:
            capacity_left[:] = capacity

        timings["commit"], mark = clock() - mark, clock()
        # 6. Results.
        state = BatchState(
            ctx=ctx,
            directives=directives,
            order_ok=order_ok,
            line_row=compact_row,
            order_channel=order_channel,
            reserve_channels=reserve_channels,
            avail=state_avail,
            remaining=state_remaining,
            capacity=state_capacity,
            status=status,
            how=how,
            ship_start=ship_start,
            ship_wh=ship_wh,
            alloc_start=alloc_start,
            alloc_line=alloc_line,
            alloc_qty=alloc_qty,
            schedule=schedule,
        )
        self._build(
            decisions,
            kept,
            kept_orders,
            state,
            distance,
            band,
            level_index,
            unfilled_qty,
            unfilled_code,
            max_shipments,
            version,
        )
        timings["results"] = clock() - mark
        state.timings = timings
        if explain:
            from engine._explain import explain_batch  # the explanation path is plain Python

            explanations = explain_batch(state)
            for j, position in enumerate(kept):
                decision = decisions[position]
                assert decision is not None
                decisions[position] = _with_explanation(decision, explanations[j])
        return [d for d in decisions if d is not None], state

    @staticmethod
    def _check_directives(d: Directives, count: int, lines: int, width: int) -> None:
        problems = []
        if len(d.hold) != count:
            problems.append(f"hold has {len(d.hold)} entries, expected {count}")
        for name, array, shape in (
            ("line_excluded", d.line_excluded, (lines, width)),
            ("rank_key", d.rank_key, (count, width)),
            ("max_shipments", d.max_shipments, (count,)),
            ("ship_complete", d.ship_complete, (count,)),
            ("allow_line_split", d.allow_line_split, (count,)),
        ):
            if np.shape(array) != shape:
                problems.append(f"{name} has shape {np.shape(array)}, expected {shape}")
        if np.shape(d.max_shipments) == (count,) and (np.asarray(d.max_shipments) < 1).any():
            problems.append("max_shipments must be at least 1")
        if problems:
            raise ValueError("policy returned malformed directives: " + "; ".join(problems))

    def _build(
        self,
        decisions: list[RouteDecision | None],
        kept: list[int],
        kept_orders: list[Order],
        state: BatchState,
        distance: FloatArray,
        band: npt.NDArray[np.int8],
        level_index: IntArray,
        unfilled_qty: IntArray,
        unfilled_code: IntArray,
        max_shipments: IntArray,
        version: str,
    ) -> None:
        network_ids = self.network.warehouse_ids
        holds = state.directives.hold
        starts = state.ctx.line_start.tolist()
        status = state.status.tolist()
        ship_start = state.ship_start.tolist()
        ship_wh = state.ship_wh.tolist()
        alloc_start = state.alloc_start.tolist()
        alloc_line = state.alloc_line.tolist()
        alloc_qty = state.alloc_qty.tolist()
        ship_order = np.repeat(np.arange(len(kept), dtype=np.int64), np.diff(state.ship_start))
        ship_km = distance[ship_order, state.ship_wh].tolist()
        ship_transit = Schedule.transit(
            level_index[ship_order], band[ship_order, state.ship_wh]
        ).tolist()
        levels = level_index.tolist()
        ship_py = state.schedule.ship_py
        deliver_py = state.schedule.deliver_py
        left = unfilled_qty.tolist()
        codes = unfilled_code.tolist()
        limits = max_shipments.tolist()
        # Bound locals: this loop builds ~3 objects per order and is the Python hot spot.
        make_decision = RouteDecision
        make_shipment = PlannedShipment
        make_allocation = Allocation
        no_holds = all(h is None for h in holds)
        for j, position in enumerate(kept):
            outcome = status[j]
            if not no_holds and holds[j] is not None:
                decisions[position] = make_decision(_HELD, hold=holds[j], policy_version=version)
                continue
            lines = kept_orders[j].lines
            first = starts[j]
            if outcome == STATUS_SHIP_COMPLETE_HOLD:
                short = sum(left[first : starts[j + 1]])
                total = sum(line.quantity for line in lines)
                decisions[position] = make_decision(
                    _HELD,
                    hold=Hold(
                        "SHIP_COMPLETE",
                        f"ship-complete order: {short} of {total} units cannot be placed within "
                        f"{limits[j]} shipment(s)",
                    ),
                    policy_version=version,
                )
                continue
            level_ship = ship_py[levels[j]]
            level_deliver = deliver_py[levels[j]]
            begin = ship_start[j]
            if ship_start[j + 1] - begin == 1 and alloc_start[begin + 1] - alloc_start[begin] == 1:
                # The common case, one shipment of one line, without comprehension overhead.
                w = ship_wh[begin]
                line = lines[alloc_line[alloc_start[begin]] - first]
                shipments: tuple[PlannedShipment, ...] = (
                    make_shipment(
                        network_ids[w],
                        (make_allocation(line.line_id, line.sku, alloc_qty[alloc_start[begin]]),),
                        ship_km[begin],
                        level_ship[w],  # eligible => scheduled
                        level_deliver[w][ship_transit[begin]],
                    ),
                )
            else:
                shipments = tuple(
                    [
                        make_shipment(
                            network_ids[ship_wh[s]],
                            tuple(
                                [
                                    make_allocation(
                                        lines[alloc_line[a] - first].line_id,
                                        lines[alloc_line[a] - first].sku,
                                        alloc_qty[a],
                                    )
                                    for a in range(alloc_start[s], alloc_start[s + 1])
                                ]
                            ),
                            ship_km[s],
                            level_ship[ship_wh[s]],
                            level_deliver[ship_wh[s]][ship_transit[s]],
                        )
                        for s in range(begin, ship_start[j + 1])
                    ]
                )
            if outcome == STATUS_ROUTED:
                decisions[position] = make_decision(_ROUTED, shipments, (), None, None, version)
                continue
            unfilled = []
            for offset, line in enumerate(lines):
                units = left[first + offset]
                if units:
                    code = codes[first + offset]
                    unfilled.append(
                        Unfilled(
                            line.line_id,
                            line.sku,
                            units,
                            _UNFILLED_CODES[code],
                            _unfilled_reason(code, units, line.quantity, limits[j]),
                        )
                    )
            decisions[position] = make_decision(
                _PARTIAL if outcome == STATUS_PARTIAL else _BACKORDERED,
                shipments,
                tuple(unfilled),
                None,
                None,
                version,
            )


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    # Building ~3 result objects per order makes the cyclic GC rescan the whole (large, acyclic)
    # batch again and again; measured here it doubled the cost of building results. Pausing it
    # for that stretch is safe: nothing built there forms a cycle.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _with_explanation(decision: RouteDecision, explanation: Explanation) -> RouteDecision:
    return replace(decision, explanation=explanation)
