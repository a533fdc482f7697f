"""Replay a recorded order and stock history through a policy, greedily or with hindsight.

Pure computation (no I/O): the caller reads the history (``server/_replay.py`` reads it from the
store) and hands it over as :class:`ReplayEvent` items in recorded order.

* :func:`replay_greedy` routes the orders in recorded order, each at its recorded routing time,
  exactly as the server did (consecutive orders routed at the same instant go as one batch, which
  decides the same as one by one); a :class:`StockSnapshot` sets the absolute on-hand counts a
  Sync reported at that point. Reservations made by the replay stay live for the whole window:
  shipments and cancellations of the real history are not replayed (the replay assigned other
  sites, so the recorded ones do not apply).
* :func:`replay_hindsight` knows the orders in advance: it assigns them jointly with the batch
  optimiser, in windows of at most ``window`` consecutive orders that a stock snapshot also ends
  (stock is fixed inside a window), each window routed as of its first order's time and seeing
  what earlier windows reserved.
* :func:`measure` turns decisions into the numbers a report compares, :func:`gap_share` the share
  of the hindsight gap a policy captures.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from engine._model import Order, RouteDecision
from engine._network import Network
from engine._optimal import OptimizationReport, route_optimized
from engine._policy import Policy
from engine._router import Router
from engine._stock import StockTable

__all__ = [
    "DEFAULT_REPLAY_WINDOW",
    "CostWeights",
    "RecordedOrder",
    "ReplayEvent",
    "ReplayMetrics",
    "StockSnapshot",
    "gap_share",
    "measure",
    "replay_greedy",
    "replay_hindsight",
    "replay_stock",
]

#: Orders per hindsight window: solved to proven optimality well within a few seconds here.
DEFAULT_REPLAY_WINDOW = 200
#: Orders routed in one call by the greedy replay (same instant only).
GREEDY_BATCH = 2000
#: Longest great-circle distance inside the contiguous US, for the unfilled-unit penalty.
MAX_DISTANCE_KM = 5000.0

Progress = Callable[[int], None]  # called with the number of orders just finished


@dataclass(frozen=True)
class StockSnapshot:
    """A recorded Sync: absolute on-hand counts ``(warehouse_id, sku, on_hand)``."""

    levels: tuple[tuple[str, str, int], ...]


@dataclass(frozen=True)
class RecordedOrder:
    order: Order
    routed_at: dt.datetime  # timezone-aware: the clock the server routed it at


ReplayEvent = StockSnapshot | RecordedOrder


@dataclass(frozen=True)
class CostWeights:
    """One cost for every run compared: per shipment, per km, per unit left unfilled."""

    shipment_weight: float
    distance_weight: float
    unfilled_penalty: float

    @classmethod
    def of(cls, policy: Policy) -> CostWeights:
        """The policy's optimiser weights; an unfilled unit costs 10 of the dearest shipments."""
        dearest = policy.shipment_weight + policy.distance_weight * MAX_DISTANCE_KM
        return cls(policy.shipment_weight, policy.distance_weight, 10.0 * dearest)


@dataclass(frozen=True)
class ReplayMetrics:
    label: str
    orders: int
    shipments: int
    distance_km: float
    units_ordered: int
    units_filled: int
    late_orders: int  # a shipment's delivery estimate after the order's latest_delivery_date
    cost: float

    @property
    def fill_rate(self) -> float:
        return self.units_filled / self.units_ordered if self.units_ordered else 1.0


def measure(
    label: str,
    orders: Sequence[Order],
    decisions: Sequence[RouteDecision],
    weights: CostWeights,
) -> ReplayMetrics:
    """The numbers of one run over ``orders`` (held orders count as unfilled)."""
    shipments = 0
    km = 0.0
    ordered = 0
    filled = 0
    late = 0
    for order, decision in zip(orders, decisions, strict=True):
        shipments += len(decision.shipments)
        km += sum(s.distance_km for s in decision.shipments)
        ordered += sum(line.quantity for line in order.lines)
        filled += sum(a.quantity for s in decision.shipments for a in s.lines)
        promise = order.latest_delivery_date
        if promise is not None and any(s.deliver_by > promise for s in decision.shipments):
            late += 1
    cost = (
        weights.shipment_weight * shipments
        + weights.distance_weight * km
        + weights.unfilled_penalty * (ordered - filled)
    )
    return ReplayMetrics(label, len(orders), shipments, km, ordered, filled, late, cost)


def gap_share(greedy_cost: float, policy_cost: float, hindsight_cost: float) -> float | None:
    """``(greedy - policy) / (greedy - hindsight)``; None when greedy already is the hindsight
    optimum (no gap to capture)."""
    gap = greedy_cost - hindsight_cost
    if not math.isfinite(gap) or gap <= 1e-9:
        return None
    return (greedy_cost - policy_cost) / gap


def replay_stock(
    network: Network, initial: Sequence[tuple[str, str, int]], events: Sequence[ReplayEvent]
) -> StockTable:
    """An empty-reservation StockTable over every SKU the history names (sorted), holding
    ``initial``'s counts. Cells of warehouses no longer in the network are ignored."""
    skus: set[str] = {sku for _, sku, _ in initial}
    for event in events:
        if isinstance(event, StockSnapshot):
            skus.update(sku for _, sku, _ in event.levels)
        else:
            skus.update(line.sku for line in event.order.lines)
    stock = StockTable.empty(network, sorted(skus))
    _apply_levels(stock, initial)
    return stock


def _apply_levels(stock: StockTable, levels: Sequence[tuple[str, str, int]]) -> None:
    known = set(stock.network.warehouse_ids)
    for warehouse_id, sku, on_hand in levels:
        if warehouse_id in known:
            stock.on_hand[stock.row_of(sku), stock.network.index_of(warehouse_id)] = on_hand


def _runs(
    events: Sequence[ReplayEvent], limit: int, *, same_instant: bool
) -> list[StockSnapshot | list[RecordedOrder]]:
    """Events with consecutive orders grouped: at most ``limit`` per group, a snapshot ends a
    group, and with ``same_instant`` so does a change of routing time."""
    out: list[StockSnapshot | list[RecordedOrder]] = []
    current: list[RecordedOrder] = []
    for event in events:
        if isinstance(event, StockSnapshot):
            if current:
                out.append(current)
                current = []
            out.append(event)
            continue
        if current and (
            len(current) >= limit or (same_instant and event.routed_at != current[0].routed_at)
        ):
            out.append(current)
            current = []
        current.append(event)
    if current:
        out.append(current)
    return out


def replay_greedy(
    network: Network,
    initial: Sequence[tuple[str, str, int]],
    events: Sequence[ReplayEvent],
    policy: Policy,
    *,
    router: Router | None = None,
    sku_tags: Mapping[str, frozenset[str]] | None = None,
    on_progress: Progress | None = None,
) -> list[RouteDecision]:
    """Every recorded order's decision under ``policy``, routed greedily in recorded order."""
    router = router or Router(network, policy)
    stock = replay_stock(network, initial, events)
    decisions: list[RouteDecision] = []
    for run in _runs(events, GREEDY_BATCH, same_instant=True):
        if isinstance(run, StockSnapshot):
            _apply_levels(stock, run.levels)
            continue
        decisions.extend(
            router.route(
                [r.order for r in run],
                stock,
                now=run[0].routed_at,
                commit=True,
                sku_tags=sku_tags,
            )
        )
        if on_progress is not None:
            on_progress(len(run))
    return decisions


def replay_hindsight(
    network: Network,
    initial: Sequence[tuple[str, str, int]],
    events: Sequence[ReplayEvent],
    policy: Policy,
    *,
    window: int = DEFAULT_REPLAY_WINDOW,
    time_budget_s: float = 2.0,
    router: Router | None = None,
    sku_tags: Mapping[str, frozenset[str]] | None = None,
    on_progress: Progress | None = None,
) -> tuple[list[RouteDecision], OptimizationReport]:
    """Every recorded order's decision when each window is assigned jointly (see module doc), and
    the optimiser's reports of all windows combined."""
    if window < 1:
        raise ValueError("window must be at least 1 order")
    router = router or Router(network, policy)
    stock = replay_stock(network, initial, events)
    decisions: list[RouteDecision] = []
    report = OptimizationReport.empty()
    for run in _runs(events, window, same_instant=False):
        if isinstance(run, StockSnapshot):
            _apply_levels(stock, run.levels)
            continue
        result = route_optimized(
            router,
            [r.order for r in run],
            stock,
            now=run[0].routed_at,
            time_budget_s=time_budget_s,
            commit=True,
            sku_tags=sku_tags,
        )
        decisions.extend(result.decisions)
        report = report.combine(result.report)
        if on_progress is not None:
            on_progress(len(run))
    return decisions, report
