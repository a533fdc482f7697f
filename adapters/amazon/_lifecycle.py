"""The adapter's after-the-sale phases: returns in, refunds out, FBA inventory in.

Nothing lost, nothing twice:
- Returns in: a returns report is requested for [watermark - overlap, now]; its id is saved before
  it is polled, so a restart polls the same report instead of asking for another. Each RMA becomes
  a return through `ReturnsService/CreateReturn`, which is idempotent by (channel, RMA): reading a
  report again after a crash (returns created, watermark not yet saved) creates nothing twice. The
  request built from a report row depends only on the row and the order, so a replay is identical.
  Returns that cannot be created yet (the order is not in Sortyard yet) are kept and retried.
- Refunds out: at most one POST_PAYMENT_ADJUSTMENT_DATA feed in flight, saved with the outbox
  entries it carries before createFeed; createFeed is never repeated blindly (a 5xx may come after
  Amazon took the feed): when its outcome is unknown, a payment adjustment feed created since the
  attempt began is ours, so the adapter waits for that one instead of sending the refunds again.
  This needs the adapter to be the only sender of payment adjustment feeds for the seller. Entries
  are acknowledged only for messages the processing report accepted.
- FBA inventory: absolute fulfillable counts, so a repeat is harmless.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from sortyard.v1 import (
    channel_service_pb2,
    fulfillment_service_pb2,
    inventory_service_pb2,
    returns_service_pb2,
)

from adapters.amazon._gateway import (
    SpApiError,
    SpApiOutcomeUnknownError,
    SpApiUnavailableError,
)
from adapters.amazon._orders import CHANNEL
from adapters.amazon._refunds import (
    PAYMENT_ADJUSTMENT_FEED,
    XML_CONTENT_TYPE,
    RefundItem,
    build_adjustment_feed,
    read_adjustment_report,
    refund_amount,
    unit_prices,
)
from adapters.amazon._returns_report import (
    RETURNS_REPORT_TYPE,
    AmazonReturn,
    ReturnsReportError,
    parse_returns_report,
)
from adapters.amazon._state import RefundFeedInFlight, ReportInFlight

if TYPE_CHECKING:
    from adapters.amazon._adapter import AdapterConfig, CycleReport
    from adapters.amazon._gateway import SpApiGateway
    from adapters.amazon._metrics import AdapterMetrics
    from adapters.amazon._state import AdapterState

__all__ = ["LifecyclePhases"]

log = logging.getLogger("sortyard.adapters.amazon")

# A refund feed whose createFeed outcome is unknown: feeds created this long before the attempt
# still count as candidates (clock skew between us and Amazon).
_CREATE_SLACK = timedelta(minutes=2)


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat()


class LifecyclePhases:
    """Mixed into AmazonAdapter, which provides these attributes."""

    config: AdapterConfig
    gateway: SpApiGateway
    state: AdapterState
    metrics: AdapterMetrics
    _clock: Callable[[], datetime]
    _sleep: Callable[[float], None]
    _fulfillment: Any
    _inventory: Any
    _returns: Any
    _channel: Any
    _returns_available: bool
    _fba_available: bool

    def _resolve_skus(self, skus: set[str]) -> dict[str, str]:
        raise NotImplementedError

    def _await_feed(self, feed_id: str) -> dict[str, Any] | None:
        """Poll getFeed until the feed ends (DONE, FATAL or CANCELLED) and return its status, or
        None when it is still running at the deadline (the next cycle looks again). A getFeed that
        fails for a passing reason counts as "still in progress"."""
        deadline = time.monotonic() + self.config.feed_wait
        while True:
            try:
                status: dict[str, Any] = self.gateway.get_feed(feed_id)
            except SpApiUnavailableError:
                status = {"processingStatus": "IN_PROGRESS"}
            if status.get("processingStatus") in ("DONE", "FATAL", "CANCELLED"):
                return status
            if time.monotonic() >= deadline:
                return None
            self._sleep(self.config.feed_poll_interval)

    def _pull(
        self, kind: channel_service_pb2.UpdateKind, limit: int, lease: timedelta | None = None
    ) -> list[channel_service_pb2.ChannelUpdate]:
        raise NotImplementedError

    def _ack(self, update_ids: list[str]) -> None:
        raise NotImplementedError

    def _nack(self, update_id: str, error: str, retry_after: timedelta) -> None:
        raise NotImplementedError

    # == quantities: a resync =====================================================================
    def request_resync(self) -> int:
        """Asks the server to queue every stocked SKU's quantity for Amazon; returns how many
        updates it queued (0 from a server without RequestResync)."""
        try:
            response = self._channel.RequestResync(
                channel_service_pb2.RequestResyncRequest(channel=CHANNEL),
                timeout=self.config.rpc_timeout,
            )
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.UNIMPLEMENTED:
                raise
            log.warning("server has no RequestResync: only changed quantities are sent")
            return 0
        log.info("resync: %d quantity updates queued for %d SKUs", response.queued, response.skus)
        return int(response.queued)

    # == returns in ===============================================================================
    def ingest_returns(self, report: CycleReport) -> None:
        if not self._returns_available:
            return
        now = self._clock()
        if self.state.returns_report is None:
            if self.state.returns_watermark:
                last = datetime.fromisoformat(self.state.returns_watermark)
                if now - last < self.config.returns_interval:
                    return  # pending returns are retried with the next report: once an interval
                start = last - self.config.returns_overlap
            else:
                start = now - self.config.initial_returns_lookback
            report_id = self.gateway.create_report(RETURNS_REPORT_TYPE, _iso(start), _iso(now))
            self.state.returns_report = ReportInFlight(report_id, _iso(start), _iso(now))
            self.state.save()
        in_flight = self.state.returns_report
        deadline = time.monotonic() + self.config.feed_wait
        while True:
            try:
                status = self.gateway.get_report(in_flight.report_id)
            except SpApiUnavailableError:
                status = {"processingStatus": "IN_PROGRESS"}
            state = status.get("processingStatus")
            if state in ("DONE", "CANCELLED", "FATAL"):
                break
            if time.monotonic() >= deadline:
                report.returns_pending = True
                return
            self._sleep(self.config.feed_poll_interval)
        if state == "FATAL":
            log.error(
                "returns report %s failed at Amazon; asked again next cycle", in_flight.report_id
            )
            self.state.returns_report = None
            self.state.save()
            return
        returns: list[AmazonReturn] = []
        if state == "DONE" and status.get("reportDocumentId"):
            text = self.gateway.get_report_document(str(status["reportDocumentId"]))
            try:
                returns, skipped = parse_returns_report(text)
            except ReturnsReportError as exc:
                log.error("returns report %s unreadable: %s", in_flight.report_id, exc)
                self.state.returns_report = None
                self.state.save()
                return
            for note in skipped:
                log.warning("returns report %s: %s", in_flight.report_id, note)
        # CANCELLED: Amazon had no data for the window; the window is done all the same.
        for ret in returns:
            self.state.returns_pending.setdefault(
                ret.rma_id, {"return": ret.to_json(), "attempts": 0}
            )
        self._retry_pending_returns(report)
        self.state.returns_watermark = in_flight.end
        self.state.returns_report = None
        self.state.save()

    def _retry_pending_returns(self, report: CycleReport) -> None:
        for rma_id, entry in list(self.state.returns_pending.items()):
            ret = AmazonReturn.from_json(entry["return"])
            outcome, why = self._create_return(ret)
            self.metrics.returns.labels(outcome).inc()
            if outcome in ("created", "replayed", "conflict"):
                report.returns_created += outcome == "created"
                report.returns_replayed += outcome == "replayed"
                self.state.returns_pending.pop(rma_id)
                continue
            entry["attempts"] = int(entry["attempts"]) + 1
            if outcome == "invalid" or entry["attempts"] >= self.config.max_return_attempts:
                log.error("return %s of order %s not created: %s", rma_id, ret.order_id, why)
                report.returns_failed += 1
                self.state.returns_pending.pop(rma_id)
            else:
                log.info("return %s of order %s waits: %s", rma_id, ret.order_id, why)
                report.returns_waiting += 1
        self.state.save()

    def _order_lines(self, order_id: str) -> list[tuple[str, str, int]] | None:
        try:
            answer = self._fulfillment.GetOrder(
                fulfillment_service_pb2.GetOrderRequest(channel=CHANNEL, channel_order_id=order_id),
                timeout=self.config.rpc_timeout,
            )
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise
        return [(ln.line_id, ln.sku, int(ln.quantity)) for ln in answer.order.lines]

    def return_lines(
        self, ret: AmazonReturn, order_lines: list[tuple[str, str, int]], master: dict[str, str]
    ) -> list[tuple[str, str, int]] | None:
        """(line_id, sku, quantity) per returned unit group, from the order's lines in order: a
        pure function of the row and the order, so the same report row always asks the same."""
        asked: dict[str, int] = {}
        sku_of: dict[str, str] = {}
        for seller_sku, quantity in ret.lines:
            sku = master.get(seller_sku, seller_sku)
            candidates = [(line_id, q) for line_id, s, q in order_lines if s == sku]
            if not candidates:
                return None
            left = quantity
            for n, (line_id, line_quantity) in enumerate(candidates):
                last = n == len(candidates) - 1
                take = left if last else min(left, line_quantity - asked.get(line_id, 0))
                if take <= 0:
                    continue
                asked[line_id] = asked.get(line_id, 0) + take
                sku_of[line_id] = sku
                left -= take
                if left == 0:
                    break
        return [(line_id, sku_of[line_id], q) for line_id, q in asked.items()]

    def _create_return(self, ret: AmazonReturn) -> tuple[str, str]:
        """created | replayed | conflict | waiting | invalid, and why."""
        order_lines = self._order_lines(ret.order_id)
        if order_lines is None:
            return "waiting", "the order is not in Sortyard (yet)"
        master = self._resolve_skus({sku for sku, _ in ret.lines})
        lines = self.return_lines(ret, order_lines, master)
        if lines is None:
            return "invalid", "a returned SKU is not on the order"
        request = returns_service_pb2.CreateReturnRequest(
            channel=CHANNEL,
            channel_rma_id=ret.rma_id,
            channel_order_id=ret.order_id,
            lines=[
                returns_service_pb2.ReturnLine(line_id=line_id, sku=sku, quantity=q)
                for line_id, sku, q in lines
            ],
            reason_code=ret.reason_code,
            authorize=ret.authorized,
        )
        if ret.requested_at:
            stamp = Timestamp()
            stamp.FromDatetime(datetime.fromisoformat(ret.requested_at).astimezone(UTC))
            request.requested_at.CopyFrom(stamp)
        try:
            answer = self._returns.CreateReturn(request, timeout=self.config.rpc_timeout)
        except grpc.RpcError as exc:
            code, details = exc.code(), str(exc.details() or "")
            if code == grpc.StatusCode.UNIMPLEMENTED:
                log.error("server has no ReturnsService: Amazon returns are not imported")
                self._returns_available = False
                return "waiting", "no ReturnsService"
            if code == grpc.StatusCode.NOT_FOUND:
                return "waiting", "the order is not in Sortyard (yet)"
            if code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("channel_rma_id"):
                # The RMA exists with other lines (e.g. created by hand): it is not ours to change.
                return "conflict", details
            if code == grpc.StatusCode.INVALID_ARGUMENT:
                # Typically units not (yet) shipped in Sortyard: the shipment may still come.
                return "waiting", details
            raise
        if ret.authorized and answer.rma.state == returns_service_pb2.RETURN_STATE_REQUESTED:
            self._returns.AuthorizeReturn(
                returns_service_pb2.AuthorizeReturnRequest(return_id=answer.rma.return_id),
                timeout=self.config.rpc_timeout,
            )
        if answer.replayed:
            return "replayed", ""
        log.info(
            "return %s of order %s created: %d units, reason %s",
            ret.rma_id, ret.order_id, sum(q for _, _, q in lines), ret.reason_code,
        )  # fmt: skip
        return "created", ""

    # == refunds out ==============================================================================
    def push_refunds(self, report: CycleReport) -> None:
        if self.state.refund_feed is None:
            self._start_refund_feed(report)
        if self.state.refund_feed is not None:
            self._finish_refund_feed(report)

    def _start_refund_feed(self, report: CycleReport) -> None:
        updates = self._pull(
            channel_service_pb2.UPDATE_KIND_REFUND, self.config.pull_limit, self.config.refund_lease
        )
        if not updates:
            return
        sent = set(self.state.refunds_sent)
        refunds: list[tuple[str, str, list[RefundItem]]] = []
        carried: dict[str, list[str]] = {}
        prices: dict[str, dict[str, tuple[Decimal, str]]] = {}
        for update in updates:
            refund = update.refund
            if refund.rma_id in sent:
                # Accepted by Amazon before; only the acknowledgement was lost.
                self._ack([update.update_id])
                continue
            if refund.rma_id in carried:  # the same RMA twice in one pull: send it once
                carried[refund.rma_id].append(update.update_id)
                continue
            try:
                if refund.channel_order_id not in prices:
                    prices[refund.channel_order_id] = unit_prices(
                        self.gateway.get_order(refund.channel_order_id, included=())
                    )
                items = self._refund_items(refund, prices[refund.channel_order_id])
            except (SpApiError, SpApiUnavailableError, ValueError) as exc:
                log.warning("refund %s not sent yet: %s", refund.rma_id, exc)
                self._nack(update.update_id, str(exc), self.config.retry_soon)
                report.refunds_failed += 1
                continue
            if not items:
                log.info("refund %s has nothing to pay; acknowledged", refund.rma_id)
                self._ack([update.update_id])
                continue
            refunds.append((refund.rma_id, refund.channel_order_id, items))
            carried[refund.rma_id] = [update.update_id]
        if not refunds:
            return
        document, messages = build_adjustment_feed(self.config.seller_id, refunds)
        try:
            document_id = self.gateway.submit_feed_document(document, XML_CONTENT_TYPE)
        except (SpApiError, SpApiUnavailableError) as exc:
            log.warning("refund feed not submitted: %s", exc)
            for ids in carried.values():
                for update_id in ids:
                    self._nack(update_id, str(exc), self.config.retry_soon)
            return
        self.state.refund_feed = RefundFeedInFlight(
            document_id=document_id,
            messages={
                str(m.message_id): {
                    "rma_id": m.rma_id,
                    "order_id": m.order_id,
                    "update_ids": carried[m.rma_id],
                }
                for m in messages
            },
        )
        self.state.save()

    def _refund_items(
        self,
        refund: channel_service_pb2.RefundUpdate,
        prices: dict[str, tuple[Decimal, str]],
    ) -> list[RefundItem]:
        by_item: dict[str, tuple[int, Decimal, str]] = {}
        for line in refund.lines:
            if line.percent <= 0:
                continue
            if line.line_id not in prices:
                raise ValueError(f"order item {line.line_id} has no price on Amazon")
            price, currency = prices[line.line_id]
            amount = refund_amount(price, int(line.quantity), int(line.percent))
            quantity, total, _ = by_item.get(line.line_id, (0, Decimal(0), currency))
            by_item[line.line_id] = (quantity + int(line.quantity), total + amount, currency)
        return [RefundItem(item, q, total, c) for item, (q, total, c) in by_item.items()]

    def _refund_update_ids(self, feed: RefundFeedInFlight) -> list[str]:
        return sorted({i for m in feed.messages.values() for i in m["update_ids"]})

    def _abandon_refund_feed(self, feed: RefundFeedInFlight, error: str) -> None:
        for update_id in self._refund_update_ids(feed):
            self._nack(update_id, error, self.config.retry_soon)
        self.state.refund_feed = None
        self.state.save()

    def _find_created_feed(self, feed: RefundFeedInFlight) -> str | None:
        """The payment adjustment feed created since our createFeed attempt began, if any."""
        since = datetime.fromisoformat(feed.create_started) - _CREATE_SLACK
        candidates = self.gateway.get_feeds(PAYMENT_ADJUSTMENT_FEED, _iso(since))
        if len(candidates) > 1:
            log.warning(
                "%d payment adjustment feeds since our attempt; taking the oldest", len(candidates)
            )
        if not candidates:
            return None
        oldest = min(candidates, key=lambda f: str(f.get("createdTime", "")))
        return str(oldest["feedId"])

    def _finish_refund_feed(self, report: CycleReport) -> None:
        feed = self.state.refund_feed
        assert feed is not None
        if not feed.feed_id:
            found = None
            if feed.create_started:
                # We may have created it already (a crash, or a 5xx after Amazon took it).
                try:
                    found = self._find_created_feed(feed)
                except (SpApiError, SpApiUnavailableError) as exc:
                    log.warning("refund feed outcome still unknown: %s", exc)
                    report.refunds_pending = True
                    return
            if found is None:
                feed.create_started = _iso(self._clock())
                self.state.save()
                try:
                    found = self.gateway.create_feed(
                        feed.document_id, PAYMENT_ADJUSTMENT_FEED, repeatable=False
                    )
                except SpApiOutcomeUnknownError as exc:
                    log.warning("refund feed creation outcome unknown, checked next: %s", exc)
                    report.refunds_pending = True
                    return
                except (SpApiError, SpApiUnavailableError) as exc:
                    log.warning("refund feed not created: %s", exc)
                    self._abandon_refund_feed(feed, str(exc))
                    return
            feed.feed_id = found
            self.state.save()
            log.info("refund feed %s created with %d refunds", feed.feed_id, len(feed.messages))
        status = self._await_feed(feed.feed_id)
        if status is None:
            report.refunds_pending = True
            return
        state = status.get("processingStatus")
        if state == "CANCELLED" or not status.get("resultFeedDocumentId"):
            # Amazon processed nothing of a cancelled feed: safe to send again.
            self._abandon_refund_feed(feed, f"refund feed {feed.feed_id} ended {state}")
            report.refunds_failed += len(feed.messages)
            return
        try:
            text = self.gateway.get_feed_result(str(status["resultFeedDocumentId"]))
            outcome = read_adjustment_report(text, (int(k) for k in feed.messages))
        except (SpApiUnavailableError, ValueError) as exc:
            report.refunds_pending = True
            log.warning("processing report of refund feed %s not read yet: %s", feed.feed_id, exc)
            return
        accepted: list[str] = []
        for key, message in feed.messages.items():
            message_id = int(key)
            if message_id in outcome.accepted:
                accepted.extend(message["update_ids"])
                if message["rma_id"] not in self.state.refunds_sent:
                    self.state.refunds_sent.append(message["rma_id"])
                report.refunds_accepted += 1
                self.metrics.updates.labels("refund", "delivered").inc()
                continue
            retryable, why = outcome.failed[message_id]
            report.refunds_failed += 1
            self.metrics.updates.labels("refund", "retry" if retryable else "rejected").inc()
            (log.warning if retryable else log.error)(
                "refund %s of order %s not accepted by Amazon (feed %s): %s",
                message["rma_id"], message["order_id"], feed.feed_id, why,
            )  # fmt: skip
            for update_id in message["update_ids"]:
                self._nack(
                    update_id, why, self.config.retry_soon if retryable else self.config.retry_later
                )
        self.state.save()  # refunds_sent first: a lost ack must not send a refund again
        self._ack(sorted(set(accepted)))
        self.state.refund_feed = None
        self.state.save()

    # == FBA inventory in =========================================================================
    def sync_fba(self, report: CycleReport) -> None:
        if not self._fba_available:
            return
        now = self._clock()
        if self.state.fba_synced:
            last = datetime.fromisoformat(self.state.fba_synced)
            if now - last < self.config.fba_interval:
                return
        by_seller_sku: dict[str, int] = {}
        for summary in self.gateway.inventory_summaries():
            seller_sku = str(summary.get("sellerSku") or "")
            if not seller_sku:
                continue
            details = summary.get("inventoryDetails") or {}
            quantity = details.get("fulfillableQuantity", summary.get("totalQuantity", 0))
            by_seller_sku[seller_sku] = by_seller_sku.get(seller_sku, 0) + max(0, int(quantity))
        master = self._resolve_skus(set(by_seller_sku))
        levels: dict[str, int] = {}
        for seller_sku, quantity in by_seller_sku.items():
            sku = master.get(seller_sku)
            if sku is None:
                report.fba_unmapped += 1
                log.warning("FBA SKU %s maps to no master SKU; not synced", seller_sku)
                continue
            levels[sku] = levels.get(sku, 0) + quantity
        if levels:
            try:
                self._inventory.SyncFba(
                    inventory_service_pb2.SyncFbaRequest(
                        levels=[
                            inventory_service_pb2.FbaLevel(sku=sku, on_hand=q)
                            for sku, q in sorted(levels.items())
                        ]
                    ),
                    timeout=self.config.rpc_timeout,
                )
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.UNIMPLEMENTED:
                    raise
                log.error("server has no SyncFba: FBA inventory is not read")
                self._fba_available = False
                return
        report.fba_skus = len(levels)
        self.state.fba_synced = _iso(now)
        self.state.save()
