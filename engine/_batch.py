"""Column-wise batches: the router's fast path in (``OrderBatch``) and out (``BatchResult``).

An :class:`OrderBatch` holds a whole batch as arrays: order ``i`` owns lines
``line_start[i]:line_start[i+1]``, each line names a row of the :class:`~engine.StockTable` the
batch was built against. :meth:`OrderBatch.from_orders` builds one from ``Order`` objects with
column-wise checks (an order failing them goes through :func:`~engine.validate_order` for exact
field paths); :meth:`OrderBatch.from_arrays` takes columns a caller already has (benchmarks, a
column-wise gRPC batch).

A :class:`BatchResult` is what :meth:`engine.Router.route_columns` returns: status per order and
the allocation, shipment and unfilled rows as arrays. ``RouteDecision`` objects are built only when
asked for (:meth:`BatchResult.decision`, :meth:`BatchResult.decisions`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import itertools
import operator
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from engine._geocode import US_COUNTRY_CODES, Geocoder, zip5_key
from engine._model import (
    Order,
    ServiceLevel,
)
from engine._stock import StockTable
from engine._validate import (
    MAX_CHANNEL_LENGTH,
    MAX_CHANNEL_ORDER_ID_LENGTH,
    MAX_LINE_ID_LENGTH,
    MAX_LINE_QUANTITY,
    MAX_LINES_PER_ORDER,
    validate_order,
)

__all__ = ["HOLD_CODES", "UNFILLED_CODES", "OrderBatch", "gc_paused"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
DateTimeArray = npt.NDArray[np.datetime64]

UTC = dt.UTC
_NAT = np.datetime64("NaT", "s")
#: ``BatchResult.hold_code`` indexes this tuple (-1: not held).
HOLD_CODES: tuple[str, ...] = (
    "UNKNOWN_POSTAL_CODE",
    "UNSUPPORTED_COUNTRY",
    "UNKNOWN_SKU",
    "SHIP_COMPLETE",
    "POLICY_HOLD",
)
#: ``BatchResult.unfilled_code`` indexes this tuple.
UNFILLED_CODES: tuple[str, ...] = (
    "INSUFFICIENT_STOCK",
    "NO_ELIGIBLE_WAREHOUSE",
    "MAX_SHIPMENTS_REACHED",
)
HOLD_UNKNOWN_POSTAL_CODE = 0
HOLD_UNSUPPORTED_COUNTRY = 1
HOLD_UNKNOWN_SKU = 2
HOLD_SHIP_COMPLETE = 3
HOLD_POLICY = 4
_VALID_LEVELS = np.array(sorted(int(level) for level in ServiceLevel), dtype=np.int64)
_PLAIN_TZ = (dt.timezone,)  # fixed offsets: utcoffset() never depends on the instant


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while a batch's many small, acyclic objects are built or read.

    Otherwise it rescans the whole (large) batch again and again: measured here it doubled the cost
    of building results and tripled that of reading 100k orders into columns.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _csr_starts(counts: IntArray) -> IntArray:
    starts = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=starts[1:])
    return starts


def _instants(values: Sequence[dt.datetime | None]) -> DateTimeArray:
    """``datetime64[s]`` UTC of aware datetimes (NaT for None); callers checked awareness."""
    out = np.full(len(values), _NAT)
    for position, value in enumerate(values):
        if value is not None:
            out[position] = np.datetime64(value.astimezone(UTC).replace(tzinfo=None), "s")
    return out


def _bad_instants(values: Sequence[object]) -> list[int]:
    """Positions whose value is neither None nor a timezone-aware datetime."""
    types = set(map(type, values))
    if types <= {type(None)}:
        return []
    if types <= {type(None), dt.datetime}:
        zones = {value.tzinfo for value in values if value is not None}  # type: ignore[attr-defined]
        if all(isinstance(zone, _PLAIN_TZ) for zone in zones):
            return []
    return [
        position
        for position, value in enumerate(values)
        if value is not None
        and (
            not isinstance(value, dt.datetime) or value.tzinfo is None or value.utcoffset() is None
        )
    ]


def _plain_texts(values: Sequence[object], limit: int) -> BoolArray:
    """True where the value is a non-blank ``str`` of at most ``limit`` characters."""
    count = len(values)
    if set(map(type, values)) == {str}:
        texts: Sequence[str] = values  # type: ignore[assignment]
        lengths = np.fromiter(map(len, texts), dtype=np.int64, count=count)
        ok = (lengths > 0) & (lengths <= limit)
        ok &= ~np.fromiter(map(str.isspace, texts), dtype=np.bool_, count=count)
        return ok
    return np.fromiter(
        (type(v) is str and 0 < len(v) <= limit and not v.isspace() for v in values),
        dtype=np.bool_,
        count=count,
    )


def _zip_keys(postal_codes: Sequence[object]) -> IntArray:
    """``zip5_key`` of every code (-1 when not a US ZIP), vectorised for clean 5-digit codes."""
    count = len(postal_codes)
    keys = np.full(count, -1, dtype=np.int64)
    if not count:
        return keys
    try:
        if set(map(type, postal_codes)) != {str}:
            raise TypeError
        raw = np.array(postal_codes, dtype="S")  # UnicodeEncodeError for non-ASCII codes
    except (TypeError, UnicodeEncodeError, ValueError):
        for position, code in enumerate(postal_codes):
            if type(code) is str:
                keys[position] = zip5_key(code)
        return keys
    # Lengths of the str values themselves: a bytes array drops trailing NULs.
    lengths = np.fromiter(map(len, postal_codes), dtype=np.int64, count=count)  # type: ignore[arg-type]
    clean = (lengths == 5) & (np.strings.str_len(raw) == 5) & np.strings.isdigit(raw)
    keys[clean] = raw[clean].astype(np.int64)
    for position in np.flatnonzero(~clean).tolist():
        keys[position] = zip5_key(postal_codes[position])  # type: ignore[arg-type]
    return keys


@dataclass(eq=False)
class OrderBatch:
    """A batch of orders as columns. ``n`` orders, ``L`` lines.

    Rows of ``line_sku_row`` refer to ``skus`` (the SKU tuple of the stock table the batch was
    built against; the router checks it routes against a table with the same SKUs). Ids are kept
    only as lists and only when present; without them line ids read ``"1"``, ``"2"``, ... by
    position and order ids ``"#<index>"``.
    """

    channel_code: npt.NDArray[np.int32]  # [n] index into channel_names
    channel_names: tuple[str, ...]
    lat: FloatArray  # [n] NaN when the ship-to could not be located
    lon: FloatArray  # [n]
    service_level: npt.NDArray[np.int8]  # [n] ServiceLevel numbers
    line_start: IntArray  # [n + 1]
    line_sku_row: IntArray  # [L] row in the stock table, -1 when the SKU is unknown
    line_qty: IntArray  # [L]
    skus: tuple[str, ...]  # the stock table's SKUs the rows refer to
    latest_ship: DateTimeArray | None = None  # [n] datetime64[s] UTC, NaT when absent
    latest_delivery: DateTimeArray | None = None  # [n]
    order_ids: Sequence[str] | None = None  # [n]
    line_ids: Sequence[str] | None = None  # [L]
    line_skus: Sequence[str] | None = None  # [L] SKU names as given (unknown ones included)
    #: Orders already found malformed: index -> (field path, what is wrong) pairs.
    rejected: dict[int, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    #: Unlocated orders whose country is not served (held UNSUPPORTED_COUNTRY, not unknown ZIP).
    foreign: BoolArray | None = None  # [n]
    #: The orders the batch was built from (policies other than the default need them).
    orders: Sequence[Order] | None = None

    def __len__(self) -> int:
        return len(self.line_start) - 1

    @property
    def size(self) -> int:
        return len(self.line_start) - 1

    @classmethod
    def from_arrays(
        cls,
        *,
        stock: StockTable,
        line_start: npt.ArrayLike,
        line_sku_row: npt.ArrayLike,
        line_qty: npt.ArrayLike,
        channel_code: npt.ArrayLike | None = None,
        channel_names: Sequence[str] = ("",),
        lat: npt.ArrayLike | None = None,
        lon: npt.ArrayLike | None = None,
        zip5: npt.ArrayLike | None = None,
        geocoder: Geocoder | None = None,
        service_level: npt.ArrayLike | None = None,
        latest_ship: npt.ArrayLike | None = None,
        latest_delivery: npt.ArrayLike | None = None,
        order_ids: Sequence[str] | None = None,
        line_ids: Sequence[str] | None = None,
    ) -> OrderBatch:
        """A batch from columns. Ship-to: ``lat``/``lon`` (NaN unknown), or ``zip5`` integer keys
        (-1 unknown) resolved through ``geocoder`` (the default one when None); where both are
        given, coordinates win. ``service_level`` defaults to STANDARD, ``channel_code`` to 0.

        Malformed orders (quantity out of range, no lines or too many, a row outside the stock
        table, an unknown service level or channel code, coordinates out of range) are marked
        REJECTED with field paths; nothing raises for bad rows. Wrong shapes raise ValueError.
        """
        starts = np.ascontiguousarray(line_start, dtype=np.int64)
        if starts.ndim != 1 or len(starts) < 1 or starts[0] != 0 or np.any(np.diff(starts) < 0):
            raise ValueError("line_start must be non-decreasing CSR offsets starting at 0")
        n = len(starts) - 1
        lines = int(starts[-1])
        rows = np.ascontiguousarray(line_sku_row, dtype=np.int64)
        qty = np.ascontiguousarray(line_qty, dtype=np.int64)
        if rows.shape != (lines,) or qty.shape != (lines,):
            raise ValueError(f"line_sku_row and line_qty must have shape ({lines},)")
        codes = (
            np.zeros(n, dtype=np.int32)
            if channel_code is None
            else np.ascontiguousarray(channel_code, dtype=np.int32)
        )
        levels_in = (
            np.full(n, int(ServiceLevel.STANDARD), dtype=np.int64)
            if service_level is None
            else np.asarray(service_level, dtype=np.int64)
        )
        lat_a = np.full(n, np.nan) if lat is None else np.array(lat, dtype=np.float64)
        lon_a = np.full(n, np.nan) if lon is None else np.array(lon, dtype=np.float64)
        for name, column in (("channel_code", codes), ("service_level", levels_in)):
            if column.shape != (n,):
                raise ValueError(f"{name} must have shape ({n},)")
        if lat_a.shape != (n,) or lon_a.shape != (n,):
            raise ValueError(f"lat and lon must have shape ({n},)")
        if zip5 is not None:
            keys = np.asarray(zip5, dtype=np.int64)
            if keys.shape != (n,):
                raise ValueError(f"zip5 must have shape ({n},)")
            coder = geocoder if geocoder is not None else Geocoder.default()
            by_zip = np.isnan(lat_a) & (keys >= 0) & (keys < 100_000)
            zip_lat, zip_lon = coder.tables()
            lat_a[by_zip] = zip_lat[keys[by_zip]]
            lon_a[by_zip] = zip_lon[keys[by_zip]]
        limits: list[DateTimeArray | None] = []
        for name, values in (("latest_ship", latest_ship), ("latest_delivery", latest_delivery)):
            if values is None:
                limits.append(None)
                continue
            instants: DateTimeArray = np.asarray(values).astype("datetime64[s]")
            if instants.shape != (n,):
                raise ValueError(f"{name} must have shape ({n},)")
            limits.append(instants if (~np.isnat(instants)).any() else None)
        if order_ids is not None and len(order_ids) != n:
            raise ValueError(f"order_ids must have {n} entries")
        if line_ids is not None and len(line_ids) != lines:
            raise ValueError(f"line_ids must have {lines} entries")

        counts = np.diff(starts)
        line_order = np.repeat(np.arange(n, dtype=np.int64), counts)
        bad_qty = (qty <= 0) | (qty > MAX_LINE_QUANTITY)
        bad_row = (rows < -1) | (rows >= len(stock.skus))
        bad_order = (counts == 0) | (counts > MAX_LINES_PER_ORDER)
        bad_order |= (codes < 0) | (codes >= len(channel_names))
        bad_order |= ~np.isin(levels_in, _VALID_LEVELS)
        bad_order |= (np.abs(lat_a) > 90.0) | (np.abs(lon_a) > 180.0)
        bad_order[line_order[bad_qty | bad_row]] = True
        rejected: dict[int, tuple[tuple[str, str], ...]] = {}
        for i in np.flatnonzero(bad_order).tolist():
            rejected[i] = _column_violations(
                i, starts, qty, rows, codes, channel_names, levels_in, lat_a, lon_a, len(stock.skus)
            )
            lat_a[i] = lon_a[i] = np.nan
        return cls(
            channel_code=codes,
            channel_names=tuple(channel_names),
            lat=lat_a,
            lon=lon_a,
            service_level=np.where(bad_order, 1, levels_in).astype(np.int8),
            line_start=starts,
            line_sku_row=np.where(bad_row, -1, rows),
            line_qty=qty,
            skus=stock.skus,
            latest_ship=limits[0],
            latest_delivery=limits[1],
            order_ids=order_ids,
            line_ids=line_ids,
            rejected=rejected,
        )

    @classmethod
    def from_orders(
        cls, orders: Sequence[Order], stock: StockTable, geocoder: Geocoder
    ) -> OrderBatch:
        """A batch from ``Order`` objects: one attribute sweep per field, checks column-wise.

        An order that a column check cannot clear (an odd type, a blank or overlong text, an
        unknown SKU, explicit coordinates, a duplicate line id, ...) goes through
        :func:`validate_order`; the violations it reports mark the order REJECTED.
        """
        with gc_paused():
            return cls._from_orders(orders, stock, geocoder)

    @classmethod
    def _from_orders(
        cls, orders: Sequence[Order], stock: StockTable, geocoder: Geocoder
    ) -> OrderBatch:
        orders = orders if isinstance(orders, list | tuple) else list(orders)
        n = len(orders)
        if n:
            (
                channels,
                order_ids,
                lines_of,
                ship_tos,
                levels,
                purchased,
                ship_limits,
                delivery_limits,
            ) = map(
                list,
                zip(
                    *map(
                        operator.attrgetter(
                            "channel",
                            "channel_order_id",
                            "lines",
                            "ship_to",
                            "service_level",
                            "purchased_at",
                            "latest_ship_date",
                            "latest_delivery_date",
                        ),
                        orders,
                    ),
                    strict=True,
                ),
            )
        else:
            channels = order_ids = lines_of = ship_tos = levels = []
            purchased = ship_limits = delivery_limits = []
        suspect = np.zeros(n, dtype=np.bool_)

        # Lines.
        counts = np.fromiter(map(len, lines_of), dtype=np.int64, count=n)
        suspect |= (counts == 0) | (counts > MAX_LINES_PER_ORDER)
        starts = _csr_starts(counts)
        total = int(starts[-1])
        flat = list(itertools.chain.from_iterable(lines_of))
        if flat:
            line_ids, line_skus, quantities = map(
                list,
                zip(*map(operator.attrgetter("line_id", "sku", "quantity"), flat), strict=True),
            )
        else:
            line_ids, line_skus, quantities = [], [], []
        line_bad = np.zeros(total, dtype=np.bool_)
        qty = np.zeros(total, dtype=np.int64)
        if set(map(type, quantities)) <= {int}:
            try:
                qty = np.array(quantities, dtype=np.int64) if total else qty
            except OverflowError:
                line_bad[:] = True
        else:
            is_int = np.fromiter((type(q) is int for q in quantities), dtype=np.bool_, count=total)
            line_bad |= ~is_int
            for position in np.flatnonzero(is_int).tolist():
                value = quantities[position]
                qty[position] = value if -(2**62) < value < 2**62 else 0
        line_bad |= (qty <= 0) | (qty > MAX_LINE_QUANTITY)
        line_bad |= ~_plain_texts(line_ids, MAX_LINE_ID_LENGTH)
        row_index = stock.row_index
        try:
            rows = np.fromiter(
                map(row_index.get, line_skus, itertools.repeat(-1)), dtype=np.int64, count=total
            )
        except TypeError:  # an unhashable SKU value
            rows = np.fromiter(
                (row_index.get(s, -1) if isinstance(s, str) else -1 for s in line_skus),
                dtype=np.int64,
                count=total,
            )
        known = rows >= 0
        line_bad |= ~known  # an unknown SKU may also be a blank or overlong one: check exactly
        line_bad[known] |= ~stock.plain_sku_rows()[rows[known]]
        line_order = np.repeat(np.arange(n, dtype=np.int64), counts)
        suspect[line_order[line_bad]] = True
        for i in np.flatnonzero(counts > 1).tolist():  # duplicate line ids
            ids = line_ids[starts[i] : starts[i + 1]]
            if len(set(ids)) != len(ids):
                suspect[i] = True

        # Order fields.
        suspect |= ~_plain_texts(order_ids, MAX_CHANNEL_ORDER_ID_LENGTH)
        names: dict[str, int] = {}
        if set(map(type, channels)) <= {str}:
            codes = np.fromiter(
                (names.setdefault(c, len(names)) for c in channels), dtype=np.int32, count=n
            )
            for name, code in names.items():
                if not (0 < len(name) <= MAX_CHANNEL_LENGTH) or name.isspace():
                    suspect[codes == code] = True
        else:
            codes = np.zeros(n, dtype=np.int32)
            for position, channel in enumerate(channels):
                if type(channel) is str:
                    codes[position] = names.setdefault(channel, len(names))
                else:
                    suspect[position] = True
        if set(map(type, levels)) <= {ServiceLevel}:
            level_array = np.fromiter(levels, dtype=np.int64, count=n)
        else:
            level_array = np.fromiter(
                (int(v) if type(v) is ServiceLevel else 1 for v in levels), dtype=np.int64, count=n
            )
            suspect |= np.fromiter(
                (type(v) is not ServiceLevel for v in levels), dtype=np.bool_, count=n
            )
        for column in (purchased, ship_limits, delivery_limits):
            suspect[_bad_instants(column)] = True

        # Ship-to: explicit coordinates win, else the ZIP of a US address.
        if ship_tos:
            postal, country, latitude, longitude = map(
                list,
                zip(
                    *map(
                        operator.attrgetter("postal_code", "country_code", "latitude", "longitude"),
                        ship_tos,
                    ),
                    strict=True,
                ),
            )
        else:
            postal = country = latitude = longitude = []
        lat = np.full(n, np.nan)
        lon = np.full(n, np.nan)
        by_zip = np.ones(n, dtype=np.bool_)
        if latitude.count(None) != n or longitude.count(None) != n:
            numbers = (float, int)
            for position in range(n):
                la, lo = latitude[position], longitude[position]
                if la is None and lo is None:
                    continue
                if la is None or lo is None:
                    suspect[position] = True  # "latitude and longitude go together"
                    continue
                by_zip[position] = False
                if type(la) in numbers and type(lo) in numbers:
                    lat[position], lon[position] = la, lo
                    if not (-90.0 <= la <= 90.0 and -180.0 <= lo <= 180.0):
                        suspect[position] = True
                else:
                    suspect[position] = True  # the exact check names the field
        us_of = (
            {
                c: (type(c) is str and (c in US_COUNTRY_CODES or c.upper() in US_COUNTRY_CODES))
                for c in set(country)
            }
            if n
            else {}
        )
        us = np.fromiter(map(us_of.__getitem__, country), dtype=np.bool_, count=n)
        no_coordinates = by_zip.copy()
        foreign = by_zip & ~us
        by_zip &= us
        keys = np.full(n, -1, dtype=np.int64)
        if by_zip.any():
            zip_positions = np.flatnonzero(by_zip)
            if len(zip_positions) == n:
                keys = _zip_keys(postal)
            else:
                keys[zip_positions] = _zip_keys([postal[p] for p in zip_positions.tolist()])
        suspect |= no_coordinates & ~_plain_texts(postal, 10**9)
        zip_lat, zip_lon = geocoder.tables()
        hit = keys >= 0
        lat[hit] = zip_lat[keys[hit]]
        lon[hit] = zip_lon[keys[hit]]

        rejected: dict[int, tuple[tuple[str, str], ...]] = {}
        for i in np.flatnonzero(suspect).tolist():
            violations = validate_order(orders[i])
            if violations:
                rejected[i] = tuple(violations)
        latest = [
            _instants(column) if any(v is not None for v in column) else None
            for column in (ship_limits, delivery_limits)
        ]
        if rejected:
            for limit in latest:
                if limit is not None:
                    limit[list(rejected)] = _NAT
            bad = list(rejected)
            lat[bad] = np.nan
            lon[bad] = np.nan
            level_array[bad] = 1
        return cls(
            channel_code=codes,
            channel_names=tuple(names),
            lat=lat,
            lon=lon,
            service_level=level_array.astype(np.int8),
            line_start=starts,
            line_sku_row=rows,
            line_qty=qty,
            skus=stock.skus,
            latest_ship=latest[0],
            latest_delivery=latest[1],
            order_ids=order_ids,
            line_ids=line_ids,
            line_skus=line_skus,
            rejected=rejected,
            foreign=foreign,
            orders=orders,
        )

    def order_id(self, i: int) -> str:
        return self.order_ids[i] if self.order_ids is not None else f"#{i}"

    def line_id(self, line: int) -> str:
        if self.line_ids is not None:
            return self.line_ids[line]
        order = int(np.searchsorted(self.line_start, line, side="right")) - 1
        return str(line - int(self.line_start[order]) + 1)

    def line_sku(self, line: int) -> str:
        if self.line_skus is not None:
            return self.line_skus[line]
        row = int(self.line_sku_row[line])
        return self.skus[row] if row >= 0 else ""

    def line_id_list(self) -> list[str]:
        """Every line id (positions ``"1"``, ``"2"``, ... when the batch carries none)."""
        if self.line_ids is not None:
            return list(self.line_ids)
        position = np.arange(len(self.line_qty), dtype=np.int64) - np.repeat(
            self.line_start[:-1], np.diff(self.line_start)
        )
        return [str(p + 1) for p in position.tolist()]

    def line_sku_list(self) -> list[str]:
        """Every line's SKU name ("" for an unknown row of an id-less batch)."""
        if self.line_skus is not None:
            return list(self.line_skus)
        skus = self.skus
        return [skus[r] if r >= 0 else "" for r in self.line_sku_row.tolist()]


def _column_violations(
    i: int,
    starts: IntArray,
    qty: IntArray,
    rows: IntArray,
    codes: npt.NDArray[np.int32],
    channel_names: Sequence[str],
    levels: IntArray,
    lat: FloatArray,
    lon: FloatArray,
    sku_count: int,
) -> tuple[tuple[str, str], ...]:
    violations: list[tuple[str, str]] = []
    if not 0 <= codes[i] < len(channel_names):
        violations.append(("order.channel", "unknown channel code"))
    first, last = int(starts[i]), int(starts[i + 1])
    if first == last:
        violations.append(("order.lines", "at least one line is required"))
    elif last - first > MAX_LINES_PER_ORDER:
        violations.append(("order.lines", f"at most {MAX_LINES_PER_ORDER} lines"))
    else:
        for position, line in enumerate(range(first, last)):
            if rows[line] < -1 or rows[line] >= sku_count:
                violations.append((f"order.lines[{position}].sku", "row outside the stock table"))
            if qty[line] <= 0:
                violations.append((f"order.lines[{position}].quantity", "must be positive"))
            elif qty[line] > MAX_LINE_QUANTITY:
                violations.append(
                    (f"order.lines[{position}].quantity", f"at most {MAX_LINE_QUANTITY}")
                )
    if abs(lat[i]) > 90.0:
        violations.append(("order.ship_to.latitude", "must be between -90 and 90"))
    if abs(lon[i]) > 180.0:
        violations.append(("order.ship_to.longitude", "must be between -180 and 180"))
    if levels[i] not in _VALID_LEVELS:
        violations.append(("order.service_level", "must be a ServiceLevel"))
    return tuple(violations)
