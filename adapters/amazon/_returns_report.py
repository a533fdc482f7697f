"""Amazon's flat-file returns report (GET_FLAT_FILE_RETURNS_DATA_BY_RETURN_DATE) as returns.

The report is tab-separated with a header row, one row per returned item; rows that share an
Amazon RMA ID are the lines of one return. Column names follow Amazon's "Returns reports
attributes" page; matching is case-insensitive because Amazon's own capitalisation varies
("A-to-z claim" / "A-to-Z claim"). Reason codes (CR-DEFECTIVE, AMZ-PG-BAD-DESC, ...) are kept
exactly as Amazon wrote them.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = [
    "RETURNS_REPORT_TYPE",
    "AmazonReturn",
    "ReturnsReportError",
    "parse_returns_report",
]

RETURNS_REPORT_TYPE = "GET_FLAT_FILE_RETURNS_DATA_BY_RETURN_DATE"

_REQUIRED = ("order id", "amazon rma id", "merchant sku", "return quantity", "return reason")
# Statuses under which the buyer may send the item back. Anything else that is not pending
# approval (rejected, for example) creates no return.
_AUTHORIZED = frozenset({"approved", "authorized", "closed", "completed", "received"})
_PENDING = frozenset({"pending", "pendingapproval", "pending approval", "requested"})


class ReturnsReportError(ValueError):
    """The report is not the flat-file returns report (a required column is missing)."""


@dataclass(frozen=True)
class AmazonReturn:
    rma_id: str
    order_id: str  # AmazonOrderId
    reason_code: str
    authorized: bool
    requested_at: str  # ISO 8601 date-time (UTC midnight of Amazon's return request date) or ""
    lines: tuple[tuple[str, int], ...]  # (Merchant SKU, quantity), in report order

    def to_json(self) -> dict[str, object]:
        return {
            "rma_id": self.rma_id,
            "order_id": self.order_id,
            "reason_code": self.reason_code,
            "authorized": self.authorized,
            "requested_at": self.requested_at,
            "lines": [list(line) for line in self.lines],
        }

    @classmethod
    def from_json(cls, raw: dict[str, object]) -> AmazonReturn:
        lines = raw.get("lines")
        assert isinstance(lines, list)
        return cls(
            rma_id=str(raw["rma_id"]),
            order_id=str(raw["order_id"]),
            reason_code=str(raw["reason_code"]),
            authorized=bool(raw["authorized"]),
            requested_at=str(raw.get("requested_at") or ""),
            lines=tuple((str(sku), int(qty)) for sku, qty in lines),
        )


def _date(value: str) -> str:
    value = value.strip()
    if not value:
        return ""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return ""
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).isoformat()


def parse_returns_report(text: str) -> tuple[list[AmazonReturn], list[str]]:
    """The returns in the report (grouped by Amazon RMA ID, in first-seen order) and a note per
    row that could not be used (row number and why; no buyer data)."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter="\t")
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        return [], []
    missing = [c for c in _REQUIRED if c not in header]
    if missing:
        raise ReturnsReportError(f"not a flat-file returns report: no column {missing[0]!r}")
    col = {name: i for i, name in enumerate(header)}
    grouped: dict[str, dict[str, object]] = {}
    skipped: list[str] = []
    for number, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue

        def cell(name: str, row: list[str] = row) -> str:
            i = col.get(name)
            return row[i].strip() if i is not None and i < len(row) else ""

        rma, order_id, sku = cell("amazon rma id"), cell("order id"), cell("merchant sku")
        status = cell("return request status").lower()
        try:
            quantity = int(cell("return quantity"))
        except ValueError:
            quantity = 0
        if not rma or not order_id or not sku or quantity <= 0:
            skipped.append(f"row {number}: needs Amazon RMA ID, Order ID, Merchant SKU, quantity")
            continue
        if status and status not in _AUTHORIZED and status not in _PENDING:
            skipped.append(f"row {number}: RMA {rma} is {status}")
            continue
        entry = grouped.setdefault(
            rma,
            {
                "order_id": order_id,
                "reason": cell("return reason"),
                "authorized": status not in _PENDING,
                "requested_at": _date(cell("return request date")),
                "lines": [],
            },
        )
        if entry["order_id"] != order_id:
            skipped.append(f"row {number}: RMA {rma} names a second order")
            continue
        lines = entry["lines"]
        assert isinstance(lines, list)
        lines.append((sku, quantity))
    returns = [
        AmazonReturn(
            rma_id=rma,
            order_id=str(e["order_id"]),
            reason_code=str(e["reason"]) or "UNKNOWN",
            authorized=bool(e["authorized"]),
            requested_at=str(e["requested_at"]),
            lines=tuple(e["lines"]),  # type: ignore[arg-type]  # list of (str, int) built above
        )
        for rma, e in grouped.items()
    ]
    return returns, skipped
