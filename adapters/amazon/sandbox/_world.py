"""The sandbox's Seller Central: orders, listings, feeds, reports and a record of what it received.

Everything here is plain data behind one lock; the HTTP layer (`_http.py`) turns requests into
calls on `SandboxWorld` and its answers into responses shaped like Amazon's models.
`SandboxWorld.record()` is "what Amazon would now show": orders with the packages (tracking)
confirmed on them, and each SKU's quantity.
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
import random
import secrets
import threading
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from adapters.amazon.sandbox._scenario import OrderSpec, Scenario, generate_orders, promise_dates

__all__ = ["ApiError", "SandboxWorld"]

Json = dict[str, Any]

V0_STATUS = {
    "PENDING": "Pending",
    "PENDING_AVAILABILITY": "PendingAvailability",
    "UNSHIPPED": "Unshipped",
    "PARTIALLY_SHIPPED": "PartiallyShipped",
    "SHIPPED": "Shipped",
    "CANCELLED": "Canceled",
    "UNFULFILLABLE": "Unfulfillable",
}
V0_STATUS_BACK = {v: k for k, v in V0_STATUS.items()}
V0_LEVEL = {
    "STANDARD": "Standard",
    "EXPEDITED": "Expedited",
    "PRIORITY": "Priority",
    "SECOND_DAY": "SecondDay",
    "NEXT_DAY": "NextDay",
    "SAME_DAY": "SameDay",
    "SCHEDULED": "Scheduled",
    "FREE_ECONOMY": "FreeEconomy",
}
RETURNS_REPORT = "GET_FLAT_FILE_RETURNS_DATA_BY_RETURN_DATE"
PAYMENT_ADJUSTMENT_FEED = "POST_PAYMENT_ADJUSTMENT_DATA"
UNIT_PRICE = "19.99"  # every sandbox item's unit price (USD)
# A few of Amazon's return reason codes, drawn per returned package.
RETURN_REASONS = (
    "CR-UNWANTED_ITEM",
    "CR-DEFECTIVE",
    "AMZ-PG-BAD-DESC",
    "CR-DAMAGED_BY_CARRIER",
    "CR-SWITCHEROO",
)
_RETURNS_COLUMNS = (
    "Order ID",
    "Order date",
    "Return request date",
    "Return request status",
    "Amazon RMA ID",
    "Merchant RMA ID",
    "Label type",
    "Label cost",
    "Currency code",
    "Return carrier",
    "Tracking ID",
    "Label to be paid by",
    "A-to-z claim",
    "Is prime",
    "ASIN",
    "Merchant SKU",
    "Item Name",
    "Return quantity",
    "Return Reason",
    "In policy",
    "Return type",
    "Resolution",
    "Invoice number",
    "Return delivery date",
    "Order Amount",
    "Order quantity",
    "SafeT action reason",
    "SafeT claim id",
    "SafeT claim state",
    "SafeT claim creation time",
    "SafeT claim reimbursement amount",
    "Refunded Amount",
)


class ApiError(Exception):
    """An SP-API error answer: HTTP status and Amazon's `errors` body."""

    def __init__(self, status: int, code: str, message: str, details: str = "") -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details

    def body(self) -> Json:
        error: Json = {"code": self.code, "message": self.message}
        if self.details:
            error["details"] = self.details
        return {"errors": [error]}


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def parse_iso(value: str, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, AttributeError) as exc:
        raise ApiError(400, "InvalidInput", f"{name} is not an ISO 8601 date-time") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


@dataclass
class Item:
    order_item_id: str
    asin: str
    seller_sku: str
    title: str
    quantity: int
    shipped: int = 0


@dataclass
class Package:
    package_reference_id: str
    carrier_code: str
    carrier_name: str
    shipping_method: str
    tracking_number: str
    ship_date: str
    items: list[tuple[str, int]]
    received_at: datetime


@dataclass
class Order:
    spec: OrderSpec
    last_updated: datetime
    status: str
    items: list[Item]
    packages: list[Package] = field(default_factory=list)

    @property
    def order_id(self) -> str:
        return self.spec.order_id


@dataclass
class Listing:
    seller_sku: str
    asin: str
    title: str
    quantity: int
    fba_quantity: int
    updated: datetime
    history: list[int] = field(default_factory=list)


@dataclass
class Feed:
    feed_id: str
    feed_type: str
    document_id: str
    marketplace_ids: list[str]
    created: datetime
    status: str = "IN_QUEUE"
    polls: int = 0
    result_document_id: str = ""
    started: datetime | None = None
    ended: datetime | None = None


@dataclass
class FaultPlan:
    """Fault injection. Rates are probabilities per SP-API request (never for LWA or document
    bytes)."""

    throttle_rate: float = 0.0  # 429 with an `errors` body
    server_error_rate: float = 0.0  # 500/503 with an `errors` body
    # Of the 5xx answers to state-changing calls, the share given AFTER the change was applied: the
    # caller cannot tell whether it worked (the realistic, dangerous case).
    applied_then_failed_share: float = 0.5
    slow_rate: float = 0.0
    slow_seconds: float = 0.0
    reject_message_rate: float = 0.0  # feed messages rejected with a retryable ERROR issue
    fatal_feed_rate: float = 0.0
    seed: int = 0

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> FaultPlan:
        unknown = set(raw) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown fault option(s): {sorted(unknown)}")
        return cls(**raw)


class SandboxWorld:
    """Thread-safe state of one sandbox seller account."""

    def __init__(
        self,
        scenario: Scenario | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        generate: bool = True,
    ) -> None:
        self.scenario = scenario or Scenario()
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.RLock()
        self._last_tick = datetime.min.replace(tzinfo=UTC)
        self.faults = FaultPlan.from_dict(self.scenario.faults)
        self._fault_rng = random.Random(self.faults.seed)
        self._rng = random.Random(self.scenario.seed)
        self._ids = itertools.count(1)
        self.orders: dict[str, Order] = {}
        self.listings: dict[str, Listing] = {}
        self.documents: dict[str, bytes] = {}  # uploads and result documents, by document id
        self.upload_content_types: dict[str, str] = {}
        self.gzipped: set[str] = set()  # documents stored compressed (results and reports)
        self.feeds: dict[str, Feed] = {}
        self.reports: dict[str, Json] = {}
        self.tokens: dict[str, datetime] = {}
        self.notifications: list[Json] = []
        self.received: list[Json] = []  # every state-changing request body, for conformance checks
        self.rejected_confirmations: list[Json] = []
        # Refunds applied from payment adjustment feeds: one entry per adjusted item.
        self.refunds: list[Json] = []
        # Every payment adjustment message processed: (AmazonOrderID, result code or ACCEPTED).
        self.adjustment_results: list[tuple[str, str]] = []
        self.calls: Counter[str] = Counter()
        self.faults_injected: Counter[str] = Counter()
        self._pages: dict[str, tuple[list[str], Json]] = {}
        now = self.now()
        for spec in self.scenario.default_listings():
            self.listings[spec.seller_sku] = Listing(
                spec.seller_sku,
                spec.asin,
                spec.title or f"Sandbox product {spec.seller_sku}",
                spec.quantity,
                spec.fba_quantity,
                now,
            )
        if generate:
            for order in generate_orders(self.scenario, now):
                self.add_order(order)

    # -- time ------------------------------------------------------------------------------------
    def now(self) -> datetime:
        """Strictly increasing, so every change gets its own LastUpdateDate."""
        with self._lock:
            now = self._clock()
            if now <= self._last_tick:
                now = self._last_tick + timedelta(milliseconds=1)
            self._last_tick = now
            return now

    def next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):08d}"

    # -- LWA -------------------------------------------------------------------------------------
    def issue_token(self, form: dict[str, str]) -> tuple[int, Json]:
        expected = self.scenario.credentials
        if form.get("grant_type") not in ("refresh_token", "client_credentials"):
            return 400, {"error": "unsupported_grant_type", "error_description": "grant_type"}
        for key, form_key in (
            ("lwa_app_id", "client_id"),
            ("lwa_client_secret", "client_secret"),
            ("refresh_token", "refresh_token"),
        ):
            if form_key == "refresh_token" and form.get("grant_type") != "refresh_token":
                continue
            if not form.get(form_key):
                return 400, {"error": "invalid_request", "error_description": f"{form_key} missing"}
            if key in expected and not secrets.compare_digest(expected[key], form[form_key]):
                return 401, {"error": "invalid_client", "error_description": "Client auth failed"}
        token = "Atza|sandbox-" + secrets.token_urlsafe(24)
        ttl = self.scenario.token_ttl_seconds
        with self._lock:
            self.tokens[token] = self.now() + timedelta(seconds=ttl)
            self.calls["lwa.token"] += 1
        return 200, {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": ttl,
            "refresh_token": form.get("refresh_token", ""),
        }

    def check_token(self, token: str | None) -> None:
        with self._lock:
            expiry = self.tokens.get(token or "")
            if expiry is None:
                raise ApiError(403, "Unauthorized", "Access to requested resource is denied.")
            if expiry <= self.now():
                raise ApiError(
                    403,
                    "Unauthorized",
                    "Access to requested resource is denied.",
                    "The access token you provided has expired.",
                )

    # -- faults ----------------------------------------------------------------------------------
    def draw_fault(self) -> str | None:
        """'throttle', 'error-before', 'error-after', 'slow' or None, for one SP-API request."""
        with self._lock:
            plan, roll = self.faults, self._fault_rng.random()
            if roll < plan.throttle_rate:
                return "throttle"
            roll -= plan.throttle_rate
            if roll < plan.server_error_rate:
                after = self._fault_rng.random() < plan.applied_then_failed_share
                return "error-after" if after else "error-before"
            roll -= plan.server_error_rate
            if roll < plan.slow_rate:
                return "slow"
            return None

    def set_faults(self, raw: dict[str, Any]) -> None:
        with self._lock:
            self.faults = FaultPlan.from_dict(raw)
            self._fault_rng = random.Random(self.faults.seed)

    # -- orders ----------------------------------------------------------------------------------
    def add_order(self, spec: OrderSpec) -> Order:
        with self._lock:
            if spec.order_id in self.orders:
                raise ValueError(f"order {spec.order_id} exists")
            items = []
            for n, (sku, qty) in enumerate(spec.lines):
                listing = self.listings.get(sku)
                items.append(
                    Item(
                        order_item_id=_stable_digits(f"{spec.order_id}/{n}", 14),
                        asin=listing.asin if listing else "B0UNKNOWN0",
                        seller_sku=sku,
                        title=listing.title if listing else sku,
                        quantity=qty,
                    )
                )
            order = Order(
                spec, last_updated=max(spec.created, self.now()), status=spec.status, items=items
            )
            self.orders[spec.order_id] = order
            self._notify(order)
            return order

    def set_status(self, order_id: str, status: str) -> Order:
        """Seller Central side changes: payment cleared (PENDING→UNSHIPPED), buyer cancelled, ..."""
        with self._lock:
            order = self.orders.get(order_id)
            if order is None:
                raise KeyError(order_id)
            if status not in V0_STATUS:
                raise ValueError(f"unknown status {status!r}")
            order.status = status
            order.last_updated = self.now()
            self._notify(order)
            return order

    def release_pending(self) -> list[str]:
        """Every PENDING order's payment clears: they become UNSHIPPED."""
        with self._lock:
            ids = [o.order_id for o in self.orders.values() if o.status == "PENDING"]
            for order_id in ids:
                self.set_status(order_id, "UNSHIPPED")
            return ids

    def _notify(self, order: Order) -> None:
        spec = order.spec
        self.notifications.append(
            {
                "NotificationVersion": "1.0",
                "NotificationType": "ORDER_CHANGE",
                "PayloadVersion": "1.0",
                "EventTime": iso(order.last_updated),
                "Payload": {
                    "OrderChangeNotification": {
                        "NotificationLevel": "OrderLevel",
                        "SellerId": self.scenario.seller_id,
                        "AmazonOrderId": order.order_id,
                        "OrderChangeType": "OrderStatusChange",
                        "OrderChangeTrigger": {
                            "TimeOfOrderChange": iso(order.last_updated),
                            "ChangeReason": "Order status changed",
                        },
                        "Summary": {
                            "MarketplaceId": self.scenario.marketplace_id,
                            "OrderStatus": V0_STATUS[order.status],
                            "PurchaseDate": iso(spec.created),
                            "DestinationPostalCode": spec.postal_code,
                            "FulfillmentType": "AFN" if spec.fulfilled_by == "AMAZON" else "MFN",
                            "OrderType": "StandardOrder",
                            "NumberOfItemsShipped": sum(i.shipped for i in order.items),
                            "NumberOfItemsUnshipped": sum(
                                i.quantity - i.shipped for i in order.items
                            ),
                            "OrderItems": [
                                {
                                    "OrderItemId": i.order_item_id,
                                    "SellerSKU": i.seller_sku,
                                    "SupplySourceId": "",
                                    "OrderItemStatus": V0_STATUS[order.status],
                                    "Quantity": i.quantity,
                                    "QuantityShipped": i.shipped,
                                }
                                for i in order.items
                            ],
                        },
                    }
                },
                "NotificationMetadata": {
                    "ApplicationId": "amzn1.sellerapps.app.sandbox",
                    "SubscriptionId": "sandbox-subscription",
                    "PublishTime": iso(order.last_updated),
                    "NotificationId": secrets.token_hex(16),
                },
            }
        )

    def pop_notifications(self) -> list[Json]:
        with self._lock:
            out, self.notifications = self.notifications, []
            return out

    def _order(self, order_id: str) -> Order:
        order = self.orders.get(order_id)
        if order is None:
            raise ApiError(404, "NotFound", f"Order {order_id} not found")
        return order

    # Orders 2026-01-01 -------------------------------------------------------------------------
    def render_2026(self, order: Order, included: set[str]) -> Json:
        spec = order.spec
        latest_ship, latest_delivery = promise_dates(spec.created, spec.service_level)
        merchant = spec.fulfilled_by == "MERCHANT"
        out: Json = {
            "orderId": order.order_id,
            "createdTime": iso(spec.created),
            "lastUpdatedTime": iso(order.last_updated),
            "programs": ["PRIME"] if spec.is_prime else [],
            "salesChannel": {
                "channelName": "AMAZON",
                "marketplaceId": self.scenario.marketplace_id,
                "marketplaceName": "Amazon.com",
            },
            "orderItems": [],
        }
        for item in order.items:
            entry: Json = {
                "orderItemId": item.order_item_id,
                "quantityOrdered": item.quantity,
                "product": {
                    "asin": item.asin,
                    "title": item.title,
                    "sellerSku": item.seller_sku,
                    "condition": {"conditionType": "NEW", "conditionSubtype": "NEW"},
                    "price": {"unitPrice": {"amount": UNIT_PRICE, "currencyCode": "USD"}},
                },
            }
            if "FULFILLMENT" in included:
                entry["fulfillment"] = {
                    "quantityFulfilled": item.shipped,
                    "quantityUnfulfilled": item.quantity - item.shipped,
                }
            out["orderItems"].append(entry)
        if "BUYER" in included:
            out["buyer"] = {
                "buyerName": spec.buyer_name,
                "buyerEmail": "sandbox@marketplace.invalid",
            }
        if "RECIPIENT" in included and order.status not in ("PENDING", "CANCELLED"):
            out["recipient"] = {
                "deliveryAddress": {
                    "name": spec.buyer_name,
                    "addressLine1": spec.address_line1,
                    "city": spec.city,
                    "stateOrRegion": spec.state,
                    "postalCode": spec.postal_code,
                    "countryCode": spec.country_code,
                    "addressType": "RESIDENTIAL",
                }
            }
        if "FULFILLMENT" in included:
            fulfillment: Json = {
                "fulfillmentStatus": order.status,
                "fulfilledBy": spec.fulfilled_by,
                "fulfillmentServiceLevel": spec.service_level,
            }
            if merchant:
                fulfillment["shipByWindow"] = {
                    "earliestDateTime": iso(spec.created),
                    "latestDateTime": iso(latest_ship),
                }
                if order.status not in ("PENDING", "PENDING_AVAILABILITY", "CANCELLED"):
                    fulfillment["deliverByWindow"] = {
                        "earliestDateTime": iso(latest_ship),
                        "latestDateTime": iso(latest_delivery),
                    }
            out["fulfillment"] = fulfillment
        if "PACKAGES" in included and order.packages:
            out["packages"] = [
                {
                    "packageReferenceId": p.package_reference_id,
                    "createdTime": iso(p.received_at),
                    "packageStatus": {"status": "SHIPPED"},
                    "carrier": p.carrier_name or p.carrier_code,
                    "shipTime": p.ship_date,
                    "shippingService": p.shipping_method,
                    "trackingNumber": p.tracking_number,
                    "packageItems": [{"orderItemId": i, "quantity": q} for i, q in p.items],
                }
                for p in order.packages
            ]
        return out

    def _select(self, params: dict[str, str], *, v0: bool) -> tuple[list[Order], Json]:
        names = (
            ("CreatedAfter", "CreatedBefore", "LastUpdatedAfter", "LastUpdatedBefore")
            if v0
            else ("createdAfter", "createdBefore", "lastUpdatedAfter", "lastUpdatedBefore")
        )
        created_after, created_before, updated_after, updated_before = (
            params.get(n) for n in names
        )
        if bool(created_after) == bool(updated_after):
            raise ApiError(
                400, "InvalidInput", f"Exactly one of {names[0]} and {names[2]} must be provided."
            )
        if created_after and (updated_before or updated_after):
            raise ApiError(400, "InvalidInput", "Created* and LastUpdated* cannot be combined.")
        now = self.now()
        bounds: Json = {}
        if updated_after:
            lo = parse_iso(updated_after, names[2])
            hi = parse_iso(updated_before, names[3]) if updated_before else now
            bounds["LastUpdatedBefore" if v0 else "lastUpdatedBefore"] = iso(hi)
            if not v0:
                bounds["_includedData"] = params.get("includedData", "")

            def key(o: Order) -> datetime:
                return o.last_updated
        else:
            assert created_after is not None
            lo = parse_iso(created_after, names[0])
            hi = parse_iso(created_before, names[1]) if created_before else now
            bounds["CreatedBefore" if v0 else "createdBefore"] = iso(hi)
            if not v0:
                bounds["_includedData"] = params.get("includedData", "")

            def key(o: Order) -> datetime:
                return o.spec.created

        if v0:
            statuses = {V0_STATUS_BACK.get(s, s) for s in _csv(params.get("OrderStatuses"))}
            channels = _csv(params.get("FulfillmentChannels"))
            by = {"AFN": "AMAZON", "MFN": "MERCHANT"}
            fulfilled_by = {by.get(c, c) for c in channels}
        else:
            statuses = set(_csv(params.get("fulfillmentStatuses")))
            fulfilled_by = set(_csv(params.get("fulfilledBy")))
        selected = [
            o
            for o in self.orders.values()
            if lo <= key(o) <= hi
            and (not statuses or o.status in statuses)
            and (not fulfilled_by or o.spec.fulfilled_by in fulfilled_by)
        ]
        selected.sort(key=lambda o: (key(o), o.order_id))
        return selected, bounds

    def _page(
        self, params: dict[str, str], token_name: str, size_name: str, *, v0: bool
    ) -> tuple[list[Order], str | None, Json]:
        token = params.get(token_name)
        if token:
            if token not in self._pages:
                raise ApiError(400, "InvalidInput", f"Invalid {token_name}.")
            # Tokens stay valid (a retried page must work); the oldest are forgotten.
            ids, bounds = self._pages[token]
        else:
            orders, bounds = self._select(params, v0=v0)
            ids = [o.order_id for o in orders]
        try:
            size = int(params.get(size_name) or 100)
        except ValueError as exc:
            raise ApiError(400, "InvalidInput", f"{size_name} must be an integer.") from exc
        if not 1 <= size <= 100:
            raise ApiError(400, "InvalidInput", f"{size_name} must be between 1 and 100.")
        page, rest = ids[:size], ids[size:]
        next_token = None
        if rest:
            next_token = secrets.token_urlsafe(16)
            self._pages[next_token] = (rest, bounds)
            while len(self._pages) > 1000:
                self._pages.pop(next(iter(self._pages)))
        return [self.orders[i] for i in page], next_token, bounds

    def search_orders(self, params: dict[str, str]) -> Json:
        with self._lock:
            self.calls["searchOrders"] += 1
            page, next_token, bounds = self._page(
                params, "paginationToken", "maxResultsPerPage", v0=False
            )
            # A page asked for by token renders what that request asks for, else what the first
            # request asked for.
            included = set(_csv(params.get("includedData") or bounds.get("_includedData")))
            public = {k: v for k, v in bounds.items() if not k.startswith("_")}
            body: Json = {"orders": [self.render_2026(o, included) for o in page], **public}
            if next_token:
                body["pagination"] = {"nextToken": next_token}
            return body

    def get_order_2026(self, order_id: str, params: dict[str, str]) -> Json:
        with self._lock:
            self.calls["getOrder"] += 1
            order = self._order(order_id)
            return {"order": self.render_2026(order, set(_csv(params.get("includedData"))))}

    # Orders v0 --------------------------------------------------------------------------------
    def render_v0(self, order: Order) -> Json:
        spec = order.spec
        latest_ship, latest_delivery = promise_dates(spec.created, spec.service_level)
        merchant = spec.fulfilled_by == "MERCHANT"
        shipped = sum(i.shipped for i in order.items)
        out: Json = {
            "AmazonOrderId": order.order_id,
            "PurchaseDate": iso(spec.created),
            "LastUpdateDate": iso(order.last_updated),
            "OrderStatus": V0_STATUS[order.status],
            "FulfillmentChannel": "MFN" if merchant else "AFN",
            "SalesChannel": "Amazon.com",
            "ShipServiceLevel": "Std US D2D Dom",
            "ShipmentServiceLevelCategory": V0_LEVEL[spec.service_level],
            "NumberOfItemsShipped": shipped,
            "NumberOfItemsUnshipped": sum(i.quantity for i in order.items) - shipped,
            "MarketplaceId": self.scenario.marketplace_id,
            "OrderType": "StandardOrder",
            "IsBusinessOrder": False,
            "IsPrime": spec.is_prime,
            "IsPremiumOrder": False,
            "IsReplacementOrder": False,
        }
        if merchant:
            out["EarliestShipDate"] = iso(spec.created)
            out["LatestShipDate"] = iso(latest_ship)
            if order.status not in ("PENDING", "PENDING_AVAILABILITY", "CANCELLED"):
                out["EarliestDeliveryDate"] = iso(latest_ship)
                out["LatestDeliveryDate"] = iso(latest_delivery)
        if order.status in ("UNSHIPPED", "PARTIALLY_SHIPPED", "SHIPPED"):
            # Without a Restricted Data Token Amazon omits name, street lines and phone.
            out["ShippingAddress"] = {
                "City": spec.city,
                "StateOrRegion": spec.state,
                "PostalCode": spec.postal_code,
                "CountryCode": spec.country_code,
            }
        return out

    def get_orders_v0(self, params: dict[str, str]) -> Json:
        with self._lock:
            self.calls["getOrders"] += 1
            if not (params.get("MarketplaceIds") or params.get("marketplaceIds")):
                raise ApiError(400, "InvalidInput", "MarketplaceIds is required.")
            page, next_token, bounds = self._page(params, "NextToken", "MaxResultsPerPage", v0=True)
            payload: Json = {"Orders": [self.render_v0(o) for o in page], **bounds}
            if next_token:
                payload["NextToken"] = next_token
            return {"payload": payload}

    def get_order_v0(self, order_id: str) -> Json:
        with self._lock:
            self.calls["getOrderV0"] += 1
            return {"payload": self.render_v0(self._order(order_id))}

    def get_order_items_v0(self, order_id: str, params: dict[str, str]) -> Json:
        with self._lock:
            self.calls["getOrderItems"] += 1
            order = self._order(order_id)
            size = self.scenario.items_page_size
            start = (
                int(params.get("NextToken") or 0)
                if (params.get("NextToken") or "").isdigit()
                else 0
            )
            items = order.items[start : start + size]
            payload: Json = {
                "AmazonOrderId": order.order_id,
                "OrderItems": [
                    {
                        "ASIN": i.asin,
                        "SellerSKU": i.seller_sku,
                        "OrderItemId": i.order_item_id,
                        "Title": i.title,
                        "QuantityOrdered": i.quantity,
                        "QuantityShipped": i.shipped,
                        "ItemPrice": {"CurrencyCode": "USD", "Amount": UNIT_PRICE},
                        "IsGift": "false",
                        "ConditionId": "New",
                    }
                    for i in items
                ],
            }
            if start + size < len(order.items):
                payload["NextToken"] = str(start + size)
            return {"payload": payload}

    def confirm_shipment(self, order_id: str, body: Json, *, apply: bool = True) -> None:
        """Validates like Amazon (400 with `errors`), then records the package. 204 on success."""
        with self._lock:
            self.calls["confirmShipment"] += 1
            self.received.append(
                {"operation": "confirmShipment", "orderId": order_id, "body": body}
            )
            order = self._order(order_id)
            detail = body.get("packageDetail")
            if body.get("marketplaceId") != self.scenario.marketplace_id:
                raise ApiError(400, "InvalidInput", "marketplaceId is missing or not this order's.")
            if not isinstance(detail, dict):
                raise ApiError(400, "InvalidInput", "packageDetail is required.")
            for name in (
                "packageReferenceId",
                "carrierCode",
                "trackingNumber",
                "shipDate",
                "orderItems",
            ):
                if not detail.get(name):
                    raise ApiError(400, "InvalidInput", f"packageDetail.{name} is required.")
            ref = str(detail["packageReferenceId"])
            if not ref.isdigit() or int(ref) <= 0:
                raise ApiError(400, "InvalidInput", "packageReferenceId must be a positive number.")
            parse_iso(str(detail["shipDate"]), "shipDate")
            if order.spec.fulfilled_by != "MERCHANT":
                raise ApiError(400, "InvalidInput", "Amazon fulfils this order.")
            if order.status not in ("UNSHIPPED", "PARTIALLY_SHIPPED"):
                self.rejected_confirmations.append({"orderId": order_id, "body": body})
                raise ApiError(400, "InvalidInput", f"Order status {V0_STATUS[order.status]}.")
            if any(p.package_reference_id == ref for p in order.packages):
                self.rejected_confirmations.append({"orderId": order_id, "body": body})
                raise ApiError(
                    400, "InvalidInput", f"packageReferenceId {ref} was already confirmed."
                )
            by_id = {i.order_item_id: i for i in order.items}
            wanted: list[tuple[Item, int]] = []
            for n, entry in enumerate(detail["orderItems"]):
                item = by_id.get(str(entry.get("orderItemId")))
                qty = entry.get("quantity")
                if item is None:
                    raise ApiError(400, "InvalidInput", f"orderItems[{n}].orderItemId is unknown.")
                if not isinstance(qty, int) or qty <= 0 or qty > item.quantity - item.shipped:
                    raise ApiError(400, "InvalidInput", f"orderItems[{n}].quantity is invalid.")
                wanted.append((item, qty))
            if not apply:
                return
            for item, qty in wanted:
                item.shipped += qty
            order.packages.append(
                Package(
                    ref,
                    str(detail["carrierCode"]),
                    str(detail.get("carrierName") or ""),
                    str(detail.get("shippingMethod") or ""),
                    str(detail["trackingNumber"]),
                    str(detail["shipDate"]),
                    [(item.order_item_id, qty) for item, qty in wanted],
                    self.now(),
                )
            )
            done = all(i.shipped >= i.quantity for i in order.items)
            order.status = "SHIPPED" if done else "PARTIALLY_SHIPPED"
            order.last_updated = self.now()
            self._notify(order)

    # -- feeds -----------------------------------------------------------------------------------
    def create_feed_document(self, body: Json, base_url: str) -> Json:
        with self._lock:
            self.calls["createFeedDocument"] += 1
            self.received.append({"operation": "createFeedDocument", "body": body})
            if not body.get("contentType"):
                raise ApiError(400, "InvalidInput", "contentType is required.")
            doc_id = self.next_id("amzn1.tortuga.4.na.sandbox.")
            self.upload_content_types[doc_id] = str(body["contentType"])
            return {"feedDocumentId": doc_id, "url": f"{base_url}/_sandbox/uploads/{doc_id}"}

    def upload(self, doc_id: str, data: bytes) -> bool:
        with self._lock:
            if doc_id not in self.upload_content_types:
                return False
            self.documents[doc_id] = data
            return True

    def create_feed(self, body: Json) -> Json:
        with self._lock:
            self.calls["createFeed"] += 1
            self.received.append({"operation": "createFeed", "body": body})
            for name in ("feedType", "inputFeedDocumentId", "marketplaceIds"):
                if not body.get(name):
                    raise ApiError(400, "InvalidInput", f"{name} is required.")
            doc_id = str(body["inputFeedDocumentId"])
            if doc_id not in self.documents:
                raise ApiError(400, "InvalidInput", "inputFeedDocumentId has no uploaded content.")
            feed_id = str(50000000000 + next(self._ids))
            self.feeds[feed_id] = Feed(
                feed_id, str(body["feedType"]), doc_id, list(body["marketplaceIds"]), self.now()
            )
            return {"feedId": feed_id}

    def get_feed(self, feed_id: str) -> Json:
        with self._lock:
            self.calls["getFeed"] += 1
            feed = self.feeds.get(feed_id)
            if feed is None:
                raise ApiError(404, "NotFound", f"Feed {feed_id} not found")
            if feed.status in ("IN_QUEUE", "IN_PROGRESS"):
                feed.polls += 1
                if feed.polls > self.scenario.feed_polls_until_done:
                    # Amazon processes a seller's feeds in queue order: finish the older ones first.
                    for older in sorted(self.feeds.values(), key=lambda f: int(f.feed_id)):
                        if int(older.feed_id) > int(feed_id):
                            break
                        if older.status in ("IN_QUEUE", "IN_PROGRESS"):
                            self._process_feed(older)
                else:
                    feed.status = "IN_PROGRESS"
                    feed.started = feed.started or self.now()
            out: Json = {
                "feedId": feed.feed_id,
                "feedType": feed.feed_type,
                "marketplaceIds": feed.marketplace_ids,
                "createdTime": iso(feed.created),
                "processingStatus": feed.status,
            }
            if feed.started:
                out["processingStartTime"] = iso(feed.started)
            if feed.ended:
                out["processingEndTime"] = iso(feed.ended)
            if feed.result_document_id:
                out["resultFeedDocumentId"] = feed.result_document_id
            return out

    def _process_feed(self, feed: Feed) -> None:
        feed.started = feed.started or self.now()
        if feed.feed_type == PAYMENT_ADJUSTMENT_FEED:
            self._process_adjustments(feed)
            return
        issues: list[Json] = []
        accepted = invalid = 0
        messages: list[Json] = []
        fatal = self._fault_rng.random() < self.faults.fatal_feed_rate
        try:
            doc = json.loads(self.documents[feed.document_id].decode("utf-8"))
            header = doc["header"]
            if header.get("sellerId") != self.scenario.seller_id or header.get("version") != "2.0":
                fatal = True
            messages = list(doc["messages"])
        except (KeyError, TypeError, ValueError, UnicodeDecodeError):
            fatal = True
        if feed.feed_type != "JSON_LISTINGS_FEED":
            fatal = True
        if fatal:
            feed.status = "FATAL"
            issues.append(
                {"code": "SANDBOX_FATAL", "severity": "ERROR", "message": "The feed was rejected."}
            )
        else:
            for message in messages:
                issue = self._apply_message(message)
                if issue is None:
                    accepted += 1
                else:
                    invalid += 1
                    issues.append(issue)
            feed.status = "DONE"
        report = {
            "header": {
                "sellerId": self.scenario.seller_id,
                "version": "2.0",
                "feedId": feed.feed_id,
            },
            "issues": issues,
            "summary": {
                "errors": len(issues),
                "warnings": 0,
                "messagesProcessed": 0 if fatal else len(messages),
                "messagesAccepted": accepted,
                "messagesInvalid": invalid,
            },
        }
        result_id = self.next_id("amzn1.tortuga.4.na.result.")
        self.documents[result_id] = gzip.compress(json.dumps(report).encode("utf-8"))
        self.gzipped.add(result_id)
        feed.result_document_id = result_id
        feed.ended = self.now()

    def _process_adjustments(self, feed: Feed) -> None:
        """An OrderAdjustment XML feed: each message refunds items of one order, all or nothing;
        the processing report is the XML envelope's ProcessingReport."""
        results: list[tuple[int, str, str]] = []  # (message id, code, description)
        processed = accepted = 0
        fatal = self._fault_rng.random() < self.faults.fatal_feed_rate
        messages: list[ET.Element] = []
        try:
            root = ET.fromstring(self.documents[feed.document_id])
            if (
                root.findtext("Header/MerchantIdentifier") != self.scenario.seller_id
                or root.findtext("MessageType") != "OrderAdjustment"
            ):
                fatal = True
            messages = root.findall("Message")
        except (KeyError, ET.ParseError):
            fatal = True
        if fatal:
            feed.status = "FATAL"
            results.append((0, "SANDBOX_FATAL", "The feed was rejected."))
        else:
            for message in messages:
                processed += 1
                raw_id = (message.findtext("MessageID") or "").strip()
                message_id = int(raw_id) if raw_id.isdigit() else 0
                problem = self._apply_adjustment(feed, message_id, message)
                order_id = (message.findtext("OrderAdjustment/AmazonOrderID") or "").strip()
                self.adjustment_results.append((order_id, problem[0] if problem else "ACCEPTED"))
                if problem is None:
                    accepted += 1
                else:
                    results.append((message_id, *problem))
            feed.status = "DONE"
        envelope = ET.Element("AmazonEnvelope")
        header = ET.SubElement(envelope, "Header")
        ET.SubElement(header, "DocumentVersion").text = "1.02"
        ET.SubElement(header, "MerchantIdentifier").text = self.scenario.seller_id
        ET.SubElement(envelope, "MessageType").text = "ProcessingReport"
        message = ET.SubElement(envelope, "Message")
        ET.SubElement(message, "MessageID").text = "1"
        report = ET.SubElement(message, "ProcessingReport")
        ET.SubElement(report, "DocumentTransactionID").text = feed.feed_id
        ET.SubElement(report, "StatusCode").text = "Complete"
        summary = ET.SubElement(report, "ProcessingSummary")
        ET.SubElement(summary, "MessagesProcessed").text = str(processed)
        ET.SubElement(summary, "MessagesSuccessful").text = str(accepted)
        ET.SubElement(summary, "MessagesWithError").text = str(len(results))
        ET.SubElement(summary, "MessagesWithWarning").text = "0"
        for message_id, code, text in results:
            result = ET.SubElement(report, "Result")
            ET.SubElement(result, "MessageID").text = str(message_id)
            ET.SubElement(result, "ResultCode").text = "Error"
            ET.SubElement(result, "ResultMessageCode").text = code
            ET.SubElement(result, "ResultDescription").text = text
        result_id = self.next_id("amzn1.tortuga.4.na.result.")
        self.documents[result_id] = gzip.compress(
            ET.tostring(envelope, encoding="utf-8", xml_declaration=True)
        )
        self.gzipped.add(result_id)
        feed.result_document_id = result_id
        feed.ended = self.now()

    def _apply_adjustment(
        self, feed: Feed, message_id: int, message: ET.Element
    ) -> tuple[str, str] | None:
        adjustment = message.find("OrderAdjustment")
        if message_id <= 0 or adjustment is None:
            return "SANDBOX_INVALID_MESSAGE", "MessageID and OrderAdjustment are required."
        order = self.orders.get((adjustment.findtext("AmazonOrderID") or "").strip())
        if order is None:
            return "SANDBOX_ORDER_NOT_FOUND", "AmazonOrderID is not an order of this seller."
        if order.spec.fulfilled_by != "MERCHANT":
            return "SANDBOX_NOT_MERCHANT", "Amazon refunds the orders it fulfils."
        by_id = {i.order_item_id: i for i in order.items}
        refunded: Counter[str] = Counter()
        for done in self.refunds:
            if done["order_id"] == order.order_id:
                refunded[done["order_item_id"]] += _cents(str(done["amount"]))
        wanted: list[Json] = []
        for adjusted in adjustment.findall("AdjustedItem"):
            item = by_id.get((adjusted.findtext("AmazonOrderItemCode") or "").strip())
            if item is None:
                return "SANDBOX_ITEM_NOT_FOUND", "AmazonOrderItemCode is not an item of the order."
            if (adjusted.findtext("AdjustmentReason") or "") != "CustomerReturn":
                return "SANDBOX_REASON", "Only CustomerReturn adjustments are supported here."
            amount_el = adjusted.find("ItemPriceAdjustments/Component/Amount")
            cents = _cents(amount_el.text or "") if amount_el is not None else 0
            if cents <= 0:
                return "SANDBOX_INVALID_AMOUNT", "A positive Principal amount is required."
            paid = _cents(UNIT_PRICE) * item.shipped
            if refunded[item.order_item_id] + cents > paid:
                # Amazon's own guard: never refund more than the buyer paid for shipped units.
                return "SANDBOX_REFUND_EXCEEDS", "The refund exceeds what was charged."
            refunded[item.order_item_id] += cents
            wanted.append(
                {
                    "feed_id": feed.feed_id,
                    "message_id": message_id,
                    "order_id": order.order_id,
                    "order_item_id": item.order_item_id,
                    "merchant_adjustment_id": adjusted.findtext("MerchantAdjustmentItemID") or "",
                    "amount": f"{cents / 100:.2f}",
                    "currency": amount_el.get("currency", "") if amount_el is not None else "",
                    "quantity": int(adjusted.findtext("Quantity") or 0),
                }
            )
        if not wanted:
            return "SANDBOX_INVALID_MESSAGE", "At least one AdjustedItem is required."
        if self._fault_rng.random() < self.faults.reject_message_rate:
            return "SANDBOX_TRANSIENT", "Temporary processing failure; resubmit."
        self.refunds.extend(wanted)
        return None

    def list_feeds(self, params: dict[str, str]) -> Json:
        with self._lock:
            self.calls["getFeeds"] += 1
            types = set(_csv(params.get("feedTypes")))
            since = (
                parse_iso(params["createdSince"], "createdSince")
                if params.get("createdSince")
                else None
            )
            feeds = [
                f
                for f in sorted(self.feeds.values(), key=lambda f: int(f.feed_id))
                if (not types or f.feed_type in types) and (since is None or f.created >= since)
            ]
            return {
                "feeds": [
                    {
                        "feedId": f.feed_id,
                        "feedType": f.feed_type,
                        "marketplaceIds": f.marketplace_ids,
                        "createdTime": iso(f.created),
                        "processingStatus": f.status,
                    }
                    for f in feeds
                ]
            }

    def _apply_message(self, message: Json) -> Json | None:
        message_id, sku = message.get("messageId"), message.get("sku")

        def issue(code: str, text: str) -> Json:
            out: Json = {"code": code, "severity": "ERROR", "message": text}
            if isinstance(message_id, int):
                out["messageId"] = message_id
            if isinstance(sku, str) and sku:
                out["sku"] = sku
            return out

        if not isinstance(message_id, int) or not isinstance(sku, str) or not sku:
            return issue("SANDBOX_INVALID_MESSAGE", "messageId and sku are required.")
        listing = self.listings.get(sku)
        if listing is None:
            return issue("SANDBOX_SKU_NOT_FOUND", f"SKU {sku} has no listing in this marketplace.")
        if self._fault_rng.random() < self.faults.reject_message_rate:
            return issue("SANDBOX_TRANSIENT", "Temporary processing failure; resubmit.")
        op = message.get("operationType")
        values: Any = None
        if op == "PATCH":
            for patch in message.get("patches") or []:
                if patch.get("path") == "/attributes/fulfillment_availability" and patch.get(
                    "op"
                ) in ("replace", "merge", "add"):
                    values = patch.get("value")
        elif op in ("PARTIAL_UPDATE", "UPDATE"):
            values = (message.get("attributes") or {}).get("fulfillment_availability")
        else:
            return issue("SANDBOX_UNSUPPORTED", f"operationType {op!r} is not supported here.")
        entries = [v for v in values or [] if v.get("fulfillment_channel_code") == "DEFAULT"]
        if (
            not entries
            or not isinstance(entries[0].get("quantity"), int)
            or entries[0]["quantity"] < 0
        ):
            return issue(
                "SANDBOX_INVALID_QUANTITY", "fulfillment_availability needs a quantity >= 0."
            )
        listing.quantity = entries[0]["quantity"]
        listing.history.append(listing.quantity)
        listing.updated = self.now()
        return None

    def feed_document(self, doc_id: str, base_url: str) -> Json:
        with self._lock:
            self.calls["getFeedDocument"] += 1
            if doc_id not in self.documents:
                raise ApiError(404, "NotFound", f"Document {doc_id} not found")
            out: Json = {"feedDocumentId": doc_id, "url": f"{base_url}/_sandbox/documents/{doc_id}"}
            if doc_id in self.gzipped:
                out["compressionAlgorithm"] = "GZIP"
            return out

    def download(self, doc_id: str) -> bytes | None:
        with self._lock:
            return self.documents.get(doc_id)

    # -- listings --------------------------------------------------------------------------------
    def _listing(self, seller_id: str, sku: str) -> Listing:
        if seller_id != self.scenario.seller_id:
            raise ApiError(403, "Unauthorized", "Access to requested resource is denied.")
        listing = self.listings.get(sku)
        if listing is None:
            raise ApiError(404, "NOT_FOUND", f"SKU '{sku}' not found in marketplace.")
        return listing

    def get_listing(self, seller_id: str, sku: str) -> Json:
        with self._lock:
            self.calls["getListingsItem"] += 1
            listing = self._listing(seller_id, sku)
            return {
                "sku": sku,
                "summaries": [
                    {
                        "marketplaceId": self.scenario.marketplace_id,
                        "asin": listing.asin,
                        "productType": "PRODUCT",
                        "conditionType": "new_new",
                        "status": ["BUYABLE", "DISCOVERABLE"],
                        "itemName": listing.title,
                        "createdDate": iso(listing.updated),
                        "lastUpdatedDate": iso(listing.updated),
                    }
                ],
                "fulfillmentAvailability": [
                    {"fulfillmentChannelCode": "DEFAULT", "quantity": listing.quantity}
                ],
            }

    def patch_listing(self, seller_id: str, sku: str, body: Json) -> Json:
        with self._lock:
            self.calls["patchListingsItem"] += 1
            self.received.append({"operation": "patchListingsItem", "sku": sku, "body": body})
            self._listing(seller_id, sku)
            if not body.get("productType") or not body.get("patches"):
                raise ApiError(400, "InvalidInput", "productType and patches are required.")
            issue = self._apply_message(
                {"messageId": 1, "sku": sku, "operationType": "PATCH", "patches": body["patches"]}
            )
            out: Json = {
                "sku": sku,
                "status": "INVALID" if issue else "ACCEPTED",
                "submissionId": secrets.token_hex(16),
                "issues": [],
            }
            if issue:
                out["issues"] = [
                    {
                        "code": issue["code"],
                        "message": issue["message"],
                        "severity": "ERROR",
                        "categories": ["INVALID_ATTRIBUTE"],
                    }
                ]
            return out

    # -- FBA inventory ---------------------------------------------------------------------------
    def inventory_summaries(self, params: dict[str, str]) -> Json:
        with self._lock:
            self.calls["getInventorySummaries"] += 1
            if params.get("granularityType") != "Marketplace" or not params.get("granularityId"):
                raise ApiError(
                    400, "InvalidInput", "granularityType=Marketplace and granularityId."
                )
            wanted = set(_csv(params.get("sellerSkus"))) | set(_csv(params.get("sellerSku")))
            listings = sorted(
                (x for x in self.listings.values() if not wanted or x.seller_sku in wanted),
                key=lambda x: x.seller_sku,
            )
            start = int(params["nextToken"]) if (params.get("nextToken") or "").isdigit() else 0
            page = listings[start : start + 50]
            details = params.get("details") == "true"
            summaries = []
            for x in page:
                summary: Json = {
                    "asin": x.asin,
                    "fnSku": "X00" + x.asin[-7:],
                    "sellerSku": x.seller_sku,
                    "condition": "NewItem",
                    "lastUpdatedTime": iso(x.updated),
                    "productName": x.title,
                    "totalQuantity": x.fba_quantity,
                }
                if details:
                    summary["inventoryDetails"] = {
                        "fulfillableQuantity": x.fba_quantity,
                        "inboundWorkingQuantity": 0,
                        "inboundShippedQuantity": 0,
                        "inboundReceivingQuantity": 0,
                    }
                summaries.append(summary)
            out: Json = {
                "payload": {
                    "granularity": {
                        "granularityType": "Marketplace",
                        "granularityId": params["granularityId"],
                    },
                    "inventorySummaries": summaries,
                }
            }
            if start + 50 < len(listings):
                out["pagination"] = {"nextToken": str(start + 50)}
            return out

    # -- reports (returns) -----------------------------------------------------------------------
    def create_report(self, body: Json) -> Json:
        with self._lock:
            self.calls["createReport"] += 1
            self.received.append({"operation": "createReport", "body": body})
            if not body.get("reportType") or not body.get("marketplaceIds"):
                raise ApiError(400, "InvalidInput", "reportType and marketplaceIds are required.")
            report_id = str(60000000000 + next(self._ids))
            doc_id = self.next_id("amzn1.spdoc.1.4.na.sandbox.")
            rows = self._returns_rows(body) if body["reportType"] == RETURNS_REPORT else []
            text = "\t".join(_RETURNS_COLUMNS) + "\n" + "".join("\t".join(r) + "\n" for r in rows)
            self.documents[doc_id] = gzip.compress(text.encode("utf-8"))
            now = self.now()
            self.reports[report_id] = {
                "reportId": report_id,
                "reportType": body["reportType"],
                "marketplaceIds": list(body["marketplaceIds"]),
                "createdTime": iso(now),
                "processingStatus": "DONE",
                "processingStartTime": iso(now),
                "processingEndTime": iso(now),
                "reportDocumentId": doc_id,
                **{k: body[k] for k in ("dataStartTime", "dataEndTime") if k in body},
            }
            return {"reportId": report_id}

    def _returns_rows(self, body: Json) -> list[list[str]]:
        start = (
            parse_iso(body["dataStartTime"], "dataStartTime") if body.get("dataStartTime") else None
        )
        end = parse_iso(body["dataEndTime"], "dataEndTime") if body.get("dataEndTime") else None
        rows = []
        for order in sorted(self.orders.values(), key=lambda o: o.order_id):
            for package in order.packages:
                # Deterministic per package: the same report twice lists the same returns.
                draw = random.Random(f"{order.order_id}/{package.package_reference_id}")
                if draw.random() >= self.scenario.return_share:
                    continue
                reason = draw.choice(RETURN_REASONS)
                returned = package.received_at + timedelta(hours=self.scenario.return_delay_hours)
                if (start and returned < start) or (end and returned > end):
                    continue
                item_id, qty = package.items[0]
                item = next(i for i in order.items if i.order_item_id == item_id)
                row = {
                    "Order ID": order.order_id,
                    "Order date": iso(order.spec.created)[:10],
                    "Return request date": iso(returned)[:10],
                    "Return request status": "Approved",
                    "Amazon RMA ID": "D"
                    + _stable_digits(f"{order.order_id}/{package.package_reference_id}", 9),
                    "Label type": "AmazonUnPaidLabel",
                    "Currency code": "USD",
                    "Return carrier": package.carrier_code,
                    "Is prime": "Y" if order.spec.is_prime else "N",
                    "ASIN": item.asin,
                    "Merchant SKU": item.seller_sku,
                    "Item Name": item.title,
                    "Return quantity": str(qty),
                    "Return Reason": reason,
                    "In policy": "Y",
                    "Return type": "C-Returns",
                    "Order quantity": str(item.quantity),
                }
                rows.append([row.get(c, "") for c in _RETURNS_COLUMNS])
        return rows

    def get_report(self, report_id: str) -> Json:
        with self._lock:
            self.calls["getReport"] += 1
            report = self.reports.get(report_id)
            if report is None:
                raise ApiError(404, "NotFound", f"Report {report_id} not found")
            return dict(report)

    def report_document(self, doc_id: str, base_url: str) -> Json:
        with self._lock:
            self.calls["getReportDocument"] += 1
            if doc_id not in self.documents:
                raise ApiError(404, "NotFound", f"Document {doc_id} not found")
            return {
                "reportDocumentId": doc_id,
                "url": f"{base_url}/_sandbox/documents/{doc_id}",
                "compressionAlgorithm": "GZIP",
            }

    # -- the record ------------------------------------------------------------------------------
    def record(self) -> Json:
        """What Seller Central now shows: orders with their packages, and each SKU's quantity."""
        with self._lock:
            return {
                "seller_id": self.scenario.seller_id,
                "orders": {
                    o.order_id: {
                        "status": o.status,
                        "fulfilled_by": o.spec.fulfilled_by,
                        "last_updated": iso(o.last_updated),
                        "items": {
                            i.order_item_id: {
                                "seller_sku": i.seller_sku,
                                "quantity": i.quantity,
                                "shipped": i.shipped,
                            }
                            for i in o.items
                        },
                        "packages": [
                            {
                                "package_reference_id": p.package_reference_id,
                                "carrier_code": p.carrier_code,
                                "tracking_number": p.tracking_number,
                                "items": [list(x) for x in p.items],
                            }
                            for p in o.packages
                        ],
                    }
                    for o in self.orders.values()
                },
                "quantities": {s: x.quantity for s, x in sorted(self.listings.items())},
                "quantity_history": {s: list(x.history) for s, x in sorted(self.listings.items())},
                "feeds": {f.feed_id: f.status for f in self.feeds.values()},
                "refunds": [dict(r) for r in self.refunds],
                "adjustment_results": dict(Counter(code for _, code in self.adjustment_results)),
                "rejected_confirmations": len(self.rejected_confirmations),
                "calls": dict(self.calls),
                "faults_injected": dict(self.faults_injected),
            }


def _cents(amount: str) -> int:
    """Whole cents of a decimal amount; 0 when it is not a number."""
    try:
        return int((Decimal(amount.strip()) * 100).to_integral_value())
    except (InvalidOperation, ValueError):
        return 0


def _stable_digits(text: str, digits: int) -> str:
    """Digits derived from text, the same in every process (unlike hash())."""
    number = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")
    return f"{number % 10**digits:0{digits}d}"


def _csv(value: str | None) -> list[str]:
    return [v for v in (value or "").split(",") if v]
