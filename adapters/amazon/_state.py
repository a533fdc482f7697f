"""The adapter's durable checkpoints: one JSON file, replaced atomically (write, fsync, rename), so
a kill -9 at any instant leaves either the old state or the new one, never a torn file."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

__all__ = ["AdapterState", "FeedInFlight", "OrderSeen", "RefundFeedInFlight", "ReportInFlight"]

_VERSION = 1
_MAX_NOTIFICATION_IDS = 5000
_MAX_REFUNDS_SENT = 20000


@dataclass
class OrderSeen:
    updated: str  # Amazon's lastUpdatedTime of the version acted on (ISO 8601)
    status: str
    action: str  # routed | rejected | cancelled | pending | fba | shipped | ignored


@dataclass
class FeedInFlight:
    document_id: str
    # messageId (as str, JSON keys) -> {"sku": channel SKU, "quantity": n, "update_ids": [...]}
    messages: dict[str, dict[str, Any]]
    feed_id: str = ""


@dataclass
class RefundFeedInFlight:
    document_id: str
    # messageId (as str) -> {"rma_id": ..., "order_id": ..., "update_ids": [...]}
    messages: dict[str, dict[str, Any]]
    # Set (and saved) just before createFeed is called: a feed of this type created since then
    # may be ours even if its id never came back (a crash, a 5xx after Amazon took it).
    create_started: str = ""
    feed_id: str = ""


@dataclass
class ReportInFlight:
    report_id: str
    start: str  # dataStartTime asked for (ISO 8601)
    end: str  # dataEndTime asked for: the returns watermark once the report is processed


@dataclass
class AdapterState:
    watermark: str = ""  # orders updated at or after this (minus the overlap) are polled next
    orders: dict[str, OrderSeen] = field(default_factory=dict)
    refetch: list[str] = field(
        default_factory=list
    )  # order ids named by ORDER_CHANGE notifications
    notification_ids: list[str] = field(default_factory=list)
    # update_id -> what was sent: a confirmShipment that may have reached Amazon without our
    # knowing.
    confirms_in_flight: dict[str, dict[str, Any]] = field(default_factory=dict)
    feed: FeedInFlight | None = None
    # Returns in: the report window processed so far, a report requested but not yet processed,
    # and returns that could not be created yet (order not in Sortyard yet, ...), by RMA.
    returns_watermark: str = ""
    returns_report: ReportInFlight | None = None
    returns_pending: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Refunds out: the payment adjustment feed in flight, and RMAs whose refund Amazon accepted
    # (a last guard against sending one twice should an acknowledgement be lost).
    refund_feed: RefundFeedInFlight | None = None
    refunds_sent: list[str] = field(default_factory=list)
    fba_synced: str = ""  # when FBA inventory was last read into the server
    path: Path | None = field(default=None, repr=False, compare=False)

    @classmethod
    def load(cls, path: str | Path | None) -> AdapterState:
        if path is None:
            return cls()
        path = Path(path)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(path=path)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"{path}: the state file is not JSON ({exc.msg}); refusing to guess"
            ) from exc
        if raw.get("version") != _VERSION:
            raise ValueError(f"{path}: unknown state version {raw.get('version')!r}")
        feed = raw.get("feed")
        report = raw.get("returns_report")
        refund_feed = raw.get("refund_feed")
        return cls(
            watermark=raw.get("watermark", ""),
            orders={k: OrderSeen(**v) for k, v in raw.get("orders", {}).items()},
            refetch=list(raw.get("refetch", [])),
            notification_ids=list(raw.get("notification_ids", [])),
            confirms_in_flight=dict(raw.get("confirms_in_flight", {})),
            feed=FeedInFlight(**feed) if feed else None,
            returns_watermark=raw.get("returns_watermark", ""),
            returns_report=ReportInFlight(**report) if report else None,
            returns_pending=dict(raw.get("returns_pending", {})),
            refund_feed=RefundFeedInFlight(**refund_feed) if refund_feed else None,
            refunds_sent=list(raw.get("refunds_sent", [])),
            fba_synced=raw.get("fba_synced", ""),
            path=path,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "version": _VERSION,
            "watermark": self.watermark,
            "orders": {k: asdict(v) for k, v in self.orders.items()},
            "refetch": self.refetch,
            "notification_ids": self.notification_ids[-_MAX_NOTIFICATION_IDS:],
            "confirms_in_flight": self.confirms_in_flight,
            "feed": asdict(self.feed) if self.feed else None,
            "returns_watermark": self.returns_watermark,
            "returns_report": asdict(self.returns_report) if self.returns_report else None,
            "returns_pending": self.returns_pending,
            "refund_feed": asdict(self.refund_feed) if self.refund_feed else None,
            "refunds_sent": self.refunds_sent[-_MAX_REFUNDS_SENT:],
            "fba_synced": self.fba_synced,
        }

    def save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = json.dumps(self.to_json(), sort_keys=True).encode("utf-8")
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the rename itself survives a power cut
        finally:
            os.close(dir_fd)

    def prune(self, keep_after: datetime) -> None:
        """Forgets orders last seen long before the watermark: polling will not return them
        again."""
        cutoff = keep_after - timedelta(days=7)
        self.orders = {
            k: v for k, v in self.orders.items() if datetime.fromisoformat(v.updated) >= cutoff
        }
