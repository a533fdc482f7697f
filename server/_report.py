"""The returns report: figures from the store, as a table, CSV, JSON, a PNG chart, or protobuf.

Definitions (the same for ``sortyard report returns`` and ``ReturnsService/ReturnsReport``), over
returns created in the window [since, until):

* return rate of a SKU = units returned / units shipped in the same window (packages by their
  shipped_at); 0 when nothing shipped;
* reason-code frequency = returns per reason code, and their share of all returns;
* restock percentage = units restocked / units received x 100;
* days to refund = refunded_at - created_at of each refunded return, in days (mean and median).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import statistics
import sys
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

from sortyard.v1 import returns_service_pb2

from server.store import Store

__all__ = ["GROUPINGS", "ReturnsReport", "Row", "add_subparser", "compute", "render", "to_proto"]

GROUPINGS = {
    returns_service_pb2.REPORT_GROUPING_UNSPECIFIED: "sku",
    returns_service_pb2.REPORT_GROUPING_SKU: "sku",
    returns_service_pb2.REPORT_GROUPING_REASON: "reason",
    returns_service_pb2.REPORT_GROUPING_WAREHOUSE: "warehouse",
}
_GROUPING_ENUM = {
    "sku": returns_service_pb2.REPORT_GROUPING_SKU,
    "reason": returns_service_pb2.REPORT_GROUPING_REASON,
    "warehouse": returns_service_pb2.REPORT_GROUPING_WAREHOUSE,
}
NOT_RECEIVED = "(not received)"
_DAY = 86_400.0


@dataclass
class Row:
    """One group of the report (a SKU, a reason code or a receiving warehouse)."""

    key: str
    returns: int = 0
    units_returned: int = 0
    units_received: int = 0
    units_restocked: int = 0
    units_written_off: int = 0
    units_shipped: int = 0
    return_rate: float = 0.0
    restock_percent: float = 0.0


@dataclass
class ReturnsReport:
    group_by: str
    rows: list[Row]
    return_rates: list[tuple[str, int, int, float]]  # (sku, shipped, returned, rate)
    reasons: list[tuple[str, int, int, float]]  # (reason, returns, units, share)
    units_returned: int = 0
    units_received: int = 0
    units_restocked: int = 0
    units_written_off: int = 0
    restock_percent: float = 0.0
    refunded_returns: int = 0
    mean_days_to_refund: float = 0.0
    median_days_to_refund: float = 0.0
    notes: list[str] = field(default_factory=list)


def _percent(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 0.0


def compute(
    store: Store, *, since: dt.datetime | None, until: dt.datetime, group_by: str = "sku"
) -> ReturnsReport:
    """The report for returns created in [since, until), grouped by sku, reason or warehouse."""
    if group_by not in _GROUPING_ENUM:
        raise ValueError(f"group_by must be one of {sorted(_GROUPING_ENUM)}, got {group_by!r}")
    data = store.returns_report_data(since, until)
    reason_of = {r[0]: r[1] for r in data.returns}
    warehouse_of = {r[0]: r[2] or NOT_RECEIVED for r in data.returns}

    def key_of(return_id: str, sku: str) -> str:
        if group_by == "sku":
            return sku
        if group_by == "reason":
            return reason_of[return_id]
        return warehouse_of[return_id]

    rows: dict[str, Row] = {}
    members: dict[str, set[str]] = defaultdict(set)
    returned_by_sku: dict[str, int] = defaultdict(int)
    for return_id, sku, quantity in data.lines:
        key = key_of(return_id, sku)
        row = rows.setdefault(key, Row(key))
        row.units_returned += quantity
        members[key].add(return_id)
        returned_by_sku[sku] += quantity
    for return_id, sku, quantity, went_back in data.receipts:
        row = rows.setdefault(key_of(return_id, sku), Row(key_of(return_id, sku)))
        row.units_received += quantity
        if went_back:
            row.units_restocked += quantity
        else:
            row.units_written_off += quantity
    for key, row in rows.items():
        row.returns = len(members[key])
        row.restock_percent = _percent(row.units_restocked, row.units_received)
        if group_by == "sku":
            row.units_shipped = data.shipped.get(key, 0)
            row.return_rate = row.units_returned / row.units_shipped if row.units_shipped else 0.0

    rates = [
        (sku, data.shipped.get(sku, 0), n, n / data.shipped[sku] if data.shipped.get(sku) else 0.0)
        for sku, n in sorted(returned_by_sku.items())
    ]
    by_reason: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for _return_id, reason, *_ in data.returns:
        by_reason[reason][0] += 1
    for return_id, _sku, quantity in data.lines:
        by_reason[reason_of[return_id]][1] += quantity
    total_returns = len(data.returns)
    reasons = sorted(
        (
            (reason, n, units, n / total_returns if total_returns else 0.0)
            for reason, (n, units) in by_reason.items()
        ),
        key=lambda r: (-r[1], r[0]),
    )
    days = [
        (refunded - created).total_seconds() / _DAY
        for _, _, _, created, refunded in data.returns
        if refunded is not None
    ]
    received = sum(q for _, _, q, _ in data.receipts)
    restocked = sum(q for _, _, q, back in data.receipts if back)
    notes = [f"{s}: returned but nothing shipped in the window" for s, sh, _, _ in rates if not sh]
    return ReturnsReport(
        group_by=group_by,
        rows=sorted(rows.values(), key=lambda r: (-r.units_returned, r.key)),
        return_rates=rates,
        reasons=reasons,
        units_returned=sum(q for _, _, q in data.lines),
        units_received=received,
        units_restocked=restocked,
        units_written_off=received - restocked,
        restock_percent=_percent(restocked, received),
        refunded_returns=len(days),
        mean_days_to_refund=statistics.fmean(days) if days else 0.0,
        median_days_to_refund=statistics.median(days) if days else 0.0,
        notes=notes,
    )


def to_proto(report: ReturnsReport) -> returns_service_pb2.ReturnsReportResponse:
    return returns_service_pb2.ReturnsReportResponse(
        skus=[
            returns_service_pb2.SkuReturnRate(
                sku=sku, units_shipped=shipped, units_returned=returned, return_rate=rate
            )
            for sku, shipped, returned, rate in report.return_rates
        ],
        reasons=[
            returns_service_pb2.ReasonCount(reason_code=r, returns=n, units=u, share=share)
            for r, n, u, share in report.reasons
        ],
        units_returned=report.units_returned,
        units_received=report.units_received,
        units_restocked=report.units_restocked,
        units_written_off=report.units_written_off,
        restock_percent=report.restock_percent,
        refunded_returns=report.refunded_returns,
        mean_days_to_refund=report.mean_days_to_refund,
        median_days_to_refund=report.median_days_to_refund,
        rows=[returns_service_pb2.ReportRow(**asdict(row)) for row in report.rows],
        group_by=_GROUPING_ENUM[report.group_by],
    )


def from_proto(message: returns_service_pb2.ReturnsReportResponse) -> ReturnsReport:
    return ReturnsReport(
        group_by=GROUPINGS[message.group_by],
        rows=[
            Row(
                key=r.key,
                returns=r.returns,
                units_returned=r.units_returned,
                units_received=r.units_received,
                units_restocked=r.units_restocked,
                units_written_off=r.units_written_off,
                units_shipped=r.units_shipped,
                return_rate=r.return_rate,
                restock_percent=r.restock_percent,
            )
            for r in message.rows
        ],
        return_rates=[
            (s.sku, s.units_shipped, s.units_returned, s.return_rate) for s in message.skus
        ],
        reasons=[(r.reason_code, r.returns, r.units, r.share) for r in message.reasons],
        units_returned=message.units_returned,
        units_received=message.units_received,
        units_restocked=message.units_restocked,
        units_written_off=message.units_written_off,
        restock_percent=message.restock_percent,
        refunded_returns=message.refunded_returns,
        mean_days_to_refund=message.mean_days_to_refund,
        median_days_to_refund=message.median_days_to_refund,
    )


# --- rendering

_COLUMNS = (
    ("returns", "returns"),
    ("units_returned", "returned"),
    ("units_received", "received"),
    ("units_restocked", "restocked"),
    ("units_written_off", "written off"),
    ("restock_percent", "restock %"),
)
_SKU_COLUMNS = (("units_shipped", "shipped"), ("return_rate", "return rate"))


def _columns(group_by: str) -> list[tuple[str, str]]:
    return [*_COLUMNS, *(_SKU_COLUMNS if group_by == "sku" else ())]


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.1f}" if value >= 1 or value == 0 else f"{value:.3f}"
    return str(value)


def render(report: ReturnsReport, fmt: str = "table") -> str:
    """The report as ``table`` (for a person), ``csv`` (one row per group) or ``json``."""
    columns = _columns(report.group_by)
    if fmt == "json":
        return json.dumps(asdict(report), indent=2, sort_keys=True) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([report.group_by, *(name for name, _ in columns)])
        for row in report.rows:
            writer.writerow([row.key, *(getattr(row, name) for name, _ in columns)])
        return out.getvalue()
    if fmt != "table":
        raise ValueError(f"format must be table, csv or json, got {fmt!r}")
    header = [report.group_by, *(title for _, title in columns)]
    body = [[row.key, *(_cell(getattr(row, n)) for n, _ in columns)] for row in report.rows]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body, strict=False)]
    lines = [
        "  ".join(
            h.ljust(w) if i == 0 else h.rjust(w)
            for i, (h, w) in enumerate(zip(header, widths, strict=True))
        )
    ]
    for cells in body:
        lines.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            )
        )
    lines.append("")
    lines.append(
        f"units returned {report.units_returned}, received {report.units_received}, "
        f"restocked {report.units_restocked} ({report.restock_percent:.1f}%), "
        f"written off {report.units_written_off}"
    )
    lines.append(
        f"refunded returns {report.refunded_returns}; days from return to refund: "
        f"mean {report.mean_days_to_refund:.1f}, median {report.median_days_to_refund:.1f}"
    )
    if report.reasons:
        lines.append(
            "reasons: " + ", ".join(f"{r} {n} ({share:.0%})" for r, n, _, share in report.reasons)
        )
    lines.extend(report.notes)
    return "\n".join(lines) + "\n"


def chart(report: ReturnsReport, path: Path) -> None:
    """A PNG: units returned per group (restocked vs written off vs in transit) and the reason-code
    frequency, drawn with matplotlib's Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    keys = [r.key for r in report.rows][:20]
    rows = report.rows[:20]
    restocked = [r.units_restocked for r in rows]
    written = [r.units_written_off for r in rows]
    pending = [r.units_returned - r.units_received for r in rows]
    left.bar(keys, restocked, label="restocked", color="#2a9d8f")
    left.bar(keys, written, bottom=restocked, label="written off", color="#e76f51")
    left.bar(
        keys,
        pending,
        bottom=[a + b for a, b in zip(restocked, written, strict=True)],
        label="not received yet",
        color="#cccccc",
    )
    left.set_title(f"units returned by {report.group_by}")
    left.tick_params(axis="x", rotation=45)
    left.legend()
    reasons = report.reasons[:12]
    right.barh([r[0] for r in reasons][::-1], [r[1] for r in reasons][::-1], color="#264653")
    right.set_title("returns by reason code")
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)
    plt.close(fig)


# --- the CLI: sortyard report returns


def _parse_date(text: str) -> dt.datetime:
    try:
        day = dt.date.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD, got {text!r}") from error
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def add_subparser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Mount ``sortyard report returns``."""
    report = subparsers.add_parser("report", help="reports (returns)")
    kinds = report.add_subparsers(dest="report", metavar="REPORT", required=True)
    p = kinds.add_parser(
        "returns",
        help="return rate per SKU, reason codes, restock %, days to refund",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--since", type=_parse_date, help="first day (YYYY-MM-DD, UTC)")
    p.add_argument("--until", type=_parse_date, help="day after the last (default: now)")
    p.add_argument("--by", choices=sorted(_GROUPING_ENUM), default="sku", help="group rows by")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.add_argument("--chart", metavar="FILE.png", type=Path, help="also draw a PNG chart")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--server", metavar="ADDR", help="ask a running server (host:port)")
    source.add_argument("--db", metavar="URL", help="read a store directly")
    p.set_defaults(handler=_cmd_report_returns)


def _cmd_report_returns(args: argparse.Namespace) -> int:
    until = args.until or dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    if args.since is not None and args.since >= until:
        print("sortyard report returns: --since must be before --until", file=sys.stderr)
        return 2
    if args.server:
        report = _from_server(args.server, args.since, until, args.by)
    else:
        store = Store.open(args.db or "sqlite:///sortyard.db")
        try:
            report = compute(store, since=args.since, until=until, group_by=args.by)
        finally:
            store.close()
    sys.stdout.write(render(report, args.format))
    if args.chart:
        chart(report, args.chart)
        print(f"chart written to {args.chart}", file=sys.stderr)
    return 0


def _from_server(
    address: str, since: dt.datetime | None, until: dt.datetime, group_by: str
) -> ReturnsReport:
    import grpc
    from sortyard.v1 import returns_service_pb2_grpc

    from server._convert import datetime_to_proto

    request = returns_service_pb2.ReturnsReportRequest(
        until=datetime_to_proto(until), group_by=_GROUPING_ENUM[group_by]
    )
    if since is not None:
        request.since.CopyFrom(datetime_to_proto(since))
    with grpc.insecure_channel(address) as channel:
        stub = returns_service_pb2_grpc.ReturnsServiceStub(channel)  # type: ignore[no-untyped-call]  # generated
        response = stub.ReturnsReport(request, timeout=30.0)
    return from_proto(cast(returns_service_pb2.ReturnsReportResponse, response))
