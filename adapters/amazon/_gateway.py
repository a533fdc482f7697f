"""Every SP-API call of the adapter goes through `SpApiGateway.call`: token bucket, metrics,
jittered backoff on 429/5xx/transport errors, one forced LWA refresh on an expired token.

The client library never retries by itself and raises only when an error body has `errors`; this is
where that is handled, once.
"""

from __future__ import annotations

import io
import json
import logging
import random
import time
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from sp_api.api import Feeds, Inventories, ListingsItems, Orders, Reports
from sp_api.base import ApiResponse, SellingApiException

from adapters.amazon._credentials import LwaCredentials
from adapters.amazon._lwa import TokenState, token_client_class
from adapters.amazon._metrics import AdapterMetrics
from adapters.amazon._throttle import RateLimiter

__all__ = [
    "RetryPolicy",
    "SpApiError",
    "SpApiGateway",
    "SpApiOutcomeUnknownError",
    "SpApiUnavailableError",
]

log = logging.getLogger("sortyard.adapters.amazon")
T = TypeVar("T")

NA_ENDPOINT = "https://sellingpartnerapi-na.amazon.com"
LWA_ENDPOINT = "https://api.amazon.com/auth/o2/token"
JSON_CONTENT_TYPE = "application/json; charset=UTF-8"


class SpApiError(RuntimeError):
    """Amazon refused the request for good (4xx other than 429): retrying the same call is
    pointless."""

    def __init__(self, operation: str, status: int, code: str, message: str) -> None:
        super().__init__(f"{operation}: HTTP {status} {code}: {message}")
        self.operation = operation
        self.status = status
        self.code = code
        self.message = message


class SpApiUnavailableError(RuntimeError):
    """Throttled, failing or unreachable after every attempt: try again in a later cycle."""


class SpApiOutcomeUnknownError(SpApiUnavailableError):
    """A call that must not be repeated blindly failed in a way that may have come after Amazon
    applied it (5xx, a lost answer): the caller has to find out before trying again."""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base_seconds: float = 0.5
    cap_seconds: float = 30.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Full jitter (AWS Builders' Library): uniform in [0, min(cap, base * 2^attempt)]."""
        return rng.uniform(0, min(self.cap_seconds, self.base_seconds * 2**attempt))


def _status_of(exc: SellingApiException) -> int:
    return int(getattr(exc, "code", 0) or 0)


class SpApiGateway:
    def __init__(
        self,
        credentials: LwaCredentials,
        *,
        endpoint: str = NA_ENDPOINT,
        lwa_endpoint: str = LWA_ENDPOINT,
        marketplace_id: str = "ATVPDKIKX0DER",
        region: str = "us-east-1",
        limiter: RateLimiter | None = None,
        retry: RetryPolicy | None = None,
        metrics: AdapterMetrics | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.marketplace_id = marketplace_id
        self.limiter = limiter or RateLimiter()
        self.retry = retry or RetryPolicy()
        self.metrics = metrics or AdapterMetrics()
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.tokens = TokenState(clock)
        marketplace = types.SimpleNamespace(
            endpoint=self.endpoint, marketplace_id=marketplace_id, region=region
        )
        common: dict[str, Any] = {
            "credentials": credentials.for_client(),
            "auth_token_client_class": token_client_class(lwa_endpoint, self.tokens),
            "timeout": timeout,
        }
        self.orders_2026 = Orders(marketplace, version="2026-01-01", **common)
        self.orders_v0 = Orders(marketplace, **common)
        self.feeds = Feeds(marketplace, **common)
        self.listings = ListingsItems(marketplace, **common)
        self.reports = Reports(marketplace, **common)
        self.inventories = Inventories(marketplace, **common)
        for client in self._clients():
            # SP_API_DEFAULT_MARKETPLACE would silently replace our endpoint; set it back.
            client.endpoint = self.endpoint
            client.marketplace_id = marketplace_id
            # The library derives Host from endpoint[8:], which assumes https://; use the URL's.
            client._transport._client.event_hooks["request"] = [_fix_host]

    def _clients(self) -> tuple[Any, ...]:
        return (
            self.orders_2026,
            self.orders_v0,
            self.feeds,
            self.listings,
            self.reports,
            self.inventories,
        )

    def close(self) -> None:
        for client in self._clients():
            client.close()
            client._auth._transport.close()  # the library never closes its LWA transport

    # -- the one place calls are made ------------------------------------------------------------
    def call(self, operation: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return self._call(operation, fn, args, kwargs, repeatable=True)

    def call_unrepeatable(
        self, operation: str, fn: Callable[..., T], *args: Any, **kwargs: Any
    ) -> T:
        """Like `call`, but only answers that prove nothing happened (429, a refused connection)
        are retried; a 5xx or a lost answer raises SpApiOutcomeUnknownError."""
        return self._call(operation, fn, args, kwargs, repeatable=False)

    def _call(
        self,
        operation: str,
        fn: Callable[..., T],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        repeatable: bool,
    ) -> T:
        refreshed = False
        attempt = 0
        while True:
            waited = self.limiter.acquire(operation)
            if waited:
                self.metrics.throttle_wait.labels(operation).inc(waited)
            started = time.perf_counter()
            try:
                result = fn(*args, **kwargs)
            except SellingApiException as exc:
                self.metrics.latency.labels(operation).observe(time.perf_counter() - started)
                status = _status_of(exc)
                self.limiter.observe(operation, (exc.headers or {}).get("x-amzn-RateLimit-Limit"))
                self.metrics.errors.labels(operation, str(status)).inc()
                code = str(exc.amzn_code or "")
                if status == 403 and code == "Unauthorized" and not refreshed:
                    # Expired or revoked access token: fetch a new one once, then try again.
                    self.metrics.calls.labels(operation, "unauthorized").inc()
                    self.tokens.invalidate()
                    refreshed = True
                    continue
                retryable = status == 429 or status >= 500 or status == 999
                if status == 429:
                    self.metrics.throttles.labels(operation).inc()
                if not retryable:
                    self.metrics.calls.labels(operation, "rejected").inc()
                    raise SpApiError(operation, status, code, str(exc.message or "")) from exc
                outcome = "throttled" if status == 429 else "failed"
                self.metrics.calls.labels(operation, outcome).inc()
                if status != 429 and not repeatable:
                    raise SpApiOutcomeUnknownError(
                        f"{operation}: HTTP {status} {code}; it may have been applied"
                    ) from exc
                log.info(
                    "sp-api %s answered %s %s (attempt %d)", operation, status, code, attempt + 1
                )
            except httpx.TransportError as exc:
                self.metrics.latency.labels(operation).observe(time.perf_counter() - started)
                self.metrics.calls.labels(operation, "unreachable").inc()
                log.info(
                    "sp-api %s unreachable: %s (attempt %d)",
                    operation,
                    type(exc).__name__,
                    attempt + 1,
                )
                if not repeatable and not isinstance(exc, httpx.ConnectError):
                    raise SpApiOutcomeUnknownError(
                        f"{operation}: {type(exc).__name__}; it may have been applied"
                    ) from exc
            else:
                self.metrics.latency.labels(operation).observe(time.perf_counter() - started)
                self.metrics.calls.labels(operation, "ok").inc()
                if isinstance(result, ApiResponse):
                    self.limiter.observe(operation, result.rate_limit)
                return result
            attempt += 1
            if attempt >= self.retry.attempts:
                raise SpApiUnavailableError(f"{operation}: gave up after {attempt} attempts")
            self._sleep(self.retry.delay(attempt, self._rng))

    # -- operations ------------------------------------------------------------------------------
    def search_orders(self, updated_after: str, page_size: int = 100) -> Iterator[ApiResponse]:
        """Every page of Orders 2026-01-01 searchOrders updated at or after `updated_after`."""
        params: dict[str, Any] = {
            "lastUpdatedAfter": updated_after,
            "marketplaceIds": [self.marketplace_id],
            "includedData": ["RECIPIENT", "FULFILLMENT"],
            "maxResultsPerPage": page_size,
        }
        while True:
            page = self.call("searchOrders", self.orders_2026.search_orders, **params)
            yield page
            if not page.next_token:
                return
            # The token carries the query; the rendering options go again with every page.
            params = {
                "paginationToken": page.next_token,
                "marketplaceIds": [self.marketplace_id],
                "includedData": params["includedData"],
                "maxResultsPerPage": page_size,
            }

    def get_order(
        self, order_id: str, included: tuple[str, ...] = ("RECIPIENT", "FULFILLMENT")
    ) -> dict[str, Any]:
        response = self.call(
            "getOrder", self.orders_2026.get_order, order_id, includedData=list(included)
        )
        order: dict[str, Any] = response.payload["order"]
        return order

    def get_orders_v0(self, updated_after: str, page_size: int = 100) -> Iterator[ApiResponse]:
        params: dict[str, Any] = {
            "LastUpdatedAfter": updated_after,
            "MarketplaceIds": [self.marketplace_id],
            "MaxResultsPerPage": page_size,
        }
        while True:
            page = self.call("getOrders", self.orders_v0.get_orders, **params)
            yield page
            if not page.next_token:
                return
            params = {
                "NextToken": page.next_token,
                "MarketplaceIds": [self.marketplace_id],
                "MaxResultsPerPage": page_size,
            }

    def get_order_v0(self, order_id: str) -> dict[str, Any]:
        payload: dict[str, Any] = self.call(
            "getOrderV0", self.orders_v0.get_order, order_id
        ).payload
        return payload

    def get_order_items_v0(self, order_id: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {}
        while True:
            page = self.call("getOrderItems", self.orders_v0.get_order_items, order_id, **kwargs)
            items.extend(page.payload.get("OrderItems") or [])
            if not page.next_token:
                return items
            kwargs = {"NextToken": page.next_token}

    def confirm_shipment(self, order_id: str, body: dict[str, Any]) -> None:
        self.call("confirmShipment", self.orders_v0.confirm_shipment, order_id, **body)

    def submit_feed_document(
        self, document: dict[str, Any] | bytes, content_type: str = JSON_CONTENT_TYPE
    ) -> str:
        """createFeedDocument + upload (a JSON document, or bytes as they are); returns the
        feedDocumentId."""
        data = (
            document
            if isinstance(document, bytes)
            else json.dumps(document, ensure_ascii=False).encode("utf-8")
        )
        # Bytes, not text: the library encodes text uploads as latin-1.
        response = self.call(
            "createFeedDocument",
            lambda: self.feeds.create_feed_document(
                io.BytesIO(data), content_type, marketplaceIds=[self.marketplace_id]
            ),
        )
        return str(response.payload["feedDocumentId"])

    def create_feed(
        self, document_id: str, feed_type: str = "JSON_LISTINGS_FEED", *, repeatable: bool = True
    ) -> str:
        """createFeed. With ``repeatable=False`` (a feed that must not be applied twice, like a
        refund) an ambiguous failure raises SpApiOutcomeUnknownError instead of trying again."""
        call = self.call if repeatable else self.call_unrepeatable
        response = call(
            "createFeed",
            self.feeds.create_feed,
            feed_type,
            document_id,
            marketplaceIds=[self.marketplace_id],
        )
        return str(response.payload["feedId"])

    def get_feeds(self, feed_type: str, created_since: str) -> list[dict[str, Any]]:
        """Every feed of ``feed_type`` created at or after ``created_since``, all pages."""
        feeds: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "feedTypes": [feed_type],
            "createdSince": created_since,
            "pageSize": 100,
        }
        while True:
            page = self.call("getFeeds", self.feeds.get_feeds, **kwargs)
            feeds.extend(page.payload.get("feeds") or [])
            if not page.next_token:
                return feeds
            kwargs = {"nextToken": page.next_token}

    # -- reports ---------------------------------------------------------------------------------
    def create_report(self, report_type: str, start: str, end: str) -> str:
        response = self.call(
            "createReport",
            self.reports.create_report,
            reportType=report_type,
            dataStartTime=start,
            dataEndTime=end,
            marketplaceIds=[self.marketplace_id],
        )
        return str(response.payload["reportId"])

    def get_report(self, report_id: str) -> dict[str, Any]:
        payload: dict[str, Any] = self.call("getReport", self.reports.get_report, report_id).payload
        return payload

    def get_report_document(self, document_id: str) -> str:
        """The report's text, downloaded and gunzipped by the library."""
        response = self.call(
            "getReportDocument", self.reports.get_report_document, document_id, download=True
        )
        return str(response.payload.get("document") or "")

    # -- FBA inventory ---------------------------------------------------------------------------
    def inventory_summaries(self) -> Iterator[dict[str, Any]]:
        """Every FBA inventory summary of the marketplace, following every page."""
        kwargs: dict[str, Any] = {"details": True}
        while True:
            page = self.call(
                "getInventorySummaries",
                self.inventories.get_inventory_summary_marketplace,
                **kwargs,
            )
            payload = page.payload or {}
            yield from payload.get("inventorySummaries") or []
            if not page.next_token:
                return
            kwargs = {"details": True, "nextToken": page.next_token}

    def get_feed(self, feed_id: str) -> dict[str, Any]:
        payload: dict[str, Any] = self.call("getFeed", self.feeds.get_feed, feed_id).payload
        return payload

    def get_feed_result(self, document_id: str) -> str:
        text: str = self.call("getFeedDocument", self.feeds.get_feed_document, document_id)
        return text


def _fix_host(request: httpx.Request) -> None:
    request.headers["host"] = request.url.netloc.decode("ascii")
