"""The compiled sequential pass itself (numba, ``cache=True``); see :mod:`engine._allocate` for
what it decides. Imported on the first route only, so importing ``engine`` does not load numba."""

# numba's njit functions are untyped for mypy; every one carries its ignore.
from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["allocate_batch"]


@njit(cache=True)
def _usable(avail, remaining, total_remaining, channel, row, w):  # type: ignore[no-untyped-def]
    # Units of (row, w) the channel may take: available minus what other channels' reserves hold.
    held = total_remaining[row, w]
    if channel >= 0:
        held -= remaining[channel, row, w]
    units = avail[row, w] - held
    return units if units > 0 else 0


@njit(cache=True)
def _fill(  # type: ignore[no-untyped-def]
    chosen,
    size,
    first,
    last,
    line_row,
    line_qty,
    line_excluded,
    check_excluded,
    split,
    channel,
    avail,
    remaining,
    total_remaining,
    used,
    take,
    stop_early,
):
    # Each line takes units from chosen[0:size] in order; take[j, t] units of line first+j from
    # chosen[t]. used[row, t] accumulates what lines sharing a SKU took (caller resets it).
    # Returns the units left unplaced (early, not exact, when stop_early).
    unplaced = 0
    for line in range(first, last):
        j = line - first
        row = line_row[line]
        left = line_qty[line]
        for t in range(size):
            take[j, t] = 0
        for t in range(size):
            if left == 0:
                break
            w = chosen[t]
            if check_excluded and line_excluded[line, w]:
                continue
            units = _usable(avail, remaining, total_remaining, channel, row, w) - used[row, t]
            if units <= 0:
                continue
            if split:
                quantity = units if units < left else left
            elif units >= left:
                quantity = left
            else:
                continue
            take[j, t] = quantity
            used[row, t] += quantity
            left -= quantity
        unplaced += left
        if stop_early and left > 0:
            return unplaced
    return unplaced


@njit(cache=True)
def _reset(first, last, line_row, used, size):  # type: ignore[no-untyped-def]
    for line in range(first, last):
        for t in range(size):
            used[line_row[line], t] = 0


@njit(cache=True)
def _greedy_gain(  # type: ignore[no-untyped-def]
    w,
    column,
    first,
    last,
    line_left,
    line_row,
    line_qty,
    line_excluded,
    check_excluded,
    split,
    channel,
    avail,
    remaining,
    total_remaining,
    used,
    apply,
):
    # Units warehouse w would add to what the order still needs (line_left), tracked in
    # used[:, column]. With apply, the take is kept and line_left reduced; else it is undone.
    gain = 0
    for line in range(first, last):
        want = line_left[line - first]
        if want == 0 or (check_excluded and line_excluded[line, w]):
            continue
        if (not split) and want != line_qty[line]:
            continue
        row = line_row[line]
        units = _usable(avail, remaining, total_remaining, channel, row, w) - used[row, column]
        if units <= 0:
            continue
        if split:
            quantity = units if units < want else want
        elif units >= want:
            quantity = want
        else:
            continue
        used[row, column] += quantity
        gain += quantity
        if apply:
            line_left[line - first] = want - quantity
    if not apply:
        for line in range(first, last):
            used[line_row[line], column] = 0
    return gain


@njit(cache=True)
def allocate_batch(  # type: ignore[no-untyped-def]
    line_start,
    line_row,
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
    triple_limit,
    max_set,
):
    """Route a batch in sequence; mutates ``avail``, ``remaining``, ``total_remaining`` and
    ``capacity``.

    Returns ``(status[n], how[n], ship_start[n+1], ship_wh[S], alloc_start[S+1], alloc_line[A],
    alloc_qty[A], unfilled_qty[L], unfilled_code[L])``.
    """
    n = line_start.shape[0] - 1
    width = rank_key.shape[1]
    rows = avail.shape[0]
    lines = line_row.shape[0]
    status = np.full(n, -1, np.int64)
    how = np.zeros(n, np.int64)
    ship_start = np.zeros(n + 1, np.int64)
    ship_wh = np.empty(n * max_set, np.int64)
    alloc_start = np.zeros(n * max_set + 1, np.int64)
    alloc_line = np.empty(lines * max_set, np.int64)
    alloc_qty = np.empty(lines * max_set, np.int64)
    unfilled_qty = np.zeros(lines, np.int64)
    unfilled_code = np.zeros(lines, np.int64)
    most_lines = 1
    for i in range(n):
        most_lines = max(most_lines, line_start[i + 1] - line_start[i])
    need = np.zeros(rows, np.int64)
    used = np.zeros((rows, max_set), np.int64)
    take = np.zeros((most_lines, max_set), np.int64)
    cand = np.empty(width, np.int64)
    cand_key = np.empty(width, np.float64)
    cand_mask = np.empty(width, np.int64)
    picked = np.zeros(width, np.bool_)
    chosen = np.empty(max_set, np.int64)
    line_left = np.empty(most_lines, np.int64)
    shipments = 0
    allocations = 0
    for i in range(n):
        ship_start[i] = shipments
        if skip[i]:
            continue
        first = line_start[i]
        last = line_start[i + 1]
        count = last - first
        channel = order_channel[i]
        split = allow_split[i]
        limit = min(max_shipments[i], width)
        size = 0
        # 1. One warehouse for the whole order (quantities of repeated SKUs added up).
        for line in range(first, last):
            need[line_row[line]] += line_qty[line]
        best = -1
        best_key = np.inf
        if limit >= 1:
            for w in range(width):
                # Ranked no better than the best so far: no need to look at its stock.
                if best >= 0 and rank_key[i, w] >= best_key:
                    continue
                if not order_ok[i, w] or capacity[w] == 0:
                    continue
                fits = True
                for line in range(first, last):
                    row = line_row[line]
                    if (check_excluded and line_excluded[line, w]) or (
                        _usable(avail, remaining, total_remaining, channel, row, w) < need[row]
                    ):
                        fits = False
                        break
                if fits:
                    best = w
                    best_key = rank_key[i, w]
        for line in range(first, last):
            need[line_row[line]] = 0
        if best >= 0:
            chosen[0] = best
            size = 1
            how[i] = 1
        elif limit >= 2:
            # Useful candidates in rank order (insertion sort; ties keep network order).
            full = (np.int64(1) << count) - 1 if count <= 62 else np.int64(0)
            found = 0
            for w in range(width):
                if not order_ok[i, w] or capacity[w] == 0:
                    continue
                mask = np.int64(0)
                useful = False
                for line in range(first, last):
                    if check_excluded and line_excluded[line, w]:
                        continue
                    units = _usable(avail, remaining, total_remaining, channel, line_row[line], w)
                    if (split and units > 0) or ((not split) and units >= line_qty[line]):
                        useful = True
                        if count <= 62:
                            mask |= np.int64(1) << (line - first)
                if not useful:
                    continue
                key = rank_key[i, w]
                position = found
                while position > 0 and cand_key[position - 1] > key:
                    cand[position] = cand[position - 1]
                    cand_key[position] = cand_key[position - 1]
                    cand_mask[position] = cand_mask[position - 1]
                    position -= 1
                cand[position] = w
                cand_key[position] = key
                cand_mask[position] = mask
                found += 1
            # 2. Exact 2-covers, least rank-key sum, pruned on the sorted keys.
            have = False
            best_sum = np.inf
            pair_a = -1
            pair_b = -1
            for a in range(found - 1):
                if have and cand_key[a] + cand_key[a + 1] >= best_sum:
                    break
                for b in range(a + 1, found):
                    total = cand_key[a] + cand_key[b]
                    if have and total >= best_sum:
                        break
                    if (cand_mask[a] | cand_mask[b]) != full:
                        continue
                    chosen[0] = cand[a]
                    chosen[1] = cand[b]
                    left = _fill(
                        chosen,
                        2,
                        first,
                        last,
                        line_row,
                        line_qty,
                        line_excluded,
                        check_excluded,
                        split,
                        channel,
                        avail,
                        remaining,
                        total_remaining,
                        used,
                        take,
                        True,
                    )
                    _reset(first, last, line_row, used, 2)
                    if left == 0:
                        have = True
                        best_sum = total
                        pair_a = a
                        pair_b = b
                        break
            if have:
                chosen[0] = cand[pair_a]
                chosen[1] = cand[pair_b]
                size = 2
                how[i] = 2
            elif limit >= 3:
                # 3. Exact 3-covers among the best-ranked `triple_limit` useful candidates.
                top = min(found, triple_limit)
                trio_a = -1
                trio_b = -1
                trio_c = -1
                for a in range(top - 2):
                    if have and cand_key[a] + cand_key[a + 1] + cand_key[a + 2] >= best_sum:
                        break
                    for b in range(a + 1, top - 1):
                        if have and cand_key[a] + cand_key[b] + cand_key[b + 1] >= best_sum:
                            break
                        for c in range(b + 1, top):
                            total = cand_key[a] + cand_key[b] + cand_key[c]
                            if have and total >= best_sum:
                                break
                            if (cand_mask[a] | cand_mask[b] | cand_mask[c]) != full:
                                continue
                            chosen[0] = cand[a]
                            chosen[1] = cand[b]
                            chosen[2] = cand[c]
                            left = _fill(
                                chosen,
                                3,
                                first,
                                last,
                                line_row,
                                line_qty,
                                line_excluded,
                                check_excluded,
                                split,
                                channel,
                                avail,
                                remaining,
                                total_remaining,
                                used,
                                take,
                                True,
                            )
                            _reset(first, last, line_row, used, 3)
                            if left == 0:
                                have = True
                                best_sum = total
                                trio_a = a
                                trio_b = b
                                trio_c = c
                                break
                if have:
                    chosen[0] = cand[trio_a]
                    chosen[1] = cand[trio_b]
                    chosen[2] = cand[trio_c]
                    size = 3
                    how[i] = 2
            if size == 0:
                # 4. Greedy: the candidate adding the most units, ties by rank, up to the limit.
                how[i] = 3
                for line in range(first, last):
                    line_left[line - first] = line_qty[line]
                for c in range(found):
                    picked[c] = False
                while size < limit:
                    pick = -1
                    pick_gain = 0
                    for c in range(found):
                        if picked[c]:
                            continue
                        gain = _greedy_gain(
                            cand[c],
                            size,
                            first,
                            last,
                            line_left,
                            line_row,
                            line_qty,
                            line_excluded,
                            check_excluded,
                            split,
                            channel,
                            avail,
                            remaining,
                            total_remaining,
                            used,
                            False,
                        )
                        if gain > pick_gain:
                            pick = c
                            pick_gain = gain
                    if pick < 0:
                        break
                    picked[pick] = True
                    chosen[size] = cand[pick]
                    _greedy_gain(
                        cand[pick],
                        size,
                        first,
                        last,
                        line_left,
                        line_row,
                        line_qty,
                        line_excluded,
                        check_excluded,
                        split,
                        channel,
                        avail,
                        remaining,
                        total_remaining,
                        used,
                        True,
                    )
                    size += 1
                _reset(first, last, line_row, used, size)
        else:
            how[i] = 3  # limit 1 and no single warehouse fills the order: greedy with one pick
            best_gain = 0
            for w in range(width):
                if not order_ok[i, w] or capacity[w] == 0:
                    continue
                chosen[0] = w
                gain = 0
                left = _fill(
                    chosen,
                    1,
                    first,
                    last,
                    line_row,
                    line_qty,
                    line_excluded,
                    check_excluded,
                    split,
                    channel,
                    avail,
                    remaining,
                    total_remaining,
                    used,
                    take,
                    False,
                )
                _reset(first, last, line_row, used, 1)
                gain = 0
                for line in range(first, last):
                    gain += line_qty[line]
                gain -= left
                if gain > best_gain or (
                    gain == best_gain and gain > 0 and rank_key[i, w] < best_key
                ):
                    best = w
                    best_gain = gain
                    best_key = rank_key[i, w]
            if best >= 0:
                chosen[0] = best
                size = 1
        # Allocate within the chosen set.
        unplaced = 0
        if size > 0:
            unplaced = _fill(
                chosen,
                size,
                first,
                last,
                line_row,
                line_qty,
                line_excluded,
                check_excluded,
                split,
                channel,
                avail,
                remaining,
                total_remaining,
                used,
                take,
                False,
            )
            _reset(first, last, line_row, used, size)
        else:
            for line in range(first, last):
                unplaced += line_qty[line]
                for t in range(max_set):
                    take[line - first, t] = 0
        ordered = 0
        for line in range(first, last):
            ordered += line_qty[line]
        if unplaced > 0 and ship_complete[i]:
            status[i] = 3
            for line in range(first, last):
                placed = 0
                for t in range(size):
                    placed += take[line - first, t]
                unfilled_qty[line] = line_qty[line] - placed
            continue
        for t in range(size):
            w = chosen[t]
            units_here = 0
            for line in range(first, last):
                units_here += take[line - first, t]
            if units_here == 0:
                continue
            ship_wh[shipments] = w
            for line in range(first, last):
                q = take[line - first, t]
                if q == 0:
                    continue
                alloc_line[allocations] = line
                alloc_qty[allocations] = q
                allocations += 1
                row = line_row[line]
                avail[row, w] -= q
                if channel >= 0:
                    own = remaining[channel, row, w]
                    drawn = own if own < q else q
                    remaining[channel, row, w] = own - drawn
                    total_remaining[row, w] -= drawn
            if capacity[w] > 0:
                capacity[w] -= 1
            shipments += 1
            alloc_start[shipments] = allocations
        if unplaced == 0:
            status[i] = 0
            continue
        status[i] = 1 if unplaced < ordered else 2
        for line in range(first, last):
            placed = 0
            for t in range(size):
                placed += take[line - first, t]
            left = line_qty[line] - placed
            if left == 0:
                continue
            unfilled_qty[line] = left
            row = line_row[line]
            any_eligible = False
            elsewhere = False
            for w in range(width):
                if not order_ok[i, w] or (check_excluded and line_excluded[line, w]):
                    continue
                in_set = False
                for t in range(size):
                    if chosen[t] == w:
                        in_set = True
                if not in_set and capacity[w] == 0:
                    continue
                any_eligible = True
                if in_set:
                    continue
                units = _usable(avail, remaining, total_remaining, channel, row, w)
                if (split and units > 0) or ((not split) and units >= line_qty[line]):
                    elsewhere = True
            if not any_eligible:
                unfilled_code[line] = 2
            elif elsewhere:
                unfilled_code[line] = 3
            else:
                unfilled_code[line] = 1
    ship_start[n] = shipments
    return (
        status,
        how,
        ship_start,
        ship_wh[:shipments],
        alloc_start[: shipments + 1],
        alloc_line[:allocations],
        alloc_qty[:allocations],
        unfilled_qty,
        unfilled_code,
    )
