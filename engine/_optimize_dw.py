"""Large components, decomposed by order (Dantzig-Wolfe): column generation for the bound, a
restricted master MILP for the assignment.

Why: in the compact model (``engine._optimize_model``) a shipment column ``y`` may be fractional, so
the LP lets an order take one unit of a two-unit line from a warehouse for half a shipment, or
spread over six warehouses at half a shipment each under a limit of three. On 1,000 scarce orders x
50 warehouses that relaxation sat 8 % below the best assignment found and a minute of HiGHS cuts
closed barely a third of it. Here each order instead chooses one whole *plan* (the warehouses it
ships from and the units each line takes there), so shipment limits, no-split lines and
ship-complete orders hold exactly inside every plan; only the stock rows (binding cells and
reserves) couple the orders.

* **Master**: choose at most one plan per order (``sum lambda <= 1``; no plan = nothing shipped),
  subject to the stock rows, with the reserves' ``s`` columns as in the compact model.
* **Pricing** (:mod:`engine._optimize_pricing`): with the master's stock duals as unit prices, the
  best plan of every order, found exactly. Plans that price out negative join the master.
* **Cuts**: once the plans stop improving the LP, rounding cuts on the stock cells (a cell of 3
  units serves one 2-unit line, not one and a half) join the master and generation resumes; their
  duals enter the pricing like the stock rows'.
* **Bound**: at every round, the Lagrangian bound ``sum_r dual_r * rhs_r + min over s + sum_i
  min(0, best plan_i)``, cut rows included; it holds for any duals, so it is valid even when the
  rounds stop early.
* **Assignment**: a dive (fix the plans the LP is sure of, plus the likeliest fractional ones
  that still fit, re-solve and re-price, repeat), then the master as a MILP over every plan
  generated, warm-started from the better of the dive and the start; the caller keeps whichever
  of that and the start is cheaper. Between the dive and the master MILP, a neighbourhood
  search (small MILPs with most orders fixed) around the LP and around the orders short of units.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import highspy
import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from engine._optimize_model import MilpModel, line_order_of
from engine._optimize_pricing import price_orders

if TYPE_CHECKING:  # engine._optimize imports this module
    from engine._optimize import BatchProblem

__all__ = ["DecompositionResult", "solve_by_order"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: Column generation stops once the master LP is within this share of the bound ...
LP_CONVERGED = 2e-4
#: ... or once it has used this share of the time (the dive and the master MILP get the rest).
PRICING_TIME_SHARE = 0.5
#: The dive stops with this share of the time left, for the master MILP.
DIVE_TIME_SHARE = 0.85
#: Per dive step, at most this share of the orders still open is fixed at a fractional plan.
DIVE_FIX_SHARE = 0.1
#: Share of what is left after the dive for the neighbourhood search (the full MILP gets the rest).
LNS_TIME_SHARE = 0.5
#: Share of the orders on a plan the LP chose whole freed at random in each neighbourhood.
LNS_FREE_SHARE = 0.2
#: Most time for one neighbourhood's MILP.
LNS_STEP_SECONDS = 0.2
#: At most this share of the orders is freed among those off the LP's whole plans.
LNS_MAX_FREE = 0.3
#: The search ends after this many neighbourhoods in a row without a gain.
LNS_PATIENCE = 4
#: Rounding cuts divide a stock row by each of these (see ``_Master.add_rounding_cuts``) ...
CUT_DIVISORS = (2, 3)
#: ... and join the master when the LP breaks them by more than this.
CUT_VIOLATION = 1e-3
#: Most rounds of cuts; each is followed by more column generation.
CUT_ROUNDS = 5
#: A plan joins the master only when its reduced cost is below this.
NEGATIVE = -1e-6


@dataclass(frozen=True)
class DecompositionResult:
    """Column values of the chunk (``None`` when the master MILP found nothing), the proven lower
    bound on the chunk's cost, and whether the values are proven optimal (within HiGHS's gap)."""

    values: FloatArray | None
    bound: float
    optimal: bool
    rounds: int


@dataclass(frozen=True)
class _Blocks:
    """Per-order dense blocks (lines x shipments) the pricing kernel reads; fixed per model."""

    group_start: IntArray  # [n + 1] shipments (y columns, in y order) of each order
    block_start: IntArray  # [n + 1]
    pair_pos: IntArray  # [P] position of each x column in the blocks
    pos_pair: IntArray  # [block size] x column index of each position, -1 where none
    pair_group: IntArray  # [P] shipment of each x column
    line_units: IntArray  # [L] column units a line needs (its quantity, or 1 when it may not split)
    line_whole: BoolArray  # [L] the line may not split (its column is 0/1)


def _blocks(problem: BatchProblem, model: MilpModel) -> _Blocks:
    n = problem.n_orders
    line_order = line_order_of(problem)
    group_start = np.searchsorted(model.y_order, np.arange(n + 1)).astype(np.int64)
    n_groups = np.diff(group_start)
    n_lines = np.diff(problem.line_start)
    block_start = np.concatenate([[0], np.cumsum(n_lines * n_groups)]).astype(np.int64)
    group_of_ycol = np.full(len(model.cost), -1, dtype=np.int64)
    group_of_ycol[model.y_col] = np.arange(len(model.y_col))
    pair_group = group_of_ycol[model.pair_ycol]
    order = line_order[model.pair_line]
    pair_pos = (
        block_start[order]
        + (model.pair_line - problem.line_start[order]) * n_groups[order]
        + (pair_group - group_start[order])
    )
    pos_pair = np.full(int(block_start[-1]), -1, dtype=np.int64)
    pos_pair[pair_pos] = np.arange(len(pair_pos))
    whole = ~problem.allow_line_split[line_order]
    return _Blocks(
        group_start=group_start,
        block_start=block_start,
        pair_pos=pair_pos.astype(np.int64),
        pos_pair=pos_pair,
        pair_group=pair_group,
        line_units=np.where(whole, 1, problem.line_qty).astype(np.int64),
        line_whole=whole,
    )


class _Plans:
    """Every plan generated so far: its order, its x columns and their units."""

    def __init__(self) -> None:
        self.order: list[int] = []
        self.pairs: list[IntArray] = []
        self.units: list[IntArray] = []

    @property
    def count(self) -> int:
        return len(self.order)

    def add(self, order: IntArray, ptr: IntArray, pairs: IntArray, units: IntArray) -> None:
        for j in range(len(order)):
            self.order.append(int(order[j]))
            self.pairs.append(pairs[ptr[j] : ptr[j + 1]])
            self.units.append(units[ptr[j] : ptr[j + 1]])


class _StockUse:
    """Units taken per stock row, and whether a set of plans fits. A reserving channel draws on
    its reserve's cover first, then on the cell's pool (through its ``s`` column): the allocator's
    rule, as ``engine._optimize_model`` writes it."""

    def __init__(self, model: MilpModel, s_cols: IntArray) -> None:
        self.model = model
        self.bound = model.row_upper
        self.taken = np.zeros(len(self.bound))
        self.pool_of = np.arange(len(self.bound))  # a reserve row's pool row; a pool row itself
        self.reserves_of: dict[int, list[int]] = {}
        self.s_of: dict[int, int] = {}  # reserve row -> index of its s column among s_cols
        block = model.matrix[:, s_cols].tocsc()
        for j in range(len(s_cols)):
            rows = block.indices[block.indptr[j] : block.indptr[j + 1]]
            vals = block.data[block.indptr[j] : block.indptr[j + 1]]
            reserve, pool = rows[vals < 0], rows[vals > 0]
            if len(reserve) and len(pool):
                self.pool_of[reserve[0]] = pool[0]
                self.reserves_of.setdefault(int(pool[0]), []).append(int(reserve[0]))
                self.s_of[int(reserve[0])] = j

    def rows_of(self, plans: _Plans, j: int) -> list[tuple[int, float]]:
        """(stock row, units) a plan takes."""
        pairs = plans.pairs[j]
        rows = self.model.pair_stock_row[pairs]
        amounts = plans.units[j] * self.model.pair_mult[pairs]
        return [(int(r), float(a)) for r, a in zip(rows, amounts, strict=True) if r >= 0]

    def shift(self, rows: list[tuple[int, float]], sign: float) -> None:
        for row, amount in rows:
            self.taken[row] += sign * amount

    def fits(self, rows: list[tuple[int, float]]) -> bool:
        """Every pool these rows touch still holds what is taken from it."""
        for row, _ in rows:
            pool = int(self.pool_of[row])
            use = self.taken[pool] + sum(
                max(0.0, self.taken[r] - self.bound[r]) for r in self.reserves_of.get(pool, ())
            )
            if use > self.bound[pool] + 1e-9:
                return False
        return True

    def try_take(self, rows: list[tuple[int, float]]) -> bool:
        self.shift(rows, 1.0)
        if self.fits(rows):
            return True
        self.shift(rows, -1.0)
        return False

    def room(self) -> IntArray:
        """``[P]`` column units each x column may still take on its own: what its pool has left,
        plus for a reserving channel what is left of its cover."""
        rows = np.arange(len(self.bound))
        reserve = self.pool_of != rows
        excess = np.where(reserve, np.maximum(0.0, self.taken - self.bound), 0.0)
        used = np.where(reserve, 0.0, self.taken) + np.bincount(
            self.pool_of, weights=excess, minlength=len(rows)
        )
        left = np.maximum(0.0, self.bound - used)
        cover_left = np.where(reserve, np.maximum(0.0, self.bound - self.taken), 0.0)
        avail = left[self.pool_of] + cover_left  # per stock row
        row = self.model.pair_stock_row
        units = np.where(
            row >= 0, np.floor(avail[np.maximum(row, 0)] / self.model.pair_mult + 1e-9), np.inf
        )
        out: IntArray = np.minimum(self.model.pair_ub, units).astype(np.int64)
        return out

    def s_values(self, n_s: int) -> FloatArray:
        """The s columns for what is taken: units beyond each reserve's cover."""
        out = np.zeros(n_s)
        for row, j in self.s_of.items():
            out[j] = max(0.0, self.taken[row] - self.bound[row])
        return out


class _Master:
    """The master problem in HiGHS (stock rows, one convexity row per order; s columns first,
    then one column per plan) and the pricing that feeds it."""

    def __init__(
        self,
        problem: BatchProblem,
        model: MilpModel,
        orders: BoolArray,
        columns: tuple[int, int],
        rows: tuple[int, int],
        deadline: float,
    ) -> None:
        c0, c1 = columns
        r0, r1 = rows
        self.problem, self.model, self.orders, self.deadline = problem, model, orders, deadline
        self.blocks = _blocks(problem, model)
        self.stock = model.stock_rows[(model.stock_rows >= r0) & (model.stock_rows < r1)]
        self.stock_index = np.full(len(model.row_upper), -1, dtype=np.int64)
        self.stock_index[self.stock] = np.arange(len(self.stock))
        self.s_cols = model.s_col[(model.s_col >= c0) & (model.s_col < c1)]
        self.active_orders = np.flatnonzero(orders)
        self.convexity = np.full(problem.n_orders, -1, dtype=np.int64)
        self.convexity[self.active_orders] = len(self.stock) + np.arange(len(self.active_orders))
        self.n_base_rows = len(self.stock) + len(self.active_orders)
        self.n_rows = self.n_base_rows
        self.x_cost = model.cost[model.pair_col]
        self.plans = _Plans()
        # Rounding cuts (rows after the convexity rows): per x column its coefficient, and each
        # cut's right-hand side; see ``add_rounding_cuts``.
        self.cut_coef = sp.csr_matrix((0, len(model.pair_col)))
        self.cut_rhs = np.zeros(0)
        self.cut_keys = np.zeros(0, dtype=np.int64)  # row * 16 + divisor of each cut made
        self.cuttable_pair = _cuttable_pairs(model, self.blocks, self.stock, self.s_cols)
        # Units each order wants, for the shortfall neighbourhoods.
        self.wanted = np.bincount(
            line_order_of(problem), weights=problem.line_qty, minlength=problem.n_orders
        )
        self.h = _highs(deadline)
        row_upper = np.concatenate([model.row_upper[self.stock], np.ones(len(self.active_orders))])
        empty = np.zeros(0, np.int32)
        self.h.addRows(self.n_rows, np.full(self.n_rows, -np.inf), row_upper, 0, empty, empty, [])
        if len(self.s_cols):
            s_block = model.matrix[:, self.s_cols].tocsc()[self.stock, :].tocsc()
            self.h.addCols(
                len(self.s_cols),
                np.zeros(len(self.s_cols)),
                model.lower[self.s_cols],
                model.upper[self.s_cols],
                int(s_block.nnz),
                s_block.indptr.astype(np.int32),
                s_block.indices.astype(np.int32),
                s_block.data,
            )

    @property
    def n_s(self) -> int:
        return len(self.s_cols)

    def add_plans(self, order: IntArray, ptr: IntArray, pairs: IntArray, units: IntArray) -> None:
        """Add plans (order j's x columns are ``pairs[ptr[j]:ptr[j+1]]``) as master columns."""
        if not len(order):
            return
        model, n_y = self.model, len(self.model.y_cost)
        plan_of = np.repeat(np.arange(len(order)), np.diff(ptr))
        cost = np.bincount(plan_of, weights=units * self.x_cost[pairs], minlength=len(order))
        # Each shipment once per plan, however many of its lines ship there.
        ship = np.unique(plan_of * n_y + self.blocks.pair_group[pairs])
        cost = cost + np.bincount(
            ship // n_y, weights=model.y_cost[ship % n_y], minlength=len(order)
        )
        stock_row = model.pair_stock_row[pairs]
        row = self.stock_index[np.maximum(stock_row, 0)]
        on_stock = (stock_row >= 0) & (row >= 0)
        entries = sp.csc_matrix(
            (
                np.concatenate([(units * model.pair_mult[pairs])[on_stock], np.ones(len(order))]),
                (
                    np.concatenate([row[on_stock], self.convexity[order]]),
                    np.concatenate([plan_of[on_stock], np.arange(len(order))]),
                ),
            ),
            shape=(self.n_base_rows, len(order)),
        )
        entries.sum_duplicates()
        if len(self.cut_rhs):
            on_cuts = self.cut_coef @ _plan_incidence(model, pairs, units, plan_of, len(order))
            entries = sp.vstack([entries, on_cuts], format="csc")
            entries.sum_duplicates()  # canonical (sorted) indices for HiGHS, as above
        self.h.addCols(
            len(order),
            cost.astype(np.float64),
            np.zeros(len(order)),
            np.ones(len(order)),
            int(entries.nnz),
            entries.indptr.astype(np.int32),
            entries.indices.astype(np.int32),
            entries.data,
        )
        self.plans.add(order, ptr, pairs, units)

    def add_assignment(self, values: FloatArray, c0: int) -> None:
        """One plan per order of a chunk column vector (the start), as master columns."""
        model = self.model
        pair_in = self.orders[line_order_of(self.problem)[model.pair_line]]
        units = np.rint(values[model.pair_col[pair_in] - c0]).astype(np.int64)
        pairs = np.flatnonzero(pair_in)[units > 0]
        units = units[units > 0]
        order = line_order_of(self.problem)[model.pair_line[pairs]]
        sort = np.argsort(order, kind="stable")
        pairs, units, order = pairs[sort], units[sort], order[sort]
        seeded, first = np.unique(order, return_index=True)
        self.add_plans(seeded, np.append(first, len(pairs)), pairs, units)

    def add_rounding_cuts(self, lp_values: FloatArray) -> int:
        """Add the rounding cuts the master LP ``lp_values`` violates; how many were added.

        A stock cell holding ``b`` units serves whole lines of ``u`` units each, each line from at
        most one plan: ``sum u_i z_i <= b`` with ``z_i`` 0/1. Divided by ``q`` and rounded down
        (Chvatal-Gomory), ``sum floor(u_i / q) z_i <= floor(b / q)``: a cell of 3 units serves at
        most one line of 2. The LP breaks exactly that (half of two 2-unit lines from 3 units),
        and it was most of the gap between the bound and the best assignment at 1,000 x 50.
        Lines that may split, and cells a reserve shares, get coefficient 0, which keeps the cut
        valid (dropping terms with a non-negative coefficient only weakens it)."""
        model, plans, n_s = self.model, self.plans, self.n_s
        lam = np.zeros(plans.count)
        lam[: len(lp_values) - n_s] = lp_values[n_s:]
        on = np.flatnonzero(lam > 1e-9)
        if not len(on):
            return 0
        pairs = np.concatenate([plans.pairs[j] for j in on])
        flow = np.concatenate([lam[j] * plans.units[j] for j in on])
        row = model.pair_stock_row
        cut_of_row = np.full(len(model.row_upper), -1, dtype=np.int64)
        parts: list[tuple[IntArray, IntArray, IntArray]] = []  # (cut, pair, coefficient)
        rhs: list[FloatArray] = []
        for divisor in CUT_DIVISORS:
            coef = np.where(self.cuttable_pair, model.pair_mult // divisor, 0)
            lhs = np.bincount(
                np.maximum(row[pairs], 0), weights=coef[pairs] * flow, minlength=len(cut_of_row)
            )
            limit = np.floor(model.row_upper / divisor + 1e-9)
            violated = np.flatnonzero(lhs > limit + CUT_VIOLATION)
            violated = violated[~np.isin(violated * 16 + divisor, self.cut_keys)]
            if not len(violated):
                continue
            self.cut_keys = np.concatenate([self.cut_keys, violated * 16 + divisor])
            first = sum(len(r) for r in rhs)  # among the cuts of this call
            cut_of_row[:] = -1
            cut_of_row[violated] = first + np.arange(len(violated))
            on = np.flatnonzero((row >= 0) & (coef > 0))
            on = on[cut_of_row[row[on]] >= 0]
            parts.append((cut_of_row[row[on]], on, coef[on]))
            rhs.append(limit[violated])
        if not rhs:
            return 0
        new_rhs = np.concatenate(rhs)
        k = len(new_rhs)
        cut, pair, value = (np.concatenate(x) for x in zip(*parts, strict=True))
        new_coef = sp.csr_matrix(
            (value.astype(np.float64), (cut, pair)), shape=(k, len(model.pair_col))
        )
        # The new rows' entries on the plans already in the master.
        plan_of = np.repeat(np.arange(plans.count), [len(p) for p in plans.pairs])
        incidence = _plan_incidence(
            model, np.concatenate(plans.pairs), np.concatenate(plans.units), plan_of, plans.count
        )
        on_plans = (new_coef @ incidence).tocsr()
        on_plans.sum_duplicates()
        on_plans.eliminate_zeros()
        self.h.addRows(
            k,
            np.full(k, -np.inf),
            new_rhs,
            int(on_plans.nnz),
            on_plans.indptr.astype(np.int32),
            (on_plans.indices + n_s).astype(np.int32),
            on_plans.data,
        )
        self.cut_coef = sp.vstack([self.cut_coef, new_coef], format="csr")
        self.cut_rhs = np.concatenate([self.cut_rhs, new_rhs])
        self.n_rows += k
        return k

    def solve_lp(self) -> tuple[FloatArray, float, FloatArray] | None:
        """(row duals, objective, column values) of the master LP; None if it did not solve."""
        if self.h.getNumCol() == 0:  # nothing to solve yet: every price is zero
            return np.zeros(self.n_rows), 0.0, np.zeros(0)
        self.h.setOptionValue("time_limit", max(self.deadline - time.perf_counter(), 1e-3))
        self.h.run()
        if self.h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        solution = self.h.getSolution()
        dual = np.minimum(np.asarray(solution.row_dual), 0.0)  # <= rows: duals <= 0
        objective = float(self.h.getInfo().objective_function_value)
        return dual, objective, np.asarray(solution.col_value, dtype=np.float64)

    def price(
        self, dual: FloatArray, active: BoolArray, pair_room: IntArray | None = None
    ) -> tuple[FloatArray, IntArray]:
        """Each active order's best plan at these duals: (reduced cost without the convexity
        dual, per order; inf where none), and the plans' column units in block layout.
        ``pair_room`` caps each x column (what is left of the stock, in a dive)."""
        model, blocks = self.model, self.blocks
        stock_dual = np.zeros(len(model.row_upper))
        stock_dual[self.stock] = dual[: len(self.stock)]
        row = model.pair_stock_row
        price = self.x_cost - np.where(row >= 0, stock_dual[np.maximum(row, 0)], 0.0) * (
            model.pair_mult
        )
        if len(self.cut_rhs):
            price = price - self.cut_coef.T @ dual[self.n_base_rows :]
        size = int(blocks.block_start[-1])
        unit_cost = np.full(size, np.inf)
        unit_cost[blocks.pair_pos] = price
        room = np.zeros(size, dtype=np.int64)
        room[blocks.pair_pos] = model.pair_ub if pair_room is None else pair_room
        plan = np.zeros(size, dtype=np.int64)
        value, _ = price_orders(
            self.problem.line_start,
            blocks.group_start,
            blocks.block_start,
            unit_cost,
            room,
            model.y_cost,
            blocks.line_units,
            blocks.line_whole,
            self.problem.max_shipments.astype(np.int64),
            self.problem.ship_complete,
            active,
            plan,
        )
        return value, plan

    def add_improving(self, dual: FloatArray, value: FloatArray, plan: IntArray) -> int:
        """Add the priced plans whose reduced cost is negative; how many were added."""
        order_dual = np.zeros(self.problem.n_orders)
        order_dual[self.active_orders] = dual[len(self.stock) : self.n_base_rows]
        improving = np.flatnonzero(self.orders & (value - order_dual < NEGATIVE))
        taken = np.flatnonzero(plan)
        pos_order = np.searchsorted(self.blocks.block_start, taken, side="right") - 1
        wanted = np.isin(pos_order, improving)
        taken, pos_order = taken[wanted], pos_order[wanted]
        new_orders, first = np.unique(pos_order, return_index=True)
        self.add_plans(
            new_orders, np.append(first, len(taken)), self.blocks.pos_pair[taken], plan[taken]
        )
        return len(new_orders)

    def bound(self, dual: FloatArray, value: FloatArray) -> float:
        """Lower bound on the chunk's cost at stock duals ``dual`` (all <= 0): each order takes
        its best plan or none, each s column sits at its cheaper end, the stock rows pay their
        duals. Valid for any such duals, which is why rounds may stop early."""
        model, stock_dual = self.model, dual[: len(self.stock)]
        out = float(stock_dual @ model.row_upper[self.stock])
        if self.n_s:
            reduced = -(model.matrix[self.stock, :][:, self.s_cols].T @ stock_dual)
            low, high = model.lower[self.s_cols], model.upper[self.s_cols]
            out += float(np.minimum(reduced * low, reduced * high).sum())
        out += float(dual[self.n_base_rows :] @ self.cut_rhs)
        out += float(np.minimum(0.0, value[self.orders]).sum())
        return out

    def dive(self, lp_values: FloatArray, stop_at: float) -> FloatArray | None:
        """Fix plans step by step (whole ones, then the likeliest fractional ones that fit with
        those fixed), re-pricing the open orders against what is left of the stock and re-solving;
        then give every order still open its best plan that fits. The master columns reached."""
        n_s, plans = self.n_s, self.plans
        use = _StockUse(self.model, self.s_cols)
        fixed = np.zeros(self.problem.n_orders, dtype=np.bool_)
        chosen: list[int] = []
        values = lp_values
        dual = np.zeros(self.n_rows)
        while time.perf_counter() < stop_at:
            lam = np.zeros(plans.count)
            lam[: len(values) - n_s] = values[n_s:]
            order_of = np.asarray(plans.order, dtype=np.int64)
            open_plan = (~fixed[order_of]) & (lam > 1e-6)
            if not open_plan.any():
                break
            ranked = np.flatnonzero(open_plan)[np.argsort(-lam[open_plan], kind="stable")]
            fractional_left = max(1, int(DIVE_FIX_SHARE * int((~fixed & self.orders).sum())))
            newly: list[int] = []
            for j in ranked:
                whole = lam[j] > 1 - 1e-6
                if fixed[order_of[j]] or (not whole and fractional_left <= 0):
                    continue
                if use.try_take(use.rows_of(plans, int(j))):
                    fixed[order_of[j]] = True
                    newly.append(int(j))
                    fractional_left -= 0 if whole else 1
            chosen += newly
            cols = np.asarray(newly, dtype=np.int32) + n_s
            self.h.changeColsBounds(len(cols), cols, np.ones(len(cols)), np.ones(len(cols)))
            # The open orders' plans, re-priced against what is left, so that they fit.
            open_orders = self.orders & ~fixed
            value, plan = self.price(dual, open_orders, use.room())
            added = self.add_improving(dual, np.where(open_orders, value, np.inf), plan)
            if not newly and not added:
                break
            solved = self.solve_lp()
            if solved is None:
                break
            dual, _, values = solved
        self.complete(use, fixed, chosen)
        # Release the fixings for the MILP that follows.
        every = np.arange(n_s, n_s + plans.count, dtype=np.int32)
        self.h.changeColsBounds(len(every), every, np.zeros(len(every)), np.ones(len(every)))
        if not chosen:
            return None
        out = np.zeros(n_s + plans.count)
        out[:n_s] = use.s_values(n_s)
        out[n_s + np.asarray(chosen)] = 1.0
        return out

    def complete(self, use: _StockUse, fixed: BoolArray, chosen: list[int]) -> None:
        """Give each order still open its cheapest plan (true costs) that fits what is left,
        in passes until no order gains one."""
        no_duals = np.zeros(self.n_rows)
        while True:
            open_orders = self.orders & ~fixed
            if not open_orders.any():
                return
            value, plan = self.price(no_duals, open_orders, use.room())
            first = self.plans.count
            self.add_improving(no_duals, np.where(open_orders & (value < 0), value, np.inf), plan)
            gained = 0
            for j in range(first, self.plans.count):
                if use.try_take(use.rows_of(self.plans, j)):
                    fixed[self.plans.order[j]] = True
                    chosen.append(j)
                    gained += 1
            if not gained:
                return

    def milp(self, warm: FloatArray, stop_at: float, fix: IntArray | None = None) -> FloatArray:
        """The master with integral plans, from ``warm``, until ``stop_at``, with the plans
        ``fix`` fixed chosen; its best columns (``warm`` when it finds nothing better).

        Each MILP runs in a fresh HiGHS copy of the master: an interrupted run left the
        interrupt standing, and the next run on the same object stopped at once."""
        n_s, n_cols = self.n_s, self.n_s + self.plans.count
        start = np.zeros(n_cols)
        start[: len(warm)] = warm
        if stop_at - time.perf_counter() < 1e-3:
            return start
        lp = self.h.getLp()
        lp.integrality_ = [highspy.HighsVarType.kContinuous] * n_s + [
            highspy.HighsVarType.kInteger
        ] * self.plans.count
        if fix is not None and len(fix):
            lower = np.asarray(lp.col_lower_, dtype=np.float64)
            lower[n_s + fix] = 1.0
            lp.col_lower_ = lower
        h = _highs(stop_at)
        h.passModel(lp)
        h.setOptionValue("time_limit", max(stop_at - time.perf_counter(), 1e-3))
        solution = highspy.HighsSolution()
        solution.col_value = start.tolist()
        solution.value_valid = True
        h.setSolution(solution)
        h.run()
        out = np.asarray(h.getSolution().col_value, dtype=np.float64)
        # Interrupted before any incumbent, HiGHS hands back an LP point: not integral.
        if len(out) != n_cols or np.abs(out[n_s:] - np.rint(out[n_s:])).max() > 1e-6:
            return start
        out[n_s:] = np.rint(out[n_s:])
        return out if self.cost_of(out) <= self.cost_of(start) else start

    def keep_off_shortfall(self, plan: IntArray, rng: np.random.Generator) -> IntArray:
        """Of the chosen plans ``plan``, those a shortfall neighbourhood keeps fixed: all but the
        plans of orders short of units and of orders sharing a SKU with one (at most
        ``LNS_MAX_FREE`` of the orders, drawn at random when more qualify)."""
        problem, plans, model = self.problem, self.plans, self.model
        line_order = line_order_of(problem)
        filled = np.zeros(problem.n_orders)
        for j in plan:
            filled[plans.order[j]] += float(plans.units[j] @ model.pair_mult[plans.pairs[j]])
        short = self.orders & (filled < self.wanted - 0.5)
        skus = np.unique(problem.line_sku_row[short[line_order]])
        sharing = np.zeros(problem.n_orders, dtype=np.bool_)
        sharing[line_order[np.isin(problem.line_sku_row, skus)]] = True
        free = np.flatnonzero(self.orders & (short | sharing))
        most = max(1, int(LNS_MAX_FREE * len(plan)))
        if len(free) > most:
            free = rng.choice(free, most, replace=False)
        plan_order = np.asarray([plans.order[j] for j in plan], dtype=np.int64)
        return plan[~np.isin(plan_order, free)]

    def cost_of(self, master_values: FloatArray) -> float:
        cost = np.asarray(self.h.getLp().col_cost_)
        return float(cost[: len(master_values)] @ master_values)

    def chunk_values(self, master_values: FloatArray, c0: int, c1: int) -> FloatArray:
        """The chunk's columns (x, y, f, s) for a master solution."""
        model, plans = self.model, self.plans
        values = np.zeros(c1 - c0)
        values[self.s_cols - c0] = master_values[: self.n_s]
        chosen = np.flatnonzero(master_values[self.n_s :] > 0.5)
        for j in chosen:
            pairs = plans.pairs[j]
            values[model.pair_col[pairs] - c0] = plans.units[j]
            values[model.pair_ycol[pairs] - c0] = 1.0
        # A ship-complete order is complete exactly when it has a plan: its plans fill every line.
        chosen_orders = np.asarray([plans.order[j] for j in chosen], dtype=np.int64)
        f_in = (model.f_col >= c0) & (model.f_col < c1)
        values[model.f_col[f_in] - c0] = np.isin(model.f_order[f_in], chosen_orders)
        return values


def _neighbourhood_search(
    master: _Master,
    best: FloatArray,
    lp_values: FloatArray,
    stop: float,
    good_enough: float,
) -> FloatArray:
    """Improve ``best`` by MILPs over neighbourhoods, each freeing some orders while every other
    order keeps its plan, so each MILP is small and starts from ``best``. Two kinds alternate:

    * *around the LP*: the orders not on a plan the LP chose whole, and a random share of the
      others (freeing the orders worse off than their cheapest plan, with everyone sharing stock
      with them, made MILPs too large for a step);
    * *around the shortfall*: the orders short of units and the orders sharing a SKU with them,
      so that a unit can move along a chain of swaps (an unfilled unit costs far more than any
      shipment; the LP-led neighbourhoods stalled two units short on some batches).

    Seeded: the same batch given the same time gets the same neighbourhoods. Stops at ``stop``,
    once the cost is ``good_enough``, or after ``LNS_PATIENCE`` neighbourhoods of each kind in a
    row without a gain."""
    n_s = master.n_s
    rng = np.random.default_rng(0)
    lam = np.zeros(master.plans.count)
    lam[: len(lp_values) - n_s] = lp_values[n_s:]
    idle, step = 0, 0
    while (
        time.perf_counter() < stop
        and master.cost_of(best) > good_enough
        and idle < 2 * LNS_PATIENCE
    ):
        plan = np.flatnonzero(best[n_s:] > 0.5)
        if step % 2:
            keep = master.keep_off_shortfall(plan, rng)
        else:
            whole = lam[plan] > 1 - 1e-6
            free = np.where(
                whole, LNS_FREE_SHARE, LNS_MAX_FREE * len(plan) / max((~whole).sum(), 1)
            )
            keep = plan[rng.random(len(plan)) >= free]
        step += 1
        found = master.milp(best, min(stop, time.perf_counter() + LNS_STEP_SECONDS), keep)
        if master.cost_of(found) < master.cost_of(best) - 1e-9:
            best, idle = found, 0
        else:
            idle += 1
    return best


def _plan_incidence(
    model: MilpModel, pairs: IntArray, units: IntArray, plan_of: IntArray, n_plans: int
) -> sp.csc_matrix:
    """``[P, n_plans]``: the column units plan ``plan_of[i]`` takes of x column ``pairs[i]``."""
    return sp.csc_matrix(
        (units.astype(np.float64), (pairs, plan_of)), shape=(len(model.pair_col), n_plans)
    )


def _cuttable_pairs(
    model: MilpModel, blocks: _Blocks, stock: IntArray, s_cols: IntArray
) -> BoolArray:
    """``[P]`` the x columns a rounding cut may count: whole lines (0/1 columns) on a stock row of
    the chunk that no reserve's ``s`` column shares (there the row is not a plain knapsack)."""
    plain = np.zeros(len(model.row_upper), dtype=np.bool_)
    plain[stock] = True
    if len(s_cols):
        plain[model.matrix[:, s_cols].tocsr().nonzero()[0]] = False
    row = model.pair_stock_row
    whole = blocks.line_whole[model.pair_line]
    out: BoolArray = whole & (row >= 0) & plain[np.maximum(row, 0)]
    return out


def _highs(stop_at: float) -> highspy.Highs:
    """A quiet single-threaded HiGHS that stops at ``stop_at``: HiGHS checks its time_limit only
    now and then, so the simplex and the branch-and-bound also stop through an interrupt."""
    h = highspy.Highs()  # type: ignore[no-untyped-call]  # highspy leaves __init__ unannotated
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)  # the box has 2 cores shared with the server and the store
    h.setOptionValue("mip_rel_gap", 1e-4)

    def stop(event: highspy.HighsCallbackEvent) -> None:
        if time.perf_counter() > stop_at:
            event.interrupt()

    h.cbSimplexInterrupt += stop
    h.cbMipInterrupt += stop
    return h


def solve_by_order(
    problem: BatchProblem,
    model: MilpModel,
    orders: BoolArray,
    columns: tuple[int, int],
    rows: tuple[int, int],
    start: FloatArray,
    deadline: float,
    offset: float,
) -> DecompositionResult:
    """Solve the chunk of ``model`` made of ``orders`` (its columns ``[c0, c1)``, rows ``[r0, r1)``)
    by decomposition; ``start`` holds the chunk's columns of a feasible assignment and ``offset``
    the chunk's objective constant (for relative gaps)."""
    started = time.perf_counter()
    c0, c1 = columns
    master = _Master(problem, model, orders, columns, rows, deadline)
    # The start's plans seed the master, so it is feasible and the MILP has its incumbent.
    master.add_assignment(start, c0)
    n_start = master.plans.count
    start_master = np.zeros(master.n_s + n_start)
    start_master[: master.n_s] = start[master.s_cols - c0]
    start_master[master.n_s :] = 1.0

    bound, rounds, cut_rounds = -math.inf, 0, 0
    lp_values: FloatArray | None = None
    span = deadline - started
    while time.perf_counter() < started + PRICING_TIME_SHARE * span:
        solved = master.solve_lp()
        if solved is None:
            break
        dual, lp_value, lp_values = solved
        rounds += 1
        value, plan = master.price(dual, orders)
        bound = max(bound, master.bound(dual, value))
        converged = lp_value - bound <= LP_CONVERGED * max(abs(lp_value + offset), 1.0)
        if converged or not master.add_improving(dual, value, plan):
            # The LP is as good as these plans make it: cut off its fractional use of stock
            # cells, and generate again.
            if cut_rounds >= CUT_ROUNDS or not master.add_rounding_cuts(lp_values):
                break
            cut_rounds += 1
    if master.plans.count == 0:
        return DecompositionResult(start.copy(), bound, False, rounds)  # nothing can ship

    # The search starts from the dive even when the start is cheaper: the dive follows the LP,
    # so its neighbourhoods are small enough to solve (from the start they were not, on seed 700).
    best = start_master
    if lp_values is not None and len(lp_values):
        dived = master.dive(lp_values, started + DIVE_TIME_SHARE * span)
        if dived is not None:
            best = dived
    # The MILP over every plan from the best so far either finishes (most batches measured) or
    # spends the budget in root cuts (3 s on a third of them). So first a few small MILPs, each
    # with most orders fixed at their current plan and the contested ones free (a large
    # neighbourhood search): each solves in moments and none can lose what the last one had.
    # Proven within HiGHS's own gap of the bound: nothing more to search for.
    good_enough = bound + 1e-4 * abs(bound + offset)
    if lp_values is not None and len(lp_values):
        now = time.perf_counter()
        stop = now + LNS_TIME_SHARE * (deadline - now)
        best = _neighbourhood_search(master, best, lp_values, stop, good_enough)
    if master.cost_of(start_master) < master.cost_of(best):
        best = start_master
    if master.cost_of(best) <= good_enough:
        return DecompositionResult(master.chunk_values(best, c0, c1), bound, False, rounds)
    final = master.milp(best, deadline)
    return DecompositionResult(master.chunk_values(final, c0, c1), bound, False, rounds)
