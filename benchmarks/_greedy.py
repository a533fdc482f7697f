"""Per-line greedy allocation as Saleor and Medusa do it: each line takes its units from the first
warehouse in the configured order that has stock, spilling to the next one, with no regard for
distance or for the order's other lines. The decision-quality baseline.

Eligibility (service level) is respected so the comparison with the default policy is fair.
"""

from __future__ import annotations

from collections.abc import Sequence

from benchmarks._decisions import Decision, make_decision
from benchmarks._naive import haversine_km, serves_level, zip_coordinates
from engine import Order, RouteStatus, Warehouse

__all__ = ["PerLineGreedyRouter"]


class PerLineGreedyRouter:
    """Routes against ``stock`` (``{(sku, warehouse_id): available}``), decrementing it in place."""

    def __init__(self, warehouses: Sequence[Warehouse], stock: dict[tuple[str, str], int]) -> None:
        self.warehouses = list(warehouses)
        self.stock = stock
        self.zips = zip_coordinates()

    def route(self, orders: Sequence[Order]) -> list[Decision]:
        return [self.route_one(order) for order in orders]

    def route_one(self, order: Order) -> Decision:
        ordered = sum(line.quantity for line in order.lines)
        if order.ship_to.latitude is not None and order.ship_to.longitude is not None:
            lat, lon = order.ship_to.latitude, order.ship_to.longitude
        else:
            found = self.zips.get(order.ship_to.postal_code.strip()[:5])
            if found is None:
                return Decision(RouteStatus.HELD, (), ordered, "UNKNOWN_POSTAL_CODE")
            lat, lon = found
        eligible = [w for w in self.warehouses if serves_level(w, order.service_level)]
        placed: dict[str, dict[str, int]] = {}
        distance: dict[str, float] = {}
        for line in order.lines:
            need = line.quantity
            for warehouse in eligible:
                if need == 0:
                    break
                wid = warehouse.warehouse_id
                have = self.stock.get((line.sku, wid), 0)
                take = min(need, max(0, have))
                if take:
                    self.stock[(line.sku, wid)] = have - take
                    placed.setdefault(wid, {})[line.line_id] = take
                    distance[wid] = haversine_km(lat, lon, warehouse.latitude, warehouse.longitude)
                    need -= take
        return make_decision(placed, distance, ordered)
