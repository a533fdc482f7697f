"""Plain-words explanations of routing decisions (only for the orders someone asks about).

Replays the batch in order over the compact stock the allocation pass started from, so each order is
explained against the stock it actually saw. Plain Python: this path is for dry runs and support,
not for throughput.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import numpy.typing as npt

from engine._allocate import (
    HOW_SPLIT,
    HOW_WHOLE,
    STATUS_SHIP_COMPLETE_HOLD,
    STATUS_SKIPPED,
)
from engine._model import (
    Candidate,
    CandidateVerdict,
    Explanation,
    LineExplanation,
    ServiceLevel,
)
from engine._router import BatchState

__all__ = ["explain_batch"]

UTC = dt.UTC


def _instant(value: np.datetime64) -> dt.datetime | None:
    if np.isnat(value):
        return None
    seconds = int(value.astype("datetime64[s]").astype(np.int64))
    return dt.datetime.fromtimestamp(seconds, tz=UTC)


def _km(value: float) -> str:
    return "unknown distance" if math.isnan(value) else f"{value:,.0f} km"


def _stamp(value: dt.datetime | None) -> str:
    return "never" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def explain_batch(state: BatchState) -> list[Explanation]:
    """An :class:`Explanation` for every order that reached the policy (``state.ctx.orders``)."""
    ctx = state.ctx
    directives = state.directives
    network = ctx.network
    ids = network.warehouse_ids
    width = len(network)
    avail = state.avail.copy()
    remaining = state.remaining.copy()
    total_remaining = remaining.sum(axis=0)
    capacity = state.capacity.copy()
    effects = directives.rule_effects
    reasons = directives.exclusion_reasons or {}
    explanations: list[Explanation] = []
    for j, order in enumerate(ctx.orders):
        rule_effects = tuple(effects[j]) if effects is not None and j < len(effects) else ()
        hold = directives.hold[j]
        status = int(state.status[j])
        if hold is not None or status == STATUS_SKIPPED:
            text = hold.reason if hold is not None else "held by the policy"
            explanations.append(Explanation(f"held: {text}", (), rule_effects))
            continue
        channel = int(state.order_channel[j])
        first = int(ctx.line_start[j])
        last = int(ctx.line_start[j + 1])
        distance = ctx.distance_km[j]
        rank_key = directives.rank_key[j]
        by_distance = bool(np.array_equal(rank_key, distance, equal_nan=True))
        level = ServiceLevel(order.service_level)
        # What this order took: (line, warehouse) -> units.
        taken: dict[tuple[int, int], int] = {}
        shipped_from: list[int] = []
        for s in range(int(state.ship_start[j]), int(state.ship_start[j + 1])):
            w = int(state.ship_wh[s])
            shipped_from.append(w)
            for a in range(int(state.alloc_start[s]), int(state.alloc_start[s + 1])):
                line = int(state.alloc_line[a])
                taken[(line, w)] = taken.get((line, w), 0) + int(state.alloc_qty[a])
        how = int(state.how[j])
        held_for_others = total_remaining.copy()
        if channel >= 0:
            held_for_others -= remaining[channel]
        usable = np.maximum(avail - held_for_others, 0)
        ship_by = ctx.ship_by[j]
        deliver_by = ctx.deliver_by[j]
        line_explanations = []
        for line in range(first, last):
            row = int(state.line_row[line])
            quantity = int(ctx.line_quantity[line])
            eligible = [
                w
                for w in range(width)
                if state.order_ok[j, w]
                and not directives.line_excluded[line, w]
                and capacity[w] != 0
            ]
            ordered = sorted(eligible, key=lambda w: (rank_key[w], w))
            rank_of = {w: position + 1 for position, w in enumerate(ordered)}
            chosen_here = [w for w in shipped_from if taken.get((line, w), 0) > 0]
            reference = chosen_here[0] if chosen_here else None
            candidates = []
            for w in range(width):
                units = int(usable[row, w])
                ship = _instant(ship_by[w])
                deliver = _instant(deliver_by[w]) if ship is not None else None
                km = float(distance[w])
                if w not in rank_of:
                    why = _exclusion(state, j, line, w, level, ship, deliver, reasons, capacity)
                    verdict = CandidateVerdict.EXCLUDED
                    rank = 0
                elif w in chosen_here:
                    verdict = CandidateVerdict.CHOSEN
                    rank = rank_of[w]
                    units_taken = taken[(line, w)]
                    if how == HOW_WHOLE:
                        why = (
                            "nearest that can fill the whole order"
                            if by_distance
                            else "best ranked that can fill the whole order"
                        )
                    elif how == HOW_SPLIT:
                        why = (
                            f"one of the fewest warehouses ({len(shipped_from)}) that cover the "
                            f"order, with the least total {'distance' if by_distance else 'rank'}"
                        )
                    else:
                        why = "adds the most units the order still needs"
                    if units_taken < quantity:
                        why += f"; ships {units_taken} of {quantity}"
                else:
                    verdict = CandidateVerdict.RANKED_LOWER
                    rank = rank_of[w]
                    if units < quantity and not (units > 0 and how != HOW_WHOLE):
                        why = f"only {units} available, {quantity} needed"
                    elif reference is not None and by_distance and km > distance[reference]:
                        why = (
                            f"farther ({_km(km)}) than {ids[reference]} "
                            f"({_km(float(distance[reference]))})"
                        )
                    elif reference is not None and not by_distance:
                        why = f"ranked lower than {ids[reference]} by the policy"
                    elif how == HOW_WHOLE or status == STATUS_SHIP_COMPLETE_HOLD:
                        why = "cannot fill the whole order"
                    else:
                        why = "not part of the best cover of the order"
                candidates.append(Candidate(ids[w], km, units, ship, deliver, verdict, why, rank))
            line_explanations.append(
                LineExplanation(
                    order.lines[line - first].line_id,
                    order.lines[line - first].sku,
                    quantity,
                    tuple(candidates),
                )
            )
        explanations.append(
            Explanation(
                _summary(state, j, shipped_from, ids, distance),
                tuple(line_explanations),
                rule_effects,
            )
        )
        # Apply this order's allocations so the next order is explained against what it saw.
        for (line, w), units in taken.items():
            row = int(state.line_row[line])
            avail[row, w] -= units
            if channel >= 0:
                drawn = min(int(remaining[channel, row, w]), units)
                remaining[channel, row, w] -= drawn
                total_remaining[row, w] -= drawn
        for w in shipped_from:
            if capacity[w] > 0:
                capacity[w] -= 1
    return explanations


def _exclusion(
    state: BatchState,
    j: int,
    line: int,
    w: int,
    level: ServiceLevel,
    ship: dt.datetime | None,
    deliver: dt.datetime | None,
    reasons: dict[tuple[int, int], str],
    capacity: npt.NDArray[np.int64],
) -> str:
    network = state.ctx.network
    order = state.ctx.orders[j]
    if not network.active[w]:
        return "excluded: warehouse inactive"
    if ship is None:
        return f"excluded: no pickup serves {level.name}"
    if order.latest_ship_date is not None and ship > order.latest_ship_date:
        latest = _stamp(order.latest_ship_date.astimezone(UTC))
        return f"excluded: ships {_stamp(ship)}, after the latest ship date {latest}"
    if (
        order.latest_delivery_date is not None
        and deliver is not None
        and deliver > order.latest_delivery_date
    ):
        latest = _stamp(order.latest_delivery_date.astimezone(UTC))
        return f"excluded: delivers by {_stamp(deliver)}, after the latest delivery date {latest}"
    if state.directives.line_excluded[line, w]:
        return reasons.get((line, w), "excluded by the policy")
    if capacity[w] == 0:
        return "excluded: no shipping capacity left today"
    return "excluded"


def _summary(
    state: BatchState,
    j: int,
    shipped_from: list[int],
    ids: tuple[str, ...],
    distance: npt.NDArray[np.float64],
) -> str:
    status = int(state.status[j])
    places = ", ".join(f"{ids[w]} ({_km(float(distance[w]))})" for w in shipped_from)
    if status == STATUS_SHIP_COMPLETE_HOLD:
        return "held: ship-complete order that cannot be placed within its shipment limit"
    if status == 0:
        if len(shipped_from) == 1:
            return f"routed whole from {places}"
        return f"split across {len(shipped_from)} warehouses: {places}"
    if status == 1:
        return f"partially routed from {places}; the rest is unfilled"
    return "backordered: nothing could be placed"
