"""The warehouse handoff: release, partial and full shipments, delivery, and re-routing.

Functions here run the store's transactions (``store._write``) and use its stock helpers, so every
unit moves by the same guarded, relative updates as routing does. Each state change goes through
the state machine of ``_lifecycle`` and is written to ``order_events`` with its time.

Re-routing (a warehouse cancels a fulfillment order it cannot ship, or a sync counts fewer units
than are reserved): the unshipped units of the fulfillment order are released, it is cancelled
(or closed as SHIPPED when part of it already left), and its lines are routed again under the
current policy as new fulfillment orders of the same order, all in one transaction. Units nothing
can take put the order on hold with the reason (``hold_code`` REROUTE_UNFILLED).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine import Network, Order, OrderLine, Unfilled
from server.store import _outbox
from server.store import _schema as t
from server.store._bulk import insert_dicts
from server.store._codec import order_from_json
from server.store._errors import InvalidStateError, NotFoundError
from server.store._lifecycle import LIVE_FULFILLMENT_STATES, derive_order_state, transition
from server.store._types import (
    FulfillmentState,
    OrderState,
    Shortfall,
    StoredFulfillmentOrder,
    fulfillment_order_id,
)

if TYPE_CHECKING:
    from server.store._store import Decide, Store

__all__ = [
    "REROUTE_UNFILLED",
    "RerouteResult",
    "ShipmentLineError",
    "cancel_fulfillment_order",
    "confirm_shipment",
    "list_released",
    "mark_delivered",
    "release",
    "reroute_shortfalls",
]

REROUTE_UNFILLED = "REROUTE_UNFILLED"

_fo = t.fulfillment_orders.c
_a = t.allocations.c
_LIVE = sorted(s.value for s in LIVE_FULFILLMENT_STATES)


class ShipmentLineError(ValueError):
    """A package line that does not fit the fulfillment order (``lines[i].field``)."""

    def __init__(self, index: int, field: str, message: str) -> None:
        super().__init__(f"lines[{index}].{field}: {message}")
        self.index = index
        self.field = field


@dataclass(frozen=True, slots=True)
class RerouteResult:
    """One order's re-route: what was taken away, what replaced it, what found no warehouse."""

    order_id: str
    from_fulfillment_order_ids: tuple[str, ...]
    new_fulfillment_order_ids: tuple[str, ...]
    unfilled: tuple[Unfilled, ...]
    state: OrderState
    hold_reason: str | None = None


# --- helpers


def _event(
    conn: Connection, order_id: str, fid: str | None, at: dt.datetime, kind: str, detail: str
) -> None:
    conn.execute(
        t.order_events.insert(),
        {
            "order_id": order_id,
            "fulfillment_order_id": fid,
            "at": at,
            "kind": kind,
            "detail": detail,
        },
    )


def _fo_state(conn: Connection, fid: str) -> tuple[str, FulfillmentState]:
    row = conn.execute(
        sa.select(_fo.order_id, _fo.state).where(_fo.fulfillment_order_id == fid)
    ).first()
    if row is None:
        raise NotFoundError(f"fulfillment order {fid}")
    return row.order_id, FulfillmentState(row.state)


def _lock_order(store: Store, conn: Connection, order_id: str) -> OrderState:
    row = store._lock_order(conn, order_id)
    if row is None:
        raise NotFoundError(f"order {order_id}")
    return OrderState(row["state"])


def _settle_order_state(
    conn: Connection,
    order_id: str,
    current: OrderState,
    now: dt.datetime,
    *,
    fallback: OrderState | None = None,
) -> OrderState:
    """Move the order to the state its fulfillment orders imply (checked by the state machine)."""
    states = [
        FulfillmentState(s)
        for s in conn.execute(sa.select(_fo.state).where(_fo.order_id == order_id)).scalars()
    ]
    target = derive_order_state(states, fallback=fallback or current)
    if target != current:
        transition(f"order {order_id}", current, target)
        conn.execute(
            t.orders.update()
            .where(t.orders.c.order_id == order_id)
            .values(state=target.value, updated_at=now)
        )
    return target


def _one(store: Store, conn: Connection, fid: str) -> StoredFulfillmentOrder:
    return store._fulfillment_orders(conn, _fo.fulfillment_order_id == fid)[0]


# --- release and the pick lists


def release(
    store: Store,
    fulfillment_order_ids: Sequence[str],
    *,
    warehouse_id: str | None,
    ship_by_before: dt.datetime | None,
) -> list[StoredFulfillmentOrder]:
    """RESERVED -> RELEASED, by ids or for a warehouse (those whose ship_by is before a time).

    Releasing a fulfillment order that is already RELEASED answers it unchanged (a retried call);
    any other state raises :class:`InvalidStateError`. Returns the fulfillment orders in the order
    asked (by warehouse: ship_by, then id).
    """
    if bool(fulfillment_order_ids) == bool(warehouse_id):
        raise ValueError("give fulfillment order ids, or a warehouse id")
    now = store._clock()

    def work(conn: Connection) -> list[StoredFulfillmentOrder]:
        if fulfillment_order_ids:
            wanted = list(dict.fromkeys(fulfillment_order_ids))
        else:
            query = sa.select(_fo.fulfillment_order_id).where(
                _fo.warehouse_id == warehouse_id, _fo.state == FulfillmentState.RESERVED.value
            )
            if ship_by_before is not None:
                query = query.where(_fo.ship_by < ship_by_before)
            wanted = list(
                conn.execute(query.order_by(_fo.ship_by, _fo.fulfillment_order_id)).scalars()
            )
        owners: dict[str, list[str]] = defaultdict(list)
        for fid in wanted:
            owners[_fo_state(conn, fid)[0]].append(fid)
        for order_id in sorted(owners):  # one lock order across writers
            order_state = _lock_order(store, conn, order_id)
            changed = False
            for fid in owners[order_id]:
                _, state = _fo_state(conn, fid)
                if state == FulfillmentState.RELEASED:
                    continue
                transition(f"fulfillment order {fid}", state, FulfillmentState.RELEASED)
                conn.execute(
                    t.fulfillment_orders.update()
                    .where(_fo.fulfillment_order_id == fid)
                    .values(state=FulfillmentState.RELEASED.value, released_at=now, updated_at=now)
                )
                _event(conn, order_id, fid, now, "RELEASED", "pick list handed to the warehouse")
                changed = True
            if changed:
                _settle_order_state(conn, order_id, order_state, now)
        return [_one(store, conn, fid) for fid in wanted]

    return store._write(work)


def list_released(
    store: Store, warehouse_id: str, *, released_after: dt.datetime | None
) -> list[StoredFulfillmentOrder]:
    """Released or partly shipped fulfillment orders at a warehouse, oldest release first."""
    where = sa.and_(
        _fo.warehouse_id == warehouse_id,
        _fo.state.in_([FulfillmentState.RELEASED.value, FulfillmentState.PARTIALLY_SHIPPED.value]),
    )
    if released_after is not None:
        where = sa.and_(where, _fo.released_at > released_after)
    with store._read() as conn:
        found = store._fulfillment_orders(conn, where)
    far = dt.datetime.max.replace(tzinfo=dt.UTC)
    return sorted(found, key=lambda f: (f.released_at or far, f.fulfillment_order_id))


# --- shipments and delivery


def _take(rows: Sequence[Any], lines: Sequence[tuple[str, int]] | None) -> dict[int, int]:
    """Units to ship per allocation position: everything left, or the package's lines spread over
    the allocations of each line in position order."""
    if lines is None:
        return {
            int(r.position): int(r.quantity) - int(r.shipped)
            for r in rows
            if r.quantity > r.shipped
        }
    left: dict[str, int] = defaultdict(int)
    for r in rows:
        left[r.line_id] += int(r.quantity) - int(r.shipped)
    asked: dict[str, int] = defaultdict(int)
    for i, (line_id, quantity) in enumerate(lines):
        if line_id not in left:
            raise ShipmentLineError(i, "line_id", f"{line_id!r} is not in this fulfillment order")
        if quantity <= 0:
            raise ShipmentLineError(i, "quantity", f"must be > 0, got {quantity}")
        asked[line_id] += quantity
        if asked[line_id] > left[line_id]:
            raise ShipmentLineError(
                i,
                "quantity",
                f"{asked[line_id]} units of line {line_id!r} exceed the {left[line_id]} unshipped",
            )
    take: dict[int, int] = {}
    for r in rows:
        want = asked.get(r.line_id, 0)
        n = min(want, int(r.quantity) - int(r.shipped))
        if n > 0:
            take[int(r.position)] = n
            asked[r.line_id] -= n
    return take


def confirm_shipment(
    store: Store,
    fid: str,
    carrier: str,
    tracking_number: str,
    shipped_at: dt.datetime,
    lines: Sequence[tuple[str, int]] | None,
) -> tuple[StoredFulfillmentOrder, bool]:
    """One package of a fulfillment order: its units leave on_hand exactly once.

    Idempotent per tracking number: a package already confirmed answers the fulfillment order as it
    is now with ``True`` and changes nothing. The fulfillment order becomes PARTIALLY_SHIPPED while
    units are left, SHIPPED when none are. A tracking message (this package's lines) and quantity
    updates go to the outbox in the same transaction.
    """
    if shipped_at.tzinfo is None:
        raise ValueError("shipped_at must be timezone-aware")
    now = store._clock()

    def work(conn: Connection) -> tuple[StoredFulfillmentOrder, bool]:
        owner, _ = _fo_state(conn, fid)
        order_state = _lock_order(store, conn, owner)
        _, state = _fo_state(conn, fid)  # again, under the order's lock
        sh = t.shipments.c
        seen = conn.execute(
            sa.select(sh.shipment_id).where(
                sh.fulfillment_order_id == fid, sh.tracking_number == tracking_number
            )
        ).first()
        if seen is not None:
            return _one(store, conn, fid), True
        if state in (FulfillmentState.SHIPPED, FulfillmentState.DELIVERED):
            raise InvalidStateError(
                f"fulfillment order {fid} is {state.value} with another tracking number",
                state.value,
            )
        if state not in LIVE_FULFILLMENT_STATES:
            raise InvalidStateError(
                f"fulfillment order {fid} is {state.value}: it cannot ship", state.value
            )
        rows = conn.execute(
            sa.select(
                _a.position,
                _a.line_id,
                _a.sku,
                _a.quantity,
                _a.shipped,
                _a.warehouse_id,
                _a.channel,
            )
            .where(_a.fulfillment_order_id == fid)
            .order_by(_a.position)
        ).all()
        take = _take(rows, lines)
        if not take:
            raise InvalidStateError(
                f"fulfillment order {fid} has nothing left to ship", state.value
            )
        by_position = {int(r.position): r for r in rows}
        left_after = sum(int(r.quantity) - int(r.shipped) for r in rows) - sum(take.values())
        target = FulfillmentState.SHIPPED if left_after == 0 else FulfillmentState.PARTIALLY_SHIPPED
        transition(f"fulfillment order {fid}", state, target)
        moved = [
            (by_position[p].warehouse_id, by_position[p].sku, by_position[p].channel, n)
            for p, n in sorted(take.items())
        ]
        store._lock_stock_cells(conn, ((w, s) for w, s, _, _ in moved))
        store._release(conn, moved, ship=True)
        conn.execute(
            t.allocations.update()
            .where(_a.fulfillment_order_id == fid, _a.position == sa.bindparam("b_p"))
            .values(shipped=_a.shipped + sa.bindparam("b_n")),
            [{"b_p": p, "b_n": n} for p, n in sorted(take.items())],
        )
        conn.execute(
            t.fulfillment_orders.update()
            .where(_fo.fulfillment_order_id == fid)
            .values(state=target.value, updated_at=now)
        )
        shipment_id = conn.execute(
            t.shipments.insert().returning(sh.shipment_id),
            {
                "fulfillment_order_id": fid,
                "carrier": carrier,
                "tracking_number": tracking_number,
                "shipped_at": shipped_at,
                "created_at": now,
            },
        ).scalar_one()
        package = [
            {"line_id": by_position[p].line_id, "sku": by_position[p].sku, "quantity": n}
            for p, n in sorted(take.items())
        ]
        insert_dicts(
            conn,
            t.shipment_lines,
            [{"shipment_id": shipment_id, "position": i, **ln} for i, ln in enumerate(package)],
        )
        units = sum(take.values())
        _event(
            conn,
            owner,
            fid,
            now,
            target.value,
            f"{units} units shipped with {carrier}"
            + (f"; {left_after} still to ship" if left_after else ""),
        )
        _settle_order_state(conn, owner, order_state, now)
        shipped = _one(store, conn, fid)
        _outbox.enqueue(
            conn,
            shipped.channel,
            "tracking",
            f"{fid}:{tracking_number}",
            {
                "order_id": owner,
                "channel_order_id": shipped.channel_order_id,
                "fulfillment_order_id": fid,
                "carrier": carrier,
                "tracking_number": tracking_number,
                "shipped_at": shipped_at.astimezone(dt.UTC).isoformat(),
                "lines": package,
            },
            now,
        )
        _outbox.enqueue_quantities(conn, {s for _, s, _, _ in moved}, now)
        return shipped, False

    return store._write(work)


def mark_delivered(
    store: Store, fid: str, delivered_at: dt.datetime
) -> tuple[StoredFulfillmentOrder, bool]:
    """SHIPPED -> DELIVERED. A delivered one answers unchanged with ``True``."""
    if delivered_at.tzinfo is None:
        raise ValueError("delivered_at must be timezone-aware")
    now = store._clock()

    def work(conn: Connection) -> tuple[StoredFulfillmentOrder, bool]:
        owner, _ = _fo_state(conn, fid)
        order_state = _lock_order(store, conn, owner)
        _, state = _fo_state(conn, fid)
        if state == FulfillmentState.DELIVERED:
            return _one(store, conn, fid), True
        transition(f"fulfillment order {fid}", state, FulfillmentState.DELIVERED)
        conn.execute(
            t.fulfillment_orders.update()
            .where(_fo.fulfillment_order_id == fid)
            .values(
                state=FulfillmentState.DELIVERED.value, delivered_at=delivered_at, updated_at=now
            )
        )
        _event(conn, owner, fid, now, "DELIVERED", f"delivered at {delivered_at.isoformat()}")
        _settle_order_state(conn, owner, order_state, now)
        return _one(store, conn, fid), False

    return store._write(work)


# --- re-routing


def _reroute_order(
    store: Store,
    conn: Connection,
    order_id: str,
    fids: Sequence[str],
    decide: Decide,
    network: Network,
    now: dt.datetime,
    *,
    reason: str,
    exclude_warehouse: str | None,
) -> RerouteResult:
    """Take the unshipped units of ``fids`` (live, all of ``order_id``) away; route them again."""
    order_state = _lock_order(store, conn, order_id)
    row = conn.execute(
        sa.select(t.orders.c.payload).where(t.orders.c.order_id == order_id)
    ).scalar_one()
    order: Order = order_from_json(row)
    alloc_rows = conn.execute(
        sa.select(
            _a.fulfillment_order_id,
            _a.position,
            _a.line_id,
            _a.sku,
            _a.quantity,
            _a.shipped,
            _a.warehouse_id,
            _a.channel,
        )
        .where(_a.fulfillment_order_id.in_(list(fids)))
        .order_by(_a.fulfillment_order_id, _a.position)
    ).all()
    skus = sorted({r.sku for r in alloc_rows})
    # Lock and load every stock row of these SKUs first (the global lock order), then release.
    stock = store._stock_table(conn, skus, network, lock=True)
    sku_index = {s: i for i, s in enumerate(stock.skus)}
    freed: list[tuple[str, str, str, int]] = []
    remaining: dict[str, int] = defaultdict(int)
    line_sku: dict[str, str] = {}
    for r in alloc_rows:
        n = int(r.quantity) - int(r.shipped)
        if n > 0:
            freed.append((r.warehouse_id, r.sku, r.channel, n))
            remaining[r.line_id] += n
            line_sku[r.line_id] = r.sku
            if r.warehouse_id in network.warehouse_ids:
                i, j = sku_index[r.sku], network.index_of(r.warehouse_id)
                stock.reserved[i, j] -= n
                by_channel = stock.reserved_by_channel.get(r.channel)
                if by_channel is not None:
                    by_channel[i, j] -= n
    store._release(conn, freed, ship=False)
    for fid in fids:
        _, state = _fo_state(conn, fid)
        shipped_any = any(r.shipped > 0 for r in alloc_rows if r.fulfillment_order_id == fid)
        if shipped_any:
            # The part that left stands: the fulfillment order now carries exactly that.
            target = transition(f"fulfillment order {fid}", state, FulfillmentState.SHIPPED)
            conn.execute(
                t.allocations.delete().where(_a.fulfillment_order_id == fid, _a.shipped == 0)
            )
            conn.execute(
                t.allocations.update()
                .where(_a.fulfillment_order_id == fid)
                .values(quantity=_a.shipped)
            )
        else:
            target = transition(f"fulfillment order {fid}", state, FulfillmentState.CANCELLED)
        conn.execute(
            t.fulfillment_orders.update()
            .where(_fo.fulfillment_order_id == fid)
            .values(state=target.value, cancel_reason=reason, updated_at=now)
        )
        _event(conn, order_id, fid, now, "REROUTED", f"{reason}; unshipped lines routed again")

    new_ids: list[str] = []
    unfilled: list[Unfilled] = []
    hold_reason: str | None = None
    if remaining:
        # A cell counted below its reservations has negative availability: show it as none.
        np.maximum(stock.on_hand, stock.reserved, out=stock.on_hand)
        if exclude_warehouse is not None and exclude_warehouse in network.warehouse_ids:
            j = network.index_of(exclude_warehouse)
            stock.on_hand[:, j] = stock.reserved[:, j]  # nothing available there for this decision
        sub_order = dataclasses.replace(
            order,
            lines=tuple(
                OrderLine(ln.line_id, ln.sku, remaining[ln.line_id])
                for ln in order.lines
                if remaining.get(ln.line_id)
            ),
        )
        (decision,) = decide([sub_order], stock)
        next_n = 1 + max(
            (
                int(f.rsplit("-", 1)[1])
                for f in conn.execute(
                    sa.select(_fo.fulfillment_order_id).where(_fo.order_id == order_id)
                ).scalars()
            ),
            default=0,
        )
        fo_rows: list[dict[str, Any]] = []
        alloc_out: list[dict[str, Any]] = []
        delta: dict[tuple[str, str], int] = defaultdict(int)
        channel_delta: dict[tuple[str, str, str], int] = defaultdict(int)
        for k, shipment in enumerate(decision.shipments):
            fid = fulfillment_order_id(order_id, next_n + k)
            new_ids.append(fid)
            fo_rows.append(
                {
                    "fulfillment_order_id": fid,
                    "order_id": order_id,
                    "warehouse_id": shipment.warehouse_id,
                    "state": FulfillmentState.RESERVED.value,
                    "distance_km": float(shipment.distance_km),
                    "ship_by": shipment.ship_by,
                    "deliver_by": shipment.deliver_by,
                    "service_level": int(order.service_level),
                    "created_at": now,
                    "updated_at": now,
                }
            )
            for position, al in enumerate(shipment.lines):
                alloc_out.append(
                    {
                        "fulfillment_order_id": fid,
                        "position": position,
                        "line_id": al.line_id,
                        "sku": al.sku,
                        "quantity": int(al.quantity),
                        "warehouse_id": shipment.warehouse_id,
                        "channel": order.channel,
                    }
                )
                delta[shipment.warehouse_id, al.sku] += int(al.quantity)
                channel_delta[shipment.warehouse_id, al.sku, order.channel] += int(al.quantity)
        if fo_rows:
            insert_dicts(conn, t.fulfillment_orders, fo_rows)
            insert_dicts(conn, t.allocations, alloc_out)
            store._reserve(conn, delta, channel_delta)
            for fid in new_ids:
                _event(conn, order_id, fid, now, "ROUTED", f"re-routed after: {reason}")
        placed: dict[str, int] = defaultdict(int)
        for shipment in decision.shipments:
            for al in shipment.lines:
                placed[al.line_id] += int(al.quantity)
        for line_id, n in remaining.items():
            short = n - placed.get(line_id, 0)
            if short > 0:
                why = decision.hold.reason if decision.hold else "no warehouse can take it"
                unfilled.append(Unfilled(line_id, line_sku[line_id], short, REROUTE_UNFILLED, why))
        if unfilled:
            hold_reason = (
                "after "
                + reason
                + ": "
                + "; ".join(
                    f"line {u.line_id} ({u.sku}) x{u.quantity}: {u.reason}" for u in unfilled
                )
            )
            conn.execute(
                t.orders.update()
                .where(t.orders.c.order_id == order_id)
                .values(hold_code=REROUTE_UNFILLED, hold_reason=hold_reason, updated_at=now)
            )
            _event(conn, order_id, None, now, "HELD", hold_reason)
    _outbox.enqueue_quantities(conn, set(skus), now)
    order_now = _settle_order_state(
        conn,
        order_id,
        order_state,
        now,
        fallback=OrderState.HELD if unfilled else OrderState.BACKORDERED,
    )
    return RerouteResult(
        order_id=order_id,
        from_fulfillment_order_ids=tuple(fids),
        new_fulfillment_order_ids=tuple(new_ids),
        unfilled=tuple(unfilled),
        state=order_now,
        hold_reason=hold_reason,
    )


def cancel_fulfillment_order(
    store: Store, fid: str, reason: str, decide: Decide, network: Network
) -> RerouteResult:
    """The warehouse cannot ship ``fid``: cancel it and route its unshipped lines elsewhere (never
    back to that warehouse). Cancelling a cancelled one again moves nothing."""
    now = store._clock()
    why = f"warehouse cancelled {fid}: {reason or 'no reason given'}"

    def work(conn: Connection) -> RerouteResult:
        owner, state = _fo_state(conn, fid)
        if state == FulfillmentState.CANCELLED:
            order_state = _lock_order(store, conn, owner)
            return RerouteResult(owner, (fid,), (), (), order_state)
        if state not in LIVE_FULFILLMENT_STATES:
            raise InvalidStateError(
                f"fulfillment order {fid} is {state.value}: it cannot be cancelled", state.value
            )
        warehouse = conn.execute(
            sa.select(_fo.warehouse_id).where(_fo.fulfillment_order_id == fid)
        ).scalar_one()
        return _reroute_order(
            store, conn, owner, [fid], decide, network, now, reason=why, exclude_warehouse=warehouse
        )

    return store._write(work)


def reroute_shortfalls(
    store: Store, shortfalls: Sequence[Shortfall], decide: Decide, network: Network
) -> list[RerouteResult]:
    """For each (warehouse, sku) still short, re-route its unreleased fulfillment orders, newest
    first, until the reservations there fit the counted stock. Released ones stay: the warehouse
    already has their pick lists."""
    now = store._clock()

    def work(conn: Connection) -> list[RerouteResult]:
        results: list[RerouteResult] = []
        st = t.stock.c
        for short in sorted(shortfalls, key=lambda s: (s.sku, s.warehouse_id)):
            counts = conn.execute(
                sa.select(st.on_hand, st.reserved).where(
                    st.warehouse_id == short.warehouse_id, st.sku == short.sku
                )
            ).first()
            if counts is None:
                continue
            need = int(counts.reserved) - int(counts.on_hand)
            if need <= 0:
                continue
            candidates = conn.execute(
                sa.select(_fo.fulfillment_order_id, _fo.order_id, sa.func.sum(_a.quantity))
                .join(t.allocations, _a.fulfillment_order_id == _fo.fulfillment_order_id)
                .where(
                    _fo.state == FulfillmentState.RESERVED.value,
                    _a.warehouse_id == short.warehouse_id,
                    _a.sku == short.sku,
                )
                .group_by(_fo.fulfillment_order_id, _fo.order_id, _fo.created_at)
                .order_by(_fo.created_at.desc(), _fo.fulfillment_order_id.desc())
            ).all()
            for fid, order_id, units in candidates:
                if need <= 0:
                    break
                reason = f"sync counted {short.warehouse_id}/{short.sku} below its reservations"
                results.append(
                    _reroute_order(
                        store,
                        conn,
                        order_id,
                        [fid],
                        decide,
                        network,
                        now,
                        reason=reason,
                        exclude_warehouse=None,
                    )
                )
                need -= int(units)
        return results

    return store._write(work)
