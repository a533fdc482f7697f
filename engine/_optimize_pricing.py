"""The per-order pricing problem of the decomposition (numba, ``cache=True``); see
:mod:`engine._optimize_dw` for where it sits.

For one order, given a reduced cost per column unit of every (line, warehouse) pair and the cost of
every shipment, find the plan (a set ``S`` of at most ``K`` warehouses and the units each line takes
from them) of least reduced cost. It is solved exactly by enumerating ``S``:

* a warehouse *dominated* by at least ``K`` others (each as cheap to ship from, with as much room
  and as cheap a unit for every line) is dropped first: an optimal ``S`` never needs it, since one
  of its dominators is outside ``S`` and takes its units for no more;
* for each ``S`` every line takes its cheapest units from ``S`` (only units that pay, unless the
  order must ship complete, when every line must be filled or the set is infeasible).

A set may include a warehouse that ends up shipping nothing; its value then counts that shipment,
which is still a lower bound on every real plan, so the minimum stays a valid bound. When even
the pruned enumeration would exceed ``ENUMERATION_LIMIT`` sets, the order gets a cheap relaxation
for the bound (each unit charged its share of a shipment) and a plan from its best few warehouses.
"""

# numba's njit functions are untyped for mypy; every one carries its ignore.
from __future__ import annotations

import functools

import numpy as np
from numba import njit

__all__ = ["ENUMERATION_LIMIT", "price_orders", "warm_up"]

#: Most warehouse sets enumerated for one order; beyond, the relaxation gives its bound.
ENUMERATION_LIMIT = 20000


@njit(cache=True)
def _n_sets(n: int, k: int) -> int:
    """Subsets of size 1..k of n items (saturating at a large number)."""
    total = 0
    comb = 1
    for size in range(1, k + 1):
        comb = comb * (n - size + 1) // size
        total += comb
        if total > 1 << 40:
            return 1 << 40
    return total


@njit(cache=True)
def _set_value(  # type: ignore[no-untyped-def]
    members,
    size,
    n_lines,
    n_groups,
    base,
    unit_cost,
    room,
    group_cost,
    group0,
    line_units,
    line_whole,
    complete,
    take,
    scratch_a,
    scratch_w,
):
    """Reduced cost of the best plan shipping from exactly the warehouses in ``members[:size]``
    (local group indices); ``take[li * n_groups + g]`` receives its column units. ``inf`` when the
    set cannot fill a ship-complete order."""
    value = 0.0
    for m in range(size):
        value += group_cost[group0 + members[m]]
    for li in range(n_lines):
        row = base + li * n_groups
        if line_whole[li]:
            best = np.inf
            best_g = -1
            for m in range(size):
                g = members[m]
                if room[row + g] >= 1 and unit_cost[row + g] < best:
                    best = unit_cost[row + g]
                    best_g = g
            if best_g < 0:
                if complete:
                    return np.inf
                continue
            if best < 0.0 or complete:
                take[li * n_groups + best_g] = 1
                value += best
            continue
        # A line that may split: its cheapest units first (insertion sort of at most K entries).
        count = 0
        for m in range(size):
            g = members[m]
            if room[row + g] <= 0:
                continue
            a = unit_cost[row + g]
            pos = count
            while pos > 0 and scratch_a[pos - 1] > a:
                scratch_a[pos] = scratch_a[pos - 1]
                scratch_w[pos] = scratch_w[pos - 1]
                pos -= 1
            scratch_a[pos] = a
            scratch_w[pos] = g
            count += 1
        left = line_units[li]
        for j in range(count):
            if left <= 0:
                break
            a = scratch_a[j]
            if a >= 0.0 and not complete:
                break
            g = scratch_w[j]
            units = min(left, room[row + g])
            take[li * n_groups + g] = units
            value += units * a
            left -= units
        if complete and left > 0:
            return np.inf
    return value


@njit(cache=True)
def _relaxed_value(  # type: ignore[no-untyped-def]
    n_lines, n_groups, base, unit_cost, room, group_cost, group0, line_units, complete, limit
):
    """A lower bound on every plan of the order: each column unit pays its own cost plus its
    warehouse's shipment cost shared over the most units that warehouse could ship for the order;
    negative shipment costs (bonuses) counted for the ``limit`` best warehouses."""
    capacity = np.zeros(n_groups)
    for li in range(n_lines):
        for g in range(n_groups):
            capacity[g] += max(0, room[base + li * n_groups + g])
    value = 0.0
    bonuses = np.sort(np.minimum(group_cost[group0 : group0 + n_groups], 0.0))
    for j in range(min(limit, n_groups)):
        value += bonuses[j]
    per_unit = np.empty(n_groups)
    for li in range(n_lines):
        row = base + li * n_groups
        for g in range(n_groups):
            share = max(group_cost[group0 + g], 0.0) / max(capacity[g], 1.0)
            per_unit[g] = unit_cost[row + g] + share if room[row + g] > 0 else np.inf
        order = np.argsort(per_unit)
        left = line_units[li]
        for g in order:
            if left <= 0 or per_unit[g] == np.inf:
                break
            if per_unit[g] >= 0.0 and not complete:
                break
            units = min(left, room[row + g])
            value += units * per_unit[g]
            left -= units
        if complete and left > 0:
            return np.inf
    return value


@njit(cache=True)
def price_orders(  # type: ignore[no-untyped-def]
    line_start,
    group_start,
    block_start,
    unit_cost,
    room,
    group_cost,
    line_units,
    line_whole,
    max_groups,
    complete,
    active,
    plan,
):
    """Price every active order; returns ``(value, exact)`` per order and writes the best plan's
    column units into ``plan`` (same layout as ``unit_cost``: per order a lines x groups block).

    ``value[i]`` is the least reduced cost of a non-empty plan (``inf`` when none exists), exact
    when ``exact[i]``, else a lower bound from the relaxation (``plan`` then holds a good plan)."""
    n = len(line_start) - 1
    value = np.full(n, np.inf)
    exact = np.ones(n, dtype=np.bool_)
    for i in range(n):
        if not active[i]:
            continue
        n_lines = line_start[i + 1] - line_start[i]
        n_groups = group_start[i + 1] - group_start[i]
        if n_lines == 0 or n_groups == 0:
            continue
        base = block_start[i]
        group0 = group_start[i]
        l0 = line_start[i]
        units = line_units[l0 : l0 + n_lines]
        whole = line_whole[l0 : l0 + n_lines]
        needed = 0
        for li in range(n_lines):
            needed += 1 if whole[li] else units[li]
        k = min(max_groups[i], needed, n_groups)
        if k <= 0:
            continue
        # Dominance: drop a warehouse at least k others dominate (see module doc).
        keep = np.empty(n_groups, dtype=np.int64)
        n_keep = 0
        for g in range(n_groups):
            dominators = 0
            for h in range(n_groups):
                if h == g or group_cost[group0 + h] > group_cost[group0 + g]:
                    continue
                dominates = True
                strict = group_cost[group0 + h] < group_cost[group0 + g]
                for li in range(n_lines):
                    rg = room[base + li * n_groups + g]
                    if rg <= 0:
                        continue
                    rh = room[base + li * n_groups + h]
                    ag = unit_cost[base + li * n_groups + g]
                    ah = unit_cost[base + li * n_groups + h]
                    if rh < rg or ah > ag:
                        dominates = False
                        break
                    if rh > rg or ah < ag:
                        strict = True
                if dominates and (strict or h < g):
                    dominators += 1
                    if dominators >= k:
                        break
            if dominators < k:
                keep[n_keep] = g
                n_keep += 1
        k = min(k, n_keep)
        take = np.zeros(n_lines * n_groups, dtype=np.int64)
        best_take = np.zeros(n_lines * n_groups, dtype=np.int64)
        scratch_a = np.empty(k + 1)
        scratch_w = np.empty(k + 1, dtype=np.int64)
        best = np.inf
        value_relaxed = np.inf
        if _n_sets(n_keep, k) > ENUMERATION_LIMIT:
            exact[i] = False
            value_relaxed = _relaxed_value(
                n_lines, n_groups, base, unit_cost, room, group_cost, group0, units, complete[i], k
            )
            # A plan to offer: enumerate over the warehouses that are best on their own.
            alone = np.empty(n_keep)
            members = np.empty(1, dtype=np.int64)
            for j in range(n_keep):
                members[0] = keep[j]
                take[:] = 0
                alone[j] = _set_value(
                    members,
                    1,
                    n_lines,
                    n_groups,
                    base,
                    unit_cost,
                    room,
                    group_cost,
                    group0,
                    units,
                    whole,
                    complete[i],
                    take,
                    scratch_a,
                    scratch_w,
                )
            ranked = np.argsort(alone)
            top = n_keep
            while top > k and _n_sets(top, k) > ENUMERATION_LIMIT:
                top -= 1
            shortlist = np.empty(top, dtype=np.int64)
            for j in range(top):
                shortlist[j] = keep[ranked[j]]
            keep = shortlist
            n_keep = top
        # Enumerate the k-subsets of keep[:n_keep] for every size 1..k (lexicographic indices).
        idx = np.empty(k, dtype=np.int64)
        members = np.empty(k, dtype=np.int64)
        for size in range(1, k + 1):
            for j in range(size):
                idx[j] = j
            while True:
                for j in range(size):
                    members[j] = keep[idx[j]]
                take[:] = 0
                v = _set_value(
                    members,
                    size,
                    n_lines,
                    n_groups,
                    base,
                    unit_cost,
                    room,
                    group_cost,
                    group0,
                    units,
                    whole,
                    complete[i],
                    take,
                    scratch_a,
                    scratch_w,
                )
                if v < best:
                    best = v
                    best_take[:] = take
                # Next combination.
                j = size - 1
                while j >= 0 and idx[j] == n_keep - size + j:
                    j -= 1
                if j < 0:
                    break
                idx[j] += 1
                for t in range(j + 1, size):
                    idx[t] = idx[t - 1] + 1
        if best < np.inf:
            plan[base : base + n_lines * n_groups] = best_take
        value[i] = best if exact[i] else min(best, value_relaxed)
    return value, exact


@functools.cache
def warm_up() -> None:
    """Compile :func:`price_orders` (or load it from numba's disk cache) once per process, on a
    one-order, one-line, two-warehouse problem that touches every branch's types."""
    one = np.array([0, 1], dtype=np.int64)
    price_orders(
        one,
        np.array([0, 2], dtype=np.int64),
        np.array([0, 2], dtype=np.int64),
        np.array([-1.0, -2.0]),
        np.array([1, 1], dtype=np.int64),
        np.array([1.0, 1.0]),
        np.array([2], dtype=np.int64),
        np.zeros(1, dtype=np.bool_),
        np.array([2], dtype=np.int64),
        np.zeros(1, dtype=np.bool_),
        np.ones(1, dtype=np.bool_),
        np.zeros(2, dtype=np.int64),
    )
