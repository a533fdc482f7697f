"""Deterministic benchmark scenarios: a US warehouse network, stock, and a stream of orders.

Everything is drawn from one ``numpy.random.Generator`` seeded by ``seed``, so the same arguments
always give the same scenario, element for element. Modelling choices (each a documented
assumption):

- Demand: ship-to ZIPs drawn by the population proxy of :mod:`benchmarks._geodata` over real
  STANDARD ZIPs of the 50 states and DC from the ``zipcodes`` package; orders carry only the postal
  code, so the router geocodes them itself.
- Orders: 80 % single-line, the rest 2 + Geometric(0.5) lines (at most 5), SKUs distinct within an
  order, popularity Zipf(0.9) over SKUs; quantity 1 (85 %), 2 (10 %), 3 (3 %), 4 (2 %).
- Service levels like Amazon's FBM mix (our estimate; Amazon does not publish one): STANDARD 62 %,
  FREE_ECONOMY 10 %, EXPEDITED 12 %, SECOND_DAY 7 %, PRIORITY 3 %, NEXT_DAY 5 %, SAME_DAY 1 %.
- Network: real ZIPs of fulfilment clusters, their time zones from ``zipcodes``; cutoffs 14:00-20:00
  local; the ten biggest hubs ship every level, the others ground levels only, every third of them
  with an earlier express pickup (NEXT_DAY, SAME_DAY); every fifth site needs a handling day.
- Stock: 75 % of SKUs in 1-3 warehouses, 20 % in a region (a fifth to a half of the network), 5 %
  everywhere; warehouses higher in the list are likelier to stock a SKU. Supply is 1.5-4x the SKU's
  expected demand in the scenario plus 1-3 base units per stocked cell; ``scarce_share`` of SKUs get
  only 0.2-0.8x, so splits, partial routes and backorders happen.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt
import zipcodes

from benchmarks._geodata import HUB_ZIPS, METRO_RADIUS_KM, METROS, US_POPULATION
from engine import Address, CarrierPickup, Order, OrderLine, ServiceLevel, Warehouse

__all__ = [
    "SERVICE_LEVEL_MIX",
    "Scenario",
    "ZipTable",
    "generate_scenario",
    "make_network",
    "zip_table",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

T = TypeVar("T")
EARTH_RADIUS_KM = 6371.0088
# A Wednesday mid-afternoon UTC: before most cutoffs in the west, after some in the east.
DEFAULT_NOW = dt.datetime(2026, 12, 2, 19, 30, tzinfo=dt.UTC)

SERVICE_LEVEL_MIX: tuple[tuple[ServiceLevel, float], ...] = (
    (ServiceLevel.STANDARD, 0.62),
    (ServiceLevel.FREE_ECONOMY, 0.10),
    (ServiceLevel.EXPEDITED, 0.12),
    (ServiceLevel.SECOND_DAY, 0.07),
    (ServiceLevel.PRIORITY, 0.03),
    (ServiceLevel.NEXT_DAY, 0.05),
    (ServiceLevel.SAME_DAY, 0.01),
)
CHANNEL_MIX: tuple[tuple[str, float], ...] = (
    ("amazon", 0.55),
    ("shopify", 0.30),
    ("storefront", 0.15),
)
QUANTITY_MIX: tuple[tuple[int, float], ...] = ((1, 0.85), (2, 0.10), (3, 0.03), (4, 0.02))
GROUND_LEVELS = frozenset(
    {
        ServiceLevel.STANDARD,
        ServiceLevel.FREE_ECONOMY,
        ServiceLevel.EXPEDITED,
        ServiceLevel.PRIORITY,
        ServiceLevel.SECOND_DAY,
        ServiceLevel.SCHEDULED,
    }
)
EXPRESS_LEVELS = frozenset({ServiceLevel.NEXT_DAY, ServiceLevel.SAME_DAY})
CUTOFFS = (
    dt.time(14, 0),
    dt.time(15, 0),
    dt.time(15, 30),
    dt.time(16, 0),
    dt.time(17, 0),
    dt.time(18, 0),
    dt.time(19, 0),
    dt.time(20, 0),
)
BIG_HUBS = 10
STATES_AND_DC = frozenset(
    {
        "AL",
        "AK",
        "AZ",
        "AR",
        "CA",
        "CO",
        "CT",
        "DE",
        "DC",
        "FL",
        "GA",
        "HI",
        "ID",
        "IL",
        "IN",
        "IA",
        "KS",
        "KY",
        "LA",
        "ME",
        "MD",
        "MA",
        "MI",
        "MN",
        "MS",
        "MO",
        "MT",
        "NE",
        "NV",
        "NH",
        "NJ",
        "NM",
        "NY",
        "NC",
        "ND",
        "OH",
        "OK",
        "OR",
        "PA",
        "RI",
        "SC",
        "SD",
        "TN",
        "TX",
        "UT",
        "VT",
        "VA",
        "WA",
        "WV",
        "WI",
        "WY",
    }
)


@dataclass(frozen=True)
class ZipTable:
    """Real US STANDARD ZIPs with coordinates, time zone and the demand weight of the proxy."""

    codes: tuple[str, ...]
    latitude: FloatArray
    longitude: FloatArray
    time_zone: tuple[str, ...]
    weight: FloatArray  # sums to 1


def _haversine_km(lat1: FloatArray, lon1: FloatArray, lat2: float, lon2: float) -> FloatArray:
    p1, p2 = np.radians(lat1), math.radians(lat2)
    dphi, dlmb = p2 - p1, np.radians(lon2 - lon1)
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * math.cos(p2) * np.sin(dlmb / 2) ** 2
    out: FloatArray = 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(a))
    return out


@functools.cache
def zip_table() -> ZipTable:
    """The demand table, built once per process (about 0.1 s)."""
    rows = [
        z
        for z in zipcodes.list_all()  # type: ignore[no-untyped-call]  # zipcodes has no type hints
        if z["zip_code_type"] == "STANDARD"
        and z["active"]
        and z["state"] in STATES_AND_DC
        and z["timezone"]
    ]
    rows.sort(key=lambda z: z["zip_code"])
    lat = np.array([float(z["lat"]) for z in rows])
    lon = np.array([float(z["long"]) for z in rows])
    metro_people = 0.0
    weight = np.zeros(len(rows))
    for metro in METROS:
        near = _haversine_km(lat, lon, metro.latitude, metro.longitude) <= METRO_RADIUS_KM
        count = int(near.sum())
        if count:
            weight[near] += metro.population / count
            metro_people += metro.population
    weight += (US_POPULATION - metro_people) / len(rows)
    return ZipTable(
        codes=tuple(z["zip_code"] for z in rows),
        latitude=lat,
        longitude=lon,
        time_zone=tuple(z["timezone"] for z in rows),
        weight=weight / weight.sum(),
    )


@dataclass(frozen=True)
class Scenario:
    """A network, sparse stock and orders. Stock is kept sparse (one entry per stocked cell) so
    a million SKUs across 200 warehouses stays small; :meth:`dense_on_hand` builds the engine's
    table."""

    seed: int
    warehouses: tuple[Warehouse, ...]
    skus: tuple[str, ...]
    stock_sku: IntArray  # [P] SKU index of each stocked (sku, warehouse) cell
    stock_warehouse: IntArray  # [P] warehouse index
    stock_quantity: IntArray  # [P] on hand, > 0
    orders: tuple[Order, ...]
    now: dt.datetime

    @property
    def stocked_pairs(self) -> int:
        return int(self.stock_sku.size)

    def dense_on_hand(self, sku_index: IntArray | None = None) -> IntArray:
        """``int64 [k, W]`` on-hand for ``sku_index`` (every SKU when None), in that order."""
        n_w = len(self.warehouses)
        if sku_index is None:
            dense = np.zeros((len(self.skus), n_w), dtype=np.int64)
            dense[self.stock_sku, self.stock_warehouse] = self.stock_quantity
            return dense
        position = np.full(len(self.skus), -1, dtype=np.int64)
        position[sku_index] = np.arange(sku_index.size)
        keep = position[self.stock_sku] >= 0
        dense = np.zeros((sku_index.size, n_w), dtype=np.int64)
        dense[position[self.stock_sku[keep]], self.stock_warehouse[keep]] = self.stock_quantity[
            keep
        ]
        return dense

    def ordered_sku_index(self) -> IntArray:
        """Indices of the SKUs the orders name, sorted (what a server would load for this batch)."""
        index = {sku: i for i, sku in enumerate(self.skus)}
        named = {index[line.sku] for order in self.orders for line in order.lines}
        return np.array(sorted(named), dtype=np.int64)

    def stock_dict(self) -> dict[tuple[str, str], int]:
        """``{(sku, warehouse_id): on_hand}`` of every stocked cell: the naive router's stock."""
        ids = [w.warehouse_id for w in self.warehouses]
        return {
            (self.skus[s], ids[w]): int(q)
            for s, w, q in zip(
                self.stock_sku.tolist(),
                self.stock_warehouse.tolist(),
                self.stock_quantity.tolist(),
                strict=True,
            )
        }


def _pickups(index: int, rng: np.random.Generator) -> tuple[CarrierPickup, ...]:
    cutoff = CUTOFFS[int(rng.integers(len(CUTOFFS)))]
    if index < BIG_HUBS:
        # Big hubs: every service level, and a Saturday pickup.
        return (CarrierPickup(cutoff=cutoff, weekdays=frozenset({1, 2, 3, 4, 5, 6})),)
    ground = CarrierPickup(cutoff=cutoff, service_levels=GROUND_LEVELS)
    if index % 3 == 0:
        express_cutoff = dt.time(max(cutoff.hour - 2, 12), 0)
        return (ground, CarrierPickup(cutoff=express_cutoff, service_levels=EXPRESS_LEVELS))
    return (ground,)


def make_network(n_warehouses: int, seed: int = 7) -> tuple[Warehouse, ...]:
    """``n_warehouses`` sites at real ZIPs: fulfilment hubs first, then ZIPs drawn by population
    (one per 3-digit prefix, so sites do not pile into one city)."""
    rng = np.random.default_rng([seed, 1])
    table = zip_table()
    by_code = {code: i for i, code in enumerate(table.codes)}
    chosen: list[int] = [by_code[z] for z in HUB_ZIPS[:n_warehouses]]
    used_prefixes = {table.codes[i][:3] for i in chosen}
    if len(chosen) < n_warehouses:
        order = rng.choice(len(table.codes), size=len(table.codes), replace=False, p=table.weight)
        for i in order.tolist():
            if table.codes[i][:3] not in used_prefixes:
                chosen.append(i)
                used_prefixes.add(table.codes[i][:3])
                if len(chosen) == n_warehouses:
                    break
    # A separate stream for cutoffs, so a smaller network is exactly the head of a larger one.
    cutoff_rng = np.random.default_rng([seed, 3])
    warehouses = []
    for index, zi in enumerate(chosen):
        warehouses.append(
            Warehouse(
                warehouse_id=f"WH{index:03d}-{table.codes[zi]}",
                name=f"Site {index} ({table.codes[zi]})",
                latitude=float(table.latitude[zi]),
                longitude=float(table.longitude[zi]),
                postal_code=table.codes[zi],
                country_code="US",
                time_zone=table.time_zone[zi],
                tags=frozenset({"hub"} if index < BIG_HUBS else {"regional"}),
                handling_days=1 if index % 5 == 4 else 0,
                pickups=_pickups(index, cutoff_rng),
            )
        )
    return tuple(warehouses)


def _choice_from_mix(
    rng: np.random.Generator, mix: tuple[tuple[T, float], ...], size: int
) -> list[T]:
    values = [v for v, _ in mix]
    p = np.array([w for _, w in mix])
    picks = rng.choice(len(values), size=size, p=p / p.sum())
    return [values[i] for i in picks.tolist()]


def _stock(
    rng: np.random.Generator,
    n_skus: int,
    n_warehouses: int,
    expected_demand: FloatArray,
    scarce_share: float,
) -> tuple[IntArray, IntArray, IntArray]:
    # Warehouses earlier in the list (the big hubs) are likelier to stock any given SKU.
    site_weight = 1.0 / (1.0 + 0.08 * np.arange(n_warehouses))
    site_weight /= site_weight.sum()
    kind = rng.random(n_skus)
    everywhere = np.flatnonzero(kind < 0.05)
    regional = np.flatnonzero((kind >= 0.05) & (kind < 0.25))
    few = np.flatnonzero(kind >= 0.25)

    cells: list[IntArray] = []
    if few.size:
        count = rng.integers(1, 4, size=few.size)
        picks = rng.choice(n_warehouses, size=(few.size, 3), p=site_weight)
        take = np.arange(3)[None, :] < count[:, None]
        cells.append((few[:, None] * n_warehouses + picks)[take])
    if regional.size:
        width = max(2, n_warehouses // 2)
        count = rng.integers(max(1, n_warehouses // 5), width + 1, size=regional.size)
        picks = rng.choice(n_warehouses, size=(regional.size, width), p=site_weight)
        take = np.arange(width)[None, :] < count[:, None]
        cells.append((regional[:, None] * n_warehouses + picks)[take])
    if everywhere.size:
        cells.append(
            (everywhere[:, None] * n_warehouses + np.arange(n_warehouses)[None, :]).ravel()
        )
    flat = np.unique(np.concatenate(cells))  # duplicates of a random pick collapse into one cell
    sku = flat // n_warehouses
    warehouse = flat % n_warehouses

    scarce = rng.random(n_skus) < scarce_share
    factor = np.where(scarce, rng.uniform(0.2, 0.8, n_skus), rng.uniform(1.5, 4.0, n_skus))
    supply = expected_demand * factor
    # Split each SKU's supply over its cells by random shares, with stochastic rounding.
    share = rng.exponential(size=flat.size)
    total_share = np.bincount(sku, weights=share, minlength=n_skus)
    exact = supply[sku] * share / total_share[sku]
    units = np.floor(exact + rng.random(flat.size)).astype(np.int64)
    base = np.where(scarce[sku], 0, rng.integers(1, 4, size=flat.size))
    quantity = units + base
    keep = quantity > 0
    return sku[keep], warehouse[keep], quantity[keep]


def generate_scenario(
    *,
    seed: int = 7,
    n_orders: int = 10_000,
    n_warehouses: int = 50,
    n_skus: int = 100_000,
    multi_line_share: float = 0.2,
    scarce_share: float = 0.1,
    now: dt.datetime = DEFAULT_NOW,
) -> Scenario:
    """Build a scenario; the same arguments always give the same scenario."""
    if n_orders < 0 or n_warehouses < 1 or n_skus < 5:
        raise ValueError("need n_orders >= 0, n_warehouses >= 1 and n_skus >= 5")
    rng = np.random.default_rng([seed, 2])
    table = zip_table()
    warehouses = make_network(n_warehouses, seed)

    popularity = 1.0 / np.arange(1, n_skus + 1) ** 0.9
    popularity /= popularity.sum()
    multi = rng.random(n_orders) < multi_line_share
    n_lines = np.where(multi, np.minimum(2 + rng.geometric(0.5, n_orders) - 1, 5), 1)
    total_lines = int(n_lines.sum())
    line_sku = rng.choice(n_skus, size=total_lines, p=popularity)
    qty_values = np.array([q for q, _ in QUANTITY_MIX])
    qty_p = np.array([p for _, p in QUANTITY_MIX])
    line_qty = qty_values[rng.choice(len(qty_values), size=total_lines, p=qty_p / qty_p.sum())]
    expected_demand: FloatArray = np.asarray(popularity * float(line_qty.sum()), dtype=np.float64)

    ship_to = rng.choice(len(table.codes), size=n_orders, p=table.weight)
    levels = _choice_from_mix(rng, SERVICE_LEVEL_MIX, n_orders)
    channels = _choice_from_mix(rng, CHANNEL_MIX, n_orders)
    minutes_ago = rng.integers(1, 240, size=n_orders)

    sku_names = tuple(f"SKU-{i:07d}" for i in range(n_skus))
    orders: list[Order] = []
    start = 0
    skus_list = line_sku.tolist()
    qty_list = line_qty.tolist()
    for i, count in enumerate(n_lines.tolist()):
        lines: list[OrderLine] = []
        seen: set[int] = set()
        for k in range(start, start + count):
            s = skus_list[k]
            if s in seen:  # SKUs are distinct within an order (a repeat would be one line)
                continue
            seen.add(s)
            lines.append(
                OrderLine(line_id=str(len(lines) + 1), sku=sku_names[s], quantity=qty_list[k])
            )
        start += count
        zi = int(ship_to[i])
        orders.append(
            Order(
                channel=channels[i],
                channel_order_id=f"S{seed}-{i:07d}",
                lines=tuple(lines),
                ship_to=Address(postal_code=table.codes[zi], country_code="US"),
                service_level=levels[i],
                purchased_at=now - dt.timedelta(minutes=int(minutes_ago[i])),
            )
        )

    stock_sku, stock_wh, stock_qty = _stock(
        rng, n_skus, n_warehouses, expected_demand, scarce_share
    )
    return Scenario(
        seed=seed,
        warehouses=warehouses,
        skus=sku_names,
        stock_sku=stock_sku,
        stock_warehouse=stock_wh,
        stock_quantity=stock_qty,
        orders=tuple(orders),
        now=now,
    )
