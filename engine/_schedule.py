"""Ship dates and delivery estimates per (warehouse, service level), computed once per batch.

Definitions (the contract tests pin):

* **Handling days** are business days (Monday-Friday; no holiday calendar). With
  ``handling_days = 0`` the earliest hand-over is *now*. With ``h > 0`` it is local midnight of the
  ``h``-th business day after the warehouse's local date today (a weekend date first rolls forward
  to Monday), so an order taken on Monday with one handling day can leave on Tuesday's pickups,
  whatever Monday's cutoff was.
* **Ship date** (``ship_by``) is the first pickup at or after that earliest hand-over whose cutoff,
  taken in the warehouse's own time zone (``zoneinfo``, so DST shifts move it in UTC), is still
  strictly ahead of *now*, on one of the pickup's weekdays, and whose service levels include the
  order's (an empty set serves every level). Warehouses without pickups configured ship every
  level Monday-Friday at 17:00 local. A warehouse whose pickups never serve a level is ineligible
  for that level (NaT). The search looks ``SEARCH_DAYS`` days ahead.
* **Transit** in business days from the ship date (a Saturday pickup counts from the Friday before,
  so it arrives Monday with one day): ground (STANDARD, SCHEDULED, FREE_ECONOMY) by distance band,
  under 150 miles 1 day, under 300 2, under 600 3, under 1,800 4, farther 5; EXPEDITED and PRIORITY
  one day faster than ground but at least 1; SECOND_DAY 2; NEXT_DAY 1; SAME_DAY 0 (same date).
* **Delivery estimate** (``deliver_by``) is 20:00 (the end of carriers' delivery window) on the
  delivery date in the warehouse's time zone.

All instants are UTC; arrays use ``datetime64[s]`` (naive, meaning UTC).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from engine._model import CarrierPickup, ServiceLevel, Warehouse
from engine._network import Network

__all__ = [
    "DELIVERY_TIME_LOCAL",
    "GROUND_BAND_MILES",
    "SEARCH_DAYS",
    "Schedule",
    "transit_days",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
DateTimeArray = npt.NDArray[np.datetime64]

UTC = dt.UTC
KM_PER_MILE = 1.609344
#: Upper bounds (miles) of ground transit bands 1..4 days; beyond the last: 5 days.
GROUND_BAND_MILES: tuple[float, ...] = (150.0, 300.0, 600.0, 1800.0)
_BAND_KM = np.array(GROUND_BAND_MILES) * KM_PER_MILE
#: How far ahead the first serving pickup is searched.
SEARCH_DAYS = 21
DELIVERY_TIME_LOCAL = dt.time(20, 0)
_DEFAULT_PICKUPS = (CarrierPickup(cutoff=dt.time(17, 0)),)
_NAT = np.datetime64("NaT", "s")
#: Number of distinct transit-day values (0..5) a delivery table holds.
_MAX_TRANSIT = 5
_GROUND_LEVELS = frozenset(
    {ServiceLevel.STANDARD, ServiceLevel.SCHEDULED, ServiceLevel.FREE_ECONOMY}
)


def _transit_for_band(level: ServiceLevel, band: int) -> int:
    ground = band + 1  # bands 0..4 -> 1..5 days
    if level in _GROUND_LEVELS:
        return ground
    if level in (ServiceLevel.EXPEDITED, ServiceLevel.PRIORITY):
        return max(1, ground - 1)
    if level is ServiceLevel.SECOND_DAY:
        return 2
    if level is ServiceLevel.NEXT_DAY:
        return 1
    return 0  # SAME_DAY


#: ``_TRANSIT[level, band]`` transit business days.
_TRANSIT = np.zeros((max(ServiceLevel) + 1, len(GROUND_BAND_MILES) + 1), dtype=np.int64)
for _level in ServiceLevel:
    for _band in range(len(GROUND_BAND_MILES) + 1):
        _TRANSIT[_level, _band] = _transit_for_band(_level, _band)


def distance_band(distance_km: FloatArray) -> npt.NDArray[np.int8]:
    """Ground band 0..4 of each distance (NaN lands in the farthest band)."""
    band = np.zeros(distance_km.shape, dtype=np.int8)
    for bound in _BAND_KM:
        band += ~(distance_km < bound)
    return band


def transit_days(level: ServiceLevel, distance_km: float) -> int:
    """Transit business days for one shipment (see the module doc)."""
    return int(_TRANSIT[level, int(distance_band(np.array([distance_km]))[0])])


def _to_utc64(instant: dt.datetime) -> np.datetime64:
    return np.datetime64(instant.astimezone(UTC).replace(tzinfo=None), "s")


def _serves(pickup: CarrierPickup, level: ServiceLevel) -> bool:
    return not pickup.service_levels or level in pickup.service_levels


def first_pickup(
    warehouse: Warehouse, zone: dt.tzinfo, level: ServiceLevel, now: dt.datetime
) -> dt.datetime | None:
    """The warehouse's ship date for ``level`` (aware, in the warehouse's zone), or None."""
    pickups = warehouse.pickups or _DEFAULT_PICKUPS
    serving = [pickup for pickup in pickups if _serves(pickup, level)]
    if not serving:
        return None
    local_now = now.astimezone(zone)
    if warehouse.handling_days > 0:
        start = np.busday_offset(
            np.datetime64(local_now.date(), "D"), warehouse.handling_days, roll="forward"
        )
        earliest = dt.datetime.combine(start.astype(dt.date), dt.time(0), tzinfo=zone)
    else:
        earliest = local_now
    day = earliest.date()
    for _ in range(SEARCH_DAYS):
        weekday = day.isoweekday()
        best: dt.datetime | None = None
        for pickup in serving:
            if weekday not in pickup.weekdays:
                continue
            cutoff = dt.datetime.combine(day, pickup.cutoff, tzinfo=zone)
            if cutoff > now and cutoff >= earliest and (best is None or cutoff < best):
                best = cutoff
        if best is not None:
            return best
        day += dt.timedelta(days=1)
    return None


def delivery_estimate(ship_by: dt.datetime, zone: dt.tzinfo, days: int) -> dt.datetime:
    """20:00 local on the date ``days`` business days after the (local) ship date."""
    ship_date = ship_by.astimezone(zone).date()
    if days == 0:
        arrival = ship_date
    else:
        arrival = np.busday_offset(np.datetime64(ship_date, "D"), days, roll="backward").astype(
            dt.date
        )
    return dt.datetime.combine(arrival, DELIVERY_TIME_LOCAL, tzinfo=zone).astimezone(UTC)


class Schedule:
    """Per-batch tables: ship date per (level, warehouse), delivery per (level, warehouse, transit).

    Built for the service levels present in a batch; everything per order is array indexing.
    """

    def __init__(self, network: Network, now: dt.datetime, levels: Iterable[ServiceLevel]) -> None:
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        self.now = now.astimezone(UTC)
        width = len(network)
        self.width = width
        level_count = max(ServiceLevel) + 1
        self.ship64: DateTimeArray = np.full((level_count, width), _NAT)
        self.deliver64: DateTimeArray = np.full((level_count, width, _MAX_TRANSIT + 1), _NAT)
        #: Python datetimes (UTC) of the same tables, for building results without conversions.
        self.ship_py: list[list[dt.datetime | None]] = [[None] * width for _ in range(level_count)]
        self.deliver_py: list[list[list[dt.datetime | None]]] = [
            [[None] * (_MAX_TRANSIT + 1) for _ in range(width)] for _ in range(level_count)
        ]
        for level in set(levels):
            needed_transit = sorted({int(t) for t in _TRANSIT[level]})
            for w, (warehouse, zone) in enumerate(
                zip(network.warehouses, network.time_zones, strict=True)
            ):
                local_ship = first_pickup(warehouse, zone, level, self.now)
                if local_ship is None:
                    continue
                ship_utc = local_ship.astimezone(UTC)
                self.ship_py[level][w] = ship_utc
                self.ship64[level, w] = _to_utc64(ship_utc)
                for days in needed_transit:
                    arrival = delivery_estimate(local_ship, zone, days)
                    self.deliver_py[level][w][days] = arrival
                    self.deliver64[level, w, days] = _to_utc64(arrival)

    @staticmethod
    def transit(level_index: IntArray, band: npt.NDArray[np.int8]) -> IntArray:
        """Transit days for matching 1-D arrays of service levels and distance bands."""
        result: IntArray = _TRANSIT[level_index, band]
        return result

    def ship_by(self, level_index: IntArray) -> DateTimeArray:
        """``[n, W]`` ship dates (NaT: no pickup serves the order's level); read-only."""
        levels = np.unique(level_index)
        if len(levels) == 1:  # a broadcast view: no n x W copy
            return np.broadcast_to(self.ship64[int(levels[0])], (len(level_index), self.width))
        result: DateTimeArray = self.ship64[level_index]
        return result

    def deliver_by(self, level_index: IntArray, band: npt.NDArray[np.int8]) -> DateTimeArray:
        """``[n, W]`` delivery estimates for orders whose distance bands are ``band`` ``[n, W]``."""
        columns = np.arange(self.width)
        # Per level a [band, W] table; indexing it with the band matrix and a broadcast column
        # index builds the result in one pass without an n x W index array.
        levels = np.unique(level_index)
        result = np.empty(band.shape, dtype="datetime64[s]")
        for level in levels.tolist():
            table = self.deliver64[level][columns[:, None], _TRANSIT[level][None, :]].T
            if len(levels) == 1:
                result = table[band, columns]
            else:
                rows = level_index == level
                result[rows] = table[band[rows], columns]
        return result
