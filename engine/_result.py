"""Column-wise routing results, and ``RouteDecision`` objects built from them on demand."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from engine._batch import HOLD_CODES, UNFILLED_CODES, OrderBatch, gc_paused
from engine._model import (
    Allocation,
    Explanation,
    Hold,
    PlannedShipment,
    RouteDecision,
    RouteStatus,
    Unfilled,
)

if TYPE_CHECKING:
    from engine._router import BatchState

__all__ = ["BatchResult"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
DateTimeArray = npt.NDArray[np.datetime64]

UTC = dt.UTC
_STATUS = {int(s): s for s in RouteStatus}
_NO_ELIGIBLE = 1
_MAX_SHIPMENTS = 2


def unfilled_reason(code: int, left: int, quantity: int, max_shipments: int) -> str:
    """Plain words for an unfilled line (``code`` indexes ``UNFILLED_CODES``)."""
    if code == _NO_ELIGIBLE:
        return (
            "no warehouse is eligible for this line (service level, promised dates, "
            "exclusions or capacity)"
        )
    if code == _MAX_SHIPMENTS:
        return (
            f"{left} of {quantity} units are in stock elsewhere, but the order is limited to "
            f"{max_shipments} shipment(s)"
        )
    return f"{left} of {quantity} units are not in stock at any eligible warehouse"


def _datetimes(values: DateTimeArray) -> list[dt.datetime]:
    # Few distinct instants per batch (levels x warehouses x transit days): convert each once.
    seconds = values.astype("datetime64[s]").astype(np.int64)
    lookup = {
        int(s): dt.datetime.fromtimestamp(int(s), tz=UTC) for s in np.unique(seconds).tolist()
    }
    return list(map(lookup.__getitem__, seconds.tolist()))


@dataclass(eq=False)
class BatchResult:
    """What :meth:`engine.Router.route_columns` decided for an :class:`OrderBatch` of ``n`` orders.

    Rows are grouped by order and kept in decision order: shipments ``order_ship_start[i] :
    order_ship_start[i+1]`` belong to order ``i`` and allocations ``ship_alloc_start[s] :
    ship_alloc_start[s+1]`` to shipment ``s``. ``alloc_line`` and ``unfilled_line`` index the
    batch's lines. Instants are ``datetime64[s]`` UTC.
    """

    batch: OrderBatch
    policy_version: str
    status: npt.NDArray[np.int8]  # [n] RouteStatus numbers
    hold_code: npt.NDArray[np.int8]  # [n] index into HOLD_CODES, -1 when not held
    order_ship_start: IntArray  # [n + 1]
    ship_order: IntArray  # [S]
    ship_warehouse: IntArray  # [S] network index
    ship_km: FloatArray  # [S]
    ship_by: DateTimeArray  # [S]
    deliver_by: DateTimeArray  # [S]
    ship_alloc_start: IntArray  # [S + 1]
    alloc_order: IntArray  # [A]
    alloc_line: IntArray  # [A] batch line
    alloc_warehouse: IntArray  # [A]
    alloc_qty: IntArray  # [A]
    unfilled_order: IntArray  # [U]
    unfilled_line: IntArray  # [U]
    unfilled_qty: IntArray  # [U]
    unfilled_code: npt.NDArray[np.int8]  # [U] index into UNFILLED_CODES
    max_shipments: IntArray  # [n] the limit each order was routed under (for reasons)
    warehouse_ids: tuple[str, ...]
    #: Held orders' holds (the text needs the order), by order index.
    holds: dict[int, Hold] = field(default_factory=dict)
    #: Explanations by order index (only when asked for).
    explanations: dict[int, Explanation] | None = None
    #: The allocation pass's arrays, when the route kept them (explanations, route_with_state).
    state: BatchState | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.status)

    @property
    def hold_codes(self) -> tuple[str, ...]:
        return HOLD_CODES

    @property
    def unfilled_codes(self) -> tuple[str, ...]:
        return UNFILLED_CODES

    def decision(self, i: int) -> RouteDecision:
        """The :class:`RouteDecision` of order ``i`` (built now; equal to ``decisions()[i]``)."""
        n = len(self.status)
        if not 0 <= i < n:
            raise IndexError(f"order {i} out of range for a batch of {n}")
        return self._build(range(i, i + 1))[0]

    def decisions(self) -> list[RouteDecision]:
        """Every order's :class:`RouteDecision`, in batch order."""
        with gc_paused():
            return self._build(range(len(self.status)))

    def _build(self, which: range) -> list[RouteDecision]:
        version = self.policy_version
        status = self.status
        start, stop = which.start, which.stop
        batch = self.batch
        ship_lo = int(self.order_ship_start[start])
        ship_hi = int(self.order_ship_start[stop])
        alloc_lo = int(self.ship_alloc_start[ship_lo])
        alloc_hi = int(self.ship_alloc_start[ship_hi])
        order_ship = (self.order_ship_start[start : stop + 1] - ship_lo).tolist()
        ship_alloc = (self.ship_alloc_start[ship_lo : ship_hi + 1] - alloc_lo).tolist()
        ids = self.warehouse_ids
        ship_wh = [ids[w] for w in self.ship_warehouse[ship_lo:ship_hi].tolist()]
        ship_km = self.ship_km[ship_lo:ship_hi].tolist()
        ship_by = _datetimes(self.ship_by[ship_lo:ship_hi])
        deliver_by = _datetimes(self.deliver_by[ship_lo:ship_hi])
        alloc_line_arr = self.alloc_line[alloc_lo:alloc_hi]
        alloc_qty = self.alloc_qty[alloc_lo:alloc_hi].tolist()
        alloc_line = alloc_line_arr.tolist()
        line_ids: Sequence[str] | dict[int, str]
        line_skus: Sequence[str] | dict[int, str]
        if len(which) == len(status):
            line_ids = batch.line_id_list()
            line_skus = batch.line_sku_list()
        else:  # a few orders: look only their lines up
            lines = range(int(batch.line_start[start]), int(batch.line_start[stop]))
            line_ids = {line: batch.line_id(line) for line in lines}
            line_skus = {line: batch.line_sku(line) for line in lines}
        make_allocation = Allocation
        make_shipment = PlannedShipment
        allocations = [
            make_allocation(line_ids[line], line_skus[line], units)
            for line, units in zip(alloc_line, alloc_qty, strict=True)
        ]
        # Shipments of one allocation (the common case) skip the slice.
        shipments = [
            make_shipment(
                ship_wh[s],
                (allocations[ship_alloc[s]],)
                if ship_alloc[s + 1] - ship_alloc[s] == 1
                else tuple(allocations[ship_alloc[s] : ship_alloc[s + 1]]),
                ship_km[s],
                ship_by[s],
                deliver_by[s],
            )
            for s in range(ship_hi - ship_lo)
        ]
        unfilled_of = self._unfilled(start, stop, line_ids, line_skus)
        holds = self.holds
        violations = batch.rejected
        explanations = self.explanations
        make_decision = RouteDecision
        routed = RouteStatus.ROUTED
        result: list[RouteDecision] = []
        append = result.append
        for offset, code in enumerate(status[start:stop].tolist()):
            i = start + offset
            lo, hi = order_ship[offset], order_ship[offset + 1]
            if code == 1:  # ROUTED
                mine = (shipments[lo],) if hi - lo == 1 else tuple(shipments[lo:hi])
                decision = make_decision(routed, mine, (), None, None, version)
            elif code == 4:  # HELD
                decision = make_decision(RouteStatus.HELD, hold=holds[i], policy_version=version)
            elif code == 5:  # REJECTED
                decision = make_decision(
                    RouteStatus.REJECTED, policy_version=version, violations=violations[i]
                )
            else:
                decision = make_decision(
                    _STATUS[code],
                    tuple(shipments[lo:hi]),
                    tuple(unfilled_of.get(i, ())),
                    None,
                    None,
                    version,
                )
            if explanations is not None and i in explanations:
                decision = replace(decision, explanation=explanations[i])
            append(decision)
        return result

    def _unfilled(
        self,
        start: int,
        stop: int,
        line_ids: Sequence[str] | dict[int, str],
        line_skus: Sequence[str] | dict[int, str],
    ) -> dict[int, list[Unfilled]]:
        lo, hi = np.searchsorted(self.unfilled_order, [start, stop]).tolist()
        result: dict[int, list[Unfilled]] = {}
        if lo == hi:
            return result
        qty = self.batch.line_qty
        limits = self.max_shipments
        for i, line, units, code in zip(
            self.unfilled_order[lo:hi].tolist(),
            self.unfilled_line[lo:hi].tolist(),
            self.unfilled_qty[lo:hi].tolist(),
            self.unfilled_code[lo:hi].tolist(),
            strict=True,
        ):
            result.setdefault(i, []).append(
                Unfilled(
                    line_ids[line],
                    line_skus[line],
                    units,
                    UNFILLED_CODES[code],
                    unfilled_reason(code, units, int(qty[line]), int(limits[i])),
                )
            )
        return result
