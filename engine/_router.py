"""The router: validate, geocode, measure, ask the policy, then allocate a whole batch at once.

Steps per batch (everything but the allocation pass is vectorised over the batch):

1. Columns: :class:`~engine._batch.OrderBatch` (built from ``Order`` objects by
   :meth:`Router.route`, or given by the caller to :meth:`Router.route_columns`). Malformed orders
   are REJECTED with their violations.
2. Ship-to coordinates (explicit coordinates win over the ZIP); an address that cannot be located
   is HELD (``UNSUPPORTED_COUNTRY`` for a non-US address without coordinates, else
   ``UNKNOWN_POSTAL_CODE``). A line whose SKU is not in the stock table holds the order
   (``UNKNOWN_SKU``).
3. Distances ``[n, W]``, ship dates per (service level, warehouse) and delivery estimates, then the
   policy's :class:`~engine._policy.Directives` for the batch; a policy hold is HELD as given. A
   policy whose directives are neutral (:meth:`Policy.neutral_max_shipments`) is not asked: the
   ``[n, W]`` context is then never built.
4. The compiled sequential pass (:mod:`engine._allocate`) over the orders in input order.
5. Results as columns (:class:`~engine._result.BatchResult`); ``RouteDecision`` objects only when
   asked for.

Eligibility of warehouse ``w`` for line ``l`` of order ``i``: active, a pickup serves the order's
service level, the ship date meets ``latest_ship_date`` and the delivery estimate meets
``latest_delivery_date`` (when present), not ``line_excluded[l, w]``, and ``capacity_left[w] != 0``
(negative: unlimited). Usable units follow the reserve contract of :mod:`engine._policy`.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from engine._allocate import allocate_batch
from engine._batch import (
    HOLD_CODES,
    HOLD_POLICY,
    HOLD_SHIP_COMPLETE,
    OrderBatch,
    gc_paused,
)
from engine._distance import distance_matrix_km
from engine._geocode import US_COUNTRY_CODES, Geocoder
from engine._model import Hold, Order, RouteDecision, RouteStatus, ServiceLevel
from engine._network import Network
from engine._policy import DefaultPolicy, Directives, Policy, RoutingContext
from engine._reserves import remaining_reserves
from engine._result import BatchResult
from engine._schedule import Schedule, distance_band
from engine._stock import StockTable

__all__ = ["TRIPLE_CANDIDATES", "BatchState", "Router"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

UTC = dt.UTC
#: 3-warehouse covers are searched exactly among this many best-ranked useful candidates.
TRIPLE_CANDIDATES = 24

#: Allocation-pass status (0 routed, 1 partial, 2 backordered, 3 ship-complete hold) -> RouteStatus.
_STATUS_OF_PASS = np.array(
    [
        RouteStatus.ROUTED,
        RouteStatus.PARTIALLY_ROUTED,
        RouteStatus.BACKORDERED,
        RouteStatus.HELD,
    ],
    dtype=np.int8,
)
_NO_EXCLUDES = np.zeros((1, 1), dtype=np.bool_)
#: Schedules kept per router (by clock and service levels present).
_SCHEDULE_CACHE = 8


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
    #: Seconds spent per phase (ingest, locate, geometry, policy, allocate, commit, results),
    #: for benchmarks that report where the time goes.
    timings: dict[str, float] = field(default_factory=dict)


def _csr(counts: IntArray) -> IntArray:
    starts = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=starts[1:])
    return starts


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
        self._schedules: dict[tuple[dt.datetime, tuple[int, ...]], Schedule] = {}
        self._schedules_lock = threading.Lock()

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
        with gc_paused():
            started = time.perf_counter()
            batch = OrderBatch.from_orders(orders, stock, self.geocoder)
            ingest = time.perf_counter() - started
            result = self._run(
                batch,
                stock,
                now=now,
                explain=explain,
                commit=commit,
                capacity_left=capacity_left,
                sku_tags=sku_tags,
                keep_state=explain,
            )
            result.timings["ingest"] = ingest
            return result.decisions()

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
        with gc_paused():
            started = time.perf_counter()
            batch = OrderBatch.from_orders(orders, stock, self.geocoder)
            ingest = time.perf_counter() - started
            result = self._run(
                batch,
                stock,
                now=now,
                explain=explain,
                commit=commit,
                capacity_left=capacity_left,
                sku_tags=sku_tags,
                keep_state=True,
            )
            result.timings["ingest"] = ingest
            if result.state is not None:
                result.state.timings = result.timings
            return result.decisions(), result.state

    def route_columns(
        self,
        batch: OrderBatch,
        stock: StockTable,
        *,
        now: dt.datetime,
        commit: bool = True,
        capacity_left: IntArray | None = None,
        sku_tags: Mapping[str, frozenset[str]] | None = None,
    ) -> BatchResult:
        """Route a column-wise batch; the same decisions as :meth:`route` on the same orders, as
        arrays (:class:`BatchResult`; ``.decisions()`` builds the objects). Commit semantics as in
        :meth:`route`. A policy other than the default one needs the batch's ``orders``
        (:meth:`OrderBatch.from_orders`); without them ValueError."""
        with gc_paused():
            return self._run(
                batch,
                stock,
                now=now,
                explain=False,
                commit=commit,
                capacity_left=capacity_left,
                sku_tags=sku_tags,
                keep_state=False,
            )

    def _run(
        self,
        batch: OrderBatch,
        stock: StockTable,
        *,
        now: dt.datetime,
        explain: bool,
        commit: bool,
        capacity_left: IntArray | None,
        sku_tags: Mapping[str, frozenset[str]] | None,
        keep_state: bool,
    ) -> BatchResult:
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("now must be timezone-aware")
        network = self.network
        if stock.network is not network and stock.network.warehouse_ids != network.warehouse_ids:
            raise ValueError("the stock table belongs to a different network")
        if batch.skus is not stock.skus and batch.skus != stock.skus:
            raise ValueError("the batch was built against a stock table with other SKUs")
        width = len(network)
        if capacity_left is not None and np.shape(capacity_left) != (width,):
            raise ValueError(f"capacity_left must have shape ({width},)")
        now = now.astimezone(UTC)
        policy = self.policy
        version = policy.version
        tags: Mapping[str, frozenset[str]] = sku_tags or {}
        clock = time.perf_counter
        timings: dict[str, float] = {}
        mark = clock()

        # 1-2. Rejections, holds for what cannot be located or is unknown.
        n = len(batch)
        counts = np.diff(batch.line_start)
        status = np.full(n, RouteStatus.REJECTED, dtype=np.int8)
        hold_code = np.full(n, -1, dtype=np.int8)
        holds: dict[int, Hold] = {}
        considered = np.ones(n, dtype=np.bool_)
        if batch.rejected:
            considered[list(batch.rejected)] = False
        located = ~np.isnan(batch.lat)
        unknown_line = batch.line_sku_row < 0
        has_unknown = np.zeros(n, dtype=np.bool_)
        if unknown_line.any():
            has_unknown[np.repeat(np.arange(n), counts)[unknown_line]] = True
        for i in np.flatnonzero(considered & ~located).tolist():
            holds[i] = self._unlocated_hold(batch, i)
        for i in np.flatnonzero(considered & located & has_unknown).tolist():
            holds[i] = _unknown_sku_hold(batch, i)
        for i, hold in holds.items():
            hold_code[i] = HOLD_CODES.index(hold.code)
        status[list(holds)] = RouteStatus.HELD
        routable = considered & located & ~has_unknown
        kept = np.flatnonzero(routable)
        m = len(kept)
        timings["locate"], mark = clock() - mark, clock()
        if not m:
            return _empty_result(batch, version, status, hold_code, holds, network, timings)
        if m == n:
            kline: IntArray | None = None
            starts = batch.line_start
            rows_all = batch.line_sku_row
            line_qty = batch.line_qty
        else:
            kline = np.flatnonzero(np.repeat(routable, counts))
            starts = _csr(counts[kept])
            rows_all = batch.line_sku_row[kline]
            line_qty = batch.line_qty[kline]
        line_total = len(rows_all)

        # 3. Geometry, schedule, policy.
        distance = distance_matrix_km(batch.lat[kept], batch.lon[kept], network.unit)
        level_index = batch.service_level[kept].astype(np.int64)
        schedule = self._schedule(now, np.unique(level_index).tolist())
        ok_by_level = ~np.isnat(schedule.ship64) & network.active[None, :]
        order_ok = ok_by_level[level_index]
        if batch.latest_ship is not None:
            limit = batch.latest_ship[kept]
            r = np.flatnonzero(~np.isnat(limit))
            if len(r):
                order_ok[r] &= schedule.ship64[level_index[r]] <= limit[r, None]
        if batch.latest_delivery is not None:
            limit = batch.latest_delivery[kept]
            r = np.flatnonzero(~np.isnat(limit))
            if len(r):
                deliver = schedule.deliver_by(level_index[r], distance_band(distance[r]))
                order_ok[r] &= deliver <= limit[r, None]
        neutral_limit = None if (explain or keep_state) else policy.neutral_max_shipments()
        timings["geometry"], mark = clock() - mark, clock()
        ctx: RoutingContext | None = None
        directives: Directives | None = None
        if neutral_limit is not None:
            skip = np.zeros(m, dtype=np.bool_)
            rank_key = distance
            line_excluded = _NO_EXCLUDES
            check_excluded = False
            max_shipments = np.full(m, neutral_limit, dtype=np.int64)
            ship_complete = np.zeros(m, dtype=np.bool_)
            allow_split = np.ones(m, dtype=np.bool_)
        else:
            if batch.orders is None:
                raise ValueError(
                    f"policy {version!r} needs the orders themselves: build the batch with "
                    "OrderBatch.from_orders"
                )
            kept_orders = [batch.orders[k] for k in kept.tolist()]
            line_names = batch.line_sku_list()
            ship_by = schedule.ship_by(level_index)
            deliver_by = schedule.deliver_by(level_index, distance_band(distance))
            ctx = RoutingContext(
                orders=kept_orders,
                network=network,
                now=now,
                distance_km=distance,
                ship_by=ship_by,
                deliver_by=deliver_by,
                line_start=starts,
                line_order=np.repeat(np.arange(m, dtype=np.int64), np.diff(starts)),
                line_sku=line_names if kline is None else [line_names[x] for x in kline.tolist()],
                line_quantity=line_qty,
                sku_tags=tags,
            )
            directives = policy.directives(ctx, explain=explain)
            self._check_directives(directives, m, line_total, width)
            skip = np.array([h is not None for h in directives.hold], dtype=np.bool_)
            for j in np.flatnonzero(skip).tolist():
                i = int(kept[j])
                policy_hold = directives.hold[j]
                assert policy_hold is not None
                holds[i] = policy_hold
                hold_code[i] = (
                    HOLD_CODES.index(policy_hold.code)
                    if policy_hold.code in HOLD_CODES
                    else HOLD_POLICY
                )
            given = directives.rank_key
            if given is distance or (
                isinstance(given, np.ndarray)
                and given.base is distance
                and given.shape == distance.shape
                and given.strides == distance.strides
            ):
                rank_key = distance  # "rank by distance": no copy, no NaN scan (rows located)
            else:
                rank_key = np.ascontiguousarray(directives.rank_key, dtype=np.float64)
                if np.isnan(rank_key).any():
                    rank_key = np.where(np.isnan(rank_key), np.inf, rank_key)
            excluded = np.asarray(directives.line_excluded, dtype=np.bool_)
            check_excluded = bool(excluded.any())
            line_excluded = np.ascontiguousarray(excluded) if check_excluded else _NO_EXCLUDES
            max_shipments = np.asarray(directives.max_shipments, dtype=np.int64)
            ship_complete = np.ascontiguousarray(directives.ship_complete, dtype=np.bool_)
            allow_split = np.ascontiguousarray(directives.allow_line_split, dtype=np.bool_)
        timings["policy"], mark = clock() - mark, clock()

        # 4. Compact stock for the batch's SKUs, reserves, and the compiled pass.
        # The SKU rows the batch touches, without a sort: mark, then number the marks.
        touched = np.zeros(len(stock.skus), dtype=np.bool_)
        touched[rows_all] = True
        used_rows = np.flatnonzero(touched)
        compact_of = np.cumsum(touched, dtype=np.int64) - 1
        compact_row = compact_of[rows_all]
        on_hand = stock.on_hand[used_rows]
        avail = stock.reserved[used_rows]
        np.subtract(on_hand, avail, out=avail)  # in place: these are [k', W] each
        if type(policy).channel_reserves is Policy.channel_reserves:
            gross: Mapping[str, IntArray] = {}  # the base policy reserves nothing
        else:
            gross = policy.channel_reserves(
                [stock.skus[r] for r in used_rows.tolist()], on_hand, now, tags
            )
        remaining_map = remaining_reserves(
            gross, {c: v[used_rows] for c, v in stock.reserved_by_channel.items()}
        )
        reserve_channels = tuple(remaining_map)
        if reserve_channels:
            remaining = np.ascontiguousarray(np.stack([remaining_map[c] for c in reserve_channels]))
            total_remaining = remaining.sum(axis=0)
        else:  # calloc'd zeros: the pass never writes them when no channel reserves anything
            remaining = np.zeros((1, len(used_rows), width), dtype=np.int64)
            total_remaining = np.zeros((len(used_rows), width), dtype=np.int64)
        channel_slot = {c: s for s, c in enumerate(reserve_channels)}
        slot_of_code = np.array(
            [channel_slot.get(name, -1) for name in batch.channel_names] or [-1], dtype=np.int64
        )
        order_channel = slot_of_code[batch.channel_code[kept]]
        capacity = (
            np.asarray(capacity_left, dtype=np.int64).copy()
            if capacity_left is not None
            else np.full(width, -1, dtype=np.int64)
        )
        max_set = int(max(1, min(int(max_shipments.max(initial=1)), width)))
        if keep_state:
            state_avail = avail.copy()
            state_remaining = remaining.copy()
            state_capacity = capacity.copy()
        (
            pass_status,
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
            line_qty,
            order_channel,
            skip,
            rank_key,
            order_ok,
            line_excluded,
            check_excluded,
            max_shipments,
            ship_complete,
            allow_split,
            avail,
            remaining,
            total_remaining,
            capacity,
            TRIPLE_CANDIDATES,
            max_set,
        )
        timings["allocate"], mark = clock() - mark, clock()

        # 5. Result rows, then commit.
        ship_counts = np.diff(ship_start)
        alloc_counts = np.diff(alloc_start)
        ship_korder = np.repeat(np.arange(m, dtype=np.int64), ship_counts)
        ship_order = kept[ship_korder]
        ship_km = distance[ship_korder, ship_wh]
        ship_level = level_index[ship_korder]
        ship_by_rows = schedule.ship64[ship_level, ship_wh]
        transit = Schedule.transit(ship_level, distance_band(ship_km))
        deliver_rows = schedule.deliver64[ship_level, ship_wh, transit]
        alloc_wh = np.repeat(ship_wh, alloc_counts)
        alloc_order = np.repeat(ship_order, alloc_counts)
        alloc_bline = alloc_line if kline is None else kline[alloc_line]
        done = pass_status >= 0
        status[kept[done]] = _STATUS_OF_PASS[pass_status[done]]
        status[kept[~done]] = RouteStatus.HELD
        open_line = np.repeat((pass_status == 1) | (pass_status == 2), np.diff(starts))
        unfilled_k = np.flatnonzero(open_line & (unfilled_qty > 0))
        line_korder = np.repeat(np.arange(m, dtype=np.int64), np.diff(starts))
        for j in np.flatnonzero(pass_status == 3).tolist():
            i = int(kept[j])
            short = int(unfilled_qty[starts[j] : starts[j + 1]].sum())
            total = int(line_qty[starts[j] : starts[j + 1]].sum())
            holds[i] = Hold(
                "SHIP_COMPLETE",
                f"ship-complete order: {short} of {total} units cannot be placed within "
                f"{int(max_shipments[j])} shipment(s)",
            )
            hold_code[i] = HOLD_SHIP_COMPLETE
        per_order_ships = np.zeros(n, dtype=np.int64)
        per_order_ships[kept] = ship_counts
        limits = np.zeros(n, dtype=np.int64)
        limits[kept] = max_shipments
        if commit and len(alloc_qty):
            # Flat cell numbers: numpy's 1-D ``add.at`` is several times faster than the 2-D one.
            cell = rows_all[alloc_line] * width + alloc_wh
            np.add.at(stock.reserved.reshape(-1), cell, alloc_qty)
            alloc_code = batch.channel_code[alloc_order]
            codes_used = np.unique(alloc_code)
            for code in codes_used.tolist():
                channel = batch.channel_names[code]
                target = stock.reserved_by_channel.get(channel)
                if target is None:
                    target = np.zeros(stock.reserved.shape, dtype=np.int64)
                    stock.reserved_by_channel[channel] = target
                if len(codes_used) == 1:
                    np.add.at(target.reshape(-1), cell, alloc_qty)
                else:
                    picks = alloc_code == code
                    np.add.at(target.reshape(-1), cell[picks], alloc_qty[picks])
        if commit and capacity_left is not None:
            capacity_left[:] = capacity
        timings["commit"], mark = clock() - mark, clock()

        result = BatchResult(
            batch=batch,
            policy_version=version,
            status=status,
            hold_code=hold_code,
            order_ship_start=_csr(per_order_ships),
            ship_order=ship_order,
            ship_warehouse=ship_wh,
            ship_km=ship_km,
            ship_by=ship_by_rows,
            deliver_by=deliver_rows,
            ship_alloc_start=alloc_start,
            alloc_order=alloc_order,
            alloc_line=alloc_bline,
            alloc_warehouse=alloc_wh,
            alloc_qty=alloc_qty,
            unfilled_order=kept[line_korder[unfilled_k]],
            unfilled_line=unfilled_k if kline is None else kline[unfilled_k],
            unfilled_qty=unfilled_qty[unfilled_k],
            unfilled_code=(unfilled_code[unfilled_k] - 1).astype(np.int8),
            max_shipments=limits,
            warehouse_ids=network.warehouse_ids,
            holds=holds,
            timings=timings,
        )
        if keep_state:
            assert ctx is not None and directives is not None
            result.state = BatchState(
                ctx=ctx,
                directives=directives,
                order_ok=order_ok,
                line_row=compact_row,
                order_channel=order_channel,
                reserve_channels=reserve_channels,
                avail=state_avail,
                remaining=state_remaining,
                capacity=state_capacity,
                status=pass_status,
                how=how,
                ship_start=ship_start,
                ship_wh=ship_wh,
                alloc_start=alloc_start,
                alloc_line=alloc_line,
                alloc_qty=alloc_qty,
                schedule=schedule,
                timings=timings,
            )
        if explain:
            from engine._explain import explain_batch  # the explanation path is plain Python

            assert result.state is not None
            explained = explain_batch(result.state)
            result.explanations = dict(zip(kept.tolist(), explained, strict=True))
        timings["results"] = clock() - mark
        return result

    def _schedule(self, now: dt.datetime, levels: list[int]) -> Schedule:
        # Schedules depend only on the (immutable) network, the clock and the levels present;
        # building one costs ~1,000 zone lookups, far more than routing one order. Cutoffs are
        # whole minutes ("HH:MM") and every comparison is "cutoff strictly after now", so the clock
        # truncated to its minute gives the same ship dates: a live server's unary calls within one
        # minute share a schedule.
        minute = now.replace(second=0, microsecond=0)
        key = (minute, tuple(levels))
        with self._schedules_lock:
            schedule = self._schedules.get(key)
        if schedule is None:
            schedule = Schedule(self.network, minute, [ServiceLevel(v) for v in levels])
            with self._schedules_lock:
                if len(self._schedules) >= _SCHEDULE_CACHE:
                    self._schedules.pop(next(iter(self._schedules)))
                self._schedules[key] = schedule
        return schedule

    def _unlocated_hold(self, batch: OrderBatch, i: int) -> Hold:
        if batch.orders is not None:
            ship_to = batch.orders[i].ship_to
            if ship_to.country_code.upper() not in US_COUNTRY_CODES:
                return Hold(
                    "UNSUPPORTED_COUNTRY",
                    f"country {ship_to.country_code!r} is not supported without coordinates",
                )
            return Hold("UNKNOWN_POSTAL_CODE", f"postal code {ship_to.postal_code!r} is not known")
        if batch.foreign is not None and batch.foreign[i]:
            return Hold("UNSUPPORTED_COUNTRY", "the country is not supported without coordinates")
        return Hold("UNKNOWN_POSTAL_CODE", "the ship-to postal code is not known")

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


def _unknown_sku_hold(batch: OrderBatch, i: int) -> Hold:
    first, last = int(batch.line_start[i]), int(batch.line_start[i + 1])
    unknown = dict.fromkeys(
        batch.line_sku(line) if batch.line_skus is not None else f"line {line - first + 1}"
        for line in range(first, last)
        if batch.line_sku_row[line] < 0
    )
    names = ", ".join(repr(sku) for sku in unknown)
    return Hold("UNKNOWN_SKU", f"unknown SKU {names}")


def _empty_result(
    batch: OrderBatch,
    version: str,
    status: npt.NDArray[np.int8],
    hold_code: npt.NDArray[np.int8],
    holds: dict[int, Hold],
    network: Network,
    timings: dict[str, float],
) -> BatchResult:
    n = len(batch)
    none = np.zeros(0, dtype=np.int64)
    return BatchResult(
        batch=batch,
        policy_version=version,
        status=status,
        hold_code=hold_code,
        order_ship_start=np.zeros(n + 1, dtype=np.int64),
        ship_order=none,
        ship_warehouse=none,
        ship_km=np.zeros(0),
        ship_by=np.zeros(0, dtype="datetime64[s]"),
        deliver_by=np.zeros(0, dtype="datetime64[s]"),
        ship_alloc_start=np.zeros(1, dtype=np.int64),
        alloc_order=none,
        alloc_line=none,
        alloc_warehouse=none,
        alloc_qty=none,
        unfilled_order=none,
        unfilled_line=none,
        unfilled_qty=none,
        unfilled_code=np.zeros(0, dtype=np.int8),
        max_shipments=np.zeros(n, dtype=np.int64),
        warehouse_ids=network.warehouse_ids,
        holds=holds,
        timings=timings,
    )
