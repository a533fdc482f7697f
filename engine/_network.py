"""The warehouse network as immutable arrays, built once and shared by every route of a batch."""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterator, Sequence

import numpy as np
import numpy.typing as npt

from engine._errors import UnknownWarehouseError
from engine._model import Warehouse

__all__ = ["Network", "unit_vectors"]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def unit_vectors(latitude: FloatArray, longitude: FloatArray) -> FloatArray:
    """3-D unit vectors ``[n, 3]`` of points on the sphere (degrees in); dot products of two of them
    are the cosine of the central angle, which is how batch distances are computed."""
    phi = np.radians(np.asarray(latitude, dtype=np.float64))
    lam = np.radians(np.asarray(longitude, dtype=np.float64))
    cos_phi = np.cos(phi)
    return np.stack([cos_phi * np.cos(lam), cos_phi * np.sin(lam), np.sin(phi)], axis=-1)


def _read_only(array: npt.NDArray[np.generic]) -> None:
    array.flags.writeable = False


class Network:
    """An immutable warehouse network. Index ``w`` of every array is ``warehouses[w]``.

    Inactive warehouses stay in the arrays (so indices are stable across a network update that only
    flips ``active``) but the router never makes them eligible.
    """

    __slots__ = (
        "_index",
        "active",
        "lat",
        "lon",
        "tags",
        "time_zones",
        "unit",
        "warehouse_ids",
        "warehouses",
    )

    warehouses: tuple[Warehouse, ...]
    warehouse_ids: tuple[str, ...]
    lat: FloatArray
    lon: FloatArray
    unit: FloatArray
    active: BoolArray
    tags: tuple[frozenset[str], ...]
    time_zones: tuple[zoneinfo.ZoneInfo, ...]
    _index: dict[str, int]

    def __init__(self, warehouses: Sequence[Warehouse]) -> None:
        items = tuple(warehouses)
        index: dict[str, int] = {}
        zones: list[zoneinfo.ZoneInfo] = []
        for position, warehouse in enumerate(items):
            if not warehouse.warehouse_id:
                raise ValueError(f"warehouse #{position} has an empty warehouse_id")
            if warehouse.warehouse_id in index:
                raise ValueError(f"duplicate warehouse_id {warehouse.warehouse_id!r}")
            if not (-90.0 <= warehouse.latitude <= 90.0 and -180.0 <= warehouse.longitude <= 180.0):
                raise ValueError(
                    f"warehouse {warehouse.warehouse_id!r} has coordinates out of range"
                )
            if warehouse.handling_days < 0:
                raise ValueError(f"warehouse {warehouse.warehouse_id!r} has negative handling_days")
            try:
                zones.append(zoneinfo.ZoneInfo(warehouse.time_zone))
            except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
                raise ValueError(
                    f"warehouse {warehouse.warehouse_id!r} has an unknown time zone "
                    f"{warehouse.time_zone!r}"
                ) from error
            index[warehouse.warehouse_id] = position
        set_ = object.__setattr__
        set_(self, "warehouses", items)
        set_(self, "warehouse_ids", tuple(w.warehouse_id for w in items))
        set_(self, "_index", index)
        lat = np.array([w.latitude for w in items], dtype=np.float64)
        lon = np.array([w.longitude for w in items], dtype=np.float64)
        unit = unit_vectors(lat, lon).reshape(len(items), 3)
        active = np.array([w.active for w in items], dtype=np.bool_)
        for array in (lat, lon, unit, active):
            _read_only(array)
        set_(self, "lat", lat)
        set_(self, "lon", lon)
        set_(self, "unit", unit)
        set_(self, "active", active)
        set_(self, "tags", tuple(w.tags for w in items))
        set_(self, "time_zones", tuple(zones))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Network is immutable; build a new one")

    def __len__(self) -> int:
        return len(self.warehouses)

    def __iter__(self) -> Iterator[Warehouse]:
        return iter(self.warehouses)

    def __repr__(self) -> str:
        return f"Network({len(self)} warehouses)"

    def index_of(self, warehouse_id: str) -> int:
        """Position of ``warehouse_id`` in every array; ``UnknownWarehouseError`` if absent."""
        try:
            return self._index[warehouse_id]
        except KeyError:
            raise UnknownWarehouseError(warehouse_id) from None

    def __contains__(self, warehouse_id: object) -> bool:
        return warehouse_id in self._index

    def has_tag(self, tag: str) -> BoolArray:
        """``[W]`` True where the warehouse carries ``tag`` (rules use it for require/exclude)."""
        return np.array([tag in tags for tags in self.tags], dtype=np.bool_)
