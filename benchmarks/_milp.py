"""The proven optimum of a batch: a mixed-integer program solved by HiGHS (scipy.optimize.milp).

Formulation (the brief's tested model, extended to the default policy's rules: a line's units may be
split across warehouses, at most ``max_shipments`` warehouses per order, service-level eligibility):

- ``x[l, w]`` integer units of line ``l`` from warehouse ``w``, created only where ``w`` is eligible
  for the order and holds the SKU, ``0 <= x <= min(quantity, available)``;
- ``y[o, w]`` binary, 1 when order ``o`` ships from ``w``;
- ``u[l]`` units of line ``l`` left unfilled.

Constraints: ``sum_w x[l, w] + u[l] = quantity[l]``; ``x[l, w] <= ub[l, w] * y[o(l), w]``; ``sum_{l
of sku s} x[l, w] <= available[s, w]``; ``sum_w y[o, w] <= max_shipments``. Objective: ``sum y *
(shipment_weight + distance_weight * km) + unit_penalty * sum u``, with the policy's weights (100
per shipment, 0.1 per km: one shipment is worth 1,000 km) and an unfilled unit dearer than any three
shipments, so the optimum fills as much as any policy could.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

from benchmarks._decisions import Decision, make_decision
from benchmarks._naive import haversine_km, serves_level, zip_coordinates
from engine import Order, Warehouse

__all__ = ["MilpResult", "solve_optimum"]


@dataclass(frozen=True)
class MilpResult:
    decisions: list[Decision]
    objective: float
    bound: float  # best proven lower bound
    gap: float  # (objective - bound) / objective
    optimal: bool
    seconds: float
    variables: int
    constraints: int


def solve_optimum(
    orders: Sequence[Order],
    warehouses: Sequence[Warehouse],
    stock: dict[tuple[str, str], int],
    *,
    max_shipments: int = 3,
    shipment_weight: float = 100.0,
    distance_weight: float = 0.1,
    unit_penalty: float = 10_000.0,
    time_limit: float = 120.0,
    mip_rel_gap: float = 1e-6,
) -> MilpResult:
    """Solve the batch jointly against ``stock`` (``{(sku, warehouse_id): available}``; it is
    not changed)."""
    started = time.perf_counter()
    zips = zip_coordinates()
    line_order: list[int] = []
    line_qty: list[int] = []
    line_sku: list[str] = []
    line_id: list[str] = []
    pair_line: list[int] = []  # x variables
    pair_wh: list[int] = []
    pair_ub: list[int] = []
    y_index: dict[tuple[int, int], int] = {}
    y_cost: list[float] = []
    distance: dict[tuple[int, int], float] = {}
    for o, order in enumerate(orders):
        if order.ship_to.latitude is not None and order.ship_to.longitude is not None:
            lat, lon = order.ship_to.latitude, order.ship_to.longitude
        else:
            found = zips.get(order.ship_to.postal_code.strip()[:5])
            if found is None:
                raise ValueError(f"order {order.channel_order_id}: unknown postal code")
            lat, lon = found
        eligible = [w for w, wh in enumerate(warehouses) if serves_level(wh, order.service_level)]
        for line in order.lines:
            line_index = len(line_qty)
            line_order.append(o)
            line_qty.append(line.quantity)
            line_sku.append(line.sku)
            line_id.append(line.line_id)
            for w in eligible:
                have = stock.get((line.sku, warehouses[w].warehouse_id), 0)
                if have <= 0:
                    continue
                if (o, w) not in y_index:
                    km = haversine_km(lat, lon, warehouses[w].latitude, warehouses[w].longitude)
                    distance[(o, w)] = km
                    y_index[(o, w)] = len(y_cost)
                    y_cost.append(shipment_weight + distance_weight * km)
                pair_line.append(line_index)
                pair_wh.append(w)
                pair_ub.append(min(line.quantity, have))
    n_x, n_y, n_u = len(pair_line), len(y_cost), len(line_qty)
    n_var = n_x + n_y + n_u
    x0, y0, u0 = 0, n_x, n_x + n_y
    cost = np.concatenate([np.zeros(n_x), np.array(y_cost), np.full(n_u, unit_penalty)])
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    lower: list[float] = []
    upper: list[float] = []

    def add_row(entries: list[tuple[int, float]], lo: float, hi: float) -> None:
        r = len(lower)
        for c, v in entries:
            rows.append(r)
            cols.append(c)
            vals.append(v)
        lower.append(lo)
        upper.append(hi)

    by_line: list[list[int]] = [[] for _ in range(n_u)]
    by_cell: dict[tuple[str, int], list[int]] = {}
    for p in range(n_x):
        by_line[pair_line[p]].append(p)
        by_cell.setdefault((line_sku[pair_line[p]], pair_wh[p]), []).append(p)
    for line_index in range(n_u):  # every unit is placed or unfilled
        entries = [(x0 + p, 1.0) for p in by_line[line_index]] + [(u0 + line_index, 1.0)]
        add_row(entries, line_qty[line_index], line_qty[line_index])
    for p in range(n_x):  # units only from a warehouse the order ships from
        y = y_index[(line_order[pair_line[p]], pair_wh[p])]
        add_row([(x0 + p, 1.0), (y0 + y, -float(pair_ub[p]))], -np.inf, 0.0)
    for (sku, w), members in by_cell.items():  # never more than is available
        add_row([(x0 + p, 1.0) for p in members], -np.inf, stock[(sku, warehouses[w].warehouse_id)])
    per_order: dict[int, list[int]] = {}
    for (o, _w), y in y_index.items():
        per_order.setdefault(o, []).append(y)
    for ys in per_order.values():  # split limit
        add_row([(y0 + y, 1.0) for y in ys], -np.inf, max_shipments)

    matrix = sp.csr_array((vals, (rows, cols)), shape=(len(lower), n_var))
    integrality = np.concatenate([np.ones(n_x), np.ones(n_y), np.zeros(n_u)])
    ub = np.concatenate([np.array(pair_ub, float), np.ones(n_y), np.array(line_qty, float)])
    result = milp(
        cost,
        constraints=LinearConstraint(matrix, np.array(lower), np.array(upper)),
        integrality=integrality,
        bounds=Bounds(np.zeros(n_var), ub),
        options={"time_limit": time_limit, "mip_rel_gap": mip_rel_gap, "disp": False},
    )
    if result.x is None:
        raise RuntimeError(f"HiGHS found no solution: {result.message}")
    x = np.rint(result.x[:n_x]).astype(np.int64)
    placed: list[dict[str, dict[str, int]]] = [{} for _ in orders]
    for p in np.flatnonzero(x).tolist():
        line_index = pair_line[p]
        o = line_order[line_index]
        wid = warehouses[pair_wh[p]].warehouse_id
        placed[o].setdefault(wid, {})[line_id[line_index]] = int(x[p])
    decisions = []
    for o, order in enumerate(orders):
        ordered = sum(line.quantity for line in order.lines)
        km_of = {warehouses[w].warehouse_id: d for (oo, w), d in distance.items() if oo == o}
        decisions.append(make_decision(placed[o], km_of, ordered))
    objective = float(result.fun)
    bound = float(getattr(result, "mip_dual_bound", objective) or objective)
    gap = float(getattr(result, "mip_gap", 0.0) or 0.0)
    return MilpResult(
        decisions=decisions,
        objective=objective,
        bound=bound,
        gap=gap,
        optimal=result.status == 0,
        seconds=time.perf_counter() - started,
        variables=n_var,
        constraints=len(lower),
    )
