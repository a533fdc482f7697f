"""Domain values to JSON-able dicts and rows, and back (order payload, decision, sync result)."""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

import orjson
import sqlalchemy as sa

from engine import (
    Address,
    Allocation,
    Candidate,
    CandidateVerdict,
    CarrierPickup,
    Explanation,
    Hold,
    LineExplanation,
    Order,
    OrderLine,
    PlannedShipment,
    RouteDecision,
    RouteStatus,
    ServiceLevel,
    Unfilled,
    Warehouse,
)
from server.store._types import Shortfall, SyncResult

__all__ = [
    "decision_from_json",
    "decision_json_text",
    "decision_to_json",
    "json_text",
    "order_from_json",
    "order_json_text",
    "order_to_json",
    "pickups_from_json",
    "pickups_to_json",
    "sync_result_from_json",
    "sync_result_to_json",
    "warehouse_from_row",
]

Json = dict[str, Any]


def _dt_out(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _dt_in(value: str | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromisoformat(value)


def _dt_in_required(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


def order_to_json(order: Order) -> Json:
    a = order.ship_to
    return {
        "channel": order.channel,
        "channel_order_id": order.channel_order_id,
        "lines": [[ln.line_id, ln.sku, ln.quantity] for ln in order.lines],
        "ship_to": {
            "postal_code": a.postal_code,
            "country_code": a.country_code,
            "state": a.state,
            "city": a.city,
            "latitude": a.latitude,
            "longitude": a.longitude,
        },
        "service_level": int(order.service_level),
        "purchased_at": _dt_out(order.purchased_at),
        "latest_ship_date": _dt_out(order.latest_ship_date),
        "latest_delivery_date": _dt_out(order.latest_delivery_date),
        "attributes": dict(order.attributes),
    }


def order_from_json(data: Json) -> Order:
    a = data["ship_to"]
    return Order(
        channel=data["channel"],
        channel_order_id=data["channel_order_id"],
        lines=tuple(OrderLine(line_id, sku, int(q)) for line_id, sku, q in data["lines"]),
        ship_to=Address(
            postal_code=a["postal_code"],
            country_code=a["country_code"],
            state=a["state"],
            city=a["city"],
            latitude=a["latitude"],
            longitude=a["longitude"],
        ),
        service_level=ServiceLevel(data["service_level"]),
        purchased_at=_dt_in(data["purchased_at"]),
        latest_ship_date=_dt_in(data["latest_ship_date"]),
        latest_delivery_date=_dt_in(data["latest_delivery_date"]),
        attributes=dict(data["attributes"]),
    )


def _hold_to_json(hold: Hold | None) -> Json | None:
    if hold is None:
        return None
    return {"code": hold.code, "reason": hold.reason, "rule": hold.rule}


def _hold_from_json(data: Json | None) -> Hold | None:
    if data is None:
        return None
    return Hold(code=data["code"], reason=data["reason"], rule=data["rule"])


def _explanation_to_json(e: Explanation | None) -> Json | None:
    if e is None:
        return None
    return {
        "summary": e.summary,
        "lines": [
            {
                "line_id": le.line_id,
                "sku": le.sku,
                "quantity": le.quantity,
                "candidates": [
                    [
                        c.warehouse_id,
                        c.distance_km,
                        c.available,
                        _dt_out(c.ship_by),
                        _dt_out(c.deliver_by),
                        int(c.verdict),
                        c.reason,
                        c.rank,
                    ]
                    for c in le.candidates
                ],
            }
            for le in e.lines
        ],
        "rule_effects": [list(pair) for pair in e.rule_effects],
    }


def _explanation_from_json(data: Json | None) -> Explanation | None:
    if data is None:
        return None
    return Explanation(
        summary=data["summary"],
        lines=tuple(
            LineExplanation(
                line_id=le["line_id"],
                sku=le["sku"],
                quantity=le["quantity"],
                candidates=tuple(
                    Candidate(
                        warehouse_id=c[0],
                        distance_km=c[1],
                        available=c[2],
                        ship_by=_dt_in(c[3]),
                        deliver_by=_dt_in(c[4]),
                        verdict=CandidateVerdict(c[5]),
                        reason=c[6],
                        rank=c[7],
                    )
                    for c in le["candidates"]
                ),
            )
            for le in data["lines"]
        ),
        rule_effects=tuple((rule, effect) for rule, effect in data["rule_effects"]),
    )


def decision_to_json(d: RouteDecision) -> Json:
    return {
        "status": int(d.status),
        "shipments": [
            {
                "warehouse_id": s.warehouse_id,
                "lines": [[a.line_id, a.sku, a.quantity] for a in s.lines],
                "distance_km": s.distance_km,
                "ship_by": _dt_out(s.ship_by),
                "deliver_by": _dt_out(s.deliver_by),
            }
            for s in d.shipments
        ],
        "unfilled": [[u.line_id, u.sku, u.quantity, u.code, u.reason] for u in d.unfilled],
        "hold": _hold_to_json(d.hold),
        "explanation": _explanation_to_json(d.explanation),
        "policy_version": d.policy_version,
        "violations": [list(v) for v in d.violations],
    }


def decision_from_json(data: Json) -> RouteDecision:
    return RouteDecision(
        status=RouteStatus(data["status"]),
        shipments=tuple(
            PlannedShipment(
                warehouse_id=s["warehouse_id"],
                lines=tuple(Allocation(line_id, sku, int(q)) for line_id, sku, q in s["lines"]),
                distance_km=s["distance_km"],
                ship_by=_dt_in_required(s["ship_by"]),
                deliver_by=_dt_in_required(s["deliver_by"]),
            )
            for s in data["shipments"]
        ),
        unfilled=tuple(
            Unfilled(line_id=u[0], sku=u[1], quantity=int(u[2]), code=u[3], reason=u[4])
            for u in data["unfilled"]
        ),
        hold=_hold_from_json(data["hold"]),
        explanation=_explanation_from_json(data["explanation"]),
        policy_version=data["policy_version"],
        violations=tuple((path, text) for path, text in data.get("violations", ())),
    )


def _builtin_number(value: Any) -> int | float:
    """orjson's fallback: float and int subclasses as ``json.dumps`` writes them."""
    if isinstance(value, float):
        return float(value)
    if isinstance(value, int):
        return int(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def json_text(data: Any) -> str:
    """``data`` as JSON text for a JSON column, with orjson (several times faster than the
    standard library on the routing path). For values made of str, numbers (numpy scalars too),
    bool, None, lists, tuples and str-keyed dicts, with finite floats: orjson writes NaN and
    infinity as null, where ``json.dumps`` writes tokens that read back as floats."""
    return orjson.dumps(data, default=_builtin_number, option=orjson.OPT_SERIALIZE_NUMPY).decode()


def decision_json_text(d: RouteDecision) -> str:
    """:func:`decision_to_json` as JSON text that :func:`decision_from_json` reads back equal.

    The standard library takes over when a float might not be finite (explanations carry
    candidate distances of any kind; a shipment's distance is finite in practice but checked),
    because only it round-trips NaN and infinity."""
    data = decision_to_json(d)
    if d.explanation is not None or not all(math.isfinite(s.distance_km) for s in d.shipments):
        return json.dumps(data)
    return json_text(data)


def order_json_text(order: Order) -> str:
    """:func:`order_to_json` as JSON text (the standard library for non-finite coordinates)."""
    data = order_to_json(order)
    a = order.ship_to
    if (a.latitude is not None and not math.isfinite(a.latitude)) or (
        a.longitude is not None and not math.isfinite(a.longitude)
    ):
        return json.dumps(data)
    return json_text(data)


def pickups_to_json(pickups: tuple[CarrierPickup, ...]) -> list[Json]:
    return [
        {
            "cutoff": p.cutoff.isoformat(),
            "service_levels": sorted(int(s) for s in p.service_levels),
            "weekdays": sorted(p.weekdays),
        }
        for p in pickups
    ]


def pickups_from_json(data: list[Json]) -> tuple[CarrierPickup, ...]:
    return tuple(
        CarrierPickup(
            cutoff=dt.time.fromisoformat(p["cutoff"]),
            service_levels=frozenset(ServiceLevel(s) for s in p["service_levels"]),
            weekdays=frozenset(p["weekdays"]),
        )
        for p in data
    )


def warehouse_from_row(r: sa.RowMapping) -> Warehouse:
    return Warehouse(
        warehouse_id=r["warehouse_id"],
        latitude=float(r["latitude"]),
        longitude=float(r["longitude"]),
        name=r["name"],
        postal_code=r["postal_code"],
        country_code=r["country_code"],
        time_zone=r["time_zone"],
        tags=frozenset(r["tags"]),
        handling_days=int(r["handling_days"]),
        daily_capacity=int(r["daily_capacity"]),
        pickups=pickups_from_json(r["pickups"]),
        active=bool(r["active"]),
    )


def sync_result_to_json(result: SyncResult) -> dict[str, Any]:
    return {
        "touched_skus": list(result.touched_skus),
        "shortfalls": [
            [
                s.warehouse_id,
                s.sku,
                s.on_hand,
                s.reserved,
                s.short_by,
                list(s.fulfillment_order_ids),
            ]
            for s in result.shortfalls
        ],
    }


def sync_result_from_json(data: dict[str, Any]) -> SyncResult:
    return SyncResult(
        shortfalls=tuple(
            Shortfall(w, s, on_hand, reserved, short_by, tuple(fos))
            for w, s, on_hand, reserved, short_by, fos in data["shortfalls"]
        ),
        touched_skus=tuple(data["touched_skus"]),
    )
