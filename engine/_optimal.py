"""Optimal mode for a routed batch: greedy first, then the MILP, then decisions and reservations.

:func:`route_optimized` is what ``RouteBatch(optimize=true)`` runs inside the store's transaction:

1. the batch is routed greedily with ``commit=False`` (:meth:`Router.route_with_state`), which
   gives both the greedy assignment (the warm start and per-component fallback) and everything the
   greedy pass decided eligibility from: schedule and active flags (``order_ok``), the policy's
   excludes, shipment limits, ship-complete and line-split flags, the reserves left, capacity;
2. :func:`plan_batch` turns that state into a :class:`~engine._optimize.BatchProblem` over the
   orders greedy could route (policy holds, unlocated and rejected orders keep greedy's decision);
   eligibility is exactly greedy's, never looser; the objective's "distance" is the policy's rank
   key (the distance for the default policy; a prefer rule's bonus counts), clipped at 0;
3. :func:`~engine._optimize.solve_batch` within the time budget that is left;
4. :func:`decisions_from_quantity` builds :class:`RouteDecision` objects (statuses, shipments with
   distance, ship-by and deliver-by, unfilled lines with reason codes) and, with ``commit``, the
   reservations go into the stock table exactly as :meth:`Router.route` would add them.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from engine._batch import UNFILLED_CODES
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
from engine._optimize import BatchProblem, BatchSolution, check_feasible, objective_of, solve_batch
from engine._optimize_model import order_warehouse_units, usable_capacity
from engine._result import unfilled_reason
from engine._router import BatchState, Router
from engine._stock import StockTable

__all__ = [
    "DEFAULT_TIME_BUDGET_SECONDS",
    "MAX_TIME_BUDGET_SECONDS",
    "BatchPlan",
    "OptimizationReport",
    "OptimizedBatch",
    "ReplanOutcome",
    "apply_reservations",
    "decisions_from_quantity",
    "plan_batch",
    "replan_orders",
    "route_optimized",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

DEFAULT_TIME_BUDGET_SECONDS = 2.0
#: The longest a caller may ask for: the solve runs inside the store's write transaction.
MAX_TIME_BUDGET_SECONDS = 30.0
#: The unfilled-unit penalty in multiples of the dearest possible shipment: no saving of
#: shipments or distance ever pays for leaving a unit unshipped.
PENALTY_FACTOR = 10.0

_UTC = dt.UTC
_CODE_INSUFFICIENT = UNFILLED_CODES.index("INSUFFICIENT_STOCK")
_CODE_NO_ELIGIBLE = UNFILLED_CODES.index("NO_ELIGIBLE_WAREHOUSE")
_CODE_MAX_SHIPMENTS = UNFILLED_CODES.index("MAX_SHIPMENTS_REACHED")


@dataclass(frozen=True)
class OptimizationReport:
    """How good an optimized batch provably is (``sortyard.v1.OptimizationReport``).

    ``bound <= objective <= greedy_objective``; ``gap = (objective - bound) / |objective|``.
    ``fallback_components`` kept the greedy assignment because the budget ran out.
    """

    objective: float
    bound: float
    gap: float
    components: int
    fallback_components: tuple[int, ...]
    greedy_objective: float
    solve_seconds: float = 0.0  # for logs and benchmarks, never for tests

    @classmethod
    def empty(cls) -> OptimizationReport:
        """The report of a batch with nothing to optimise (every order held or rejected)."""
        return cls(0.0, 0.0, 0.0, 0, (), 0.0)

    @classmethod
    def of(cls, solution: BatchSolution) -> OptimizationReport:
        return cls(
            objective=solution.objective,
            bound=solution.bound,
            gap=solution.gap,
            components=solution.components,
            fallback_components=solution.fallback_components,
            greedy_objective=solution.greedy_objective,
            solve_seconds=solution.solve_seconds,
        )

    def combine(self, other: OptimizationReport) -> OptimizationReport:
        """Two independently optimised parts of one request as one report (components of
        ``other`` numbered after this one's)."""
        objective = self.objective + other.objective
        bound = self.bound + other.bound
        return OptimizationReport(
            objective=objective,
            bound=bound,
            gap=(objective - bound) / abs(objective) if objective else 0.0,
            components=self.components + other.components,
            fallback_components=self.fallback_components
            + tuple(c + self.components for c in other.fallback_components),
            greedy_objective=self.greedy_objective + other.greedy_objective,
            solve_seconds=self.solve_seconds + other.solve_seconds,
        )


@dataclass(frozen=True)
class BatchPlan:
    """A :class:`BatchProblem` over the optimisable orders of a routed batch, and the way back.

    Problem order ``i`` is batch order ``positions[i]``; problem line ``l`` is ``line_id[l]`` of
    SKU ``line_sku[l]``; problem stock row ``r`` is stock-table row ``stock_rows[r]``.
    """

    problem: BatchProblem
    orders: tuple[Order, ...]  # [n]
    positions: IntArray  # [n] index of each problem order in the routed batch
    line_id: tuple[str, ...]  # [L]
    line_sku: tuple[str, ...]  # [L]
    stock_rows: IntArray  # [k] row of each problem stock row in the StockTable
    distance_km: FloatArray  # [n, W] great-circle km (the problem's own is the rank key)
    ship_by: npt.NDArray[np.datetime64]  # [n, W]
    deliver_by: npt.NDArray[np.datetime64]  # [n, W]
    greedy_quantity: IntArray  # [L, W] greedy's assignment, feasible for ``problem``
    warehouse_ids: tuple[str, ...]
    policy_version: str


@dataclass(frozen=True)
class OptimizedBatch:
    decisions: list[RouteDecision]
    report: OptimizationReport
    greedy_decisions: list[RouteDecision]
    plan: BatchPlan | None
    quantity: IntArray | None  # [L, W] the assignment behind ``decisions`` (None: no plan)


def _kept_positions(orders: Sequence[Order], kept: Sequence[Order]) -> IntArray:
    """Batch index of each order the router kept, matched by identity in batch order."""
    out = np.empty(len(kept), dtype=np.int64)
    j = 0
    for i, order in enumerate(orders):
        if j < len(kept) and order is kept[j]:
            out[j] = i
            j += 1
    if j != len(kept):
        raise AssertionError("the router's kept orders are not a subsequence of the batch")
    return out


def plan_batch(
    state: BatchState,
    orders: Sequence[Order],
    stock: StockTable,
    *,
    shipment_weight: float,
    distance_weight: float,
    policy_version: str = "",
) -> BatchPlan | None:
    """The problem of a batch greedy routed (``state`` from :meth:`Router.route_with_state` on
    ``orders``); None when no order can be optimised (all held by the policy)."""
    ctx = state.ctx
    d = state.directives
    m = len(ctx.orders)
    width = len(stock.network)
    positions_all = _kept_positions(orders, ctx.orders)
    skip = np.array([h is not None for h in d.hold], dtype=np.bool_)
    take = np.flatnonzero(~skip)
    if not len(take):
        return None
    counts_all = np.diff(ctx.line_start)
    line_keep = np.repeat(~skip, counts_all)
    line_j = ctx.line_order[line_keep]  # kept-order index of each problem line
    lines_all = np.flatnonzero(line_keep)
    line_start = np.zeros(len(take) + 1, dtype=np.int64)
    np.cumsum(counts_all[take], out=line_start[1:])

    # Problem stock rows: the compact rows the greedy pass used, mapped to the table's rows.
    compact = np.asarray(state.line_row, dtype=np.int64)
    k = int(state.avail.shape[0])
    stock_rows = np.full(k, -1, dtype=np.int64)
    for line in range(len(compact)):
        stock_rows[compact[line]] = stock.row_of(ctx.line_sku[line])

    rank = np.asarray(d.rank_key, dtype=np.float64)[take]
    rank = np.where(np.isnan(rank), np.inf, rank)
    excluded = np.asarray(d.line_excluded, dtype=np.bool_)
    capacity_ok = np.asarray(state.capacity) != 0
    eligible = (
        np.asarray(state.order_ok)[line_j]
        & ~excluded[lines_all]
        & capacity_ok[None, :]
        & np.isfinite(rank[np.searchsorted(take, line_j)])
    )
    cost_km = np.where(np.isfinite(rank), np.maximum(rank, 0.0), np.inf)
    finite = cost_km[np.isfinite(cost_km)]
    dearest = shipment_weight + distance_weight * float(finite.max() if finite.size else 0.0)
    n_channels = max(1, len(state.reserve_channels))
    remaining = np.asarray(state.remaining, dtype=np.int64)[:n_channels]
    problem = BatchProblem(
        line_start=line_start,
        line_sku_row=compact[lines_all],
        line_qty=np.asarray(ctx.line_quantity, dtype=np.int64)[lines_all],
        eligible=np.ascontiguousarray(eligible),
        distance_km=cost_km,
        free=np.maximum(np.asarray(state.avail, dtype=np.int64), 0),
        order_channel=np.asarray(state.order_channel, dtype=np.int64)[take],
        reserve_remaining=np.ascontiguousarray(remaining),
        max_shipments=np.minimum(np.asarray(d.max_shipments, dtype=np.int64)[take], width),
        allow_line_split=np.asarray(d.allow_line_split, dtype=np.bool_)[take],
        ship_complete=np.asarray(d.ship_complete, dtype=np.bool_)[take],
        shipment_weight=float(shipment_weight),
        distance_weight=float(distance_weight),
        unfilled_penalty=PENALTY_FACTOR * max(dearest, 1.0),
    )

    # Greedy's assignment from the pass's CSR arrays (kept-line indices), restricted to problem
    # lines. Ship-complete holds and skipped orders allocated nothing.
    shipments = int(state.ship_start[-1])
    alloc_start = np.asarray(state.alloc_start[: shipments + 1], dtype=np.int64)
    allocs = int(alloc_start[-1]) if shipments else 0
    ship_of_alloc = np.repeat(np.arange(shipments), np.diff(alloc_start))
    full = np.zeros((len(compact), width), dtype=np.int64)
    np.add.at(
        full,
        (state.alloc_line[:allocs], np.asarray(state.ship_wh)[ship_of_alloc]),
        state.alloc_qty[:allocs],
    )
    line_names = [ctx.orders[j].lines for j in range(m)]
    line_ids = tuple(line.line_id for j in take.tolist() for line in line_names[j])
    return BatchPlan(
        problem=problem,
        orders=tuple(ctx.orders[j] for j in take.tolist()),
        positions=positions_all[take],
        line_id=line_ids,
        line_sku=tuple(ctx.line_sku[line] for line in lines_all.tolist()),
        stock_rows=stock_rows,
        distance_km=np.asarray(ctx.distance_km, dtype=np.float64)[take],
        ship_by=np.asarray(ctx.ship_by)[take],
        deliver_by=np.asarray(ctx.deliver_by)[take],
        greedy_quantity=full[lines_all],
        warehouse_ids=tuple(stock.network.warehouse_ids),
        policy_version=policy_version,
    )


def _instant(value: np.datetime64) -> dt.datetime:
    seconds = int(value.astype("datetime64[s]").astype(np.int64))
    return dt.datetime.fromtimestamp(seconds, tz=_UTC)


def decisions_from_quantity(
    plan: BatchPlan,
    quantity: IntArray,
    greedy: Sequence[RouteDecision],
    *,
    summary: str = "assigned jointly by the batch optimiser",
) -> list[RouteDecision]:
    """Every order's decision: greedy's for orders outside the plan, and for the plan's orders
    the assignment ``quantity`` ([L, W]) as shipments (nearest rank first) and unfilled lines."""
    problem = plan.problem
    out = list(greedy)
    per_wh = order_warehouse_units(problem, quantity)
    shipped = quantity.sum(axis=1)
    usable = usable_capacity(problem) * problem.eligible
    ids = plan.warehouse_ids
    for i, position in enumerate(plan.positions.tolist()):
        first, last = int(problem.line_start[i]), int(problem.line_start[i + 1])
        used = np.flatnonzero(per_wh[i] > 0)
        used = used[np.lexsort((used, problem.distance_km[i, used]))]
        shipments = []
        for w in used.tolist():
            lines = tuple(
                Allocation(plan.line_id[line], plan.line_sku[line], int(quantity[line, w]))
                for line in range(first, last)
                if quantity[line, w] > 0
            )
            shipments.append(
                PlannedShipment(
                    warehouse_id=ids[w],
                    lines=lines,
                    distance_km=float(plan.distance_km[i, w]),
                    ship_by=_instant(plan.ship_by[i, w]),
                    deliver_by=_instant(plan.deliver_by[i, w]),
                )
            )
        wanted = int(problem.line_qty[first:last].sum())
        filled = int(shipped[first:last].sum())
        limit = int(problem.max_shipments[i])
        unfilled = []
        for line in range(first, last):
            left = int(problem.line_qty[line] - shipped[line])
            if left <= 0:
                continue
            if not problem.eligible[line].any():
                code = _CODE_NO_ELIGIBLE
            elif len(used) >= limit and (np.delete(usable[line], used) > 0).any():
                code = _CODE_MAX_SHIPMENTS
            else:
                code = _CODE_INSUFFICIENT
            unfilled.append(
                Unfilled(
                    plan.line_id[line],
                    plan.line_sku[line],
                    left,
                    UNFILLED_CODES[code],
                    unfilled_reason(code, left, int(problem.line_qty[line]), limit),
                )
            )
        before = out[position]
        explanation = None
        if before.explanation is not None:
            explanation = Explanation(summary=summary, rule_effects=before.explanation.rule_effects)
        version = before.policy_version or plan.policy_version
        if filled == 0 and problem.ship_complete[i]:
            hold = before.hold if before.status == RouteStatus.HELD else None
            out[position] = RouteDecision(
                RouteStatus.HELD,
                hold=hold
                or Hold(
                    "SHIP_COMPLETE",
                    f"ship-complete order: its {wanted} units went to other orders of the "
                    "optimised batch or cannot be placed in full",
                ),
                explanation=explanation,
                policy_version=version,
            )
            continue
        if filled == wanted and wanted > 0:
            status = RouteStatus.ROUTED
        elif filled == 0:
            status = RouteStatus.BACKORDERED
        else:
            status = RouteStatus.PARTIALLY_ROUTED
        out[position] = RouteDecision(
            status,
            shipments=tuple(shipments),
            unfilled=tuple(unfilled) if status != RouteStatus.ROUTED else (),
            explanation=explanation,
            policy_version=version,
        )
    return out


def apply_reservations(
    plan: BatchPlan,
    quantity: IntArray,
    stock: StockTable,
    capacity_left: IntArray | None = None,
) -> None:
    """Add ``quantity`` to ``stock.reserved`` and the orders' channels' ``reserved_by_channel``
    (and take one from ``capacity_left[w]`` per shipment), as a committed greedy route would."""
    problem = plan.problem
    lines, whs = np.nonzero(quantity)
    if len(lines):
        units = quantity[lines, whs]
        rows = plan.stock_rows[problem.line_sku_row[lines]]
        np.add.at(stock.reserved, (rows, whs), units)
        line_order = np.repeat(np.arange(problem.n_orders), np.diff(problem.line_start))
        channels = [plan.orders[i].channel for i in line_order[lines].tolist()]
        for channel in sorted(set(channels)):
            pick = np.array([c == channel for c in channels], dtype=np.bool_)
            target = stock.reserved_by_channel.get(channel)
            if target is None:
                target = stock.reserved_by_channel[channel] = np.zeros_like(stock.reserved)
            np.add.at(target, (rows[pick], whs[pick]), units[pick])
    if capacity_left is not None:
        ships = (order_warehouse_units(problem, quantity) > 0).sum(axis=0)
        limited = capacity_left >= 0
        capacity_left[limited] -= ships[limited]


def _within_capacity(plan: BatchPlan, quantity: IntArray, capacity_left: IntArray | None) -> bool:
    if capacity_left is None:
        return True
    ships = (order_warehouse_units(plan.problem, quantity) > 0).sum(axis=0)
    limited = np.asarray(capacity_left) >= 0
    return bool((ships[limited] <= np.asarray(capacity_left)[limited]).all())


def route_optimized(
    router: Router,
    orders: Sequence[Order],
    stock: StockTable,
    *,
    now: dt.datetime,
    time_budget_s: float = DEFAULT_TIME_BUDGET_SECONDS,
    commit: bool = True,
    explain: bool = False,
    capacity_left: IntArray | None = None,
    sku_tags: Mapping[str, frozenset[str]] | None = None,
) -> OptimizedBatch:
    """Route ``orders`` jointly (see module doc); with ``commit`` the reservations (and
    shipments against ``capacity_left``) are added to ``stock`` in place, like
    :meth:`Router.route`. The budget covers the whole call, greedy pass included.

    The MILP has no per-warehouse shipment capacity: when its assignment would exceed a
    ``capacity_left`` limit, the whole batch keeps greedy's decisions (reported as fallback)."""
    started = time.perf_counter()
    budget = min(max(float(time_budget_s), 0.0), MAX_TIME_BUDGET_SECONDS)
    greedy, state = router.route_with_state(
        list(orders),
        stock,
        now=now,
        explain=explain,
        commit=False,
        capacity_left=None if capacity_left is None else capacity_left.copy(),
        sku_tags=sku_tags,
    )
    policy = router.policy
    plan = None
    if state is not None:
        plan = plan_batch(
            state,
            orders,
            stock,
            shipment_weight=policy.shipment_weight,
            distance_weight=policy.distance_weight,
            policy_version=policy.version,
        )
    if plan is None:  # every order held or rejected: greedy allocated nothing
        return OptimizedBatch(greedy, OptimizationReport.empty(), greedy, None, None)
    left = budget - (time.perf_counter() - started)
    solution = solve_batch(
        plan.problem, time_budget_s=max(left, 0.0), greedy_quantity=plan.greedy_quantity
    )
    quantity = solution.quantity
    report = OptimizationReport.of(solution)
    if not _within_capacity(plan, quantity, capacity_left):
        quantity = plan.greedy_quantity
        report = replace(
            report,
            objective=report.greedy_objective,
            gap=_gap(report.greedy_objective, report.bound),
            fallback_components=tuple(range(report.components)),
        )
    decisions = decisions_from_quantity(plan, quantity, greedy)
    if commit:
        apply_reservations(plan, quantity, stock, capacity_left)
    return OptimizedBatch(decisions, report, greedy, plan, quantity)


def _gap(objective: float, bound: float) -> float:
    return (objective - bound) / abs(objective) if objective else 0.0


def assignment_cost(plan: BatchPlan, quantity: IntArray) -> float:
    """The optimiser's objective of any assignment of the plan (greedy's, a stored one...)."""
    return objective_of(plan.problem, quantity)


def assignment_violations(plan: BatchPlan, quantity: IntArray) -> list[str]:
    """Every constraint ``quantity`` breaks in the plan's problem (``[]`` when feasible)."""
    return check_feasible(plan.problem, quantity)


def finite_or_zero(value: float) -> float:
    """NaN/inf (a report with no greedy start) as 0 for wire formats that want a number."""
    return value if math.isfinite(value) else 0.0


@dataclass(frozen=True)
class ReplanOutcome:
    """What re-solving a set of routed orders found.

    ``moved`` maps a batch index to its new decision (only orders whose assignment changed);
    costs are the optimiser's objective of the current and the new assignment (equal when nothing
    moved)."""

    moved: dict[int, RouteDecision]
    cost_before: float
    cost_after: float
    report: OptimizationReport


def replan_orders(
    router: Router,
    orders: Sequence[Order],
    current: Sequence[Sequence[tuple[str, str, int]]],
    stock: StockTable,
    *,
    now: dt.datetime,
    time_budget_s: float = DEFAULT_TIME_BUDGET_SECONDS,
    sku_tags: Mapping[str, frozenset[str]] | None = None,
) -> ReplanOutcome:
    """Re-solve routed orders jointly and move only what lowers the cost.

    ``orders[i]`` lists only the units order i holds now (line quantities = units allocated), and
    ``current[i]`` its allocations as ``(warehouse_id, line_id, units)``. ``stock`` must already
    have those allocations released (they are free for the re-solve); it is not changed.

    Accepted per independent component: a component moves only when its new cost is strictly
    lower and every order in it still places every unit it holds; the rest keep their current
    assignment (so a second replan with nothing new moves nothing). Orders the policy now holds,
    or whose current assignment breaks today's eligibility, are treated as fixed: their current
    assignment is the warm start when it is feasible, else greedy's.
    """
    started = time.perf_counter()
    budget = min(max(float(time_budget_s), 0.0), MAX_TIME_BUDGET_SECONDS)
    greedy, state = router.route_with_state(
        list(orders), stock, now=now, commit=False, sku_tags=sku_tags
    )
    policy = router.policy
    plan = None
    if state is not None:
        plan = plan_batch(
            state,
            orders,
            stock,
            shipment_weight=policy.shipment_weight,
            distance_weight=policy.distance_weight,
            policy_version=policy.version,
        )
    if plan is None:
        return ReplanOutcome({}, 0.0, 0.0, OptimizationReport.empty())
    problem = plan.problem
    held = np.zeros_like(plan.greedy_quantity)
    index_of = stock.network.index_of
    for i, position in enumerate(plan.positions.tolist()):
        first = int(problem.line_start[i])
        line_at = {
            line_id: first + n
            for n, line_id in enumerate(plan.line_id[first : int(problem.line_start[i + 1])])
        }
        for warehouse_id, line_id, units in current[position]:
            held[line_at[line_id], index_of(warehouse_id)] += units
    start = held if not check_feasible(problem, held) else plan.greedy_quantity
    left = budget - (time.perf_counter() - started)
    solution = solve_batch(problem, time_budget_s=max(left, 0.0), greedy_quantity=start)

    # Per order costs, then per component: move a component only when it is strictly cheaper.
    before = _order_costs(problem, held)
    after = _order_costs(problem, solution.quantity)
    line_order = np.repeat(np.arange(problem.n_orders), np.diff(problem.line_start))
    short = np.bincount(
        line_order,
        weights=problem.line_qty - solution.quantity.sum(axis=1),
        minlength=problem.n_orders,
    )
    component = solution.order_component
    final = held.copy()
    for comp in np.unique(component[component >= 0]).tolist():
        members = component == comp
        if after[members].sum() < before[members].sum() - 1e-6 and not short[members].any():
            rows = members[line_order]
            final[rows] = solution.quantity[rows]
    if check_feasible(problem, final):
        final = held  # a mix that does not hold together: move nothing
    changed = [
        i
        for i in range(problem.n_orders)
        if not np.array_equal(
            final[problem.line_start[i] : problem.line_start[i + 1]],
            held[problem.line_start[i] : problem.line_start[i + 1]],
        )
    ]
    decisions = decisions_from_quantity(plan, final, greedy) if changed else []
    moved = {int(plan.positions[i]): decisions[int(plan.positions[i])] for i in changed}
    report = OptimizationReport.of(solution)
    cost_after = objective_of(problem, final)
    report = replace(report, objective=cost_after, gap=_gap(cost_after, report.bound))
    return ReplanOutcome(moved, objective_of(problem, held), cost_after, report)


def _order_costs(problem: BatchProblem, quantity: IntArray) -> FloatArray:
    """``[n]`` each order's share of :func:`objective_of` (the objective is separable by order)."""
    ships = order_warehouse_units(problem, quantity) > 0
    km = np.where(ships, problem.distance_km, 0.0).sum(axis=1)
    line_order = np.repeat(np.arange(problem.n_orders), np.diff(problem.line_start))
    unfilled = np.bincount(
        line_order,
        weights=np.maximum(0, problem.line_qty - quantity.sum(axis=1)),
        minlength=problem.n_orders,
    )
    out: FloatArray = (
        problem.shipment_weight * ships.sum(axis=1)
        + problem.distance_weight * km
        + problem.unfilled_penalty * unfilled
    )
    return out
