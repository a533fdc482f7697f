"""Offline US ZIP -> (lat, lon) through the ``zipcodes`` package, loaded once into numpy arrays.

``zipcodes.matching`` costs about 0.5 ms a call, so the whole table is read once (``list_all``,
about 43k ZIPs) into two float arrays indexed by ``int(zip5)``; a lookup is then an array index.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from engine._model import Address

__all__ = ["US_COUNTRY_CODES", "Geocoder", "zip5_key"]

FloatArray = npt.NDArray[np.float64]

#: Country codes whose postal codes are US ZIPs (the territories use the USPS ZIP system too).
#: An empty code is treated as "US": proto3 strings default to "".
US_COUNTRY_CODES: frozenset[str] = frozenset({"", "US", "USA", "PR", "VI", "GU", "AS", "MP"})

_ZIP_SLOTS = 100_000


def zip5_key(postal_code: str) -> int:
    """``int(zip5)`` of a US postal code, or -1 when it is not one.

    Accepted: ``"60601"``, ZIP+4 ``"60601-1234"`` or ``"606011234"``, and forms that lost their
    leading zeros by passing through a number: ``"2134"`` -> 02134, ``"501"`` -> 00501,
    ``"21341234"`` (8 digits) -> 02134-1234. Surrounding spaces are ignored.
    """
    code = postal_code.strip()
    if "-" in code:
        head, _, plus4 = code.partition("-")
        if len(plus4) != 4 or not plus4.isdigit():
            return -1
        code = head
        if not (3 <= len(code) <= 5):
            return -1
    if not code.isascii() or not code.isdigit():
        return -1
    size = len(code)
    if 3 <= size <= 5:
        return int(code)
    if size in (8, 9):  # ZIP+4 without the dash; the +4 part is the last four digits
        return int(code[:-4])
    return -1


class Geocoder:
    """US ZIP centroid lookup. Build once (``Geocoder.default()``) and share: it is read-only."""

    _default: ClassVar[Geocoder | None] = None
    _default_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, latitude: FloatArray, longitude: FloatArray) -> None:
        """``latitude``/``longitude``: arrays of 100,000 entries indexed by ``int(zip5)``, NaN where
        no ZIP exists."""
        if latitude.shape != (_ZIP_SLOTS,) or longitude.shape != (_ZIP_SLOTS,):
            raise ValueError(f"ZIP tables must have shape ({_ZIP_SLOTS},)")
        self._lat = np.array(latitude, dtype=np.float64)
        self._lon = np.array(longitude, dtype=np.float64)
        self._lat.flags.writeable = False
        self._lon.flags.writeable = False

    @classmethod
    def from_zipcodes(cls) -> Geocoder:
        """Load every ZIP with coordinates from the ``zipcodes`` package (about 0.1-0.6 s)."""
        import zipcodes  # deferred: the first call loads the package's data

        lat = np.full(_ZIP_SLOTS, np.nan)
        lon = np.full(_ZIP_SLOTS, np.nan)
        # zipcodes ships no type hints; each entry is a dict of strings.
        entries: list[dict[str, str]] = zipcodes.list_all()  # type: ignore[no-untyped-call]
        for entry in entries:
            try:
                key = int(entry["zip_code"])
                entry_lat, entry_lon = float(entry["lat"]), float(entry["long"])
            except (KeyError, TypeError, ValueError):
                continue  # an entry without usable coordinates is simply unknown
            if 0 <= key < _ZIP_SLOTS and math.isfinite(entry_lat) and math.isfinite(entry_lon):
                lat[key], lon[key] = entry_lat, entry_lon
        return cls(lat, lon)

    @classmethod
    def from_points(cls, points: dict[str, tuple[float, float]]) -> Geocoder:
        """A geocoder that knows only ``points`` (ZIP -> (lat, lon)); handy for tests and demos."""
        lat = np.full(_ZIP_SLOTS, np.nan)
        lon = np.full(_ZIP_SLOTS, np.nan)
        for postal_code, (point_lat, point_lon) in points.items():
            key = zip5_key(postal_code)
            if key < 0:
                raise ValueError(f"not a US ZIP: {postal_code!r}")
            lat[key], lon[key] = point_lat, point_lon
        return cls(lat, lon)

    @classmethod
    def default(cls) -> Geocoder:
        """The process-wide geocoder over the ``zipcodes`` data, built on first use."""
        if cls._default is None:
            with cls._default_lock:
                if cls._default is None:
                    cls._default = cls.from_zipcodes()
        return cls._default

    def __len__(self) -> int:
        return int(np.count_nonzero(~np.isnan(self._lat)))

    def tables(self) -> tuple[FloatArray, FloatArray]:
        """Read-only ``(latitude, longitude)`` tables indexed by ``int(zip5)``; NaN: unknown."""
        return self._lat, self._lon

    def locate_zip(self, postal_code: str) -> tuple[float, float] | None:
        """Coordinates of a US postal code, or None when it is malformed or unknown."""
        key = zip5_key(postal_code)
        if key < 0:
            return None
        lat = float(self._lat[key])
        if math.isnan(lat):
            return None
        return lat, float(self._lon[key])

    def locate(self, address: Address) -> tuple[float, float] | None:
        """Explicit coordinates win; else the US ZIP centroid; None when neither works (including a
        non-US address without coordinates)."""
        if address.latitude is not None and address.longitude is not None:
            return float(address.latitude), float(address.longitude)
        if address.country_code.upper() not in US_COUNTRY_CODES:
            return None
        return self.locate_zip(address.postal_code)

    def locate_many(self, addresses: Sequence[Address]) -> tuple[FloatArray, FloatArray]:
        """``(lat, lon)`` arrays for a batch; NaN where :meth:`locate` would answer None."""
        count = len(addresses)
        keys = np.full(count, -1, dtype=np.int64)
        lat = np.full(count, np.nan)
        lon = np.full(count, np.nan)
        us = US_COUNTRY_CODES
        for position, address in enumerate(addresses):
            if address.latitude is not None and address.longitude is not None:
                lat[position] = address.latitude
                lon[position] = address.longitude
            elif address.country_code in us or address.country_code.upper() in us:
                code = address.postal_code
                # Fast path for the common clean 5-digit form; the general parser otherwise.
                if len(code) == 5 and code.isdigit() and code.isascii():
                    keys[position] = int(code)
                else:
                    keys[position] = zip5_key(code)
        by_zip = keys >= 0
        lat[by_zip] = self._lat[keys[by_zip]]
        lon[by_zip] = self._lon[keys[by_zip]]
        return lat, lon
