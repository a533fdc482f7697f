"""The order and stock store: one class, ``Store``, over SQLite or PostgreSQL.

Concurrency model
-----------------
Every method runs in its own transaction and may be called from many threads at once.

* SQLite: the driver's own transaction handling is switched off and every write transaction starts
  with ``BEGIN IMMEDIATE``, so it holds the database's single write lock *before* it reads the stock
  it decides on (SQLAlchemy compiles ``FOR UPDATE`` to nothing on SQLite). Readers use a deferred
  ``BEGIN`` and, thanks to WAL, never block the writer or each other.
* PostgreSQL (Read Committed): a write transaction locks the stock rows it will change with
  ``SELECT ... FOR UPDATE`` in one global lock order, (sku, warehouse_id) -- SKU first because a
  big batch's lock query is chunked by SKU, and the order must hold across chunks -- so two
  writers cannot deadlock on each other, and applies every change with a guarded single-statement
  update (``... WHERE on_hand - reserved >= n``) whose row count is checked. Serialization failures,
  deadlocks and unique-key races (two replicas inserting the same order) roll back and retry the
  whole transaction with jittered backoff.

Nothing reads ``on_hand``/``reserved`` into Python and writes back a computed value: every stock
change is a relative, guarded UPDATE.
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import json
import logging
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import sqlalchemy as sa
from alembic import command as alembic_command
from alembic.config import Config as AlembicConfig
from sqlalchemy import event
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import Connection, Engine

from engine import (
    Allocation,
    Hold,
    Network,
    Order,
    RouteDecision,
    RouteStatus,
    ServiceLevel,
    StockTable,
    Warehouse,
)
from server.store import _catalog, _handoff, _history, _outbox, _returns
from server.store import _schema as t
from server.store._bulk import binder, insert_prepared
from server.store._codec import (
    decision_from_json,
    decision_json_text,
    order_from_json,
    order_json_text,
    pickups_to_json,
    sync_result_from_json,
    sync_result_to_json,
    warehouse_from_row,
)
from server.store._errors import (
    ConflictRetryError,
    IdempotencyConflictError,
    InvalidLevelError,
    InvalidStateError,
    NotFoundError,
    OversellError,
    UnknownWarehouseError,
)
from server.store._lifecycle import LIVE_FULFILLMENT_STATES, transition
from server.store._types import (
    CancelResult,
    FulfillmentState,
    OrderEvent,
    OrderState,
    OutboxEntry,
    RouteRequestRecord,
    Shipment,
    Shortfall,
    StoredFulfillmentOrder,
    StoredOrder,
    StoredRoute,
    SyncResult,
    fulfillment_order_id,
    order_id_for,
)

__all__ = ["Decide", "Store"]

log = logging.getLogger(__name__)

T = TypeVar("T")
Decide = Callable[[Sequence[Order], StockTable], Sequence[RouteDecision]]
Clock = Callable[[], dt.datetime]

DEFAULT_URL = "sqlite:///sortyard.db"
SQLITE_BUSY_TIMEOUT_MS = 30_000
MAX_ATTEMPTS = 8
# Bound parameters per IN (...) list: far below SQLite's 32766 and PostgreSQL's 65535 limits.
IN_CHUNK = 5_000
# PostgreSQL advisory lock key that serialises concurrent migrations ("sortyar" in ASCII).
MIGRATION_LOCK_KEY = 0x736F7274796172

_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01", "23505"})
_READ_ONLY = "sortyard_read_only"
_PENDING_CHANNELS = "sortyard_pending_channels"
_NETWORK_VERSION = "network_version"

# Fulfillment orders whose unshipped units hold reservations (server/store/_lifecycle.py).
_LIVE_STATES = sorted(s.value for s in LIVE_FULFILLMENT_STATES)

_MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

# Columns the routing path writes, in the order of its row tuples (``_persist_routes``).
_ORDER_COLUMNS = (
    "order_id",
    "channel",
    "channel_order_id",
    "payload",
    "decision",
    "request_id",
    "request_hash",
    "route_status",
    "state",
    "hold_code",
    "hold_reason",
    "policy_version",
    "created_at",
    "updated_at",
)
_LINE_COLUMNS = ("order_id", "position", "line_id", "sku", "quantity")
_FO_COLUMNS = (
    "fulfillment_order_id",
    "order_id",
    "warehouse_id",
    "state",
    "distance_km",
    "ship_by",
    "deliver_by",
    "service_level",
    "created_at",
    "updated_at",
)
_ALLOCATION_COLUMNS = (
    "fulfillment_order_id",
    "position",
    "line_id",
    "sku",
    "quantity",
    "warehouse_id",
    "channel",
)
_EVENT_COLUMNS = ("order_id", "fulfillment_order_id", "at", "kind", "detail")
_KEY_COLUMNS = ("request_id", "request_hash", "order_id", "response", "created_at")

# Reservations of a routed batch (``_reserve``): relative, guarded, row count checked.
_SQLITE_RESERVE = (
    "UPDATE stock SET reserved = reserved + ? "
    "WHERE warehouse_id = ? AND sku = ? AND on_hand - reserved >= ?"
)
_PG_RESERVE = (
    "UPDATE stock SET reserved = stock.reserved + d.n "
    "FROM unnest(%s::varchar[], %s::varchar[], %s::bigint[]) AS d(warehouse_id, sku, n) "
    "WHERE stock.warehouse_id = d.warehouse_id AND stock.sku = d.sku "
    "AND stock.on_hand - stock.reserved >= d.n"
)
_ADD_CHANNEL_RESERVED_CONFLICT = (
    " ON CONFLICT (warehouse_id, sku, channel) "
    "DO UPDATE SET reserved = stock_channel_reserved.reserved + excluded.reserved"
)
_SQLITE_ADD_CHANNEL_RESERVED = (
    "INSERT INTO stock_channel_reserved (warehouse_id, sku, channel, reserved) "
    "VALUES (?, ?, ?, ?)" + _ADD_CHANNEL_RESERVED_CONFLICT
)
_PG_ADD_CHANNEL_RESERVED = (
    "INSERT INTO stock_channel_reserved (warehouse_id, sku, channel, reserved) "
    "SELECT * FROM unnest(%s::varchar[], %s::varchar[], %s::varchar[], %s::bigint[])"
    + _ADD_CHANNEL_RESERVED_CONFLICT
)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _chunks(items: Sequence[T], size: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while a routed batch builds and drops its many small acyclic objects
    (row tuples, JSON dicts): otherwise its generation-2 passes rescan the server's whole heap
    again and again, which measured as the largest single cost of persisting a batch. Reference
    counting still frees everything; the GC runs again on exit."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _is_retryable(exc: sa.exc.DBAPIError, dialect: str) -> bool:
    """Whether rolling back and running the whole transaction again can succeed."""
    if dialect == "postgresql":
        return getattr(exc.orig, "sqlstate", None) in _RETRYABLE_SQLSTATES
    # SQLite: busy_timeout already waited; "database is locked" after that is still transient.
    return isinstance(exc, sa.exc.OperationalError) and "locked" in str(exc.orig).lower()


def _order_state_for(decision: RouteDecision) -> OrderState:
    if decision.hold is not None or decision.status == RouteStatus.HELD:
        return OrderState.HELD
    if decision.shipments:
        return OrderState.ROUTED
    return OrderState.BACKORDERED


class Store:
    """Orders, stock and reservations in SQLite or PostgreSQL. Thread-safe; see the module doc."""

    def __init__(self, engine: Engine, *, clock: Clock = _utcnow) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name
        self._clock = clock
        # Channels this process has already made sure exist (rows are never deleted).
        self._ensured_channels: set[str] = set()

    # --- lifecycle

    @classmethod
    def open(cls, url: str = DEFAULT_URL, *, clock: Clock = _utcnow) -> Store:
        """Connect, migrate the schema to the newest revision, and return a ready store.

        ``sqlite:///path`` (relative paths resolve under the working directory) or
        ``postgresql+psycopg://user@host/db``. ``clock`` returns the current UTC time (tests pin
        it).
        """
        sa_url = sa.make_url(url)
        backend = sa_url.get_backend_name()
        if backend == "sqlite":
            engine = _sqlite_engine(sa_url)
        elif backend == "postgresql":
            engine = sa.create_engine(
                sa_url, pool_size=8, max_overflow=24, pool_pre_ping=True, future=True
            )
        else:
            raise ValueError(f"unsupported database {backend!r}: use sqlite:/// or postgresql://")
        store = cls(engine, clock=clock)
        try:
            store._migrate()
        except BaseException:
            engine.dispose()
            raise
        return store

    def close(self) -> None:
        """Release every pooled connection. The store is unusable afterwards."""
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._dialect

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for tests and tools; application code uses the methods)."""
        return self._engine

    def _migrate(self) -> None:
        config = AlembicConfig()
        config.set_main_option("script_location", str(_MIGRATIONS_DIR))
        with self._engine.begin() as conn:  # SQLite: BEGIN IMMEDIATE, so one migrator at a time
            if self._dialect == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
            config.attributes["connection"] = conn
            alembic_command.upgrade(config, "head")

    # --- transactions

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A read-only transaction over one consistent snapshot; takes no write lock."""
        with self._engine.connect() as conn:
            if self._dialect == "postgresql":
                conn.execution_options(isolation_level="REPEATABLE READ")
            else:
                conn.execution_options(**{_READ_ONLY: True})
            with conn.begin():
                yield conn

    def _write(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in one write transaction; retry all of it on transient conflicts."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                with self._engine.begin() as conn:
                    conn.info.pop(_PENDING_CHANNELS, None)
                    result = work(conn)
                    pending: set[str] | None = conn.info.pop(_PENDING_CHANNELS, None)
                if pending:  # committed: only now is it safe to remember them
                    self._ensured_channels.update(pending)
                return result
            except sa.exc.DBAPIError as exc:
                if not _is_retryable(exc, self._dialect):
                    raise
                if attempt == MAX_ATTEMPTS:
                    raise ConflictRetryError(
                        f"gave up after {attempt} attempts colliding with concurrent writers"
                    ) from exc
                log.info(
                    "store transaction conflict, retrying",
                    extra={"attempt": attempt, "sqlstate": getattr(exc.orig, "sqlstate", None)},
                )
                time.sleep(random.uniform(0, 0.005 * 2**attempt))
        raise AssertionError("unreachable")

    # --- network

    def put_warehouses(self, warehouses: Sequence[Warehouse]) -> list[Warehouse]:
        """Insert or replace warehouses by id; bumps :meth:`network_version`."""
        now = self._clock()
        rows = [
            {
                "warehouse_id": w.warehouse_id,
                "name": w.name,
                "latitude": w.latitude,
                "longitude": w.longitude,
                "postal_code": w.postal_code,
                "country_code": w.country_code,
                "time_zone": w.time_zone,
                "tags": sorted(w.tags),
                "handling_days": w.handling_days,
                "daily_capacity": w.daily_capacity,
                "pickups": pickups_to_json(w.pickups),
                "active": w.active,
                "updated_at": now,
            }
            for w in sorted(warehouses, key=lambda w: w.warehouse_id)
        ]

        def work(conn: Connection) -> None:
            if rows:
                ins = self._insert(t.warehouses)
                conn.execute(
                    ins.on_conflict_do_update(
                        index_elements=["warehouse_id"],
                        set_={c: ins.excluded[c] for c in rows[0] if c != "warehouse_id"},
                    ),
                    rows,
                )
            ins = self._insert(t.network_meta)
            conn.execute(
                ins.values(key=_NETWORK_VERSION, value=1).on_conflict_do_update(
                    index_elements=["key"], set_={"value": t.network_meta.c.value + 1}
                )
            )

        self._write(work)
        return list(warehouses)

    def list_warehouses(self, include_inactive: bool = False) -> list[Warehouse]:
        """Warehouses ordered by id; inactive ones only when asked."""
        query = sa.select(t.warehouses).order_by(t.warehouses.c.warehouse_id)
        if not include_inactive:
            query = query.where(t.warehouses.c.active.is_(True))
        with self._read() as conn:
            return [warehouse_from_row(r) for r in conn.execute(query).mappings()]

    def network_version(self) -> int:
        """A counter that changes whenever warehouses are put (0 before the first put)."""
        with self._read() as conn:
            value = conn.execute(
                sa.select(t.network_meta.c.value).where(t.network_meta.c.key == _NETWORK_VERSION)
            ).scalar_one_or_none()
        return int(value or 0)

    # --- channels

    def register_channels(self, channels: Iterable[str]) -> None:
        """Make channels known (availability is pushed to every known channel)."""
        names = sorted(set(channels))
        if not names:
            return
        now = self._clock()

        def work(conn: Connection) -> None:
            ins = self._insert(t.channels)
            conn.execute(
                ins.on_conflict_do_update(index_elements=["channel"], set_={"registered": True}),
                [{"channel": c, "registered": True, "created_at": now} for c in names],
            )

        self._write(work)

    def known_channels(self) -> set[str]:
        """Channels registered or seen on a routed order."""
        with self._read() as conn:
            return set(conn.execute(sa.select(t.channels.c.channel)).scalars())

    # --- stock

    def sync(self, levels: Sequence[tuple[str, str, int]], request_id: str = "") -> SyncResult:
        """Set absolute on-hand counts per (warehouse_id, sku, on_hand); reservations stay intact.

        A count below what is reserved is applied and reported as a :class:`Shortfall` naming the
        open fulfillment orders that hold that SKU there. With a ``request_id``, a repeat of the
        same levels answers the first result without applying anything; different levels under the
        same id raise :class:`IdempotencyConflictError`.
        """
        seen: dict[tuple[str, str], int] = {}
        for i, (warehouse_id, sku, on_hand) in enumerate(levels):
            if on_hand < 0:
                raise InvalidLevelError(i, "on_hand", f"must be >= 0, got {on_hand}")
            if (warehouse_id, sku) in seen:
                raise InvalidLevelError(
                    i,
                    "sku",
                    f"{sku!r} at {warehouse_id!r} repeats levels[{seen[warehouse_id, sku]}]",
                )
            seen[warehouse_id, sku] = i
        request_hash = hashlib.sha256(
            json.dumps(sorted([w, s, int(q)] for w, s, q in levels)).encode()
        ).hexdigest()
        now = self._clock()

        def work(conn: Connection) -> SyncResult:
            if request_id:
                prior = conn.execute(
                    sa.select(t.sync_requests.c.request_hash, t.sync_requests.c.result).where(
                        t.sync_requests.c.request_id == request_id
                    )
                ).first()
                if prior is not None:
                    if prior.request_hash != request_hash:
                        raise IdempotencyConflictError(request_id)
                    return sync_result_from_json(prior.result)
            warehouse_ids = sorted({w for w, _, _ in levels})
            present = set(
                conn.execute(
                    sa.select(t.warehouses.c.warehouse_id).where(
                        t.warehouses.c.warehouse_id.in_(warehouse_ids)
                    )
                ).scalars()
            )
            for i, (warehouse_id, _, _) in enumerate(levels):
                if warehouse_id not in present:
                    raise UnknownWarehouseError(warehouse_id, i)
            # Upserts in the global lock order (sku, warehouse_id), like routing.
            rows = [
                {"warehouse_id": w, "sku": s, "on_hand": int(q), "reserved": 0}
                for w, s, q in sorted(levels, key=lambda level: (level[1], level[0]))
            ]
            if rows:
                ins = self._insert(t.stock)
                conn.execute(
                    ins.on_conflict_do_update(
                        index_elements=["warehouse_id", "sku"],
                        set_={"on_hand": ins.excluded.on_hand},
                    ),
                    rows,
                )
            # Append-only history of absolute counts, for replay (server/store/_history.py).
            _history.record_levels(conn, [(w, s, int(q)) for w, s, q in levels], now)
            _outbox.enqueue_quantities(conn, {s for _, s, _ in levels}, now)
            shortfalls = self._shortfalls(conn, sorted(seen))
            result = SyncResult(
                shortfalls=tuple(shortfalls),
                touched_skus=tuple(sorted({s for _, s, _ in levels})),
            )
            if request_id:
                conn.execute(
                    t.sync_requests.insert(),
                    {
                        "request_id": request_id,
                        "request_hash": request_hash,
                        "result": sync_result_to_json(result),
                        "created_at": now,
                    },
                )
            return result

        return self._write(work)

    def _shortfalls(self, conn: Connection, cells: Sequence[tuple[str, str]]) -> list[Shortfall]:
        short: list[tuple[str, str, int, int]] = []
        s = t.stock.c
        for chunk in _chunks(sorted({sku for _, sku in cells})):
            for row in conn.execute(
                sa.select(s.warehouse_id, s.sku, s.on_hand, s.reserved).where(
                    s.sku.in_(chunk), s.reserved > s.on_hand
                )
            ):
                short.append((row.warehouse_id, row.sku, int(row.on_hand), int(row.reserved)))
        wanted = set(cells)
        short = sorted(x for x in short if (x[0], x[1]) in wanted)
        result = []
        for warehouse_id, sku, on_hand, reserved in short:
            fo_ids = conn.execute(
                sa.select(t.allocations.c.fulfillment_order_id)
                .distinct()
                .join(
                    t.fulfillment_orders,
                    t.fulfillment_orders.c.fulfillment_order_id
                    == t.allocations.c.fulfillment_order_id,
                )
                .where(
                    t.allocations.c.warehouse_id == warehouse_id,
                    t.allocations.c.sku == sku,
                    t.fulfillment_orders.c.state.in_(_LIVE_STATES),
                    t.allocations.c.quantity > t.allocations.c.shipped,
                )
                .order_by(t.allocations.c.fulfillment_order_id)
            ).scalars()
            result.append(
                Shortfall(
                    warehouse_id=warehouse_id,
                    sku=sku,
                    on_hand=on_hand,
                    reserved=reserved,
                    short_by=reserved - on_hand,
                    fulfillment_order_ids=tuple(fo_ids),
                )
            )
        return result

    def load_stock(self, skus: Sequence[str], network: Network) -> StockTable:
        """A snapshot of on-hand and reserved units for ``skus`` in ``network`` order (no locks)."""
        with self._read() as conn:
            return self._stock_table(conn, list(dict.fromkeys(skus)), network, lock=False)

    def _stock_table(
        self,
        conn: Connection,
        skus: Sequence[str],
        network: Network,
        *,
        lock: bool,
        known_only: bool = False,
    ) -> StockTable:
        """The stock of ``skus`` as a StockTable; ``lock`` row-locks it on PostgreSQL.

        With ``known_only`` the table leaves out SKUs the store has never heard of (no stock row
        at any warehouse and no catalog entry), so the engine holds their orders as UNKNOWN_SKU
        instead of backordering them against zero-filled rows.
        """
        k, w = len(skus), len(network.warehouse_ids)
        on_hand = np.zeros((k, w), dtype=np.int64)
        reserved = np.zeros((k, w), dtype=np.int64)
        by_channel: dict[str, Any] = {}
        sku_index = {sku: i for i, sku in enumerate(skus)}
        wh_index = {wid: j for j, wid in enumerate(network.warehouse_ids)}
        stocked: set[str] = set()
        s = t.stock.c
        c = t.stock_channel_reserved.c
        for chunk in _chunks(sorted(skus)):
            # One round trip: each stock row, repeated once per channel holding part of it.
            query = (
                sa.select(s.warehouse_id, s.sku, s.on_hand, s.reserved, c.channel, c.reserved)
                .outerjoin(
                    t.stock_channel_reserved,
                    sa.and_(c.warehouse_id == s.warehouse_id, c.sku == s.sku, c.reserved > 0),
                )
                .where(s.sku.in_(chunk))
            )
            if lock:
                # The global lock order (sku, warehouse_id) of every writer, consistent across
                # the SKU-sorted chunks: two transactions never wait on each other in a cycle.
                query = query.order_by(s.sku, s.warehouse_id).with_for_update(of=t.stock)
            # fetchall: one driver call for the whole chunk instead of a fetchone per row.
            for warehouse_id, sku, units, held, channel, channel_held in conn.execute(query).all():
                stocked.add(sku)  # known even when stocked only outside this network
                j = wh_index.get(warehouse_id)
                if j is None:
                    continue
                i = sku_index[sku]
                on_hand[i, j] = units
                reserved[i, j] = held
                if channel is not None:
                    arr = by_channel.get(channel)
                    if arr is None:
                        arr = by_channel[channel] = np.zeros((k, w), dtype=np.int64)
                    arr[i, j] = channel_held
        if known_only and len(stocked) < k:
            unstocked = sorted(set(skus) - stocked)
            cataloged: set[str] = set()
            for chunk in _chunks(unstocked):
                cataloged.update(
                    conn.execute(
                        sa.select(t.catalog.c.sku).where(t.catalog.c.sku.in_(chunk))
                    ).scalars()
                )
            keep = [i for i, sku in enumerate(skus) if sku in stocked or sku in cataloged]
            rows = np.array(keep, dtype=np.int64)
            return StockTable(
                network,
                [skus[i] for i in keep],
                on_hand[rows],
                reserved[rows],
                {channel: arr[rows] for channel, arr in by_channel.items()},
            )
        return StockTable(network, list(skus), on_hand, reserved, by_channel)

    # --- routing

    def route(
        self,
        requests: Sequence[RouteRequestRecord],
        decide: Decide,
        *,
        network: Network,
        dry_run: bool = False,
    ) -> list[StoredRoute]:
        """Decide and persist a batch of orders in one transaction; results in request order.

        An order already stored (same channel and channel_order_id, also earlier in this batch) is
        answered from the store with ``replayed=True`` and reserves nothing. A request id reused
        with a different ``request_hash`` gets an :class:`IdempotencyConflictError` in its
        result's ``error``; the rest of the batch proceeds. ``decide`` gets the new orders and a
        StockTable of their SKUs and must add what it allocates to ``stock.reserved`` in place.
        ``dry_run`` decides on a snapshot and writes nothing.

        A line whose SKU the store does not know (no stock row anywhere, no catalog entry) is
        missing from the StockTable ``decide`` gets; the engine holds such orders (UNKNOWN_SKU).
        """
        with _gc_paused():
            if dry_run:
                with self._read() as conn:
                    return self._route_tx(conn, requests, decide, network, dry_run=True)
            return self._write(
                lambda conn: self._route_tx(conn, requests, decide, network, dry_run=False)
            )

    def _route_tx(
        self,
        conn: Connection,
        requests: Sequence[RouteRequestRecord],
        decide: Decide,
        network: Network,
        *,
        dry_run: bool,
    ) -> list[StoredRoute]:
        now = self._clock()
        order_ids = [order_id_for(r.order.channel, r.order.channel_order_id) for r in requests]
        batch_skus = sorted({ln.sku for r in requests for ln in r.order.lines})
        # Lock first, then look for stored orders: a concurrent route of the same order holds the
        # same stock rows, so by the time we get them its commit is visible to the lookup below.
        stock = self._stock_table(conn, batch_skus, network, lock=not dry_run, known_only=True)
        stored = self._stored_decisions(conn, sorted(set(order_ids)))
        keys = self._idempotency_keys(
            conn, sorted({r.request_id for r in requests if r.request_id})
        )

        results: list[StoredRoute | None] = [None] * len(requests)
        new_positions: list[int] = []
        first_position: dict[str, int] = {}
        duplicates: list[tuple[int, int]] = []  # (position, position of the first with that order)
        new_keys: dict[str, tuple[str, str]] = {}  # request_id -> (hash, order_id) to insert
        for pos, (req, oid) in enumerate(zip(requests, order_ids, strict=True)):
            if req.request_id:
                prior = keys.get(req.request_id) or new_keys.get(req.request_id)
                if prior is not None and prior[0] != req.request_hash:
                    results[pos] = StoredRoute(
                        oid, None, error=IdempotencyConflictError(req.request_id)
                    )
                    continue
                if prior is None:
                    new_keys[req.request_id] = (req.request_hash, oid)
            if oid in stored:
                decision, fo_ids = stored[oid]
                results[pos] = StoredRoute(oid, decision, fo_ids, replayed=True)
            elif oid in first_position:
                duplicates.append((pos, first_position[oid]))
            else:
                first_position[oid] = pos
                new_positions.append(pos)

        new_orders = [requests[p].order for p in new_positions]
        decisions: Sequence[RouteDecision] = ()
        if new_orders:
            known = set(stock.skus)
            new_skus = sorted({ln.sku for o in new_orders for ln in o.lines} & known)
            if len(new_skus) != len(known):
                stock = _stock_subset(stock, new_skus, network)
            decisions = decide(new_orders, stock)
            if len(decisions) != len(new_orders):
                raise ValueError(
                    f"decide returned {len(decisions)} decisions for {len(new_orders)} orders"
                )
        for pos, decision in zip(new_positions, decisions, strict=True):
            oid = order_ids[pos]
            fo_ids = tuple(
                fulfillment_order_id(oid, n) for n in range(1, len(decision.shipments) + 1)
            )
            results[pos] = StoredRoute(oid, decision, fo_ids, replayed=False)
        for pos, first in duplicates:
            original = results[first]
            assert original is not None
            results[pos] = StoredRoute(
                original.order_id,
                original.decision,
                original.fulfillment_order_ids,
                replayed=True,
            )
        if not dry_run:
            self._persist_routes(
                conn,
                [(requests[p], order_ids[p]) for p in new_positions],
                decisions,
                new_keys,
                network,
                now,
            )
        done: list[StoredRoute] = []
        for r in results:
            assert r is not None
            done.append(r)
        return done

    def _stored_decisions(
        self, conn: Connection, order_ids: Sequence[str]
    ) -> dict[str, tuple[RouteDecision, tuple[str, ...]]]:
        found: dict[str, tuple[RouteDecision, tuple[str, ...]]] = {}
        for chunk in _chunks(order_ids):
            rows = conn.execute(
                sa.select(t.orders.c.order_id, t.orders.c.decision).where(
                    t.orders.c.order_id.in_(chunk)
                )
            ).all()
            if not rows:
                continue
            fo = t.fulfillment_orders.c
            fo_ids: dict[str, list[str]] = defaultdict(list)
            for oid, fid in conn.execute(
                sa.select(fo.order_id, fo.fulfillment_order_id)
                .where(fo.order_id.in_([r.order_id for r in rows]))
                # A replan rewrote the stored decision's shipments: its cancelled ones are gone.
                .where(sa.or_(fo.cancel_reason.is_(None), fo.cancel_reason != "replanned"))
                .order_by(fo.order_id, fo.fulfillment_order_id)
            ):
                fo_ids[oid].append(fid)
            for row in rows:
                found[row.order_id] = (
                    decision_from_json(row.decision),
                    tuple(sorted(fo_ids[row.order_id], key=_fo_sequence)),
                )
        return found

    def _idempotency_keys(
        self, conn: Connection, request_ids: Sequence[str]
    ) -> dict[str, tuple[str, str]]:
        keys: dict[str, tuple[str, str]] = {}
        k = t.idempotency_keys.c
        for chunk in _chunks(request_ids):
            for row in conn.execute(
                sa.select(k.request_id, k.request_hash, k.order_id).where(k.request_id.in_(chunk))
            ):
                keys[row.request_id] = (row.request_hash, row.order_id)
        return keys

    def _persist_routes(
        self,
        conn: Connection,
        new: Sequence[tuple[RouteRequestRecord, str]],
        decisions: Sequence[RouteDecision],
        new_keys: dict[str, tuple[str, str]],
        network: Network,
        now: dt.datetime,
    ) -> None:
        """Write orders, lines, fulfillment orders, allocations, reservations, events and keys.

        The hot path of a routed batch: rows are built as tuples already in the driver's form
        (each distinct datetime converted once, JSON encoded by ``_codec``) and written with one
        executemany per table, nothing read back.
        """
        bind_time = binder(conn.dialect, t.fulfillment_orders.c.ship_by)
        at = bind_time(now)
        reserved_state = FulfillmentState.RESERVED.value
        order_rows: list[tuple[Any, ...]] = []
        line_rows: list[tuple[Any, ...]] = []
        fo_rows: list[tuple[Any, ...]] = []
        alloc_rows: list[tuple[Any, ...]] = []
        event_rows: list[tuple[Any, ...]] = []
        channels: set[str] = set()
        delta: dict[tuple[str, str], int] = defaultdict(int)
        channel_delta: dict[tuple[str, str, str], int] = defaultdict(int)
        known_warehouses = set(network.warehouse_ids)
        for (req, oid), decision in zip(new, decisions, strict=True):
            order = req.order
            channel = order.channel
            channels.add(channel)
            state = _order_state_for(decision).value
            hold = decision.hold
            order_rows.append(
                (
                    oid,
                    channel,
                    order.channel_order_id,
                    order_json_text(order),
                    decision_json_text(decision),
                    req.request_id,
                    req.request_hash,
                    int(decision.status),
                    state,
                    hold.code if hold else None,
                    hold.reason if hold else None,
                    decision.policy_version,
                    at,
                    at,
                )
            )
            line_rows.extend(
                (oid, i, ln.line_id, ln.sku, ln.quantity) for i, ln in enumerate(order.lines)
            )
            service_level = int(order.service_level)
            for n, shipment in enumerate(decision.shipments, start=1):
                wid = shipment.warehouse_id
                if wid not in known_warehouses:
                    raise ValueError(f"decision ships from unknown {wid!r}")
                fid = fulfillment_order_id(oid, n)
                fo_rows.append(
                    (
                        fid,
                        oid,
                        wid,
                        reserved_state,
                        float(shipment.distance_km),
                        bind_time(shipment.ship_by),
                        bind_time(shipment.deliver_by),
                        service_level,
                        at,
                        at,
                    )
                )
                for position, a in enumerate(shipment.lines):
                    quantity = int(a.quantity)
                    alloc_rows.append((fid, position, a.line_id, a.sku, quantity, wid, channel))
                    delta[wid, a.sku] += quantity
                    channel_delta[wid, a.sku, channel] += quantity
            event_rows.append((oid, None, at, state, _route_event_detail(decision)))
        if order_rows:
            self._ensure_channels(conn, channels, now)
            insert_prepared(conn, t.orders, _ORDER_COLUMNS, order_rows)
            insert_prepared(conn, t.order_lines, _LINE_COLUMNS, line_rows)
        if fo_rows:
            insert_prepared(conn, t.fulfillment_orders, _FO_COLUMNS, fo_rows)
            insert_prepared(conn, t.allocations, _ALLOCATION_COLUMNS, alloc_rows)
        self._reserve(conn, delta, channel_delta)
        _outbox.enqueue_quantities(conn, {sku for _, sku in delta}, now)
        insert_prepared(conn, t.order_events, _EVENT_COLUMNS, event_rows)
        insert_prepared(
            conn,
            t.idempotency_keys,
            _KEY_COLUMNS,
            [(rid, h, oid, None, at) for rid, (h, oid) in sorted(new_keys.items())],
        )

    def _ensure_channels(self, conn: Connection, names: set[str], now: dt.datetime) -> None:
        missing = sorted(names - self._ensured_channels)
        if not missing:
            return
        ins = self._insert(t.channels)
        conn.execute(
            ins.on_conflict_do_nothing(index_elements=["channel"]),
            [{"channel": c, "registered": False, "created_at": now} for c in missing],
        )
        # Remembered only after commit (see _write): a rollback must not poison the cache.
        conn.info.setdefault(_PENDING_CHANNELS, set()).update(missing)

    def _reserve(
        self,
        conn: Connection,
        delta: dict[tuple[str, str], int],
        channel_delta: dict[tuple[str, str, str], int],
    ) -> None:
        """Add reservations with a guarded update; any row that would oversell aborts the batch.

        Cells go in the global lock order (sku, warehouse_id). On PostgreSQL the whole batch is
        one ``UPDATE ... FROM unnest(...)`` (its rows are already locked by :meth:`_stock_table`,
        in that order); on SQLite one executemany under the write lock. Either way the guard
        ``on_hand - reserved >= n`` is in the statement and the row count is checked.
        """
        cells = sorted(
            ((s, w, n) for (w, s), n in delta.items() if n != 0), key=lambda c: (c[0], c[1])
        )
        if cells:
            if self._dialect == "postgresql":
                result = conn.exec_driver_sql(
                    _PG_RESERVE,
                    ([w for _, w, _ in cells], [s for s, _, _ in cells], [n for _, _, n in cells]),
                )
            else:
                result = conn.exec_driver_sql(_SQLITE_RESERVE, [(n, w, s, n) for s, w, n in cells])
            if result.rowcount != len(cells):
                raise OversellError(
                    f"{len(cells) - result.rowcount} of {len(cells)} reservations exceed "
                    "available stock; nothing was committed"
                )
        by_channel = sorted((w, s, c, n) for (w, s, c), n in channel_delta.items() if n != 0)
        if not by_channel:
            return
        if self._dialect == "postgresql":
            conn.exec_driver_sql(
                _PG_ADD_CHANNEL_RESERVED, tuple(list(col) for col in zip(*by_channel, strict=True))
            )
        else:
            conn.exec_driver_sql(_SQLITE_ADD_CHANNEL_RESERVED, by_channel)

    def _adjust_channel_reserved(
        self, conn: Connection, channel_delta: dict[tuple[str, str, str], int], *, sign: int
    ) -> None:
        rows = [
            {"warehouse_id": w, "sku": s, "channel": c, "reserved": n}
            for (w, s, c), n in sorted(channel_delta.items())
            if n != 0
        ]
        if not rows:
            return
        if sign > 0:
            ins = self._insert(t.stock_channel_reserved)
            conn.execute(
                ins.on_conflict_do_update(
                    index_elements=["warehouse_id", "sku", "channel"],
                    set_={"reserved": t.stock_channel_reserved.c.reserved + ins.excluded.reserved},
                ),
                rows,
            )
            return
        c = t.stock_channel_reserved.c
        result = conn.execute(
            t.stock_channel_reserved.update()
            .where(
                c.warehouse_id == sa.bindparam("b_w"),
                c.sku == sa.bindparam("b_s"),
                c.channel == sa.bindparam("b_c"),
                c.reserved >= sa.bindparam("b_n"),
            )
            .values(reserved=c.reserved - sa.bindparam("b_n")),
            [
                {
                    "b_w": r["warehouse_id"],
                    "b_s": r["sku"],
                    "b_c": r["channel"],
                    "b_n": r["reserved"],
                }
                for r in rows
            ],
        )
        if result.rowcount != len(rows):
            raise OversellError("channel reservations out of step with allocations")

    def _release(
        self,
        conn: Connection,
        allocs: Sequence[tuple[str, str, str, int]],
        *,
        ship: bool,
    ) -> int:
        """Release live allocations (warehouse, sku, channel, qty); with ``ship`` the units also
        leave on_hand. Returns the units released."""
        delta: dict[tuple[str, str], int] = defaultdict(int)
        channel_delta: dict[tuple[str, str, str], int] = defaultdict(int)
        for w, s, c, n in allocs:
            delta[w, s] += n
            channel_delta[w, s, c] += n
        params = [
            {"b_w": w, "b_s": s, "b_n": n}
            for (w, s), n in sorted(delta.items(), key=lambda item: _lock_key(item[0]))
        ]
        if params:
            st = t.stock.c
            guard = [
                st.warehouse_id == sa.bindparam("b_w"),
                st.sku == sa.bindparam("b_s"),
                st.reserved >= sa.bindparam("b_n"),
            ]
            values: dict[str, Any] = {"reserved": st.reserved - sa.bindparam("b_n")}
            if ship:
                guard.append(st.on_hand >= sa.bindparam("b_n"))
                values["on_hand"] = st.on_hand - sa.bindparam("b_n")
            result = conn.execute(t.stock.update().where(*guard).values(**values), params)
            if result.rowcount != len(params):
                raise InvalidStateError(
                    "stock counted at the warehouse is below what this shipment takes; "
                    "sync the warehouse's count first",
                    "SHORT",
                )
        self._adjust_channel_reserved(conn, channel_delta, sign=-1)
        return sum(delta.values())

    def _lock_stock_cells(self, conn: Connection, cells: Iterable[tuple[str, str]]) -> None:
        """PostgreSQL: lock these stock rows in the global order before changing them."""
        if self._dialect != "postgresql":
            return  # SQLite: BEGIN IMMEDIATE already holds the only write lock
        ordered = sorted({(w, s) for w, s in cells}, key=_lock_key)
        if not ordered:
            return
        st = t.stock.c
        conn.execute(
            sa.select(st.warehouse_id, st.sku)
            .where(sa.tuple_(st.warehouse_id, st.sku).in_(ordered))
            .order_by(st.sku, st.warehouse_id)
            .with_for_update()
        ).all()

    # --- orders

    def get_order(
        self,
        order_id: str | None = None,
        channel: str | None = None,
        channel_order_id: str | None = None,
    ) -> StoredOrder | None:
        """The stored order with its fulfillment orders and history, or None."""
        oid = _resolve_order_id(order_id, channel, channel_order_id)
        with self._read() as conn:
            row = (
                conn.execute(sa.select(t.orders).where(t.orders.c.order_id == oid))
                .mappings()
                .first()
            )
            if row is None:
                return None
            fos = self._fulfillment_orders(conn, t.fulfillment_orders.c.order_id == oid)
            ev = t.order_events.c
            events = tuple(
                OrderEvent(
                    at=e.at,
                    kind=e.kind,
                    detail=e.detail,
                    fulfillment_order_id=e.fulfillment_order_id,
                )
                for e in conn.execute(
                    sa.select(ev.at, ev.kind, ev.detail, ev.fulfillment_order_id)
                    .where(ev.order_id == oid)
                    .order_by(ev.event_id)
                )
            )
        decision = decision_from_json(row["decision"])
        hold = decision.hold
        if hold is None and row["hold_code"]:  # set later, by a re-route that found no warehouse
            hold = Hold(row["hold_code"], row["hold_reason"] or "")
        return StoredOrder(
            order_id=oid,
            order=order_from_json(row["payload"]),
            route_status=RouteStatus(row["route_status"]),
            state=OrderState(row["state"]),
            fulfillment_orders=tuple(fos),
            unfilled=decision.unfilled,
            hold=hold,
            policy_version=row["policy_version"],
            created_at=row["created_at"],
            events=events,
            decision=decision,
        )

    def _fulfillment_orders(
        self, conn: Connection, where: sa.ColumnElement[bool]
    ) -> list[StoredFulfillmentOrder]:
        fo = t.fulfillment_orders.c
        o = t.orders.c
        rows = (
            conn.execute(
                sa.select(t.fulfillment_orders, o.channel, o.channel_order_id)
                .join(t.orders, o.order_id == fo.order_id)
                .where(where)
            )
            .mappings()
            .all()
        )
        if not rows:
            return []
        ids = [r["fulfillment_order_id"] for r in rows]
        lines: dict[str, list[Allocation]] = defaultdict(list)
        remaining: dict[str, list[Allocation]] = defaultdict(list)
        a = t.allocations.c
        for r in conn.execute(
            sa.select(a.fulfillment_order_id, a.line_id, a.sku, a.quantity, a.shipped)
            .where(a.fulfillment_order_id.in_(ids))
            .order_by(a.fulfillment_order_id, a.position)
        ):
            lines[r.fulfillment_order_id].append(Allocation(r.line_id, r.sku, int(r.quantity)))
            if r.quantity > r.shipped:
                remaining[r.fulfillment_order_id].append(
                    Allocation(r.line_id, r.sku, int(r.quantity) - int(r.shipped))
                )
        ships: dict[str, list[Shipment]] = defaultdict(list)
        sh = t.shipments.c
        sl = t.shipment_lines.c
        package: dict[int, list[Allocation]] = defaultdict(list)
        for p in conn.execute(
            sa.select(sl.shipment_id, sl.line_id, sl.sku, sl.quantity)
            .join(t.shipments, sh.shipment_id == sl.shipment_id)
            .where(sh.fulfillment_order_id.in_(ids))
            .order_by(sl.shipment_id, sl.position)
        ):
            package[int(p.shipment_id)].append(Allocation(p.line_id, p.sku, int(p.quantity)))
        for r in conn.execute(
            sa.select(
                sh.shipment_id,
                sh.fulfillment_order_id,
                sh.carrier,
                sh.tracking_number,
                sh.shipped_at,
            )
            .where(sh.fulfillment_order_id.in_(ids))
            .order_by(sh.shipment_id)
        ):
            ships[r.fulfillment_order_id].append(
                Shipment(
                    r.carrier,
                    r.tracking_number,
                    r.shipped_at,
                    tuple(package.get(int(r.shipment_id), ())),
                )
            )
        result = [
            StoredFulfillmentOrder(
                fulfillment_order_id=r["fulfillment_order_id"],
                order_id=r["order_id"],
                channel=r["channel"],
                channel_order_id=r["channel_order_id"],
                warehouse_id=r["warehouse_id"],
                state=FulfillmentState(r["state"]),
                lines=tuple(lines[r["fulfillment_order_id"]]),
                distance_km=float(r["distance_km"]),
                ship_by=r["ship_by"],
                deliver_by=r["deliver_by"],
                service_level=ServiceLevel(r["service_level"]),
                shipments=tuple(ships[r["fulfillment_order_id"]]),
                remaining=tuple(remaining[r["fulfillment_order_id"]])
                if FulfillmentState(r["state"]) in LIVE_FULFILLMENT_STATES
                else (),
                released_at=r["released_at"],
                delivered_at=r["delivered_at"],
                cancel_reason=r["cancel_reason"],
            )
            for r in rows
        ]
        result.sort(key=lambda f: (f.order_id, _fo_sequence(f.fulfillment_order_id)))
        return result

    def _lock_order(self, conn: Connection, order_id: str) -> sa.RowMapping | None:
        """The order row, locked on PostgreSQL so cancel and confirm of one order serialise."""
        return (
            conn.execute(
                sa.select(t.orders.c.order_id, t.orders.c.state)
                .where(t.orders.c.order_id == order_id)
                .with_for_update()
            )
            .mappings()
            .first()
        )

    def _live_allocations(
        self, conn: Connection, where: sa.ColumnElement[bool]
    ) -> list[tuple[str, str, str, int]]:
        """(warehouse, sku, channel, units still reserved) of live fulfillment orders."""
        a = t.allocations.c
        fo = t.fulfillment_orders.c
        return [
            (r.warehouse_id, r.sku, r.channel, int(r.quantity) - int(r.shipped))
            for r in conn.execute(
                sa.select(a.warehouse_id, a.sku, a.channel, a.quantity, a.shipped)
                .join(t.fulfillment_orders, fo.fulfillment_order_id == a.fulfillment_order_id)
                .where(where, fo.state.in_(_LIVE_STATES), a.quantity > a.shipped)
            )
        ]

    def cancel_order(
        self,
        order_id: str | None = None,
        channel: str | None = None,
        channel_order_id: str | None = None,
        reason: str = "",
    ) -> CancelResult:
        """Cancel an order: release every reservation of its unshipped fulfillment orders.

        Cancelling again answers the same state and releases nothing. An order whose every
        fulfillment order has shipped raises :class:`InvalidStateError`. ``reason`` (the caller's
        words, e.g. "buyer cancelled on Amazon") is kept in the history and on each fulfillment
        order.
        """
        oid = _resolve_order_id(order_id, channel, channel_order_id)
        now = self._clock()

        def work(conn: Connection) -> CancelResult:
            row = self._lock_order(conn, oid)
            if row is None:
                raise NotFoundError(f"order {oid}")
            state = OrderState(row["state"])
            if state == OrderState.CANCELLED:
                return CancelResult(oid, state, 0)
            if state in (OrderState.SHIPPED, OrderState.DELIVERED):
                raise InvalidStateError(
                    f"order {oid} is {state.value}: a shipped order cannot be cancelled",
                    state.value,
                )
            transition(f"order {oid}", state, OrderState.CANCELLED)
            fo = t.fulfillment_orders.c
            allocs = self._live_allocations(conn, fo.order_id == oid)
            self._lock_stock_cells(conn, ((w, s) for w, s, _, _ in allocs))
            released = self._release(conn, allocs, ship=False)
            _outbox.enqueue_quantities(conn, {sku for _, sku, _, _ in allocs}, now)
            conn.execute(
                t.fulfillment_orders.update()
                .where(fo.order_id == oid, fo.state.in_(_LIVE_STATES))
                .values(
                    state=FulfillmentState.CANCELLED.value,
                    updated_at=now,
                    cancel_reason=reason or "order cancelled",
                )
            )
            conn.execute(
                t.orders.update()
                .where(t.orders.c.order_id == oid)
                .values(state=OrderState.CANCELLED.value, updated_at=now)
            )
            conn.execute(
                t.order_events.insert(),
                {
                    "order_id": oid,
                    "fulfillment_order_id": None,
                    "at": now,
                    "kind": OrderState.CANCELLED.value,
                    "detail": (f"{reason}; " if reason else "cancelled; ")
                    + f"{released} reserved units released",
                },
            )
            return CancelResult(oid, OrderState.CANCELLED, released)

        return self._write(work)

    def confirm_shipment(
        self,
        fulfillment_order_id: str,
        carrier: str,
        tracking_number: str,
        shipped_at: dt.datetime,
        lines: Sequence[tuple[str, int]] | None = None,
    ) -> tuple[StoredFulfillmentOrder, bool]:
        """Record a package of a fulfillment order: its units leave on_hand, once.

        ``lines`` ((line_id, quantity), ...) confirms part of it (a first package); None ships
        everything still unshipped. Returns the fulfillment order and whether this tracking number
        had already been confirmed for it (then nothing changes). See ``_handoff.confirm_shipment``.
        """
        return _handoff.confirm_shipment(
            self, fulfillment_order_id, carrier, tracking_number, shipped_at, lines
        )

    def release_fulfillment_orders(
        self,
        fulfillment_order_ids: Sequence[str] = (),
        *,
        warehouse_id: str | None = None,
        ship_by_before: dt.datetime | None = None,
    ) -> list[StoredFulfillmentOrder]:
        """Hand fulfillment orders to their warehouse (RESERVED -> RELEASED); see
        ``_handoff.release``."""
        return _handoff.release(
            self, fulfillment_order_ids, warehouse_id=warehouse_id, ship_by_before=ship_by_before
        )

    def list_released(
        self, warehouse_id: str, *, released_after: dt.datetime | None = None
    ) -> list[StoredFulfillmentOrder]:
        """What waits at ``warehouse_id``: released or partly shipped fulfillment orders, oldest
        release first (``remaining`` is the pick list)."""
        return _handoff.list_released(self, warehouse_id, released_after=released_after)

    def mark_delivered(
        self, fulfillment_order_id: str, delivered_at: dt.datetime
    ) -> tuple[StoredFulfillmentOrder, bool]:
        """SHIPPED -> DELIVERED; again answers the same with ``True``."""
        return _handoff.mark_delivered(self, fulfillment_order_id, delivered_at)

    def cancel_fulfillment_order(
        self,
        fulfillment_order_id: str,
        reason: str,
        decide: Decide,
        *,
        network: Network,
    ) -> _handoff.RerouteResult:
        """The warehouse cannot ship it: cancel it and re-route its unshipped lines elsewhere."""
        return _handoff.cancel_fulfillment_order(
            self, fulfillment_order_id, reason, decide, network
        )

    def reroute_shortfalls(
        self, shortfalls: Sequence[Shortfall], decide: Decide, *, network: Network
    ) -> list[_handoff.RerouteResult]:
        """Re-route unreleased fulfillment orders until each shortfall is covered."""
        return _handoff.reroute_shortfalls(self, shortfalls, decide, network)

    # --- returns (server/store/_returns.py)

    def create_return(
        self,
        *,
        channel: str,
        channel_rma_id: str,
        lines: Sequence[tuple[str, str, int]],
        reason_code: str,
        reason_text: str = "",
        order_id: str | None = None,
        channel_order_id: str | None = None,
        requested_at: dt.datetime | None = None,
        authorize: bool = False,
    ) -> tuple[_returns.StoredReturn, bool]:
        """A new RMA, idempotent by (channel, channel_rma_id); see ``_returns.create_return``."""
        return _returns.create_return(
            self,
            channel=channel,
            channel_rma_id=channel_rma_id,
            order_id=order_id,
            channel_order_id=channel_order_id,
            lines=lines,
            reason_code=reason_code,
            reason_text=reason_text,
            requested_at=requested_at,
            authorize=authorize,
        )

    def authorize_return(self, return_id: str) -> _returns.StoredReturn:
        """REQUESTED -> AUTHORIZED (again: unchanged)."""
        return _returns.authorize_return(self, return_id)

    def receive_return(
        self,
        return_id: str,
        warehouse_id: str,
        units: Sequence[tuple[str, int, str]],
        decide_refund: _returns.RefundDecider,
    ) -> tuple[_returns.StoredReturn, bool]:
        """Receive, inspect, restock or write off, and queue the refund; see
        ``_returns.receive_return``."""
        return _returns.receive_return(self, return_id, warehouse_id, units, decide_refund)

    def get_return(
        self,
        return_id: str | None = None,
        channel: str | None = None,
        channel_rma_id: str | None = None,
    ) -> _returns.StoredReturn | None:
        """The return by id or by (channel, channel RMA id), or None."""
        return _returns.get_return(self, return_id, channel, channel_rma_id)

    def returns_report_data(
        self, since: dt.datetime | None, until: dt.datetime
    ) -> _returns.ReportData:
        """The facts behind the returns report for returns created in [since, until)."""
        return _returns.report_data(self, since, until)

    def written_off(self, skus: Sequence[str]) -> dict[tuple[str, str], int]:
        """Units in the write-off bucket per (warehouse_id, sku) for ``skus``."""
        w = t.write_offs.c
        found: dict[tuple[str, str], int] = {}
        with self._read() as conn:
            for chunk in _chunks(sorted(set(skus))):
                for warehouse_id, sku, n in conn.execute(
                    sa.select(w.warehouse_id, w.sku, sa.func.sum(w.quantity))
                    .where(w.sku.in_(chunk))
                    .group_by(w.warehouse_id, w.sku)
                ):
                    found[warehouse_id, sku] = int(n)
        return found

    # --- outbox

    def enqueue_refund(self, channel: str, dedup_key: str, payload: dict[str, Any]) -> None:
        """Queue a refund request to ``channel`` (``dedup_key``: e.g. the RMA number)."""
        now = self._clock()
        self._write(lambda conn: _outbox.enqueue(conn, channel, "refund", dedup_key, payload, now))

    def pull_outbox(
        self,
        channel: str,
        kinds: Sequence[str] = ("tracking", "quantity", "refund"),
        limit: int = 100,
        lease_seconds: float = 60.0,
    ) -> list[OutboxEntry]:
        """Lease up to ``limit`` due messages for ``channel``; unacked ones come back after the
        lease. Quantity entries carry only ``{"sku": ...}``: compute the value when sending."""
        now = self._clock()
        return self._write(
            lambda conn: _outbox.pull(conn, channel, kinds, limit, lease_seconds, now)
        )

    def ack_outbox(self, ids: Sequence[int]) -> int:
        """Mark messages delivered; returns how many were newly acknowledged."""
        now = self._clock()
        return self._write(lambda conn: _outbox.ack(conn, ids, now))

    def nack_outbox(self, outbox_id: int, error: str, retry_after: float = 0.0) -> None:
        """Give a leased message back with the error; it is due again after ``retry_after`` s.
        Unknown or already acknowledged ids raise :class:`NotFoundError`."""
        now = self._clock()
        if not self._write(lambda conn: _outbox.nack(conn, outbox_id, error, retry_after, now)):
            raise NotFoundError(f"pending outbox entry {outbox_id}")

    def prune_outbox(self, acked_before: dt.datetime) -> int:
        """Delete messages acknowledged before ``acked_before``; returns how many."""
        return self._write(lambda conn: _outbox.prune(conn, acked_before))

    # --- catalog

    def import_catalog(self, rows: Sequence[Mapping[str, Any]]) -> int:
        """Insert or replace master SKUs and their channel SKUs (see ``_catalog.import_rows``
        for the row shape); returns the number of rows. Malformed rows raise ValueError."""
        now = self._clock()
        return self._write(lambda conn: _catalog.import_rows(conn, self._insert, rows, now))

    def resolve_sku(self, channel: str, channel_sku: str) -> str | None:
        """The master SKU for a channel's SKU: its mapping, else itself when it is a master SKU
        (in the catalog or stocked), else None."""
        with self._read() as conn:
            return _catalog.resolve(conn, channel, channel_sku)

    def sku_tags(self, skus: Sequence[str]) -> dict[str, frozenset[str]]:
        """Catalog tags of the given SKUs (SKUs not in the catalog are left out)."""
        with self._read() as conn:
            return _catalog.tags_of(conn, skus)

    def channel_skus_for(self, channel: str, sku: str) -> list[str]:
        """The channel's SKUs that map to master ``sku``."""
        with self._read() as conn:
            return _catalog.channel_skus_for(conn, channel, sku)

    # --- aggregates (metrics)

    def stock_totals(self) -> list[tuple[str, int, int]]:
        """(warehouse_id, units on hand, units reserved) per warehouse with stock, by id."""
        st = t.stock.c
        with self._read() as conn:
            return [
                (w, int(on_hand or 0), int(reserved or 0))
                for w, on_hand, reserved in conn.execute(
                    sa.select(st.warehouse_id, sa.func.sum(st.on_hand), sa.func.sum(st.reserved))
                    .group_by(st.warehouse_id)
                    .order_by(st.warehouse_id)
                )
            ]

    def order_counts(self) -> dict[str, int]:
        """Number of orders per state (``OrderState`` values)."""
        o = t.orders.c
        with self._read() as conn:
            return {
                state: int(n)
                for state, n in conn.execute(sa.select(o.state, sa.func.count()).group_by(o.state))
            }

    # --- invariants

    def check_invariants(self, *, allow_shortfall: bool = False) -> list[str]:
        """Every violated stock invariant, in words; empty when the store is healthy.

        Checks per (warehouse, sku): 0 <= reserved <= on_hand (``allow_shortfall`` tolerates
        reserved > on_hand, which only a sync below the reserved count can cause and which it
        reports); reserved equals the units of live allocations; per-channel reservations equal the
        live allocations of that channel; no order line allocated beyond its quantity.
        """
        problems: list[str] = []
        with self._read() as conn:
            st = t.stock.c
            stock_rows = {
                (r.warehouse_id, r.sku): (int(r.on_hand), int(r.reserved))
                for r in conn.execute(sa.select(st.warehouse_id, st.sku, st.on_hand, st.reserved))
            }
            a = t.allocations.c
            fo = t.fulfillment_orders.c
            live = (
                sa.select(
                    a.warehouse_id, a.sku, a.channel, sa.func.sum(a.quantity - a.shipped).label("n")
                )
                .join(t.fulfillment_orders, fo.fulfillment_order_id == a.fulfillment_order_id)
                .where(fo.state.in_(_LIVE_STATES))
                .group_by(a.warehouse_id, a.sku, a.channel)
            )
            live_by_cell: dict[tuple[str, str], int] = defaultdict(int)
            live_by_channel: dict[tuple[str, str, str], int] = {}
            for r in conn.execute(live):
                live_by_cell[r.warehouse_id, r.sku] += int(r.n)
                live_by_channel[r.warehouse_id, r.sku, r.channel] = int(r.n)
            c = t.stock_channel_reserved.c
            channel_rows = {
                (r.warehouse_id, r.sku, r.channel): int(r.reserved)
                for r in conn.execute(sa.select(c.warehouse_id, c.sku, c.channel, c.reserved))
            }
            ol = t.order_lines.c
            over = conn.execute(
                sa.select(ol.order_id, ol.line_id, ol.quantity, sa.func.sum(a.quantity).label("n"))
                .join(t.fulfillment_orders, fo.order_id == ol.order_id)
                .join(
                    t.allocations,
                    sa.and_(
                        a.fulfillment_order_id == fo.fulfillment_order_id,
                        a.line_id == ol.line_id,
                    ),
                )
                .where(fo.state != FulfillmentState.CANCELLED.value)
                .group_by(ol.order_id, ol.line_id, ol.quantity)
                .having(sa.func.sum(a.quantity) > ol.quantity)
            ).all()
        for (w, s), (on_hand, reserved) in sorted(stock_rows.items()):
            if on_hand < 0 or reserved < 0:
                problems.append(f"{w}/{s}: negative count (on_hand {on_hand}, reserved {reserved})")
            if reserved > on_hand and not allow_shortfall:
                problems.append(f"{w}/{s}: reserved {reserved} > on_hand {on_hand}")
            if reserved != live_by_cell.get((w, s), 0):
                problems.append(
                    f"{w}/{s}: reserved {reserved} != live allocations "
                    f"{live_by_cell.get((w, s), 0)}"
                )
        for w, s in sorted(set(live_by_cell) - set(stock_rows)):
            problems.append(f"{w}/{s}: {live_by_cell[w, s]} units allocated with no stock row")
        for key in sorted(set(channel_rows) | set(live_by_channel)):
            have, want = channel_rows.get(key, 0), live_by_channel.get(key, 0)
            if have != want:
                problems.append(
                    f"{key[0]}/{key[1]} channel {key[2]}: reserved {have} != live allocations "
                    f"{want}"
                )
        for r in over:
            problems.append(
                f"order {r.order_id} line {r.line_id}: {r.n} units allocated of {r.quantity}"
            )
        return problems

    # --- helpers

    def _insert(self, table: sa.Table) -> Any:
        """A dialect INSERT that supports ``on_conflict_do_update`` / ``on_conflict_do_nothing``."""
        if self._dialect == "postgresql":
            return pg_dialect.insert(table)
        return sqlite_dialect.insert(table)


def _stock_subset(stock: StockTable, skus: Sequence[str], network: Network) -> StockTable:
    """The rows of ``stock`` for ``skus`` (a subset of its SKUs), as a new StockTable."""
    index = {sku: i for i, sku in enumerate(stock.skus)}
    rows = np.array([index[s] for s in skus], dtype=np.int64)
    return StockTable(
        network,
        list(skus),
        stock.on_hand[rows].copy(),
        stock.reserved[rows].copy(),
        {c: arr[rows].copy() for c, arr in stock.reserved_by_channel.items()},
    )


def _lock_key(cell: tuple[str, str]) -> tuple[str, str]:
    """(warehouse_id, sku) -> the global lock order key (sku, warehouse_id)."""
    return cell[1], cell[0]


def _fo_sequence(fulfillment_order_id: str) -> int:
    return int(fulfillment_order_id.rsplit("-", 1)[1])


def _resolve_order_id(
    order_id: str | None, channel: str | None, channel_order_id: str | None
) -> str:
    if order_id:
        return order_id
    if channel and channel_order_id:
        return order_id_for(channel, channel_order_id)
    raise ValueError("give order_id, or channel and channel_order_id")


def _route_event_detail(decision: RouteDecision) -> str:
    if decision.hold is not None:
        return f"{decision.status.name}: {decision.hold.code}"
    units = sum(a.quantity for s in decision.shipments for a in s.lines)
    return (
        f"{decision.status.name}: {units} units in {len(decision.shipments)} fulfillment orders"
        f" (policy {decision.policy_version})"
    )


def _sqlite_engine(url: sa.URL) -> Engine:
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file::memory:"):
        raise ValueError("an in-memory SQLite database cannot be shared; give a file path")
    Path(database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        url,
        pool_size=8,
        max_overflow=24,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Stop the sqlite3 driver from issuing its own (deferred) BEGIN; _on_begin issues ours.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
            # FULL: every acknowledged route survives a power loss or OS crash, not only a crash
            # of the process. NORMAL would save one fsync per commit (about 12 ms here, a few % of
            # a 1,000-order batch) but could roll back the last commits after a power loss, and a
            # caller that saw its order acknowledged must be able to rely on it.
            cursor.execute("PRAGMA synchronous=FULL")
            # A page cache large enough for the hot index pages of a routed batch (KiB; the
            # cache grows only as pages are used). Temporary b-trees stay in memory.
            cursor.execute("PRAGMA cache_size=-32768")
            cursor.execute("PRAGMA temp_store=MEMORY")
            # Checkpoint the WAL every ~40 MB rather than every 4 MB: a routed batch of 1,000
            # orders dirties a few thousand pages, so the default checkpointed (and fsynced the
            # database file) on nearly every batch; fewer, larger checkpoints write each hot index
            # page once. Durability is the WAL's and is unchanged.
            cursor.execute("PRAGMA wal_autocheckpoint=10000")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers take the write lock before they read, so a read-then-write never has to upgrade
        # its lock (which fails at once with SQLITE_BUSY, ignoring busy_timeout).
        if conn.get_execution_options().get(_READ_ONLY):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
