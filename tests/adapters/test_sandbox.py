"""The SP-API sandbox, driven through the real python-amazon-sp-api client and checked against
Amazon's published models."""

from __future__ import annotations

import gzip
import io
import json
import types
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from sp_api.api import Feeds, Inventories, ListingsItems, Orders, Reports
from sp_api.auth import AccessTokenClient
from sp_api.base import (
    SellingApiBadRequestException,
    SellingApiForbiddenException,
    SellingApiRequestThrottledException,
)

from adapters.amazon.sandbox import SandboxServer
from tests.adapters.amazon_models import validate_definition, validate_schema
from tests.adapters.conftest import CREDENTIALS, SELLER_ID

MARKETPLACE = "ATVPDKIKX0DER"


_OPEN: list[Any] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _OPEN:
        client = _OPEN.pop()
        client.close()
        client._auth._transport.close()  # the library never closes its LWA transport


def _client(cls: Any, sandbox: SandboxServer, **kw: Any) -> Any:
    class LocalLwa(AccessTokenClient):  # type: ignore[misc]
        scheme = "http://"
        host = sandbox.url.removeprefix("http://")

    marketplace = types.SimpleNamespace(
        endpoint=sandbox.url, marketplace_id=MARKETPLACE, region="us-east-1"
    )
    # A fresh refresh token per client: the library caches access tokens process-wide by it.
    creds = dict(CREDENTIALS.for_client(), refresh_token=f"rt-{id(kw)}-{id(sandbox)}")
    client = cls(marketplace, credentials=creds, auth_token_client_class=LocalLwa, **kw)
    _OPEN.append(client)
    return client


def _raw(sandbox: SandboxServer, method: str, path: str, **kw: Any) -> httpx.Response:
    token = httpx.post(
        f"{sandbox.url}/auth/o2/token",
        data={
            "grant_type": "refresh_token",
            "client_id": "a",
            "client_secret": "b",
            "refresh_token": "c",
        },
    ).json()["access_token"]
    return httpx.request(method, sandbox.url + path, headers={"x-amz-access-token": token}, **kw)


def test_search_orders_pages_validate_against_orders_2026_model(
    make_sandbox: Callable[..., SandboxServer],
) -> None:
    """searchOrders answers SearchOrdersResponse pages that the real client follows to the end,
    every order exactly once, and each page validates against orders_2026-01-01.json."""
    sandbox = make_sandbox(orders_per_day=25, seed=3)
    client = _client(Orders, sandbox, version="2026-01-01")
    params: dict[str, Any] = {
        "lastUpdatedAfter": "2020-01-01T00:00:00Z",
        "marketplaceIds": [MARKETPLACE],
        "includedData": ["RECIPIENT", "FULFILLMENT", "BUYER"],
        "maxResultsPerPage": 7,
    }
    seen: list[str] = []
    while True:
        page = client.search_orders(**params)
        body = {k: v for k, v in page.payload.items()}
        validate_definition("orders2026", "SearchOrdersResponse", body)
        assert page.rate_limit == "0.0056"
        seen += [o["orderId"] for o in body["orders"]]
        if not page.next_token:
            break
        params = {"paginationToken": page.next_token, "marketplaceIds": [MARKETPLACE]}
    assert sorted(seen) == sorted(sandbox.world.orders)
    assert len(seen) == 25


def test_search_orders_without_a_time_filter_is_an_errors_body(
    make_sandbox: Callable[..., SandboxServer],
) -> None:
    """Amazon requires exactly one of createdAfter/lastUpdatedAfter: the sandbox answers 400 with an
    ErrorList, so the client raises."""
    sandbox = make_sandbox(orders_per_day=1)
    with pytest.raises(SellingApiBadRequestException) as caught:
        _client(Orders, sandbox, version="2026-01-01").search_orders(marketplaceIds=[MARKETPLACE])
    validate_definition("orders2026", "ErrorList", {"errors": caught.value.error})


def test_orders_v0_and_items_paging_validate_against_v0_model(
    make_sandbox: Callable[..., SandboxServer],
) -> None:
    """getOrders and getOrderItems (v0) wrap results in `payload`, page with NextToken, omit the
    restricted address parts, and validate against ordersV0.json."""
    sandbox = make_sandbox(orders_per_day=12, items_page_size=1, max_lines=3, seed=5)
    client = _client(Orders, sandbox)
    page = client.get_orders(LastUpdatedAfter="2020-01-01T00:00:00Z", MaxResultsPerPage=5)
    validate_definition("ordersV0", "GetOrdersResponse", {"payload": page.payload})
    assert page.next_token
    order = next(o for o in page.payload["Orders"] if "ShippingAddress" in o)
    assert set(order["ShippingAddress"]) == {"City", "StateOrRegion", "PostalCode", "CountryCode"}
    multi = next(o for o in sandbox.world.orders.values() if len(o.items) > 1)
    items: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        response = client.get_order_items(multi.order_id, **({"NextToken": token} if token else {}))
        validate_definition("ordersV0", "GetOrderItemsResponse", {"payload": response.payload})
        items += response.payload["OrderItems"]
        token = response.next_token
        if not token:
            break
    assert [i["OrderItemId"] for i in items] == [i.order_item_id for i in multi.items]


def test_confirm_shipment_records_package_and_rejects_a_repeat(
    make_sandbox: Callable[..., SandboxServer],
) -> None:
    """confirmShipment answers 204 (the client's {"status_code": 204}) and records the package; the
    same packageReferenceId again is a 400 ErrorList; the record and getOrder (2026-01-01, a valid
    GetOrderResponse) show one package."""
    sandbox = make_sandbox(
        orders_per_day=10, pending_share=0, cancelled_share=0, fba_share=0, seed=7
    )
    order = next(iter(sandbox.world.orders.values()))
    item = order.items[0]
    body = {
        "marketplaceId": MARKETPLACE,
        "packageDetail": {
            "packageReferenceId": "1",
            "carrierCode": "UPS",
            "trackingNumber": "1Z999AA10123456784",
            "shipDate": "2026-12-01T15:00:00.000Z",
            "orderItems": [{"orderItemId": item.order_item_id, "quantity": item.quantity}],
        },
    }
    validate_definition("ordersV0", "ConfirmShipmentRequest", body)
    client = _client(Orders, sandbox)
    assert client.confirm_shipment(order.order_id, **body).payload == {"status_code": 204}
    with pytest.raises(SellingApiBadRequestException) as caught:
        client.confirm_shipment(order.order_id, **body)
    validate_definition("ordersV0", "ConfirmShipmentErrorResponse", {"errors": caught.value.error})
    packages = sandbox.world.record()["orders"][order.order_id]["packages"]
    assert [p["tracking_number"] for p in packages] == ["1Z999AA10123456784"]
    # Orders 2026-01-01 getOrder shows the package (the adapter checks this before a resend).
    shown = _client(Orders, sandbox, version="2026-01-01").get_order(
        order.order_id, includedData=["PACKAGES", "FULFILLMENT"]
    )
    validate_definition("orders2026", "GetOrderResponse", dict(shown.payload))
    assert [p["trackingNumber"] for p in shown.payload["order"]["packages"]] == [
        "1Z999AA10123456784"
    ]


def test_feed_round_trip_applies_quantity_and_reports_per_message(
    make_sandbox: Callable[..., SandboxServer],
) -> None:
    """createFeedDocument → upload → createFeed → getFeed → processing report: every response
    validates against feeds_2021-06-30.json, the report against the processing-report schema, the
    known SKU's quantity is applied and the unknown SKU's message is reported as an ERROR issue."""
    sandbox = make_sandbox(orders_per_day=0)
    feeds = _client(Feeds, sandbox)
    document = {
        "header": {"sellerId": SELLER_ID, "version": "2.0"},
        "messages": [
            {
                "messageId": n,
                "sku": sku,
                "operationType": "PATCH",
                "productType": "PRODUCT",
                "patches": [
                    {
                        "op": "merge",
                        "path": "/attributes/fulfillment_availability",
                        "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 9}],
                    }
                ],
            }
            for n, sku in ((1, "SKU-001"), (2, "NO-SUCH-SKU"))
        ],
    }
    validate_schema("listingsFeed", document)
    doc = feeds.create_feed_document(
        io.BytesIO(json.dumps(document).encode()), "application/json; charset=UTF-8",
        marketplaceIds=[MARKETPLACE],
    )  # fmt: skip
    validate_definition("feeds", "CreateFeedDocumentResponse", dict(doc.payload))
    feed = feeds.create_feed(
        "JSON_LISTINGS_FEED", doc.payload["feedDocumentId"], marketplaceIds=[MARKETPLACE]
    )
    validate_definition("feeds", "CreateFeedResponse", dict(feed.payload))
    status: dict[str, Any] = {}
    for _ in range(5):
        status = dict(feeds.get_feed(feed.payload["feedId"]).payload)
        validate_definition("feeds", "Feed", status)
        if status["processingStatus"] == "DONE":
            break
    assert status["processingStatus"] == "DONE"
    report = json.loads(feeds.get_feed_document(status["resultFeedDocumentId"]))
    validate_schema("listingsFeedReport", report)
    assert [(i["messageId"], i["severity"]) for i in report["issues"]] == [(2, "ERROR")]
    assert report["summary"]["messagesAccepted"] == 1
    assert sandbox.world.record()["quantities"]["SKU-001"] == 9


def test_listings_inventory_and_returns_report_validate(
    make_sandbox: Callable[..., SandboxServer],
) -> None:
    """Listings Items get/patch, FBA inventory summaries and the returns report answer in their
    models' shapes; a PATCHed quantity shows in getListingsItem; the returns report is a gzipped TSV
    with Amazon's column names."""
    sandbox = make_sandbox(orders_per_day=0)
    listings = _client(ListingsItems, sandbox)
    patch = {
        "productType": "PRODUCT",
        "patches": [
            {
                "op": "replace",
                "path": "/attributes/fulfillment_availability",
                "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 4}],
            }
        ],
    }
    validate_definition("listings", "ListingsItemPatchRequest", patch)
    result = listings.patch_listings_item(
        SELLER_ID, "SKU-002", body=patch, marketplaceIds=[MARKETPLACE]
    )
    validate_definition("listings", "ListingsItemSubmissionResponse", dict(result.payload))
    item = dict(
        listings.get_listings_item(SELLER_ID, "SKU-002", marketplaceIds=[MARKETPLACE]).payload
    )
    validate_definition("listings", "Item", item)
    assert item["fulfillmentAvailability"] == [{"fulfillmentChannelCode": "DEFAULT", "quantity": 4}]

    summaries = _client(Inventories, sandbox).get_inventory_summary_marketplace(details=True)
    validate_definition(
        "fbaInventory", "GetInventorySummariesResponse", {"payload": summaries.payload}
    )
    assert {s["sellerSku"] for s in summaries.payload["inventorySummaries"]} >= {"SKU-001"}

    reports = _client(Reports, sandbox)
    created = reports.create_report(
        reportType="GET_FLAT_FILE_RETURNS_DATA_BY_RETURN_DATE", marketplaceIds=[MARKETPLACE]
    )
    validate_definition("reports", "CreateReportResponse", dict(created.payload))
    report = dict(reports.get_report(created.payload["reportId"]).payload)
    validate_definition("reports", "Report", report)
    document = reports.get_report_document(report["reportDocumentId"], download=True)
    header = document.payload["document"].splitlines()[0].split("\t")
    assert {"Order ID", "Merchant SKU", "Return quantity", "Return Reason"} <= set(header)


def test_injected_429_is_an_errors_body_the_client_raises_on(
    make_sandbox: Callable[..., SandboxServer],
) -> None:
    """With every request throttled, the client raises SellingApiRequestThrottledException (the
    library raises only when the body has `errors`), and the body is an ErrorList."""
    sandbox = make_sandbox(orders_per_day=1, faults={"throttle_rate": 1.0})
    with pytest.raises(SellingApiRequestThrottledException) as caught:
        _client(Orders, sandbox, version="2026-01-01").search_orders(
            lastUpdatedAfter="2020-01-01T00:00:00Z", marketplaceIds=[MARKETPLACE]
        )
    validate_definition("orders2026", "ErrorList", {"errors": caught.value.error})
    assert caught.value.headers["x-amzn-RateLimit-Limit"] == "0.0056"


def test_expired_access_token_is_refused(make_sandbox: Callable[..., SandboxServer]) -> None:
    """An access token past its expires_in is refused with 403 Unauthorized, as Amazon does, so the
    adapter's refresh path is exercised for real."""
    sandbox = make_sandbox(orders_per_day=1, token_ttl_seconds=0)
    with pytest.raises(SellingApiForbiddenException) as caught:
        _client(Orders, sandbox, version="2026-01-01").search_orders(
            lastUpdatedAfter="2020-01-01T00:00:00Z", marketplaceIds=[MARKETPLACE]
        )
    assert caught.value.amzn_code == "Unauthorized"


def test_order_change_notifications_follow_amazon_schema(
    make_sandbox: Callable[..., SandboxServer],
) -> None:
    """Every change queues an ORDER_CHANGE notification that validates against Amazon's schema and
    carries no buyer name or street."""
    sandbox = make_sandbox(orders_per_day=3, pending_share=1.0, seed=2)
    order_id = next(iter(sandbox.world.orders))
    sandbox.world.pop_notifications()
    sandbox.world.set_status(order_id, "UNSHIPPED")
    messages = httpx.get(f"{sandbox.url}/_sandbox/notifications").json()["messages"]
    assert [m["Payload"]["OrderChangeNotification"]["AmazonOrderId"] for m in messages] == [
        order_id
    ]
    validate_schema("orderChange", messages[0])
    assert "Canary" not in json.dumps(messages)


def test_documents_are_gzip_and_uploads_need_a_created_document(
    make_sandbox: Callable[..., SandboxServer],
) -> None:
    """The presigned-style upload URL only accepts documents createFeedDocument issued; an uploaded
    document downloads as uploaded; a malformed feed ends FATAL with a gzipped processing report
    (compressionAlgorithm GZIP) holding a feed-level ERROR."""
    sandbox = make_sandbox(orders_per_day=0)
    assert (
        httpx.put(f"{sandbox.url}/_sandbox/uploads/never-issued", content=b"{}").status_code == 404
    )
    created = _raw(
        sandbox, "POST", "/feeds/2021-06-30/documents", json={"contentType": "application/json"}
    )
    assert created.status_code == 201
    url = created.json()["url"]
    assert httpx.put(url, content=b'{"header":{}}').status_code == 200
    doc_id = created.json()["feedDocumentId"]
    meta = _raw(sandbox, "GET", f"/feeds/2021-06-30/documents/{doc_id}").json()
    validate_definition("feeds", "FeedDocument", meta)
    assert "compressionAlgorithm" not in meta  # stored as uploaded
    assert httpx.get(meta["url"]).content == b'{"header":{}}'
    feed = _raw(
        sandbox, "POST", "/feeds/2021-06-30/feeds",
        json={"feedType": "JSON_LISTINGS_FEED", "inputFeedDocumentId": doc_id,
              "marketplaceIds": [MARKETPLACE]},
    ).json()  # fmt: skip
    status: dict[str, Any] = {}
    for _ in range(3):
        status = _raw(sandbox, "GET", f"/feeds/2021-06-30/feeds/{feed['feedId']}").json()
    # The header has no sellerId: the whole feed is FATAL, with a report saying so.
    assert status["processingStatus"] == "FATAL"
    result = _raw(sandbox, "GET", f"/feeds/2021-06-30/documents/{status['resultFeedDocumentId']}")
    assert result.json()["compressionAlgorithm"] == "GZIP"
    report = json.loads(gzip.decompress(httpx.get(result.json()["url"]).content))
    validate_schema("listingsFeedReport", report)
    assert report["issues"][0]["severity"] == "ERROR" and "messageId" not in report["issues"][0]
