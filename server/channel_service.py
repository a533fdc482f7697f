"""ChannelService: the per-channel outbox, served to channel adapters.

The store writes outbox entries in the same transaction as the change that caused them (a shipment
confirmed, stock synced, routed or released). This servicer hands them out under a lease and takes
acknowledgements. A quantity entry carries the SKU's CURRENT available-to-sell, computed here when
it is pulled (not the value at the time of the change), so a late delivery can never send a stale
count.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NoReturn, Protocol, cast

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from sortyard.v1 import channel_service_pb2, channel_service_pb2_grpc, types_pb2

import engine
from server._errors import abort_invalid_argument
from server.store import _outbox

if TYPE_CHECKING:
    from server.store import Store

__all__ = ["AvailabilityFn", "ChannelServicer", "OutboxStore", "runtime_availability"]

# (channel, master SKUs) -> {sku: available-to-sell on that channel}
AvailabilityFn = Callable[[str, Sequence[str]], Mapping[str, int]]

_KIND_NAMES = {
    channel_service_pb2.UPDATE_KIND_TRACKING: "tracking",
    channel_service_pb2.UPDATE_KIND_QUANTITY: "quantity",
    channel_service_pb2.UPDATE_KIND_REFUND: "refund",
}
_KINDS_BY_NAME = {v: k for k, v in _KIND_NAMES.items()}
DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
DEFAULT_LEASE_SECONDS = 300.0


class OutboxStore(Protocol):
    """What this servicer needs of `server.store.Store`."""

    def pull_outbox(
        self, channel: str, kinds: Sequence[str], limit: int, lease_seconds: float
    ) -> Sequence[Any]: ...

    def ack_outbox(self, ids: Sequence[int]) -> Any: ...

    def nack_outbox(self, id: int, error: str, retry_after: float) -> Any: ...

    def get_order(
        self,
        order_id: str | None = None,
        channel: str | None = None,
        channel_order_id: str | None = None,
    ) -> Any: ...


def runtime_availability(runtime: Any) -> AvailabilityFn:
    """The server's own available-to-sell (the same numbers InventoryService reports)."""

    def available(channel: str, skus: Sequence[str]) -> Mapping[str, int]:
        policy = runtime.policies.current()
        stock = runtime.store.load_stock(list(skus), runtime.network())
        tags: Mapping[str, frozenset[str]] = {}
        sku_tags = getattr(runtime.store, "sku_tags", None)
        if callable(sku_tags):
            tags = sku_tags(list(skus))
        by_channel = engine.available_to_sell(stock, policy, [channel], runtime.clock(), tags)
        return {sku: int(by_channel[channel][k]) for k, sku in enumerate(stock.skus)}

    return available


def _timestamp(value: Any) -> Timestamp | None:
    if not value:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    stamp = Timestamp()
    stamp.FromDatetime(value.astimezone(dt.UTC))
    return stamp


def _package_number(fulfillment_order_id: str, stored_order: Any) -> int:
    """Fulfillment order ids end in their 1-based sequence within the order (`<order>-<n>`)."""
    _, _, tail = fulfillment_order_id.rpartition("-")
    if tail.isdigit() and int(tail) > 0:
        return int(tail)
    if stored_order is not None:
        ids = [fo.fulfillment_order_id for fo in stored_order.fulfillment_orders]
        if fulfillment_order_id in ids:
            return ids.index(fulfillment_order_id) + 1
    return 0


class ChannelServicer(channel_service_pb2_grpc.ChannelServiceServicer):
    def __init__(self, store: OutboxStore, available_to_sell: AvailabilityFn) -> None:
        self._store = store
        self._available = available_to_sell
        self._registered: set[str] = set()

    @classmethod
    def from_runtime(cls, runtime: Any) -> ChannelServicer:
        return cls(runtime.store, runtime_availability(runtime))

    def _channel_skus(self, channel: str, sku: str, payload: Mapping[str, Any]) -> list[str]:
        listed = payload.get("channel_skus")
        if isinstance(listed, list) and listed:
            return [str(s) for s in listed]
        lookup = getattr(self._store, "channel_skus_for", None)
        if callable(lookup):
            return [str(s) for s in lookup(channel, sku)]
        return []

    def _tracking(self, entry: Any) -> channel_service_pb2.TrackingUpdate:
        p: Mapping[str, Any] = entry.payload
        fo_id = str(p.get("fulfillment_order_id", ""))
        lines = p.get("lines")
        channel_order_id = str(p.get("channel_order_id", ""))
        order_id = str(p.get("order_id", ""))
        stored = None
        _, _, tail = fo_id.rpartition("-")
        complete = bool(lines and channel_order_id and order_id and tail.isdigit())
        if not complete and (order_id or channel_order_id):
            # The entry may carry only ids; the order fills in the rest (and the package number).
            stored = self._store.get_order(
                order_id=order_id or None,
                channel=None if order_id else entry.channel,
                channel_order_id=None if order_id else channel_order_id,
            )
        if stored is not None:
            order_id = order_id or stored.order_id
            channel_order_id = channel_order_id or stored.order.channel_order_id
            if not lines:
                fo = next(
                    (f for f in stored.fulfillment_orders if f.fulfillment_order_id == fo_id), None
                )
                lines = [
                    {"line_id": a.line_id, "sku": a.sku, "quantity": a.quantity}
                    for a in (fo.lines if fo else ())
                ]
        update = channel_service_pb2.TrackingUpdate(
            order_id=order_id,
            channel_order_id=channel_order_id,
            fulfillment_order_id=fo_id,
            carrier=str(p.get("carrier", "")),
            tracking_number=str(p.get("tracking_number", "")),
            lines=[
                types_pb2.FulfillmentLine(
                    line_id=str(line["line_id"]),
                    sku=str(line.get("sku", "")),
                    quantity=int(line["quantity"]),
                )
                for line in lines or []
            ],
            package_number=_package_number(fo_id, stored),
        )
        shipped_at = _timestamp(p.get("shipped_at"))
        if shipped_at is not None:
            update.shipped_at.CopyFrom(shipped_at)
        return update

    def PullUpdates(
        self, request: channel_service_pb2.PullUpdatesRequest, context: grpc.ServicerContext
    ) -> channel_service_pb2.PullUpdatesResponse:
        violations = []
        if not request.channel:
            violations.append(("channel", "required"))
        if request.limit < 0 or request.limit > MAX_LIMIT:
            violations.append(("limit", f"must be between 0 and {MAX_LIMIT}"))
        for n, kind in enumerate(request.kinds):
            if kind not in _KIND_NAMES:
                violations.append(
                    (
                        f"kinds[{n}]",
                        "must be UPDATE_KIND_TRACKING, UPDATE_KIND_QUANTITY or UPDATE_KIND_REFUND",
                    )
                )
        lease = request.lease.ToTimedelta().total_seconds() if request.HasField("lease") else 0.0
        if lease < 0:
            violations.append(("lease", "must not be negative"))
        if violations:
            _abort_invalid(context, violations)
        kinds = [_KIND_NAMES[k] for k in request.kinds] or list(_KINDS_BY_NAME)
        if request.channel not in self._registered:
            # An adapter pulling for a channel makes it known: from now on every stock change
            # queues that channel's quantities too, even before its first order. The first time
            # ever, every stocked SKU is queued as well (in the same transaction), or SKUs nobody
            # touches afterwards would never reach the channel.
            self._resync(request.channel, only_if_new=True)
            self._registered.add(request.channel)
        entries = self._store.pull_outbox(
            request.channel, kinds, request.limit or DEFAULT_LIMIT, lease or DEFAULT_LEASE_SECONDS
        )
        quantity_skus = sorted({str(e.payload["sku"]) for e in entries if e.kind == "quantity"})
        available = self._available(request.channel, quantity_skus) if quantity_skus else {}
        updates = []
        for entry in entries:
            if entry.kind not in _KINDS_BY_NAME:
                continue
            update = channel_service_pb2.ChannelUpdate(
                update_id=str(entry.outbox_id),
                kind=_KINDS_BY_NAME[entry.kind],
                attempts=max(0, int(entry.attempts) - 1),
            )
            created = _timestamp(entry.created_at)
            if created is not None:
                update.created_at.CopyFrom(created)
            if entry.kind == "tracking":
                update.tracking.CopyFrom(self._tracking(entry))
            elif entry.kind == "refund":
                update.refund.CopyFrom(_refund(entry))
            else:
                sku = str(entry.payload["sku"])
                update.quantity.CopyFrom(
                    channel_service_pb2.QuantityUpdate(
                        sku=sku,
                        channel_skus=self._channel_skus(request.channel, sku, entry.payload),
                        available=max(0, int(available.get(sku, 0))),
                    )
                )
            updates.append(update)
        return channel_service_pb2.PullUpdatesResponse(updates=updates)

    def _resync(self, channel: str, *, only_if_new: bool) -> tuple[int, int]:
        if hasattr(self._store, "_write") and hasattr(self._store, "_clock"):
            return _outbox.request_resync(
                cast("Store", self._store), channel, only_if_new=only_if_new
            )
        # A store without transactions of its own (a test double): registration only.
        register = getattr(self._store, "register_channels", None)
        if callable(register):
            register([channel])
        return 0, 0

    def RequestResync(
        self, request: channel_service_pb2.RequestResyncRequest, context: grpc.ServicerContext
    ) -> channel_service_pb2.RequestResyncResponse:
        if not request.channel.strip():
            _abort_invalid(context, [("channel", "required")])
        if len(request.channel) > 64:
            _abort_invalid(context, [("channel", "at most 64 characters")])
        queued, skus = self._resync(request.channel, only_if_new=False)
        self._registered.add(request.channel)
        return channel_service_pb2.RequestResyncResponse(queued=queued, skus=skus)

    def AckUpdates(
        self, request: channel_service_pb2.AckUpdatesRequest, context: grpc.ServicerContext
    ) -> channel_service_pb2.AckUpdatesResponse:
        ids = _parse_ids(context, request.update_ids, "update_ids")
        result = self._store.ack_outbox(ids) if ids else 0
        return channel_service_pb2.AckUpdatesResponse(
            acknowledged=int(result) if isinstance(result, int) else len(ids)
        )

    def NackUpdates(
        self, request: channel_service_pb2.NackUpdatesRequest, context: grpc.ServicerContext
    ) -> channel_service_pb2.NackUpdatesResponse:
        (outbox_id,) = _parse_ids(context, [request.update_id], "update_id")
        retry_after = (
            request.retry_after.ToTimedelta().total_seconds()
            if request.HasField("retry_after")
            else 0.0
        )
        try:
            self._store.nack_outbox(outbox_id, request.error[:2000], max(0.0, retry_after))
        except KeyError:  # the store's NotFoundError: unknown, or acknowledged meanwhile
            context.abort(grpc.StatusCode.NOT_FOUND, f"no pending update {request.update_id}")
        return channel_service_pb2.NackUpdatesResponse()


def _refund(entry: Any) -> channel_service_pb2.RefundUpdate:
    """A refund entry as the lifecycle queues it (server/store/_returns.py, dedup key = RMA)."""
    p: Mapping[str, Any] = entry.payload
    return channel_service_pb2.RefundUpdate(
        return_id=str(p.get("return_id", "")),
        rma_id=str(p.get("rma_id") or entry.dedup_key),
        order_id=str(p.get("order_id", "")),
        channel_order_id=str(p.get("channel_order_id", "")),
        reason_code=str(p.get("reason_code", "")),
        lines=[
            channel_service_pb2.RefundLine(
                line_id=str(line.get("line_id", "")),
                sku=str(line.get("sku", "")),
                quantity=int(line.get("quantity", 0)),
                condition=str(line.get("condition", "")),
                percent=int(line.get("percent", 0)),
                rule=str(line.get("rule", "")),
            )
            for line in p.get("lines") or []
        ],
    )


def _parse_ids(context: grpc.ServicerContext, values: Sequence[str], field: str) -> list[int]:
    ids, violations = [], []
    for n, value in enumerate(values):
        if not value.isdigit():
            violations.append(
                (f"{field}[{n}]" if field.endswith("s") else field, "not an update id")
            )
        else:
            ids.append(int(value))
    if violations:
        _abort_invalid(context, violations)
    return ids


def _abort_invalid(
    context: grpc.ServicerContext, violations: Sequence[tuple[str, str]]
) -> NoReturn:
    """INVALID_ARGUMENT with google.rpc.BadRequest field violations, as every service answers."""
    abort_invalid_argument(context, list(violations), reason="CHANNEL_REQUEST_INVALID")
