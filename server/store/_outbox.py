"""The transactional outbox: messages to channels, committed with the change that causes them.

Each function runs inside the caller's transaction, so a shipment and its tracking message (or a
stock change and its quantity messages) commit together or not at all. An adapter *pulls* entries,
which leases them (``leased_until``) so two adapters never send the same entry at once; it then
acks them, or nacks them with a retry delay.

Quantity entries only name (channel, sku): the server computes the quantity when the entry is
pulled, so the value sent is always the newest. They therefore coalesce: at most one entry per
(channel, sku) waits, a change while one is in flight queues exactly one more, and a pull never
hands out a SKU that is still in flight (an older absolute quantity must not land after a newer
one).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from server.store import _schema as t
from server.store._bulk import insert_dicts
from server.store._types import OutboxEntry

if TYPE_CHECKING:
    from server.store._store import Store

__all__ = [
    "KINDS",
    "ack",
    "enqueue",
    "enqueue_quantities",
    "nack",
    "prune",
    "pull",
    "register_channel",
    "request_resync",
    "resync_channel",
]

KINDS = frozenset({"tracking", "quantity", "refund"})
QUANTITY = "quantity"
_IN_CHUNK = 2_000
_o = t.outbox.c


def _pending(now: dt.datetime) -> sa.ColumnElement[bool]:
    """Not acked and not in flight (it may still be waiting out a retry delay)."""
    return sa.and_(_o.acked_at.is_(None), sa.or_(_o.leased_until.is_(None), _o.leased_until <= now))


def enqueue(
    conn: Connection,
    channel: str,
    kind: str,
    dedup_key: str,
    payload: dict[str, Any],
    now: dt.datetime,
) -> None:
    """Queue one message (tracking, refund). ``dedup_key`` lets the receiver recognise a resend."""
    if kind not in KINDS:
        raise ValueError(f"unknown outbox kind {kind!r}; expected one of {sorted(KINDS)}")
    conn.execute(
        t.outbox.insert(),
        {
            "channel": channel,
            "kind": kind,
            "dedup_key": dedup_key,
            "payload": payload,
            "created_at": now,
            "available_at": now,
            "leased_until": None,
            "attempts": 0,
            "acked_at": None,
            "last_error": None,
        },
    )


def enqueue_quantities(conn: Connection, skus: Iterable[str], now: dt.datetime) -> None:
    """Queue a quantity update of each SKU for every known channel, unless one already waits."""
    wanted = sorted(set(skus))
    if not wanted:
        return
    channels = sorted(conn.execute(sa.select(t.channels.c.channel)).scalars())
    if not channels:
        return
    waiting: set[tuple[str, str]] = set()
    for start in range(0, len(wanted), _IN_CHUNK):
        chunk = wanted[start : start + _IN_CHUNK]
        # Each (channel, kind, dedup_key) probe is an index lookup (ix_outbox_dedup).
        waiting.update(
            (channel, sku)
            for channel, sku in conn.execute(
                sa.select(_o.channel, _o.dedup_key).where(
                    _o.channel.in_(channels),
                    _o.kind == QUANTITY,
                    _o.dedup_key.in_(chunk),
                    _pending(now),
                )
            )
        )
    rows = [
        {
            "channel": channel,
            "kind": QUANTITY,
            "dedup_key": sku,
            "payload": {"sku": sku},
            "created_at": now,
            "available_at": now,
            "leased_until": None,
            "attempts": 0,
            "acked_at": None,
            "last_error": None,
        }
        for channel in channels
        for sku in wanted
        if (channel, sku) not in waiting
    ]
    insert_dicts(conn, t.outbox, rows)


def pull(
    conn: Connection,
    channel: str,
    kinds: Sequence[str],
    limit: int,
    lease_seconds: float,
    now: dt.datetime,
) -> list[OutboxEntry]:
    """Lease up to ``limit`` due entries of ``channel``, oldest first.

    On PostgreSQL candidate rows are claimed with ``FOR UPDATE SKIP LOCKED`` so concurrent pullers
    take different entries instead of queueing; on SQLite the write lock serialises pullers.
    Waiting quantity entries of the same SKU collapse into the newest (the others are acked as
    superseded), and a SKU whose quantity is still in flight is held back.
    """
    unknown = sorted(set(kinds) - KINDS)
    if unknown:
        raise ValueError(f"unknown outbox kinds {unknown}; expected some of {sorted(KINDS)}")
    if limit <= 0 or not kinds:
        return []
    in_flight = set(
        conn.execute(
            sa.select(_o.dedup_key).where(
                _o.channel == channel,
                _o.kind == QUANTITY,
                _o.acked_at.is_(None),
                _o.leased_until > now,
            )
        ).scalars()
    )
    query = (
        sa.select(t.outbox)
        .where(
            _o.channel == channel,
            _o.kind.in_(sorted(set(kinds))),
            _o.available_at <= now,
            _pending(now),
        )
        .order_by(_o.outbox_id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = conn.execute(query).mappings().all()
    newest_quantity: dict[str, int] = {}
    for row in rows:
        if row["kind"] == QUANTITY and row["dedup_key"] not in in_flight:
            newest_quantity[row["dedup_key"]] = row["outbox_id"]  # ascending ids: last wins
    chosen = [
        r
        for r in rows
        if r["kind"] != QUANTITY or newest_quantity.get(r["dedup_key"]) == r["outbox_id"]
    ]
    superseded = [
        r["outbox_id"]
        for r in rows
        if r["kind"] == QUANTITY
        and r["dedup_key"] not in in_flight
        and newest_quantity[r["dedup_key"]] != r["outbox_id"]
    ]
    if superseded:
        conn.execute(
            t.outbox.update()
            .where(_o.outbox_id.in_(superseded))
            .values(acked_at=now, last_error="superseded by a newer quantity update")
        )
    if not chosen:
        return []
    lease_end = now + dt.timedelta(seconds=lease_seconds)
    conn.execute(
        t.outbox.update()
        .where(_o.outbox_id.in_([r["outbox_id"] for r in chosen]))
        .values(leased_until=lease_end, attempts=_o.attempts + 1)
    )
    return [
        OutboxEntry(
            outbox_id=int(r["outbox_id"]),
            channel=r["channel"],
            kind=r["kind"],
            dedup_key=r["dedup_key"],
            payload=dict(r["payload"]),
            created_at=r["created_at"],
            attempts=int(r["attempts"]) + 1,
            last_error=r["last_error"],
        )
        for r in chosen
    ]


def ack(conn: Connection, ids: Sequence[int], now: dt.datetime) -> int:
    """Mark entries delivered; returns how many were newly acked (acking twice is harmless)."""
    if not ids:
        return 0
    result = conn.execute(
        t.outbox.update()
        .where(_o.outbox_id.in_(sorted(set(ids))), _o.acked_at.is_(None))
        .values(acked_at=now, leased_until=None)
    )
    return int(result.rowcount)


def nack(
    conn: Connection, outbox_id: int, error: str, retry_after: float, now: dt.datetime
) -> bool:
    """Give an entry back with the error; it is due again after ``retry_after`` seconds.
    False when the entry does not exist or was already acked."""
    result = conn.execute(
        t.outbox.update()
        .where(_o.outbox_id == outbox_id, _o.acked_at.is_(None))
        .values(
            leased_until=None,
            available_at=now + dt.timedelta(seconds=max(0.0, retry_after)),
            last_error=error,
        )
    )
    return bool(result.rowcount)


def prune(conn: Connection, acked_before: dt.datetime) -> int:
    """Delete entries acked before ``acked_before``; returns how many."""
    result = conn.execute(
        t.outbox.delete().where(_o.acked_at.is_not(None), _o.acked_at < acked_before)
    )
    return int(result.rowcount)


def register_channel(conn: Connection, channel: str, now: dt.datetime) -> bool:
    """Mark ``channel`` registered (an adapter pulls for it); True when it was not registered
    before (unknown, or only seen on a routed order)."""
    c = t.channels.c
    registered = conn.execute(
        sa.select(c.registered).where(c.channel == channel).with_for_update()
    ).first()
    if registered is None:
        conn.execute(
            t.channels.insert(), {"channel": channel, "registered": True, "created_at": now}
        )
        return True
    if registered[0]:
        return False
    conn.execute(t.channels.update().where(c.channel == channel).values(registered=True))
    return True


def resync_channel(conn: Connection, channel: str, now: dt.datetime) -> tuple[int, int]:
    """Queue a quantity update for ``channel`` of every SKU stocked at an active warehouse (what
    the channel sells), unless one already waits; returns (queued, SKUs covered).

    Quantity entries otherwise appear only when a SKU's stock changes, so without this a channel
    that becomes known later never hears of the SKUs nobody touched since."""
    st, wh = t.stock.c, t.warehouses.c
    skus = sorted(
        conn.execute(
            sa.select(st.sku)
            .distinct()
            .join(t.warehouses, wh.warehouse_id == st.warehouse_id)
            .where(wh.active.is_(True))
        ).scalars()
    )
    waiting: set[str] = set()
    for start in range(0, len(skus), _IN_CHUNK):
        chunk = skus[start : start + _IN_CHUNK]
        waiting.update(
            conn.execute(
                sa.select(_o.dedup_key).where(
                    _o.channel == channel,
                    _o.kind == QUANTITY,
                    _o.dedup_key.in_(chunk),
                    _pending(now),
                )
            ).scalars()
        )
    rows = [
        {
            "channel": channel,
            "kind": QUANTITY,
            "dedup_key": sku,
            "payload": {"sku": sku},
            "created_at": now,
            "available_at": now,
            "leased_until": None,
            "attempts": 0,
            "acked_at": None,
            "last_error": None,
        }
        for sku in skus
        if sku not in waiting
    ]
    insert_dicts(conn, t.outbox, rows)
    return len(rows), len(skus)


def request_resync(store: Store, channel: str, *, only_if_new: bool = False) -> tuple[int, int]:
    """Register ``channel`` and queue every stocked SKU's quantity for it, in one transaction.

    With ``only_if_new`` the quantities are queued only when this registers the channel for the
    first time (its first pull): a restarted server does not resend everything."""
    now = store._clock()

    def work(conn: Connection) -> tuple[int, int]:
        new = register_channel(conn, channel, now)
        if only_if_new and not new:
            return 0, 0
        return resync_channel(conn, channel, now)

    return store._write(work)
