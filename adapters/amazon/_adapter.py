"""The Amazon adapter's cycle: orders in, tracking out, quantities out (returns in, refunds out
and FBA inventory in are in `_lifecycle.py`).

Nothing lost, nothing twice:
- Orders in: the poll watermark advances only after every page was read and every order acted
  on, and re-reading an order is harmless (the server routes by (channel, channel_order_id)
  idempotently; this file skips an order version it already acted on and any older version).
- Tracking out: before confirmShipment the update is marked in flight in the state file. An
  update that was in flight (or handed out before) is checked against Amazon's packages first, so
  a confirmation that reached Amazon while we crashed is acknowledged, not sent again.
- Quantities out: at most one feed in flight, recorded in the state file with the updates it
  carries; they are acknowledged only once the processing report accepted their message.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import grpc
import httpx
from google.protobuf.duration_pb2 import Duration
from sortyard.v1 import (
    catalog_service_pb2,
    catalog_service_pb2_grpc,
    channel_service_pb2,
    channel_service_pb2_grpc,
    fulfillment_service_pb2,
    fulfillment_service_pb2_grpc,
    inventory_service_pb2_grpc,
    returns_service_pb2_grpc,
    routing_service_pb2,
    routing_service_pb2_grpc,
    types_pb2,
)

from adapters.amazon._feeds import build_quantity_feed, read_processing_report
from adapters.amazon._gateway import SpApiError, SpApiGateway, SpApiUnavailableError
from adapters.amazon._lifecycle import LifecyclePhases
from adapters.amazon._orders import (
    CHANNEL,
    AmazonOrder,
    OrderMappingError,
    from_orders_2026,
    from_orders_v0,
    parse_time,
    to_sortyard_order,
)
from adapters.amazon._state import AdapterState, FeedInFlight, OrderSeen

__all__ = ["AdapterConfig", "AmazonAdapter", "CycleReport", "NotificationError"]

log = logging.getLogger("sortyard.adapters.amazon")

# Amazon's carrier codes for the carriers US sellers mostly use; anything else goes as "Other" with
# the carrier's name, as Amazon asks.
_CARRIER_CODES = {
    "ups": "UPS",
    "usps": "USPS",
    "fedex": "FedEx",
    "dhl": "DHL",
    "dhl ecommerce": "DHL eCommerce",
    "ontrac": "OnTrac",
    "lasership": "Lasership",
    "amazon shipping": "Amazon Shipping",
}


class NotificationError(ValueError):
    """A notification that is not an ORDER_CHANGE payload per Amazon's schema."""


@dataclass(frozen=True)
class AdapterConfig:
    seller_id: str
    marketplace_id: str = "ATVPDKIKX0DER"
    use_orders_v0: bool = False  # fall back to getOrders + getOrderItems
    overlap: timedelta = timedelta(minutes=15)
    initial_lookback: timedelta = timedelta(days=3)
    route_batch_size: int = 100
    page_size: int = 100  # maxResultsPerPage (Amazon allows 1-100)
    pull_limit: int = 200
    lease: timedelta = timedelta(minutes=5)
    retry_soon: timedelta = timedelta(seconds=30)
    retry_later: timedelta = timedelta(hours=1)  # rejected for good until someone fixes the data
    feed_poll_interval: float = 5.0
    feed_wait: float = 120.0  # per cycle; a feed still running is picked up again next cycle
    rpc_timeout: float = 30.0
    # Returns report: how often, how far back the first time, and the overlap of windows (its
    # rows carry dates, not times). A return that cannot be created yet is retried with each
    # report, up to max_return_attempts times (a day at the default interval).
    returns_interval: timedelta = timedelta(minutes=30)
    initial_returns_lookback: timedelta = timedelta(days=30)
    returns_overlap: timedelta = timedelta(days=2)
    max_return_attempts: int = 48
    fba_interval: timedelta = timedelta(minutes=30)
    # Refunds are pulled under a long lease: while their feed is at Amazon no other adapter may
    # take them (money must not go out twice); this adapter's own restart resumes from its state.
    refund_lease: timedelta = timedelta(hours=2)
    resync: bool = False  # ask the server for every SKU's quantity on the first cycle


@dataclass
class CycleReport:
    orders_seen: int = 0
    routed: int = 0
    cancelled: int = 0
    waiting: int = 0
    amazon_fulfilled: int = 0
    skipped: int = 0
    rejected: int = 0
    confirmed: int = 0
    confirm_failed: int = 0
    quantities_accepted: int = 0
    quantities_failed: int = 0
    feed_pending: bool = False
    resync_queued: int = 0
    returns_created: int = 0
    returns_replayed: int = 0
    returns_waiting: int = 0
    returns_failed: int = 0
    returns_pending: bool = False  # a returns report still being prepared at Amazon
    refunds_accepted: int = 0
    refunds_failed: int = 0
    refunds_pending: bool = False
    fba_skus: int = 0
    fba_unmapped: int = 0
    incomplete: bool = False  # some phase gave up on Amazon this cycle


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat()


def _duration(delta: timedelta) -> Duration:
    out = Duration()
    out.FromTimedelta(delta)
    return out


def grpc_stub(stub_class: Any, channel: grpc.Channel) -> Any:
    """A client stub; generated grpc stubs are untyped, so the call goes through Any once, here."""
    return stub_class(channel)


def carrier_code(carrier: str) -> str:
    return _CARRIER_CODES.get(carrier.strip().lower(), "Other")


class AmazonAdapter(LifecyclePhases):
    def __init__(
        self,
        config: AdapterConfig,
        gateway: SpApiGateway,
        channel: grpc.Channel,
        state: AdapterState,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
        notifications_url: str = "",
    ) -> None:
        self.config = config
        self.gateway = gateway
        self.state = state
        self.metrics = gateway.metrics
        self._clock = clock
        self._sleep = sleep
        self._notifications_url = notifications_url
        self._routing = grpc_stub(routing_service_pb2_grpc.RoutingServiceStub, channel)
        self._fulfillment = grpc_stub(fulfillment_service_pb2_grpc.FulfillmentServiceStub, channel)
        self._channel = grpc_stub(channel_service_pb2_grpc.ChannelServiceStub, channel)
        self._catalog = grpc_stub(catalog_service_pb2_grpc.CatalogServiceStub, channel)
        self._inventory = grpc_stub(inventory_service_pb2_grpc.InventoryServiceStub, channel)
        self._returns = grpc_stub(returns_service_pb2_grpc.ReturnsServiceStub, channel)
        self._returns_available = True
        self._fba_available = True
        # No checkpoint yet (a first start), or told to: every SKU's quantity goes out once.
        self._resync_pending = config.resync or not state.watermark
        self._catalog_available = True
        self._outbox_available = True
        self._unreadable: list[str] = []

    # == the cycle =================================================================================
    def run_cycle(self) -> CycleReport:
        report = CycleReport()
        self._drain_notification_queue()
        if self._resync_pending:
            report.resync_queued = self.request_resync()
            self._resync_pending = False
        # An Amazon outage in one direction must not stop the others; each resumes from its
        # checkpoint next cycle. Server (gRPC) errors do stop the cycle: nothing can proceed.
        phases = (
            self.ingest_orders,
            self.push_tracking,
            self.push_quantities,
            self.ingest_returns,
            self.push_refunds,
            self.sync_fba,
        )
        for phase in phases:
            try:
                phase(report)
            except SpApiUnavailableError as exc:
                report.incomplete = True
                log.warning("%s incomplete this cycle: %s", phase.__name__, exc)
            except SpApiError as exc:
                # Refused for good (a request this adapter got wrong): surface it loudly; the
                # other directions still run, and this one starts again from its checkpoint.
                report.incomplete = True
                log.error("%s failed this cycle: %s", phase.__name__, exc)
        self.metrics.cycles.inc()
        log.info(
            "cycle done: seen=%d routed=%d cancelled=%d waiting=%d fba=%d rejected=%d confirmed=%d "
            "confirm_failed=%d quantities_accepted=%d quantities_failed=%d feed_pending=%s "
            "returns_created=%d returns_waiting=%d refunds_accepted=%d refunds_failed=%d "
            "fba_skus=%d",
            report.orders_seen, report.routed, report.cancelled, report.waiting,
            report.amazon_fulfilled, report.rejected, report.confirmed, report.confirm_failed,
            report.quantities_accepted, report.quantities_failed, report.feed_pending,
            report.returns_created, report.returns_waiting, report.refunds_accepted,
            report.refunds_failed, report.fba_skus,
        )  # fmt: skip
        return report

    # == notifications =============================================================================
    def accept_notification(self, notification: Mapping[str, Any]) -> str | None:
        """Takes an ORDER_CHANGE notification as a hint: its order is re-fetched next cycle.
        Returns the order id, or None for a duplicate delivery (by NotificationId)."""
        if notification.get("NotificationType") != "ORDER_CHANGE":
            raise NotificationError("NotificationType: expected ORDER_CHANGE")
        body = (notification.get("Payload") or {}).get("OrderChangeNotification")
        if not isinstance(body, Mapping):
            raise NotificationError("Payload.OrderChangeNotification: missing")
        order_id = body.get("AmazonOrderId")
        if not isinstance(order_id, str) or not order_id:
            raise NotificationError("Payload.OrderChangeNotification.AmazonOrderId: missing")
        notification_id = str(
            (notification.get("NotificationMetadata") or {}).get("NotificationId") or ""
        )
        if notification_id and notification_id in self.state.notification_ids:
            return None
        if notification_id:
            self.state.notification_ids.append(notification_id)
        if order_id not in self.state.refetch:
            self.state.refetch.append(order_id)
        self.state.save()
        return order_id

    def _drain_notification_queue(self) -> None:
        if not self._notifications_url:
            return
        try:
            messages = httpx.get(self._notifications_url, timeout=10).json().get("messages", [])
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("notification queue unreadable: %s", type(exc).__name__)
            return
        for message in messages:
            try:
                self.accept_notification(message)
            except NotificationError as exc:
                log.warning("notification ignored: %s", exc)

    # == orders in =================================================================================
    def ingest_orders(self, report: CycleReport) -> None:
        started = self._clock()
        if self.state.watermark:
            since = datetime.fromisoformat(self.state.watermark) - self.config.overlap
        else:
            since = started - self.config.initial_lookback
        orders: dict[str, AmazonOrder] = {}
        upper: datetime | None = None
        if self.config.use_orders_v0:
            for page in self.gateway.get_orders_v0(_iso(since), self.config.page_size):
                upper = parse_time(page.payload.get("LastUpdatedBefore")) or upper
                for raw in page.payload.get("Orders") or []:
                    self._collect(orders, partial(self._read_v0, raw))
        else:
            for page in self.gateway.search_orders(_iso(since), self.config.page_size):
                upper = parse_time(page.payload.get("lastUpdatedBefore")) or upper
                for raw in page.payload.get("orders") or []:
                    self._collect(orders, partial(from_orders_2026, raw))
        refetch = list(self.state.refetch)
        for order_id in refetch:
            if order_id in orders:
                continue
            try:
                if self.config.use_orders_v0:
                    self._collect(orders, partial(self._fetch_v0, order_id))
                else:
                    self._collect(orders, partial(self._fetch_2026, order_id))
            except SpApiError as exc:
                log.warning(
                    "order %s named by a notification cannot be read: %s", order_id, exc.code
                )
        self._act(sorted(orders.values(), key=lambda o: o.last_updated), report)
        self.state.refetch = [i for i in self.state.refetch if i not in refetch]
        self.state.refetch += [i for i in self._unreadable if i not in self.state.refetch]
        self._unreadable = []
        newest = max((o.last_updated for o in orders.values()), default=None)
        watermark = upper or newest
        if watermark is not None:
            current = datetime.fromisoformat(self.state.watermark) if self.state.watermark else None
            if current is None or watermark > current:
                self.state.watermark = _iso(watermark)
                self.metrics.checkpoint.set(watermark.timestamp())
            self.state.prune(watermark)
        self.state.save()

    def _fetch_v0(self, order_id: str) -> AmazonOrder:
        return self._read_v0(self.gateway.get_order_v0(order_id))

    def _fetch_2026(self, order_id: str) -> AmazonOrder:
        return from_orders_2026(self.gateway.get_order(order_id))

    def _read_v0(self, raw: Mapping[str, Any]) -> AmazonOrder:
        return from_orders_v0(raw, self.gateway.get_order_items_v0(str(raw.get("AmazonOrderId"))))

    def _collect(self, orders: dict[str, AmazonOrder], read: Callable[[], AmazonOrder]) -> None:
        try:
            order = read()
        except OrderMappingError as exc:
            # Never skipped for good: the watermark moves on, so the order is fetched by id again
            # next cycle until it can be read.
            log.error("amazon order unreadable, fetched again next cycle: %s", exc)
            self.metrics.orders.labels("unreadable").inc()
            if exc.order_id != "?" and exc.order_id not in self._unreadable:
                self._unreadable.append(exc.order_id)
            return
        known = orders.get(order.order_id)
        if known is None or order.last_updated > known.last_updated:
            orders[order.order_id] = order

    def _act(self, orders: Iterable[AmazonOrder], report: CycleReport) -> None:
        newest: dict[str, AmazonOrder] = {}
        for order in orders:
            known = newest.get(order.order_id)
            if known is None or order.last_updated > known.last_updated:
                newest[order.order_id] = order
        to_route: list[AmazonOrder] = []
        for order in sorted(newest.values(), key=lambda o: o.last_updated):
            report.orders_seen += 1
            seen = self.state.orders.get(order.order_id)
            if seen is not None:
                seen_at = datetime.fromisoformat(seen.updated)
                if order.last_updated < seen_at or (
                    order.last_updated == seen_at and seen.action not in ("pending",)
                ):
                    report.skipped += 1  # a repeat or an out-of-order older version
                    continue
            if order.fulfilled_by == "AMAZON":
                self._remember(order, "fba")
                report.amazon_fulfilled += 1
                self.metrics.orders.labels("amazon_fulfilled").inc()
            elif order.status in ("PENDING", "PENDING_AVAILABILITY"):
                self._remember(order, "pending")
                report.waiting += 1
                self.metrics.orders.labels("waiting").inc()
            elif order.status == "CANCELLED":
                if seen is None or seen.action != "cancelled":
                    self._cancel(order)
                    report.cancelled += 1
                else:
                    self._remember(order, "cancelled")
            elif order.status in ("UNSHIPPED", "PARTIALLY_SHIPPED"):
                if seen is not None and seen.action == "routed":
                    self._remember(
                        order, seen.action
                    )  # routed once; Amazon's updates change nothing
                    report.skipped += 1
                else:
                    to_route.append(order)
            else:
                self._remember(order, "ignored")  # SHIPPED or UNFULFILLABLE: nothing left for us
        size = self.config.route_batch_size
        for start in range(0, len(to_route), size):
            self._route(to_route[start : start + size], report)

    def _remember(self, order: AmazonOrder, action: str) -> None:
        seen = self.state.orders.get(order.order_id)
        if seen is not None and datetime.fromisoformat(seen.updated) > order.last_updated:
            return  # a newer version was acted on already
        self.state.orders[order.order_id] = OrderSeen(
            _iso(order.last_updated), order.status, action
        )

    def _cancel(self, order: AmazonOrder) -> None:
        request = fulfillment_service_pb2.CancelOrderRequest(
            channel=CHANNEL, channel_order_id=order.order_id, reason="cancelled on Amazon"
        )
        try:
            response = self._fulfillment.CancelOrder(request, timeout=self.config.rpc_timeout)
            log.info(
                "order %s cancelled on Amazon: %d units released",
                order.order_id,
                response.units_released,
            )
        except grpc.RpcError as exc:
            code = exc.code()
            if code == grpc.StatusCode.NOT_FOUND:
                log.info("order %s cancelled on Amazon before it reached Sortyard", order.order_id)
            elif code == grpc.StatusCode.FAILED_PRECONDITION:
                log.warning(
                    "order %s cancelled on Amazon but cannot be cancelled here: %s",
                    order.order_id,
                    exc.details(),
                )
            else:
                raise
        self.metrics.orders.labels("cancelled").inc()
        self._remember(order, "cancelled")

    def _resolve_skus(self, skus: set[str]) -> dict[str, str]:
        if not skus or not self._catalog_available:
            return {}
        request = catalog_service_pb2.ResolveSkusRequest(channel=CHANNEL, channel_skus=sorted(skus))
        try:
            response = self._catalog.ResolveSkus(request, timeout=self.config.rpc_timeout)
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.UNIMPLEMENTED:
                raise
            log.warning("server has no CatalogService: SellerSKUs are used as master SKUs")
            self._catalog_available = False
            return {}
        return {r.channel_sku: r.sku for r in response.resolutions if r.sku}

    def _route(self, batch: list[AmazonOrder], report: CycleReport) -> None:
        skus = {line.seller_sku for order in batch for line in order.lines}
        master = self._resolve_skus(skus)
        request = routing_service_pb2.RouteBatchRequest(
            requests=[
                routing_service_pb2.RouteRequest(order=to_sortyard_order(o, master)) for o in batch
            ]
        )
        response = self._routing.RouteBatch(request, timeout=self.config.rpc_timeout)
        for order, answer in zip(batch, response.responses, strict=True):
            status = types_pb2.RouteStatus.Name(answer.status)
            if answer.status == types_pb2.REJECTED:
                violations = "; ".join(
                    f"{v.field}: {v.description}" for v in answer.field_violations
                )
                log.error("order %s rejected by the router: %s", order.order_id, violations)
                self._remember(order, "rejected")
                report.rejected += 1
                self.metrics.orders.labels("rejected").inc()
                continue
            log.info(
                "order %s routed: %s%s postal=%s country=%s",
                order.order_id, status,
                f" hold={answer.hold_code}" if answer.hold_code else "",
                order.postal_code, order.country_code,
            )  # fmt: skip
            self._remember(order, "routed")
            report.routed += 1
            self.metrics.orders.labels(status.lower()).inc()

    # == tracking out ==============================================================================
    def _pull(
        self,
        kind: channel_service_pb2.UpdateKind,
        limit: int,
        lease: timedelta | None = None,
    ) -> list[channel_service_pb2.ChannelUpdate]:
        if not self._outbox_available:
            return []
        try:
            response = self._channel.PullUpdates(
                channel_service_pb2.PullUpdatesRequest(
                    channel=CHANNEL,
                    kinds=[kind],
                    limit=limit,
                    lease=_duration(lease or self.config.lease),
                ),
                timeout=self.config.rpc_timeout,
            )
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.UNIMPLEMENTED:
                raise
            # An older server: orders still flow in; tracking and quantities wait for an upgrade.
            log.error("server has no ChannelService: tracking and quantities are not sent")
            self._outbox_available = False
            return []
        return list(response.updates)

    def _ack(self, update_ids: list[str]) -> None:
        if update_ids:
            self._channel.AckUpdates(
                channel_service_pb2.AckUpdatesRequest(channel=CHANNEL, update_ids=update_ids),
                timeout=self.config.rpc_timeout,
            )

    def _nack(self, update_id: str, error: str, retry_after: timedelta) -> None:
        try:
            self._nack_unchecked(update_id, error, retry_after)
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND:
                raise
            log.info("update %s was already settled; nothing to give back", update_id)

    def _nack_unchecked(self, update_id: str, error: str, retry_after: timedelta) -> None:
        self._channel.NackUpdates(
            channel_service_pb2.NackUpdatesRequest(
                channel=CHANNEL,
                update_id=update_id,
                error=error[:500],
                retry_after=_duration(retry_after),
            ),
            timeout=self.config.rpc_timeout,
        )

    def _package_number(self, tracking: channel_service_pb2.TrackingUpdate) -> int:
        if tracking.package_number > 0:
            return int(tracking.package_number)
        answer = self._fulfillment.GetOrder(
            fulfillment_service_pb2.GetOrderRequest(order_id=tracking.order_id)
            if tracking.order_id
            else fulfillment_service_pb2.GetOrderRequest(
                channel=CHANNEL, channel_order_id=tracking.channel_order_id
            ),
            timeout=self.config.rpc_timeout,
        )
        ids = [fo.fulfillment_order_id for fo in answer.fulfillment_orders]
        return ids.index(tracking.fulfillment_order_id) + 1

    def _confirm_body(self, tracking: channel_service_pb2.TrackingUpdate) -> dict[str, Any]:
        shipped_at = (
            tracking.shipped_at.ToDatetime(tzinfo=UTC)
            if tracking.HasField("shipped_at")
            else self._clock()
        )
        detail: dict[str, Any] = {
            "packageReferenceId": str(self._package_number(tracking)),
            "carrierCode": carrier_code(tracking.carrier),
            "carrierName": tracking.carrier,
            "trackingNumber": tracking.tracking_number,
            "shipDate": shipped_at.strftime("%Y-%m-%dT%H:%M:%S.")
            + f"{shipped_at.microsecond // 1000:03d}Z",
            "orderItems": [
                {"orderItemId": line.line_id, "quantity": int(line.quantity)}
                for line in tracking.lines
            ],
        }
        return {"marketplaceId": self.config.marketplace_id, "packageDetail": detail}

    def _already_confirmed(self, order_id: str, package_ref: str, tracking_number: str) -> bool:
        order = self.gateway.get_order(order_id, included=("PACKAGES",))
        for package in order.get("packages") or []:
            if str(package.get("packageReferenceId")) == package_ref:
                if package.get("trackingNumber") != tracking_number:
                    raise SpApiError(
                        "getOrder", 409, "PackageConflict",
                        f"package {package_ref} carries another tracking number",
                    )  # fmt: skip
                return True
        return False

    def push_tracking(self, report: CycleReport) -> None:
        for update in self._pull(channel_service_pb2.UPDATE_KIND_TRACKING, self.config.pull_limit):
            tracking = update.tracking
            order_id = tracking.channel_order_id
            try:
                body = self._confirm_body(tracking)
                ref = body["packageDetail"]["packageReferenceId"]
                maybe_sent = (
                    update.update_id in self.state.confirms_in_flight or update.attempts > 0
                )
                if maybe_sent and self._already_confirmed(order_id, ref, tracking.tracking_number):
                    self._confirmed(update.update_id, report, replay=True)
                    continue
                self.state.confirms_in_flight[update.update_id] = {
                    "order_id": order_id,
                    "package": ref,
                }
                self.state.save()
                try:
                    self.gateway.confirm_shipment(order_id, body)
                except SpApiError:
                    # Rejected: perhaps because an earlier attempt got through after all.
                    if self._already_confirmed(order_id, ref, tracking.tracking_number):
                        self._confirmed(update.update_id, report, replay=True)
                        continue
                    raise
                self._confirmed(update.update_id, report, replay=False)
            except SpApiError as exc:
                log.error(
                    "tracking for order %s rejected by Amazon: %s %s",
                    order_id,
                    exc.code,
                    exc.message,
                )
                self.state.confirms_in_flight.pop(update.update_id, None)
                self.state.save()
                self._nack(update.update_id, f"{exc.code}: {exc.message}", self.config.retry_later)
                report.confirm_failed += 1
                self.metrics.updates.labels("tracking", "rejected").inc()
            except SpApiUnavailableError as exc:
                log.warning("tracking for order %s not delivered yet: %s", order_id, exc)
                self._nack(update.update_id, str(exc), self.config.retry_soon)
                report.confirm_failed += 1
                self.metrics.updates.labels("tracking", "retry").inc()

    def _confirmed(self, update_id: str, report: CycleReport, *, replay: bool) -> None:
        self._ack([update_id])
        self.state.confirms_in_flight.pop(update_id, None)
        self.state.save()
        report.confirmed += 1
        self.metrics.updates.labels("tracking", "replayed" if replay else "delivered").inc()

    # == quantities out ============================================================================
    def push_quantities(self, report: CycleReport) -> None:
        if self.state.feed is None:
            self._start_feed()
        if self.state.feed is not None:
            self._finish_feed(report)

    def _start_feed(self) -> None:
        updates = self._pull(channel_service_pb2.UPDATE_KIND_QUANTITY, 10_000)
        if not updates:
            return
        latest: dict[str, tuple[int, list[str]]] = {}
        # Later updates win: the server hands them out oldest first, so a plain overwrite coalesces.
        for update in updates:
            q = update.quantity
            for sku in q.channel_skus or [q.sku]:
                ids = latest.get(sku, (0, []))[1]
                latest[sku] = (int(q.available), [*ids, update.update_id])
        document, messages = build_quantity_feed(
            self.config.seller_id, {k: v[0] for k, v in latest.items()}
        )
        try:
            document_id = self.gateway.submit_feed_document(document)
        except (SpApiError, SpApiUnavailableError) as exc:
            log.warning("quantity feed not submitted: %s", exc)
            for update in updates:
                self._nack(update.update_id, str(exc), self.config.retry_soon)
            return
        self.state.feed = FeedInFlight(
            document_id=document_id,
            messages={
                str(m.message_id): {
                    "sku": m.seller_sku,
                    "quantity": m.quantity,
                    "update_ids": latest[m.seller_sku][1],
                }
                for m in messages
            },
        )
        self.state.save()

    def _feed_update_ids(self, feed: FeedInFlight) -> list[str]:
        return sorted({i for m in feed.messages.values() for i in m["update_ids"]})

    def _abandon_feed(self, feed: FeedInFlight, error: str) -> None:
        for update_id in self._feed_update_ids(feed):
            self._nack(update_id, error, self.config.retry_soon)
        self.state.feed = None
        self.state.save()

    def _finish_feed(self, report: CycleReport) -> None:
        feed = self.state.feed
        assert feed is not None
        if not feed.feed_id:
            try:
                feed.feed_id = self.gateway.create_feed(feed.document_id)
            except (SpApiError, SpApiUnavailableError) as exc:
                log.warning("quantity feed not created: %s", exc)
                self._abandon_feed(feed, str(exc))
                return
            self.state.save()
            log.info("quantity feed %s created with %d messages", feed.feed_id, len(feed.messages))
        status = self._await_feed(feed.feed_id)
        if status is None:
            report.feed_pending = True
            return  # still running at Amazon: next cycle looks again
        state = status.get("processingStatus")
        if state == "CANCELLED" or not status.get("resultFeedDocumentId"):
            self._abandon_feed(feed, f"feed {feed.feed_id} ended {state}")
            report.quantities_failed += len(feed.messages)
            return
        try:
            text = self.gateway.get_feed_result(str(status["resultFeedDocumentId"]))
            outcome = read_processing_report(text, (int(k) for k in feed.messages))
        except (SpApiUnavailableError, ValueError, json.JSONDecodeError) as exc:
            report.feed_pending = True
            log.warning("processing report of feed %s not read yet: %s", feed.feed_id, exc)
            return
        accepted: list[str] = []
        for key, message in feed.messages.items():
            message_id = int(key)
            if message_id in outcome.accepted:
                accepted.extend(message["update_ids"])
                report.quantities_accepted += 1
                self.metrics.updates.labels("quantity", "delivered").inc()
                continue
            retryable, why = outcome.failed[message_id]
            report.quantities_failed += 1
            self.metrics.updates.labels("quantity", "retry" if retryable else "rejected").inc()
            (log.warning if retryable else log.error)(
                "quantity for SKU %s not accepted by Amazon (feed %s): %s",
                message["sku"],
                feed.feed_id,
                why,
            )
            for update_id in message["update_ids"]:
                self._nack(
                    update_id, why, self.config.retry_soon if retryable else self.config.retry_later
                )
        self._ack(sorted(set(accepted)))
        self.state.feed = None
        self.state.save()
