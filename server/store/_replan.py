"""Re-planning before release: move reserved fulfillment orders where a joint re-solve is cheaper.

One write transaction (:meth:`Store._write`): pick the orders whose every fulfillment order is
still RESERVED (nothing shipped or released), lock the stock rows of their SKUs in the global
order, hand them and the stock with their own reservations released (in memory only) to the
caller's ``decide`` (the engine's re-solve), then, for every order it moved: cancel the old
fulfillment orders (event "replanned"), release their units, write new fulfillment orders whose
ids continue the order's sequence, and reserve the new units with the guarded update. Any failure
rolls the whole transaction back, so every reservation stays as it was.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine import Network, Order, OrderLine, RouteDecision, StockTable
from server.store import _outbox
from server.store import _schema as t
from server.store._bulk import insert_dicts
from server.store._codec import decision_from_json, decision_to_json, order_from_json
from server.store._store import Store, _fo_sequence
from server.store._types import FulfillmentState, OrderState, fulfillment_order_id

__all__ = ["ReplanCandidate", "ReplanDecide", "ReplanResult", "replan"]

#: The event kind written on a moved order and on each fulfillment order it cancels.
REPLANNED = "replanned"


@dataclass(frozen=True)
class ReplanCandidate:
    """An order that may move: what it holds now, line quantities reduced to the units held."""

    order_id: str
    order: Order  # lines reduced to the units allocated (lines with none dropped)
    allocations: tuple[tuple[str, str, int], ...]  # (warehouse_id, line_id, units)
    fulfillment_orders: tuple[tuple[str, str, float], ...]  # (id, warehouse_id, distance_km)


#: (candidates, stock with their reservations released) -> new decisions by candidate index.
ReplanDecide = Callable[[Sequence[ReplanCandidate], StockTable], Mapping[int, RouteDecision]]


@dataclass(frozen=True)
class ReplanResult:
    orders_considered: int
    shipments_before: int
    shipments_after: int
    distance_km_before: float
    distance_km_after: float
    moved_order_ids: tuple[str, ...]


def replan(
    store: Store,
    decide: ReplanDecide,
    *,
    network: Network,
    order_ids: Sequence[str] = (),
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    dry_run: bool = False,
) -> ReplanResult:
    """Re-plan the orders selected by ``order_ids`` and/or the ``[since, until)`` window of
    their creation (see the module doc). ``dry_run`` decides on a snapshot and writes nothing."""
    now = store._clock()

    def work(conn: Connection) -> ReplanResult:
        candidates, stored = _candidates(conn, order_ids, since, until, network, lock=not dry_run)
        before = sum(len(c.fulfillment_orders) for c in candidates)
        km_before = sum(km for c in candidates for _, _, km in c.fulfillment_orders)
        if not candidates:
            return ReplanResult(0, 0, 0, 0.0, 0.0, ())
        skus = sorted({line.sku for c in candidates for line in c.order.lines})
        stock = store._stock_table(conn, skus, network, lock=not dry_run)
        for c in candidates:
            for warehouse_id, line_id, units in c.allocations:
                sku = next(line.sku for line in c.order.lines if line.line_id == line_id)
                row, w = stock.row_of(sku), network.index_of(warehouse_id)
                stock.reserved[row, w] -= units
                by_channel = stock.reserved_by_channel.get(c.order.channel)
                if by_channel is not None:
                    by_channel[row, w] -= units
        moved = decide(candidates, stock)
        after = before
        km_after = km_before
        for index, decision in sorted(moved.items()):
            c = candidates[index]
            after += len(decision.shipments) - len(c.fulfillment_orders)
            km_after += sum(s.distance_km for s in decision.shipments) - sum(
                km for _, _, km in c.fulfillment_orders
            )
        if not dry_run and moved:
            _persist(store, conn, candidates, stored, moved, now)
        return ReplanResult(
            orders_considered=len(candidates),
            shipments_before=before,
            shipments_after=after,
            distance_km_before=km_before,
            distance_km_after=km_after,
            moved_order_ids=tuple(sorted(candidates[i].order_id for i in moved)),
        )

    if dry_run:
        with store._read() as conn:
            return work(conn)
    return store._write(work)


def _candidates(
    conn: Connection,
    order_ids: Sequence[str],
    since: dt.datetime | None,
    until: dt.datetime | None,
    network: Network,
    *,
    lock: bool,
) -> tuple[list[ReplanCandidate], dict[str, tuple[RouteDecision, int]]]:
    """Orders in state ROUTED whose fulfillment orders are all RESERVED or CANCELLED (at least
    one RESERVED), in creation order then id; with their stored decision and highest FO number.
    ``lock`` row-locks the selected orders (PostgreSQL; SQLite already holds the write lock)."""
    o = t.orders.c
    fo = t.fulfillment_orders.c
    query = sa.select(o.order_id, o.payload, o.decision).where(o.state == OrderState.ROUTED.value)
    if order_ids:
        query = query.where(o.order_id.in_(sorted(set(order_ids))))
    if since is not None:
        query = query.where(o.created_at >= since)
    if until is not None:
        query = query.where(o.created_at < until)
    query = query.order_by(o.created_at, o.order_id)
    if lock:
        # PostgreSQL: order rows first, then stock (cancel_order's order), so a concurrent cancel
        # or shipment of a candidate finishes first and the state filter is re-checked after it.
        query = query.with_for_update(of=t.orders)
    rows = conn.execute(query).all()
    if not rows:
        return [], {}
    ids = [r.order_id for r in rows]
    fos: dict[str, list[Any]] = defaultdict(list)
    for chunk_start in range(0, len(ids), 5000):
        chunk = ids[chunk_start : chunk_start + 5000]
        for f in conn.execute(
            sa.select(
                fo.order_id, fo.fulfillment_order_id, fo.warehouse_id, fo.state, fo.distance_km
            ).where(fo.order_id.in_(chunk))
        ):
            fos[f.order_id].append(f)
    known = set(network.warehouse_ids)
    live_ids = [
        f.fulfillment_order_id
        for oid in ids
        for f in fos[oid]
        if f.state == FulfillmentState.RESERVED.value
    ]
    allocs: dict[str, list[Any]] = defaultdict(list)
    a = t.allocations.c
    for chunk_start in range(0, len(live_ids), 5000):
        chunk = live_ids[chunk_start : chunk_start + 5000]
        for x in conn.execute(
            sa.select(a.fulfillment_order_id, a.line_id, a.sku, a.quantity, a.warehouse_id)
            .where(a.fulfillment_order_id.in_(chunk))
            .order_by(a.fulfillment_order_id, a.position)
        ):
            allocs[x.fulfillment_order_id].append(x)
    candidates: list[ReplanCandidate] = []
    stored: dict[str, tuple[RouteDecision, int]] = {}
    for r in rows:
        mine = fos[r.order_id]
        states = {f.state for f in mine}
        live = sorted(
            (f for f in mine if f.state == FulfillmentState.RESERVED.value),
            key=lambda f: _fo_sequence(f.fulfillment_order_id),
        )
        if not live or states - {FulfillmentState.RESERVED.value, FulfillmentState.CANCELLED.value}:
            continue
        if any(f.warehouse_id not in known for f in live):
            continue  # a site that left the network: nothing to re-solve against
        order = order_from_json(r.payload)
        held: dict[str, int] = defaultdict(int)
        triples = []
        for f in live:
            for x in allocs[f.fulfillment_order_id]:
                held[x.line_id] += int(x.quantity)
                triples.append((x.warehouse_id, x.line_id, int(x.quantity)))
        lines = tuple(
            OrderLine(line.line_id, line.sku, held[line.line_id])
            for line in order.lines
            if held.get(line.line_id, 0) > 0
        )
        if not lines:
            continue
        candidates.append(
            ReplanCandidate(
                order_id=r.order_id,
                order=replace(order, lines=lines),
                allocations=tuple(triples),
                fulfillment_orders=tuple(
                    (f.fulfillment_order_id, f.warehouse_id, float(f.distance_km)) for f in live
                ),
            )
        )
        stored[r.order_id] = (
            decision_from_json(r.decision),
            max(_fo_sequence(f.fulfillment_order_id) for f in mine),
        )
    return candidates, stored


def _persist(
    store: Store,
    conn: Connection,
    candidates: Sequence[ReplanCandidate],
    stored: Mapping[str, tuple[RouteDecision, int]],
    moved: Mapping[int, RouteDecision],
    now: dt.datetime,
) -> None:
    """Cancel the moved orders' fulfillment orders, release their units, write the new ones and
    reserve their units (the guarded update: an oversell aborts the whole transaction)."""
    release: list[tuple[str, str, str, int]] = []
    fo_rows: list[dict[str, Any]] = []
    alloc_rows: list[dict[str, Any]] = []
    event_rows: list[dict[str, Any]] = []
    delta: dict[tuple[str, str], int] = defaultdict(int)
    channel_delta: dict[tuple[str, str, str], int] = defaultdict(int)
    old_fo_ids: list[str] = []
    for index, decision in sorted(moved.items()):
        c = candidates[index]
        channel = c.order.channel
        sku_of = {line.line_id: line.sku for line in c.order.lines}
        for warehouse_id, line_id, units in c.allocations:
            release.append((warehouse_id, sku_of[line_id], channel, units))
        old_fo_ids.extend(fid for fid, _, _ in c.fulfillment_orders)
        original, last_sequence = stored[c.order_id]
        new_ids = []
        for n, shipment in enumerate(decision.shipments, start=last_sequence + 1):
            fid = fulfillment_order_id(c.order_id, n)
            new_ids.append(fid)
            fo_rows.append(
                {
                    "fulfillment_order_id": fid,
                    "order_id": c.order_id,
                    "warehouse_id": shipment.warehouse_id,
                    "state": FulfillmentState.RESERVED.value,
                    "distance_km": float(shipment.distance_km),
                    "ship_by": shipment.ship_by,
                    "deliver_by": shipment.deliver_by,
                    "service_level": int(c.order.service_level),
                    "created_at": now,
                    "updated_at": now,
                }
            )
            for position, a in enumerate(shipment.lines):
                alloc_rows.append(
                    {
                        "fulfillment_order_id": fid,
                        "position": position,
                        "line_id": a.line_id,
                        "sku": a.sku,
                        "quantity": int(a.quantity),
                        "warehouse_id": shipment.warehouse_id,
                        "channel": channel,
                    }
                )
                delta[shipment.warehouse_id, a.sku] += int(a.quantity)
                channel_delta[shipment.warehouse_id, a.sku, channel] += int(a.quantity)
        # The stored decision keeps its status and unfilled lines; only the shipments changed.
        conn.execute(
            t.orders.update()
            .where(t.orders.c.order_id == c.order_id)
            .values(
                decision=decision_to_json(replace(original, shipments=decision.shipments)),
                updated_at=now,
            )
        )
        old = ", ".join(fid for fid, _, _ in c.fulfillment_orders)
        event_rows.append(
            {
                "order_id": c.order_id,
                "fulfillment_order_id": None,
                "at": now,
                "kind": REPLANNED,
                "detail": f"replanned: {old} cancelled; {', '.join(new_ids)} reserved",
            }
        )
        event_rows.extend(
            {
                "order_id": c.order_id,
                "fulfillment_order_id": fid,
                "at": now,
                "kind": REPLANNED,
                "detail": "cancelled by replan",
            }
            for fid, _, _ in c.fulfillment_orders
        )
    cells = {(w, s) for w, s, _, _ in release} | set(delta)
    store._lock_stock_cells(conn, cells)
    store._release(conn, release, ship=False)
    fo = t.fulfillment_orders.c
    for start in range(0, len(old_fo_ids), 5000):
        conn.execute(
            t.fulfillment_orders.update()
            .where(
                fo.fulfillment_order_id.in_(old_fo_ids[start : start + 5000]),
                fo.state == FulfillmentState.RESERVED.value,
            )
            .values(state=FulfillmentState.CANCELLED.value, cancel_reason=REPLANNED, updated_at=now)
        )
    _write_new_fulfillment_orders(conn, fo_rows, alloc_rows)
    store._reserve(conn, delta, channel_delta)
    _outbox.enqueue_quantities(conn, {s for _, s in cells}, now)
    insert_dicts(conn, t.order_events, event_rows)


def _write_new_fulfillment_orders(
    conn: Connection, fo_rows: list[dict[str, Any]], alloc_rows: list[dict[str, Any]]
) -> None:
    if fo_rows:
        insert_dicts(conn, t.fulfillment_orders, fo_rows)
        insert_dicts(conn, t.allocations, alloc_rows)
