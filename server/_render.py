"""Plain-text rendering of routing answers for people (the CLI and the demo)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from google.protobuf import timestamp_pb2
from sortyard.v1 import routing_service_pb2, types_pb2

__all__ = ["render_explanation", "render_route_response", "render_table"]


def _when(ts: timestamp_pb2.Timestamp, present: bool = True) -> str:
    if not present:
        return "—"
    return ts.ToDatetime(tzinfo=dt.UTC).strftime("%a %Y-%m-%d %H:%M UTC")


def _day(ts: timestamp_pb2.Timestamp, present: bool = True) -> str:
    if not present:
        return "—"
    return ts.ToDatetime(tzinfo=dt.UTC).strftime("%a %m-%d %H:%M")


def render_table(header: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "  ") -> str:
    """A left-aligned text table; numeric-looking columns are right-aligned."""
    columns = list(zip(header, *rows, strict=True)) if rows else [(h,) for h in header]
    widths = [max(len(str(cell)) for cell in column) for column in columns]

    def is_number(cell: str) -> bool:
        return cell == "–" or cell.replace(".", "", 1).replace(",", "").isdigit()

    numeric = [bool(rows) and all(is_number(str(r[i])) for r in rows) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        parts = [
            str(c).rjust(w) if num else str(c).ljust(w)
            for c, w, num in zip(cells, widths, numeric, strict=True)
        ]
        return (indent + "  ".join(parts)).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)])


_VERDICT = {
    types_pb2.CANDIDATE_VERDICT_CHOSEN: "chosen",
    types_pb2.CANDIDATE_VERDICT_RANKED_LOWER: "ranked lower",
    types_pb2.CANDIDATE_VERDICT_EXCLUDED: "excluded",
}


def render_explanation(explanation: types_pb2.Explanation) -> str:
    out = [f"Why: {explanation.summary}" if explanation.summary else "Why:"]
    for line in explanation.lines:
        out.append(f"  line {line.line_id}: {line.quantity} × {line.sku}")
        rows = [
            [
                str(c.rank) if c.rank else "–",
                c.warehouse_id,
                f"{c.distance_km:,.0f}",
                str(c.available),
                _day(c.ship_by, c.HasField("ship_by")),
                _day(c.deliver_by, c.HasField("deliver_by")),
                _VERDICT.get(c.verdict, "?"),
                c.reason,
            ]
            for c in sorted(line.candidates, key=lambda c: (c.rank == 0, c.rank, c.distance_km))
        ]
        out.append(
            render_table(
                ["rank", "warehouse", "km", "avail", "ship by", "deliver by", "verdict", "reason"],
                rows,
                indent="    ",
            )
        )
    for rule in explanation.rules:
        out.append(f"  rule {rule.rule}: {rule.effect}")
    return "\n".join(out)


def render_route_response(
    response: routing_service_pb2.RouteResponse, *, dry_run: bool = False
) -> str:
    status = types_pb2.RouteStatus.Name(response.status)
    head = f"Order {response.channel_order_id or '?'}"
    if response.order_id:
        head += f" ({response.order_id})"
    head += f": {status}"
    tags = []
    if dry_run:
        tags.append("dry run: nothing reserved")
    if response.replayed:
        tags.append("replayed: the stored decision")
    if response.policy_version:
        tags.append(f"policy {response.policy_version}")
    if tags:
        head += "  [" + "; ".join(tags) + "]"
    out = [head]
    if response.hold_code or response.hold_reason:
        out.append(f"  held ({response.hold_code}): {response.hold_reason}")
    for fo in response.fulfillment_orders:
        out.append(
            f"  → {fo.warehouse_id}  {fo.distance_km:,.0f} km  "
            f"ship by {_when(fo.ship_by, fo.HasField('ship_by'))}  "
            f"deliver by {_when(fo.deliver_by, fo.HasField('deliver_by'))}"
            + (f"  [{fo.fulfillment_order_id}]" if fo.fulfillment_order_id else "")
        )
        for line in fo.lines:
            out.append(f"      {line.quantity} × {line.sku} (line {line.line_id})")
    for u in response.unfilled:
        out.append(f"  unfilled: {u.quantity} × {u.sku} (line {u.line_id}) — {u.code}: {u.reason}")
    for v in response.field_violations:
        out.append(f"  invalid {v.field}: {v.description}")
    if response.HasField("explanation"):
        out.append(render_explanation(response.explanation))
    return "\n".join(out)
