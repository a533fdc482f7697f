"""Returns (RMAs): create, authorize, receive and inspect, restock or write off, refund.

Each function is one store transaction. Receiving is all-or-nothing: the units that are sellable go
back to ``on_hand`` at the receiving warehouse (a relative upsert, like a sync's), the rest go to
the ``write_offs`` bucket (visible in availability, never sold), a quantity update is queued for
every known channel, and the refund decision of the policy is queued for the order's channel as an
outbox ``refund`` entry whose dedup key is the RMA number -- all in the same commit. A retried
receive finds the return past AUTHORIZED and changes nothing, so a refund goes out exactly once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from rules._refund import RefundVerdict
from server.store import _outbox
from server.store import _schema as t
from server.store._bulk import insert_dicts
from server.store._errors import IdempotencyConflictError, NotFoundError
from server.store._lifecycle import ReturnState, transition
from server.store._types import order_id_for

if TYPE_CHECKING:
    from server.store._store import Store

__all__ = [
    "CONDITIONS",
    "RefundDecider",
    "RefundVerdict",
    "ReportData",
    "ReturnEvent",
    "ReturnLineError",
    "ReturnReceipt",
    "StoredReturn",
    "authorize_return",
    "create_return",
    "get_return",
    "receive_return",
    "report_data",
    "return_id_for",
]

#: Unit conditions a warehouse reports; only "sellable" goes back on hand.
CONDITIONS = (
    "sellable",
    "damaged",
    "defective",
    "customer_damaged",
    "carrier_damaged",
    "wrong_item",
)
SELLABLE = "sellable"

_r = t.returns.c


class ReturnLineError(ValueError):
    """A return or receipt line that does not fit the order (``lines[i].field`` / ``units[i]``)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


#: (reason_code, condition, channel, sku, quantity) -> the policy's refund verdict.
RefundDecider = Callable[[str, str, str, str, int], RefundVerdict]


@dataclass(frozen=True, slots=True)
class ReturnReceipt:
    line_id: str
    sku: str
    condition: str
    quantity: int
    restocked: bool
    refund_percent: int | None


@dataclass(frozen=True, slots=True)
class ReturnEvent:
    at: dt.datetime
    kind: str
    detail: str


@dataclass(frozen=True, slots=True)
class StoredReturn:
    return_id: str
    channel: str
    channel_rma_id: str
    order_id: str
    channel_order_id: str
    reason_code: str
    reason_text: str
    state: ReturnState
    lines: tuple[tuple[str, str, int], ...]  # (line_id, sku, quantity)
    receipts: tuple[ReturnReceipt, ...]
    warehouse_id: str | None
    refund: RefundVerdict | None
    created_at: dt.datetime
    received_at: dt.datetime | None
    refunded_at: dt.datetime | None
    events: tuple[ReturnEvent, ...]


def return_id_for(channel: str, channel_rma_id: str) -> str:
    """Deterministic, like order ids: the same RMA from a retried import maps to the same row."""
    digest = hashlib.sha256(f"{channel}\0{channel_rma_id}".encode()).hexdigest()
    return "rt_" + digest[:20]


def _event(conn: Connection, return_id: str, at: dt.datetime, kind: str, detail: str) -> None:
    conn.execute(
        t.return_events.insert(), {"return_id": return_id, "at": at, "kind": kind, "detail": detail}
    )


def _load(conn: Connection, return_id: str) -> StoredReturn | None:
    row = conn.execute(sa.select(t.returns).where(_r.return_id == return_id)).mappings().first()
    if row is None:
        return None
    channel_order_id = conn.execute(
        sa.select(t.orders.c.channel_order_id).where(t.orders.c.order_id == row["order_id"])
    ).scalar_one()
    rl = t.return_lines.c
    lines = tuple(
        (r.line_id, r.sku, int(r.quantity))
        for r in conn.execute(
            sa.select(rl.line_id, rl.sku, rl.quantity)
            .where(rl.return_id == return_id)
            .order_by(rl.position)
        )
    )
    rc = t.return_receipts.c
    receipts = tuple(
        ReturnReceipt(
            r.line_id, r.sku, r.condition, int(r.quantity), bool(r.restocked), r.refund_percent
        )
        for r in conn.execute(
            sa.select(t.return_receipts).where(rc.return_id == return_id).order_by(rc.position)
        )
    )
    ev = t.return_events.c
    events = tuple(
        ReturnEvent(r.at, r.kind, r.detail)
        for r in conn.execute(
            sa.select(ev.at, ev.kind, ev.detail)
            .where(ev.return_id == return_id)
            .order_by(ev.event_id)
        )
    )
    refund = None
    if row["refund_decision"]:
        refund = RefundVerdict(
            row["refund_decision"], int(row["refund_percent"] or 0), row["refund_rule"] or ""
        )
    return StoredReturn(
        return_id=return_id,
        channel=row["channel"],
        channel_rma_id=row["channel_rma_id"],
        order_id=row["order_id"],
        channel_order_id=channel_order_id,
        reason_code=row["reason_code"],
        reason_text=row["reason_text"],
        state=ReturnState(row["state"]),
        lines=lines,
        receipts=receipts,
        warehouse_id=row["warehouse_id"],
        refund=refund,
        created_at=row["created_at"],
        received_at=row["received_at"],
        refunded_at=row["refunded_at"],
        events=events,
    )


def _must_load(conn: Connection, return_id: str) -> StoredReturn:
    found = _load(conn, return_id)
    if found is None:
        raise NotFoundError(f"return {return_id}")
    return found


def get_return(
    store: Store,
    return_id: str | None = None,
    channel: str | None = None,
    channel_rma_id: str | None = None,
) -> StoredReturn | None:
    """The return by id or by (channel, channel RMA id); None when unknown."""
    rid = return_id or (
        return_id_for(channel, channel_rma_id) if channel and channel_rma_id else ""
    )
    if not rid:
        raise ValueError("give return_id, or channel and channel_rma_id")
    with store._read() as conn:
        return _load(conn, rid)


def create_return(
    store: Store,
    *,
    channel: str,
    channel_rma_id: str,
    order_id: str | None,
    channel_order_id: str | None,
    lines: Sequence[tuple[str, str, int]],
    reason_code: str,
    reason_text: str = "",
    requested_at: dt.datetime | None = None,
    authorize: bool = False,
) -> tuple[StoredReturn, bool]:
    """A new RMA for shipped units of an order; ``lines`` are (line_id, sku or "", quantity).

    Idempotent by (channel, channel_rma_id): the same request again answers ``(stored, True)``; a
    different request under the same RMA raises :class:`IdempotencyConflictError`. A line that is
    not in the order, or more units than shipped and not yet returned, raises
    :class:`ReturnLineError`.
    """
    oid = order_id or order_id_for(channel, channel_order_id or "")
    rid = return_id_for(channel, channel_rma_id)
    request_hash = hashlib.sha256(
        json.dumps([oid, sorted(map(list, lines)), reason_code, reason_text]).encode()
    ).hexdigest()
    now = store._clock()
    created = requested_at or now

    def work(conn: Connection) -> tuple[StoredReturn, bool]:
        prior = conn.execute(sa.select(_r.request_hash).where(_r.return_id == rid)).first()
        if prior is not None:
            if prior.request_hash != request_hash:
                raise IdempotencyConflictError(f"{channel}/{channel_rma_id}")
            return _must_load(conn, rid), True
        order = store._lock_order(conn, oid)
        if order is None:
            raise NotFoundError(f"order {oid}")
        ol = t.order_lines.c
        order_lines = {
            r.line_id: r.sku
            for r in conn.execute(sa.select(ol.line_id, ol.sku).where(ol.order_id == oid))
        }
        shipped = _shipped_units(conn, oid)
        returned = _returned_units(conn, oid)
        rows = []
        asked: dict[str, int] = defaultdict(int)
        for i, (line_id, sku, quantity) in enumerate(lines):
            if line_id not in order_lines:
                raise ReturnLineError(f"lines[{i}].line_id", f"{line_id!r} is not a line of {oid}")
            if sku and sku != order_lines[line_id]:
                raise ReturnLineError(
                    f"lines[{i}].sku", f"line {line_id!r} is {order_lines[line_id]!r}, not {sku!r}"
                )
            if quantity <= 0:
                raise ReturnLineError(f"lines[{i}].quantity", f"must be > 0, got {quantity}")
            asked[line_id] += quantity
            can = shipped.get(line_id, 0) - returned.get(line_id, 0)
            if asked[line_id] > can:
                raise ReturnLineError(
                    f"lines[{i}].quantity",
                    f"{asked[line_id]} units exceed the {can} shipped and not yet returned",
                )
            rows.append(
                {
                    "return_id": rid,
                    "position": i,
                    "line_id": line_id,
                    "sku": order_lines[line_id],
                    "quantity": quantity,
                }
            )
        state = ReturnState.AUTHORIZED if authorize else ReturnState.REQUESTED
        conn.execute(
            t.returns.insert(),
            {
                "return_id": rid,
                "channel": channel,
                "channel_rma_id": channel_rma_id,
                "order_id": oid,
                "reason_code": reason_code,
                "reason_text": reason_text,
                "state": state.value,
                "request_hash": request_hash,
                "warehouse_id": None,
                "refund_decision": None,
                "refund_percent": None,
                "refund_rule": None,
                "created_at": created,
                "received_at": None,
                "refunded_at": None,
                "updated_at": now,
            },
        )
        insert_dicts(conn, t.return_lines, rows)
        units = sum(q for _, _, q in lines)
        _event(conn, rid, created, "REQUESTED", f"{units} units, reason {reason_code}")
        if authorize:
            _event(conn, rid, now, "AUTHORIZED", "authorized on creation")
        conn.execute(
            t.order_events.insert(),
            {
                "order_id": oid,
                "fulfillment_order_id": None,
                "at": now,
                "kind": "RETURN_REQUESTED",
                "detail": f"RMA {channel_rma_id}: {units} units, reason {reason_code}",
            },
        )
        return _must_load(conn, rid), False

    return store._write(work)


def _shipped_units(conn: Connection, order_id: str) -> dict[str, int]:
    sl, sh, fo = t.shipment_lines.c, t.shipments.c, t.fulfillment_orders.c
    return {
        line_id: int(n)
        for line_id, n in conn.execute(
            sa.select(sl.line_id, sa.func.sum(sl.quantity))
            .join(t.shipments, sh.shipment_id == sl.shipment_id)
            .join(t.fulfillment_orders, fo.fulfillment_order_id == sh.fulfillment_order_id)
            .where(fo.order_id == order_id)
            .group_by(sl.line_id)
        )
    }


def _returned_units(conn: Connection, order_id: str) -> dict[str, int]:
    rl = t.return_lines.c
    return {
        line_id: int(n)
        for line_id, n in conn.execute(
            sa.select(rl.line_id, sa.func.sum(rl.quantity))
            .join(t.returns, _r.return_id == rl.return_id)
            .where(_r.order_id == order_id)
            .group_by(rl.line_id)
        )
    }


def authorize_return(store: Store, return_id: str) -> StoredReturn:
    """REQUESTED -> AUTHORIZED; an authorized one answers unchanged."""
    now = store._clock()

    def work(conn: Connection) -> StoredReturn:
        current = _lock_return(conn, return_id)
        if current == ReturnState.AUTHORIZED:
            return _must_load(conn, return_id)
        transition(f"return {return_id}", current, ReturnState.AUTHORIZED)
        _set_state(conn, return_id, ReturnState.AUTHORIZED, now)
        _event(conn, return_id, now, "AUTHORIZED", "return authorized")
        return _must_load(conn, return_id)

    return store._write(work)


def _lock_return(conn: Connection, return_id: str) -> ReturnState:
    state = conn.execute(
        sa.select(_r.state).where(_r.return_id == return_id).with_for_update()
    ).scalar_one_or_none()
    if state is None:
        raise NotFoundError(f"return {return_id}")
    return ReturnState(state)


def _set_state(conn: Connection, return_id: str, state: ReturnState, now: dt.datetime) -> None:
    conn.execute(
        t.returns.update()
        .where(_r.return_id == return_id)
        .values(state=state.value, updated_at=now)
    )


def receive_return(
    store: Store,
    return_id: str,
    warehouse_id: str,
    units: Sequence[tuple[str, int, str]],
    decide_refund: RefundDecider,
) -> tuple[StoredReturn, bool]:
    """Receive and inspect the units ``(line_id, quantity, condition)`` at ``warehouse_id``.

    AUTHORIZED -> RECEIVED -> INSPECTED -> RESTOCKED (some units sellable) or WRITTEN_OFF (none),
    then REFUNDED when the policy's verdict is a percentage (queued to the channel once, dedup key
    = the RMA). A return already past AUTHORIZED answers ``(stored, True)`` and changes nothing; a
    REQUESTED one raises :class:`InvalidStateError` (authorize first).
    """
    now = store._clock()

    def work(conn: Connection) -> tuple[StoredReturn, bool]:
        current = _lock_return(conn, return_id)
        if current not in (ReturnState.REQUESTED, ReturnState.AUTHORIZED):
            return _must_load(conn, return_id), True
        transition(f"return {return_id}", current, ReturnState.RECEIVED)
        known = conn.execute(
            sa.select(t.warehouses.c.warehouse_id).where(
                t.warehouses.c.warehouse_id == warehouse_id
            )
        ).first()
        if known is None:
            raise ReturnLineError("warehouse_id", f"unknown warehouse {warehouse_id!r}")
        stored = _must_load(conn, return_id)
        expected: dict[str, int] = defaultdict(int)
        sku_of: dict[str, str] = {}
        for line_id, sku, quantity in stored.lines:
            expected[line_id] += quantity
            sku_of[line_id] = sku
        got: dict[str, int] = defaultdict(int)
        for i, (line_id, quantity, condition) in enumerate(units):
            if line_id not in expected:
                raise ReturnLineError(f"units[{i}].line_id", f"{line_id!r} is not in this return")
            if quantity <= 0:
                raise ReturnLineError(f"units[{i}].quantity", f"must be > 0, got {quantity}")
            if condition not in CONDITIONS:
                raise ReturnLineError(
                    f"units[{i}].condition", f"{condition!r} is not one of {', '.join(CONDITIONS)}"
                )
            got[line_id] += quantity
            if got[line_id] > expected[line_id]:
                raise ReturnLineError(
                    f"units[{i}].quantity",
                    f"{got[line_id]} units of line {line_id!r} exceed the {expected[line_id]}"
                    " returned",
                )
        if not units:
            raise ReturnLineError("units", "report the condition of at least one unit")
        verdicts = [
            decide_refund(stored.reason_code, condition, stored.channel, sku_of[line_id], quantity)
            for line_id, quantity, condition in units
        ]
        restock: dict[str, int] = defaultdict(int)
        receipts = []
        write_offs = []
        for i, ((line_id, quantity, condition), verdict) in enumerate(
            zip(units, verdicts, strict=True)
        ):
            sku = sku_of[line_id]
            sellable = condition == SELLABLE
            if sellable:
                restock[sku] += quantity
            else:
                write_offs.append(
                    {
                        "warehouse_id": warehouse_id,
                        "sku": sku,
                        "quantity": quantity,
                        "condition": condition,
                        "return_id": return_id,
                        "at": now,
                    }
                )
            receipts.append(
                {
                    "return_id": return_id,
                    "position": i,
                    "line_id": line_id,
                    "sku": sku,
                    "condition": condition,
                    "quantity": quantity,
                    "warehouse_id": warehouse_id,
                    "restocked": sellable,
                    "refund_percent": verdict.percent if verdict.kind == "percent" else None,
                }
            )
        if restock:
            store._lock_stock_cells(conn, ((warehouse_id, sku) for sku in restock))
            ins = store._insert(t.stock)
            conn.execute(
                ins.on_conflict_do_update(
                    index_elements=["warehouse_id", "sku"],
                    set_={"on_hand": t.stock.c.on_hand + ins.excluded.on_hand},
                ),
                [
                    {"warehouse_id": warehouse_id, "sku": sku, "on_hand": n, "reserved": 0}
                    for sku, n in sorted(restock.items())
                ],
            )
        insert_dicts(conn, t.return_receipts, receipts)
        insert_dicts(conn, t.write_offs, write_offs)
        _outbox.enqueue_quantities(conn, set(restock), now)

        received = sum(q for _, q, _ in units)
        restocked = sum(restock.values())
        _event(conn, return_id, now, "RECEIVED", f"{received} units at {warehouse_id}")
        transition(f"return {return_id}", ReturnState.RECEIVED, ReturnState.INSPECTED)
        by_condition: dict[str, int] = defaultdict(int)
        for _, q, c in units:
            by_condition[c] += q
        _event(
            conn,
            return_id,
            now,
            "INSPECTED",
            ", ".join(f"{n} {c}" for c, n in sorted(by_condition.items())),
        )
        outcome = ReturnState.RESTOCKED if restocked else ReturnState.WRITTEN_OFF
        transition(f"return {return_id}", ReturnState.INSPECTED, outcome)
        _event(
            conn,
            return_id,
            now,
            outcome.value,
            f"{restocked} units back on hand, {received - restocked} written off",
        )
        verdict = _combine(verdicts, [q for _, q, _ in units])
        values: dict[str, object] = {
            "warehouse_id": warehouse_id,
            "received_at": now,
            "refund_decision": verdict.kind,
            "refund_percent": verdict.percent,
            "refund_rule": verdict.rule,
        }
        state = outcome
        if verdict.kind == "percent":
            state = transition(f"return {return_id}", outcome, ReturnState.REFUNDED)
            values["refunded_at"] = now
            _queue_refund(conn, stored, units, verdicts, sku_of, now)
            _event(conn, return_id, now, "REFUNDED", f"refund requested ({verdict.rule})")
        else:
            _event(conn, return_id, now, "REFUND_" + verdict.kind.upper(), f"by {verdict.rule}")
        conn.execute(
            t.returns.update()
            .where(_r.return_id == return_id)
            .values(state=state.value, updated_at=now, **values)
        )
        return _must_load(conn, return_id), False

    return store._write(work)


def _combine(verdicts: Sequence[RefundVerdict], quantities: Sequence[int]) -> RefundVerdict:
    """One verdict for the return: manual review if any unit needs it; none if no unit is
    refunded; else the unit-weighted percentage (rounded), naming the rules that decided."""
    rules = ", ".join(sorted({v.rule for v in verdicts}))
    if any(v.kind == "manual_review" for v in verdicts):
        return RefundVerdict("manual_review", 0, rules)
    paid = [(v, q) for v, q in zip(verdicts, quantities, strict=True) if v.kind == "percent"]
    if not paid or all(v.percent == 0 for v, _ in paid):
        return RefundVerdict("none", 0, rules)
    total = sum(quantities)
    percent = round(sum(v.percent * q for v, q in paid) / total)
    return RefundVerdict("percent", percent, rules)


def _queue_refund(
    conn: Connection,
    stored: StoredReturn,
    units: Sequence[tuple[str, int, str]],
    verdicts: Sequence[RefundVerdict],
    sku_of: dict[str, str],
    now: dt.datetime,
) -> None:
    """The refund request to the channel, once per RMA (dedup key = the channel's RMA id)."""
    o = t.outbox.c
    already = conn.execute(
        sa.select(o.outbox_id).where(
            o.channel == stored.channel, o.kind == "refund", o.dedup_key == stored.channel_rma_id
        )
    ).first()
    if already is not None:
        return
    _outbox.enqueue(
        conn,
        stored.channel,
        "refund",
        stored.channel_rma_id,
        {
            "return_id": stored.return_id,
            "rma_id": stored.channel_rma_id,
            "order_id": stored.order_id,
            "channel_order_id": stored.channel_order_id,
            "reason_code": stored.reason_code,
            "lines": [
                {
                    "line_id": line_id,
                    "sku": sku_of[line_id],
                    "quantity": quantity,
                    "condition": condition,
                    "percent": verdict.percent,
                    "rule": verdict.rule,
                }
                for (line_id, quantity, condition), verdict in zip(units, verdicts, strict=True)
                if verdict.kind == "percent" and verdict.percent > 0
            ],
        },
        now,
    )


@dataclass(frozen=True, slots=True)
class ReportData:
    """The raw facts of a returns report window (``_report`` turns them into figures)."""

    # (return_id, reason_code, receiving warehouse or None, created_at, refunded_at or None)
    returns: tuple[tuple[str, str, str | None, dt.datetime, dt.datetime | None], ...]
    lines: tuple[tuple[str, str, int], ...]  # (return_id, sku, quantity)
    receipts: tuple[tuple[str, str, int, bool], ...]  # (return_id, sku, quantity, restocked)
    shipped: dict[str, int]  # units shipped per SKU in the window


def report_data(store: Store, since: dt.datetime | None, until: dt.datetime) -> ReportData:
    """Returns created in [since, until) with their lines and receipts, and the units shipped per
    SKU in the same window (packages by their shipped_at)."""
    window = _r.created_at < until
    if since is not None:
        window = sa.and_(window, _r.created_at >= since)
    sh, sl = t.shipments.c, t.shipment_lines.c
    shipped_window = sh.shipped_at < until
    if since is not None:
        shipped_window = sa.and_(shipped_window, sh.shipped_at >= since)
    with store._read() as conn:
        returns = tuple(
            (r.return_id, r.reason_code, r.warehouse_id, r.created_at, r.refunded_at)
            for r in conn.execute(
                sa.select(
                    _r.return_id, _r.reason_code, _r.warehouse_id, _r.created_at, _r.refunded_at
                )
                .where(window)
                .order_by(_r.created_at, _r.return_id)
            )
        )
        ids = [r[0] for r in returns]
        lines: list[tuple[str, str, int]] = []
        receipts: list[tuple[str, str, int, bool]] = []
        rl, rc = t.return_lines.c, t.return_receipts.c
        for start in range(0, len(ids), 2_000):
            chunk = ids[start : start + 2_000]
            lines.extend(
                (r.return_id, r.sku, int(r.quantity))
                for r in conn.execute(
                    sa.select(rl.return_id, rl.sku, rl.quantity).where(rl.return_id.in_(chunk))
                )
            )
            receipts.extend(
                (r.return_id, r.sku, int(r.quantity), bool(r.restocked))
                for r in conn.execute(
                    sa.select(rc.return_id, rc.sku, rc.quantity, rc.restocked).where(
                        rc.return_id.in_(chunk)
                    )
                )
            )
        shipped = {
            sku: int(n)
            for sku, n in conn.execute(
                sa.select(sl.sku, sa.func.sum(sl.quantity))
                .join(t.shipments, sh.shipment_id == sl.shipment_id)
                .where(shipped_window)
                .group_by(sl.sku)
            )
        }
    return ReportData(returns, tuple(lines), tuple(receipts), shipped)
