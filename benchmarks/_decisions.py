"""One comparable form for the decisions of every router the suite runs (engine, naive, greedy,
MILP), and the totals decision quality is judged by."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from engine import Order, RouteDecision, RouteStatus

__all__ = ["Decision", "QualityTotals", "Shipment", "from_engine", "quality_totals", "status_of"]


@dataclass(frozen=True, slots=True)
class Shipment:
    warehouse_id: str
    lines: tuple[tuple[str, int], ...]  # (line_id, units), sorted by line_id
    distance_km: float


@dataclass(frozen=True, slots=True)
class Decision:
    """What was decided for one order, in a canonical order so two routers can be compared."""

    status: RouteStatus
    shipments: tuple[Shipment, ...]  # sorted by warehouse_id
    unfilled_units: int
    hold_code: str = ""

    def key(self) -> tuple[object, ...]:
        """Everything but the distances (which differ in the last float bits between routers)."""
        return (
            self.status,
            tuple((s.warehouse_id, s.lines) for s in self.shipments),
            self.unfilled_units,
            self.hold_code,
        )


def status_of(placed_units: int, ordered_units: int) -> RouteStatus:
    if placed_units == 0:
        return RouteStatus.BACKORDERED
    if placed_units < ordered_units:
        return RouteStatus.PARTIALLY_ROUTED
    return RouteStatus.ROUTED


def make_decision(
    placed: dict[str, dict[str, int]],  # warehouse_id -> line_id -> units
    distance_of: dict[str, float],
    ordered_units: int,
) -> Decision:
    shipments = tuple(
        Shipment(wid, tuple(sorted((lid, q) for lid, q in lines.items() if q)), distance_of[wid])
        for wid, lines in sorted(placed.items())
        if any(lines.values())
    )
    units = sum(q for s in shipments for _, q in s.lines)
    return Decision(status_of(units, ordered_units), shipments, ordered_units - units)


def from_engine(decision: RouteDecision, order: Order) -> Decision:
    """The canonical form of an engine decision for ``order``."""
    placed: dict[str, dict[str, int]] = {}
    distance_of: dict[str, float] = {}
    for shipment in decision.shipments:
        lines = placed.setdefault(shipment.warehouse_id, {})
        for allocation in shipment.lines:
            lines[allocation.line_id] = lines.get(allocation.line_id, 0) + allocation.quantity
        distance_of[shipment.warehouse_id] = shipment.distance_km
    ordered = sum(line.quantity for line in order.lines)
    if decision.status is RouteStatus.HELD or decision.status is RouteStatus.REJECTED:
        code = decision.hold.code if decision.hold else decision.status.name
        return Decision(decision.status, (), ordered, code)
    made = make_decision(placed, distance_of, ordered)
    return Decision(decision.status, made.shipments, made.unfilled_units)


@dataclass(frozen=True)
class QualityTotals:
    """Totals over a batch: what a shipping bill and a buyer notice."""

    orders: int
    shipments: int
    split_orders: int  # orders shipped from more than one warehouse
    distance_km: float
    unfilled_units: int
    units: int

    @property
    def fill_rate(self) -> float:
        return 1.0 - self.unfilled_units / self.units if self.units else 1.0

    def cost(self, shipment_weight: float, distance_weight: float, unit_penalty: float) -> float:
        return (
            shipment_weight * self.shipments
            + distance_weight * self.distance_km
            + unit_penalty * self.unfilled_units
        )


def quality_totals(decisions: Sequence[Decision], orders: Iterable[Order]) -> QualityTotals:
    units = sum(line.quantity for order in orders for line in order.lines)
    return QualityTotals(
        orders=len(decisions),
        shipments=sum(len(d.shipments) for d in decisions),
        split_orders=sum(1 for d in decisions if len(d.shipments) > 1),
        distance_km=sum(s.distance_km for d in decisions for s in d.shipments),
        unfilled_units=sum(d.unfilled_units for d in decisions),
        units=units,
    )
