"""The batch optimiser's mixed-integer model, built with numpy and scipy.sparse (no Python loops).

Columns, in this order:

* ``x[p]`` for each candidate pair ``p = (line, warehouse)``: units shipped, integer in ``[0, ub]``
  when the order may split lines; binary ("the whole line from here") when it may not. ``mult[p]``
  turns a column value into units (1, or the line quantity for a binary column).
* ``y[q]`` for each (order, warehouse) pair a candidate uses: binary, "the order ships from here".
* ``f[i]`` for each ship-complete order: binary, "every line of the order is filled".
* ``s[r]`` for each (stock cell, reserving channel) whose reserve can bind: units the channel takes
  beyond what its reserve covers.

Unfilled units are not columns: each unit shipped earns ``-unfilled_penalty`` and the constant
``unfilled_penalty * total units`` is added back, so the model's objective equals
:func:`engine._optimize.objective_of` of the assignment the columns describe.

Stock and reserves per (sku, warehouse) cell follow the allocator's contract (``engine._policy``
module docstring): with ``free = on_hand - reserved``, ``r[c]`` what is left of channel c's reserve
and ``E = free - sum(r)``, channel c may take ``T[c] <= max(0, E + r[c])`` units and everybody else
``max(0, E)``. Taken jointly and in any order, a batch is feasible iff::

    T_other + sum_c max(0, T[c] - rc[c]) <= max(0, E)     with rc[c] = max(0, r[c] + min(0, E))

which is ``sum_c max(r[c], T[c]) + T_other <= free`` whenever the reserves fit in ``free``, and
still the allocator's rule when they do not (an over-committed reserve lets its channel draw only on
what is really there). The model writes ``max(0, T[c] - rc[c])`` as ``s >= T[c] - rc[c], s >= 0``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

if TYPE_CHECKING:
    from engine._optimize import BatchProblem

__all__ = ["CellTakes", "MilpModel", "build_model", "cell_takes", "usable_capacity"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def usable_capacity(problem: BatchProblem) -> IntArray:
    """``[L, W]`` units each line's order may take from each warehouse's cell on its own.

    ``max(0, E + r[c])`` for an order of reserving channel c, ``max(0, E)`` for any other order,
    where ``E = free - sum_c r[c]`` (the allocator's ``usable_by``).
    """
    excess = problem.free - problem.reserve_remaining.sum(axis=0)  # [k, W]
    line_order = line_order_of(problem)
    channel = problem.order_channel[line_order]  # [L]
    own_reserve = np.zeros((len(channel), excess.shape[1]), dtype=np.int64)
    reserving = channel >= 0
    if reserving.any():
        own_reserve[reserving] = problem.reserve_remaining[
            channel[reserving], problem.line_sku_row[reserving]
        ]
    usable: IntArray = np.maximum(0, excess[problem.line_sku_row] + own_reserve)
    return usable


def line_order_of(problem: BatchProblem) -> IntArray:
    """``[L]`` the order index of each line, from the CSR offsets."""
    counts = np.diff(problem.line_start)
    return np.repeat(np.arange(len(counts), dtype=np.int64), counts)


@dataclass(frozen=True)
class CellTakes:
    """Units a whole assignment takes per stock cell, split by who takes them (see module doc)."""

    cell_sku: IntArray  # [m] sku row of each touched cell
    cell_wh: IntArray  # [m] warehouse of each touched cell
    other: IntArray  # [m] units taken by orders of no reserving channel
    by_channel: IntArray  # [m, C] units taken by each reserving channel's orders
    excess: IntArray  # [m] E = free - sum of remaining reserves
    reserve: IntArray  # [m, C] remaining reserve per channel

    def beyond_reserve(self) -> IntArray:
        """``[m, C]`` units each channel takes beyond its reserve (adjusted for over-commit)."""
        covered = np.maximum(0, self.reserve + np.minimum(0, self.excess)[:, None])
        out: IntArray = np.maximum(0, self.by_channel - covered)
        return out

    def overdraw(self) -> IntArray:
        """``[m]`` units by which each cell's shared pool is overdrawn (> 0 means infeasible)."""
        out: IntArray = self.other + self.beyond_reserve().sum(axis=1) - np.maximum(0, self.excess)
        return out


def cell_takes(problem: BatchProblem, quantity: IntArray) -> CellTakes:
    """Sum an ``[L, W]`` assignment into the cells it touches (vectorised over nonzeros)."""
    n_wh = problem.free.shape[1]
    n_channels = problem.reserve_remaining.shape[0]
    lines, whs = np.nonzero(quantity)
    units = quantity[lines, whs]
    cell = problem.line_sku_row[lines] * n_wh + whs
    channel = problem.order_channel[line_order_of(problem)[lines]]
    cells, inv = np.unique(cell, return_inverse=True)
    m = len(cells)
    other = np.bincount(inv[channel < 0], weights=units[channel < 0], minlength=m)
    by_channel = np.zeros((m, n_channels), dtype=np.int64)
    reserving = channel >= 0
    np.add.at(by_channel, (inv[reserving], channel[reserving]), units[reserving])
    cell_sku, cell_wh = np.divmod(cells, n_wh)
    reserve = problem.reserve_remaining[:, cell_sku, cell_wh].T.reshape(m, n_channels)
    excess = problem.free[cell_sku, cell_wh] - reserve.sum(axis=1)
    return CellTakes(
        cell_sku=cell_sku.astype(np.int64),
        cell_wh=cell_wh.astype(np.int64),
        other=np.rint(other).astype(np.int64),
        by_channel=by_channel,
        excess=excess.astype(np.int64),
        reserve=reserve.astype(np.int64),
    )


@dataclass(frozen=True)
class MilpModel:
    """One MILP over the whole batch, columns and rows sorted by component so that each component
    is a contiguous block (``col_start``/``row_start`` are CSR-style offsets per component)."""

    n_components: int
    col_start: IntArray  # [n_components + 1]
    row_start: IntArray  # [n_components + 1]
    matrix: sp.csc_matrix  # [rows, cols], block diagonal by component
    cost: FloatArray  # [cols]
    lower: FloatArray  # [cols]
    upper: FloatArray  # [cols]
    integer: BoolArray  # [cols]
    row_lower: FloatArray  # [rows]
    row_upper: FloatArray  # [rows]
    constant: float  # objective constant: the penalty of every unit, as if nothing shipped
    component_constant: FloatArray  # [n_components] the part of ``constant`` each component owns
    # Where the x columns came from, to turn a column vector back into an [L, W] assignment.
    pair_line: IntArray  # [P]
    pair_wh: IntArray  # [P]
    pair_mult: IntArray  # [P] units per unit of the column
    pair_col: IntArray  # [P] column index of each pair after the sort
    pair_ycol: IntArray  # [P] column index of the pair's shipment (y) column
    order_component: IntArray  # [n] component of each order, -1 when it has no candidate
    # Columns that turn a warm-start assignment into a full column vector.
    y_order: IntArray  # [Y]
    y_wh: IntArray  # [Y]
    y_col: IntArray  # [Y]
    f_order: IntArray  # [F]
    f_col: IntArray  # [F]
    s_cell: IntArray  # [S] cell id (sku * W + w)
    s_channel: IntArray  # [S]
    s_cover: IntArray  # [S] rc: what the channel may take in the cell before drawing on the pool
    s_col: IntArray  # [S]
    # The stock rows (binding cells' pools and reserves) and the one each x column draws on, -1
    # where its cell cannot bind: what the per-order decomposition (``engine._optimize_dw``) keeps.
    stock_rows: IntArray  # [R] row indices
    pair_stock_row: IntArray  # [P] row index or -1
    pair_ub: IntArray  # [P] upper bound of the x column (in column units)
    y_cost: FloatArray  # [Y] cost of each shipment

    def columns_of(self, quantity: IntArray, problem: BatchProblem) -> FloatArray:
        """The column vector describing a feasible ``[L, W]`` assignment (the warm start)."""
        col = np.zeros(len(self.cost))
        units = quantity[self.pair_line, self.pair_wh]
        col[self.pair_col] = units // self.pair_mult
        order_units = order_warehouse_units(problem, quantity)
        col[self.y_col] = order_units[self.y_order, self.y_wh] > 0
        shipped = quantity.sum(axis=1)
        complete = filled_orders(problem, shipped)
        col[self.f_col] = complete[self.f_order]
        if len(self.s_col):
            takes = cell_takes(problem, quantity)
            n_wh = problem.free.shape[1]
            touched = takes.cell_sku * n_wh + takes.cell_wh  # sorted (np.unique)
            at = np.minimum(np.searchsorted(touched, self.s_cell), max(len(touched) - 1, 0))
            found = (
                touched[at] == self.s_cell if len(touched) else np.zeros(len(self.s_cell), np.bool_)
            )
            taken = np.zeros(len(self.s_col), dtype=np.int64)
            taken[found] = takes.by_channel[at[found], self.s_channel[found]]
            col[self.s_col] = np.maximum(0, taken - self.s_cover)
        return col


def order_warehouse_units(problem: BatchProblem, quantity: IntArray) -> IntArray:
    """``[n, W]`` units each order ships from each warehouse (prefix sums over the CSR lines)."""
    prefix = np.zeros((quantity.shape[0] + 1, quantity.shape[1]), dtype=np.int64)
    np.cumsum(quantity, axis=0, out=prefix[1:])
    out: IntArray = prefix[problem.line_start[1:]] - prefix[problem.line_start[:-1]]
    return out


def filled_orders(problem: BatchProblem, shipped_per_line: IntArray) -> BoolArray:
    """``[n]`` True where every line of the order got its full quantity."""
    return filled_orders_mask(problem, shipped_per_line >= problem.line_qty)


def build_model(problem: BatchProblem) -> MilpModel:
    """Prune, formulate and decompose the batch (see module doc for the columns)."""
    n = len(problem.line_start) - 1
    n_wh = problem.free.shape[1]
    line_order = line_order_of(problem)
    qty = problem.line_qty
    split = problem.allow_line_split[line_order]
    penalty = problem.unfilled_penalty

    # Prune: a pair is a candidate only if the warehouse is eligible, has a finite cost and can
    # hold at least one unit (split) or the whole line (no split) for this order's channel.
    usable = usable_capacity(problem)
    finite = np.isfinite(problem.distance_km)[line_order]
    need = np.where(split, 1, qty)[:, None]
    candidate = problem.eligible & finite & (usable >= need) & (qty > 0)[:, None]
    candidate &= (problem.max_shipments > 0)[line_order][:, None]
    # A ship-complete order with a line that nothing can fill ships nothing at all.
    line_has = candidate.any(axis=1) | (qty <= 0)
    hopeless = ~filled_orders_mask(problem, line_has) & problem.ship_complete
    candidate &= ~hopeless[line_order][:, None]

    pair_line, pair_wh = np.nonzero(candidate)
    pair_line = pair_line.astype(np.int64)
    pair_wh = pair_wh.astype(np.int64)
    n_pairs = len(pair_line)
    pair_order = line_order[pair_line]
    pair_split = split[pair_line]
    pair_mult = np.where(pair_split, 1, qty[pair_line]).astype(np.int64)
    pair_ub = np.where(
        pair_split, np.minimum(qty[pair_line], usable[pair_line, pair_wh]), 1
    ).astype(np.int64)
    pair_units_max = pair_ub * pair_mult

    y_key, pair_y = np.unique(pair_order * n_wh + pair_wh, return_inverse=True)
    y_order, y_wh = np.divmod(y_key, n_wh)
    n_y = len(y_key)
    y_cost = problem.shipment_weight + problem.distance_weight * problem.distance_km[y_order, y_wh]

    f_order = np.flatnonzero(problem.ship_complete & np.isin(np.arange(n), pair_order))
    n_f = len(f_order)
    f_index = np.full(n, -1, dtype=np.int64)
    f_index[f_order] = np.arange(n_f)

    # Stock cells: keep only those that can bind (see module doc); they alone connect orders.
    pair_cell = problem.line_sku_row[pair_line] * n_wh + pair_wh
    pair_channel = problem.order_channel[pair_order]
    cells, pair_cell_idx = np.unique(pair_cell, return_inverse=True)
    n_cells = len(cells)
    cell_sku, cell_wh = np.divmod(cells, n_wh)
    n_channels = problem.reserve_remaining.shape[0]
    cell_reserve = problem.reserve_remaining[:, cell_sku, cell_wh].T.reshape(n_cells, n_channels)
    cell_excess = problem.free[cell_sku, cell_wh] - cell_reserve.sum(axis=1)
    cell_pool = np.maximum(0, cell_excess)
    cover = np.maximum(0, cell_reserve + np.minimum(0, cell_excess)[:, None])  # rc [cells, C]
    # A channel whose cover is zero in a cell draws on the pool like anybody else: no s column.
    pair_cover = np.zeros(n_pairs, dtype=np.int64)
    reserving = pair_channel >= 0
    pair_cover[reserving] = cover[pair_cell_idx[reserving], pair_channel[reserving]]
    pair_has_s = pair_cover > 0
    s_key, pair_s = np.unique(
        pair_cell_idx[pair_has_s] * max(n_channels, 1) + pair_channel[pair_has_s],
        return_inverse=True,
    )
    s_cell_idx, s_channel = np.divmod(s_key, max(n_channels, 1))
    s_cover = cover[s_cell_idx, s_channel] if len(s_key) else np.zeros(0, dtype=np.int64)
    # Most a channel can take beyond its cover, and most the others can take: a cell whose worst
    # case fits in the pool cannot bind, so it gets no rows and connects nobody.
    s_take_max = np.bincount(pair_s, weights=pair_units_max[pair_has_s], minlength=len(s_key))
    s_beyond_max = np.maximum(0, s_take_max - s_cover)
    pool_demand = np.bincount(
        pair_cell_idx[~pair_has_s], weights=pair_units_max[~pair_has_s], minlength=n_cells
    ) + np.bincount(s_cell_idx, weights=s_beyond_max, minlength=n_cells)
    cell_binds = pool_demand > cell_pool
    s_keep = cell_binds[s_cell_idx]
    s_new = np.full(len(s_key), -1, dtype=np.int64)
    s_new[s_keep] = np.arange(int(s_keep.sum()))
    s_cell_idx, s_channel, s_cover = s_cell_idx[s_keep], s_channel[s_keep], s_cover[s_keep]
    n_s = len(s_cell_idx)
    pair_s_full = np.full(n_pairs, -1, dtype=np.int64)
    pair_s_full[pair_has_s] = s_new[pair_s]
    bind_cells = np.flatnonzero(cell_binds)
    cell_row = np.full(n_cells, -1, dtype=np.int64)
    cell_row[bind_cells] = np.arange(len(bind_cells))

    # Components: orders joined through binding cells (bipartite order-cell graph).
    on_binding = cell_binds[pair_cell_idx]
    graph = sp.coo_matrix(
        (
            np.ones(int(on_binding.sum())),
            (pair_order[on_binding], n + cell_row[pair_cell_idx[on_binding]]),
        ),
        shape=(n + len(bind_cells), n + len(bind_cells)),
    )
    _, label = connected_components(graph, directed=False)
    has_pair = np.zeros(n, dtype=np.bool_)
    has_pair[pair_order] = True
    # Compact labels over orders that have candidates, numbered by their first order.
    first_label, order_comp = np.unique(label[:n][has_pair], return_inverse=True)
    first_order = np.full(len(first_label), n, dtype=np.int64)
    np.minimum.at(first_order, order_comp, np.flatnonzero(has_pair))
    renumber = np.empty(len(first_label), dtype=np.int64)
    renumber[np.argsort(first_order, kind="stable")] = np.arange(len(first_label))
    order_component = np.full(n, -1, dtype=np.int64)
    order_component[has_pair] = renumber[order_comp]
    n_comp = len(first_label)
    bind_comp = np.zeros(len(bind_cells), dtype=np.int64)
    bind_comp[cell_row[pair_cell_idx[on_binding]]] = order_component[pair_order[on_binding]]

    # Column layout before sorting: x | y | f | s.
    x0, y0, f0, s0 = 0, n_pairs, n_pairs + n_y, n_pairs + n_y + n_f
    n_cols = s0 + n_s
    cost = np.concatenate(
        [-penalty * pair_mult.astype(np.float64), y_cost, np.zeros(n_f), np.zeros(n_s)]
    )
    lower = np.zeros(n_cols)
    upper = np.concatenate(
        [pair_ub.astype(np.float64), np.ones(n_y), np.ones(n_f), s_beyond_max[s_keep]]
    )
    integer = np.concatenate(
        [np.ones(n_pairs + n_y + n_f, dtype=np.bool_), np.zeros(n_s, dtype=np.bool_)]
    )
    col_comp = np.concatenate(
        [
            order_component[pair_order],
            order_component[y_order],
            order_component[f_order],
            bind_comp[cell_row[s_cell_idx]],
        ]
    )
    constant = penalty * float(qty[qty > 0].sum())
    line_ids_with_pair = np.unique(pair_line)
    component_constant = np.bincount(
        order_component[line_order[line_ids_with_pair]],
        weights=penalty * qty[line_ids_with_pair].astype(np.float64),
        minlength=n_comp,
    ).astype(np.float64)

    rows: list[tuple[IntArray, IntArray, FloatArray]] = []  # (row, col, value) blocks
    row_lo: list[FloatArray] = []
    row_hi: list[FloatArray] = []
    row_comp: list[IntArray] = []
    n_rows = 0

    def add_rows(
        count: int,
        entries: tuple[IntArray, IntArray, FloatArray],
        lo: FloatArray,
        hi: FloatArray,
        comp: IntArray,
    ) -> None:
        nonlocal n_rows
        r, c, v = entries
        rows.append((r + n_rows, c, v))
        row_lo.append(lo)
        row_hi.append(hi)
        row_comp.append(comp)
        n_rows += count

    # Lines: units shipped <= quantity; for ship-complete orders, == quantity * f[order].
    line_ids, pair_line_row = np.unique(pair_line, return_inverse=True)
    sc_line = problem.ship_complete[line_order[line_ids]]
    sc_rows = np.flatnonzero(sc_line)
    add_rows(
        len(line_ids),
        (
            np.concatenate([pair_line_row, sc_rows]),
            np.concatenate([x0 + np.arange(n_pairs), f0 + f_index[line_order[line_ids[sc_rows]]]]),
            np.concatenate([pair_mult.astype(np.float64), -qty[line_ids[sc_rows]].astype(float)]),
        ),
        np.where(sc_line, 0.0, -np.inf),
        np.where(sc_line, 0.0, qty[line_ids].astype(np.float64)),
        order_component[line_order[line_ids]],
    )
    # Linking, disaggregated (tighter LP): x[p] <= ub[p] * y[order, w].
    add_rows(
        n_pairs,
        (
            np.concatenate([np.arange(n_pairs), np.arange(n_pairs)]),
            np.concatenate([x0 + np.arange(n_pairs), y0 + pair_y]),
            np.concatenate([np.ones(n_pairs), -pair_ub.astype(np.float64)]),
        ),
        np.full(n_pairs, -np.inf),
        np.zeros(n_pairs),
        order_component[pair_order],
    )
    # A shipment that costs nothing (a "prefer" bonus) must still carry a unit to count.
    free_y = np.flatnonzero(y_cost <= 0)
    if len(free_y):
        free_row = np.full(n_y, -1, dtype=np.int64)
        free_row[free_y] = np.arange(len(free_y))
        on_free = free_row[pair_y] >= 0
        add_rows(
            len(free_y),
            (
                np.concatenate([np.arange(len(free_y)), free_row[pair_y[on_free]]]),
                np.concatenate([y0 + free_y, x0 + np.flatnonzero(on_free)]),
                np.concatenate([np.ones(len(free_y)), -np.ones(int(on_free.sum()))]),
            ),
            np.full(len(free_y), -np.inf),
            np.zeros(len(free_y)),
            order_component[y_order[free_y]],
        )
    # Max shipments per order, only where the order has more candidate warehouses than allowed.
    per_order = np.bincount(y_order, minlength=n)
    capped = np.flatnonzero(per_order > problem.max_shipments)
    if len(capped):
        cap_row = np.full(n, -1, dtype=np.int64)
        cap_row[capped] = np.arange(len(capped))
        on_cap = cap_row[y_order] >= 0
        add_rows(
            len(capped),
            (
                cap_row[y_order[on_cap]],
                y0 + np.flatnonzero(on_cap),
                np.ones(int(on_cap.sum())),
            ),
            np.full(len(capped), -np.inf),
            problem.max_shipments[capped].astype(np.float64),
            order_component[capped],
        )
    # Binding cells: pool takers + s columns <= pool.
    on_pool = on_binding & (pair_s_full < 0)
    pool_row0 = n_rows
    add_rows(
        len(bind_cells),
        (
            np.concatenate([cell_row[pair_cell_idx[on_pool]], cell_row[s_cell_idx]]),
            np.concatenate([x0 + np.flatnonzero(on_pool), s0 + np.arange(n_s)]),
            np.concatenate([pair_mult[on_pool].astype(np.float64), np.ones(n_s)]),
        ),
        np.full(len(bind_cells), -np.inf),
        cell_pool[bind_cells].astype(np.float64),
        bind_comp,
    )
    # Reserve rows: channel's units - s <= cover.
    on_s = pair_s_full >= 0
    reserve_row0 = n_rows
    add_rows(
        n_s,
        (
            np.concatenate([pair_s_full[on_s], np.arange(n_s)]),
            np.concatenate([x0 + np.flatnonzero(on_s), s0 + np.arange(n_s)]),
            np.concatenate([pair_mult[on_s].astype(np.float64), -np.ones(n_s)]),
        ),
        np.full(n_s, -np.inf),
        s_cover.astype(np.float64),
        bind_comp[cell_row[s_cell_idx]],
    )

    r_all = np.concatenate([b[0] for b in rows])
    c_all = np.concatenate([b[1] for b in rows])
    v_all = np.concatenate([b[2] for b in rows])
    r_comp = np.concatenate(row_comp).astype(np.int64)
    col_order = np.argsort(col_comp, kind="stable")
    row_order = np.argsort(r_comp, kind="stable")
    col_pos = np.empty(n_cols, dtype=np.int64)
    col_pos[col_order] = np.arange(n_cols)
    row_pos = np.empty(n_rows, dtype=np.int64)
    row_pos[row_order] = np.arange(n_rows)
    matrix = sp.csc_matrix(
        (v_all, (row_pos[r_all], col_pos[c_all])), shape=(n_rows, n_cols), dtype=np.float64
    )
    matrix.sum_duplicates()
    pair_stock_row = np.full(n_pairs, -1, dtype=np.int64)
    pair_stock_row[on_pool] = row_pos[pool_row0 + cell_row[pair_cell_idx[on_pool]]]
    pair_stock_row[on_s] = row_pos[reserve_row0 + pair_s_full[on_s]]
    return MilpModel(
        n_components=n_comp,
        col_start=np.searchsorted(col_comp[col_order], np.arange(n_comp + 1)).astype(np.int64),
        row_start=np.searchsorted(r_comp[row_order], np.arange(n_comp + 1)).astype(np.int64),
        matrix=matrix,
        cost=cost[col_order],
        lower=lower[col_order],
        upper=upper[col_order],
        integer=integer[col_order],
        row_lower=np.concatenate(row_lo)[row_order],
        row_upper=np.concatenate(row_hi)[row_order],
        constant=constant,
        component_constant=component_constant,
        pair_line=pair_line,
        pair_wh=pair_wh,
        pair_mult=pair_mult,
        pair_col=col_pos[x0 + np.arange(n_pairs)],
        pair_ycol=col_pos[y0 + pair_y],
        order_component=order_component,
        y_order=y_order.astype(np.int64),
        y_wh=y_wh.astype(np.int64),
        y_col=col_pos[y0 + np.arange(n_y)],
        f_order=f_order.astype(np.int64),
        f_col=col_pos[f0 + np.arange(n_f)],
        s_cell=cells[s_cell_idx].astype(np.int64),
        s_channel=s_channel.astype(np.int64),
        s_cover=s_cover.astype(np.int64),
        s_col=col_pos[s0 + np.arange(n_s)],
        stock_rows=np.sort(row_pos[pool_row0 : reserve_row0 + n_s]),
        pair_stock_row=pair_stock_row,
        pair_ub=pair_ub,
        y_cost=y_cost.astype(np.float64),
    )


def filled_orders_mask(problem: BatchProblem, line_ok: BoolArray) -> BoolArray:
    """``[n]`` True where ``line_ok`` holds for every line of the order."""
    bad = (~line_ok).astype(np.int64)
    prefix = np.concatenate([[0], np.cumsum(bad)])
    out: BoolArray = (prefix[problem.line_start[1:]] - prefix[problem.line_start[:-1]]) == 0
    return out
