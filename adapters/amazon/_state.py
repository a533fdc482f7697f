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

__all__ = ["AdapterState", "FeedInFlight", "OrderSeen"]

_VERSION = 1
_MAX_NOTIFICATION_IDS = 5000


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
        return cls(
            watermark=raw.get("watermark", ""),
            orders={k: OrderSeen(**v) for k, v in raw.get("orders", {}).items()},
            refetch=list(raw.get("refetch", [])),
            notification_ids=list(raw.get("notification_ids", [])),
            confirms_in_flight=dict(raw.get("confirms_in_flight", {})),
            feed=FeedInFlight(**feed) if feed else None,
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
