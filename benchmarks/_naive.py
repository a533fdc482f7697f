"""The deliberately plain reference router: per order, a Python loop over warehouses with ``math``
haversine and a dict of stock. It is the speed baseline *and* an independent statement of the
default policy, checked decision by decision against the engine.

Semantics of the default policy as this router states them (the engine's contract in
``engine/_allocate.py``), per order against the stock earlier orders left:

1. the nearest eligible warehouse that can ship the whole order;
2. else the fewest warehouses that cover every unit: the pair with the least total distance, else
   the triple (among the ``triple_limit`` nearest warehouses holding something of the order) with
   the least total distance; ties go to the first in distance order; each line takes its units
   from the nearest warehouse of the set first;
3. else, up to ``max_shipments`` warehouses picked greedily, each the one adding the most units
   (ties to the nearer), lines filled in the order they were picked; the rest is unfilled.

Eligible: active, and a pickup that serves the order's service level (a warehouse with no pickups
serves every level). Equal distances go to the warehouse earlier in the network.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence

import zipcodes

from benchmarks._decisions import Decision, make_decision
from engine import Order, OrderLine, RouteStatus, ServiceLevel, Warehouse
from engine._router import TRIPLE_CANDIDATES  # the engine bounds its 3-cover search so; so do we

__all__ = ["NaiveRouter", "haversine_km", "serves_level", "zip_coordinates"]

EARTH_RADIUS_KM = 6371.0088


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, a)))


@functools.cache
def zip_coordinates() -> dict[str, tuple[float, float]]:
    return {z["zip_code"]: (float(z["lat"]), float(z["long"])) for z in zipcodes.list_all()}  # type: ignore[no-untyped-call]  # zipcodes has no type hints


def serves_level(warehouse: Warehouse, level: ServiceLevel) -> bool:
    if not warehouse.active:
        return False
    if not warehouse.pickups:
        return True
    return any(not p.service_levels or level in p.service_levels for p in warehouse.pickups)


class NaiveRouter:
    """Routes orders one at a time against ``stock`` (``{(sku, warehouse_id): available}``),
    which it decrements in place like a committed route."""

    def __init__(
        self,
        warehouses: Sequence[Warehouse],
        stock: dict[tuple[str, str], int],
        *,
        max_shipments: int = 3,
        triple_limit: int = TRIPLE_CANDIDATES,
    ) -> None:
        self.warehouses = list(warehouses)
        self.stock = stock
        self.max_shipments = max_shipments
        self.triple_limit = triple_limit
        self.zips = zip_coordinates()

    def route(self, orders: Sequence[Order]) -> list[Decision]:
        return [self.route_one(order) for order in orders]

    def route_one(self, order: Order) -> Decision:
        ordered = sum(line.quantity for line in order.lines)
        ship_to = order.ship_to
        if ship_to.latitude is not None and ship_to.longitude is not None:
            lat, lon = ship_to.latitude, ship_to.longitude
        else:
            found = self.zips.get(ship_to.postal_code.strip()[:5])
            if found is None:
                return Decision(RouteStatus.HELD, (), ordered, "UNKNOWN_POSTAL_CODE")
            lat, lon = found
        stock = self.stock
        lines = order.lines

        # Pass 1: the nearest eligible warehouse that can ship the whole order.
        eligible: list[tuple[float, int, str]] = []
        best: tuple[float, int, str] | None = None
        for index, warehouse in enumerate(self.warehouses):
            if not serves_level(warehouse, order.service_level):
                continue
            distance = haversine_km(lat, lon, warehouse.latitude, warehouse.longitude)
            wid = warehouse.warehouse_id
            eligible.append((distance, index, wid))
            if all(stock.get((line.sku, wid), 0) >= line.quantity for line in lines) and (
                best is None or distance < best[0]
            ):
                best = (distance, index, wid)
        if best is not None:
            return self._commit(order, [best], ordered)

        # Pass 2: the fewest warehouses that cover every unit: pairs, then triples among the
        # `triple_limit` nearest useful candidates; least total distance, ties to the first found.
        candidates = sorted(
            c for c in eligible if any(stock.get((line.sku, c[2]), 0) > 0 for line in lines)
        )
        for size in (2, 3):
            if size > self.max_shipments:
                break
            pool = candidates if size == 2 else candidates[: self.triple_limit]
            best_cover: tuple[tuple[float, int, str], ...] = ()
            best_total = math.inf
            for combo in itertools.combinations(pool, size):
                total = sum(c[0] for c in combo)
                if total < best_total and self._covers(lines, combo):
                    best_cover, best_total = combo, total
            if best_cover:
                return self._commit(order, list(best_cover), ordered)

        # Pass 3: as much as max_shipments warehouses can carry, picked greedily: each time the
        # warehouse adding the most units (ties to the nearer), filled in the order picked.
        left = {line.line_id: line.quantity for line in lines}
        picked: list[tuple[float, int, str]] = []
        while len(picked) < self.max_shipments:
            pick, pick_gain = None, 0
            for c in candidates:
                if c in picked:
                    continue
                gain = sum(
                    min(left[line.line_id], max(0, stock.get((line.sku, c[2]), 0)))
                    for line in lines
                )
                if gain > pick_gain:
                    pick, pick_gain = c, gain
            if pick is None:
                break
            picked.append(pick)
            for line in lines:
                have = max(0, stock.get((line.sku, pick[2]), 0))
                left[line.line_id] -= min(left[line.line_id], have)
        return self._commit(order, picked, ordered)

    def _covers(self, lines: Sequence[OrderLine], combo: Sequence[tuple[float, int, str]]) -> bool:
        stock = self.stock
        return all(
            sum(max(0, stock.get((line.sku, c[2]), 0)) for c in combo) >= line.quantity
            for line in lines
        )

    def _commit(self, order: Order, chosen: list[tuple[float, int, str]], ordered: int) -> Decision:
        # `chosen` is nearest first, or in pick order for a partial route.
        placed: dict[str, dict[str, int]] = {wid: {} for _, _, wid in chosen}
        for line in order.lines:
            need = line.quantity
            for _, _, wid in chosen:
                if need == 0:
                    break
                have = self.stock.get((line.sku, wid), 0)
                take = min(need, max(0, have))
                if take:
                    self.stock[(line.sku, wid)] = have - take
                    placed[wid][line.line_id] = take
                    need -= take
        return make_decision(placed, {wid: d for d, _, wid in chosen}, ordered)
