"""The recorded history replay reads: stock levels as Syncs reported them, and routed orders.

``stock_history`` is append-only: :meth:`Store.sync` adds one row per level it applies, with the
time and ``after_event_id``, the newest ``order_events.event_id`` committed when the sync ran. An
order's place in the history is its first event (written in the transaction that routed it), so a
sync belongs after every order whose first event id is at most its ``after_event_id`` and before
every later one: one total order of syncs and orders, exact on SQLite (one writer at a time).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine import RecordedOrder, ReplayEvent, RouteDecision, StockSnapshot
from server.store import _schema as t
from server.store._bulk import insert_dicts
from server.store._codec import decision_from_json, order_from_json

if TYPE_CHECKING:  # _store imports this module (Store.sync records levels through it)
    from server.store._store import Store

__all__ = ["RecordedHistory", "load_history", "record_levels"]


def record_levels(
    conn: Connection, levels: Sequence[tuple[str, str, int]], now: dt.datetime
) -> None:
    """Append the absolute levels a sync applies (inside the sync's own transaction)."""
    if not levels:
        return
    after = conn.execute(sa.select(sa.func.max(t.order_events.c.event_id))).scalar()
    insert_dicts(
        conn,
        t.stock_history,
        [
            {
                "recorded_at": now,
                "after_event_id": int(after or 0),
                "warehouse_id": warehouse_id,
                "sku": sku,
                "on_hand": int(on_hand),
            }
            for warehouse_id, sku, on_hand in levels
        ],
    )


@dataclass(frozen=True)
class RecordedHistory:
    """The window to replay: on-hand counts at its start, then syncs and orders in order."""

    initial: tuple[tuple[str, str, int], ...]  # latest recorded level per cell before `since`
    events: tuple[ReplayEvent, ...]
    order_ids: tuple[str, ...]  # of the RecordedOrder events, in order
    recorded: tuple[RouteDecision, ...]  # the decision stored for each of them


def load_history(store: Store, since: dt.datetime | None = None) -> RecordedHistory:
    """Read the window ``[since, now]`` of the store's history in one read transaction.

    Levels recorded before ``since`` make the initial stock; those after become snapshots in
    place. Orders routed before ``since`` (and their reservations) are not part of the window.
    """
    with store._read() as conn:
        h = t.stock_history.c
        rows = conn.execute(
            sa.select(
                h.history_id, h.recorded_at, h.after_event_id, h.warehouse_id, h.sku, h.on_hand
            ).order_by(h.history_id)
        ).all()
        ev = t.order_events.c
        first_event = (
            sa.select(ev.order_id, sa.func.min(ev.event_id).label("first_event"))
            .group_by(ev.order_id)
            .subquery()
        )
        o = t.orders.c
        query = sa.select(
            o.order_id, o.payload, o.decision, o.created_at, first_event.c.first_event
        ).join(first_event, first_event.c.order_id == o.order_id)
        if since is not None:
            query = query.where(o.created_at >= since)
        orders = conn.execute(query.order_by(first_event.c.first_event, o.order_id)).all()
    initial: dict[tuple[str, str], int] = {}
    later: list[tuple[int, tuple[str, str, int]]] = []  # (after_event_id, level) in history order
    for r in rows:
        if since is not None and r.recorded_at < since:
            initial[r.warehouse_id, r.sku] = int(r.on_hand)
        else:
            later.append((int(r.after_event_id), (r.warehouse_id, r.sku, int(r.on_hand))))
    events: list[ReplayEvent] = []
    cursor = 0

    def flush_until(event_id: int | None) -> None:
        nonlocal cursor
        group: list[tuple[str, str, int]] = []
        while cursor < len(later) and (event_id is None or later[cursor][0] < event_id):
            group.append(later[cursor][1])
            cursor += 1
        if group:
            events.append(StockSnapshot(tuple(group)))

    order_ids: list[str] = []
    recorded: list[RouteDecision] = []
    for routed in orders:
        flush_until(int(routed.first_event))
        events.append(RecordedOrder(order_from_json(routed.payload), routed.created_at))
        order_ids.append(routed.order_id)
        recorded.append(decision_from_json(routed.decision))
    flush_until(None)
    return RecordedHistory(
        initial=tuple(sorted((w, s, n) for (w, s), n in initial.items())),
        events=tuple(events),
        order_ids=tuple(order_ids),
        recorded=tuple(recorded),
    )
