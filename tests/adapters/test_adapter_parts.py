"""The adapter's parts on their own: throttling, backoff, feed documents and processing reports,
order mapping, credentials, checkpoints, the catalog CSV and notifications."""

from __future__ import annotations

import json
import logging
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sortyard.v1 import types_pb2

from adapters.amazon import (
    PUBLISHED_RATES,
    AdapterState,
    CatalogCsvError,
    CredentialsError,
    RateLimiter,
    RetryPolicy,
    Secret,
    SecretRedactingFilter,
    TokenBucket,
    build_quantity_feed,
    carrier_code,
    from_orders_2026,
    from_orders_v0,
    load_credentials,
    read_catalog_csv,
    read_processing_report,
    to_sortyard_order,
)
from adapters.amazon._state import FeedInFlight, OrderSeen
from tests.adapters.amazon_models import MODEL_FILES, require_models, validate_schema


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


# -- throttling -----------------------------------------------------------------------------------
def test_token_bucket_allows_the_burst_then_the_rate() -> None:
    """A bucket at Amazon's confirmShipment plan (2/s, burst 10) grants 10 at once, then one per
    half second, sleeping (on the injected clock) rather than exceeding the rate."""
    clock = FakeClock()
    bucket = TokenBucket(2.0, 10, clock=clock, sleep=clock.sleep)
    for _ in range(10):
        assert bucket.acquire() == 0
    assert bucket.acquire() == pytest.approx(0.5)
    assert clock.now == pytest.approx(0.5)


@settings(max_examples=60, deadline=None)
@given(
    rate=st.floats(0.001, 50),
    burst=st.integers(1, 30),
    gaps=st.lists(st.floats(0, 5), min_size=1, max_size=80),
)
def test_token_bucket_never_exceeds_burst_plus_rate(
    rate: float, burst: int, gaps: list[float]
) -> None:
    """Property: however requests arrive, the grants up to time t never exceed burst + rate * t."""
    clock = FakeClock()
    bucket = TokenBucket(rate, burst, clock=clock, sleep=clock.sleep)
    for grants, gap in enumerate(gaps, start=1):
        clock.now += gap
        bucket.acquire()
        assert grants <= burst + rate * clock.now + 1e-6


def test_rate_limiter_seeds_published_plans_and_adopts_the_header() -> None:
    """Each operation starts at Amazon's published plan (issue's table) and follows the rate Amazon
    reports in x-amzn-RateLimit-Limit; garbage headers change nothing."""
    limiter = RateLimiter()
    expected = {
        "searchOrders": (0.0056, 20),
        "getOrders": (0.0167, 20),
        "confirmShipment": (2.0, 10),
        "createFeed": (0.0083, 15),
        "createFeedDocument": (0.5, 15),
        "getFeed": (2.0, 15),
    }
    for op, (rate, burst) in expected.items():
        assert (limiter.bucket(op).rate, limiter.bucket(op).burst) == (rate, burst)
        assert (PUBLISHED_RATES[op].rate, PUBLISHED_RATES[op].burst) == (rate, burst)
    limiter.observe("confirmShipment", "0.5")
    assert limiter.bucket("confirmShipment").rate == 0.5
    limiter.observe("confirmShipment", "not-a-number")
    assert limiter.bucket("confirmShipment").rate == 0.5


@given(attempt=st.integers(0, 20), seed=st.integers(0, 2**32))
def test_backoff_is_full_jitter_under_the_cap(attempt: int, seed: int) -> None:
    """Backoff delays are uniform in [0, min(cap, base * 2^attempt)]: jittered and bounded."""
    policy = RetryPolicy(attempts=5, base_seconds=0.5, cap_seconds=30)
    delay = policy.delay(attempt, random.Random(seed))
    assert 0 <= delay <= min(30, 0.5 * 2**attempt)


# -- feeds ----------------------------------------------------------------------------------------
def test_quantity_feed_validates_against_amazon_schema() -> None:
    """The JSON_LISTINGS_FEED the adapter builds validates against listings-feed-schema-v2.json: one
    PATCH message per SKU with unique ids, negative quantities sent as 0."""
    document, messages = build_quantity_feed("A1SELLER", {"B": 3, "A": -2, "C": 0})
    validate_schema("listingsFeed", document)
    assert [(m.message_id, m.seller_sku, m.quantity) for m in messages] == [
        (1, "A", 0),
        (2, "B", 3),
        (3, "C", 0),
    ]
    patch = document["messages"][1]["patches"][0]
    assert patch["path"] == "/attributes/fulfillment_availability"
    assert patch["value"] == [{"fulfillment_channel_code": "DEFAULT", "quantity": 3}]


def test_processing_report_three_errors_two_warnings_out_of_hundred() -> None:
    """Reliability brief T6.4: 100 messages, 3 ERROR and 2 WARNING issues → 97 accepted, 3 failed
    with their codes kept, warnings recorded but not failures."""
    issues = [
        {"messageId": m, "sku": f"S{m}", "code": "90220", "severity": "ERROR", "message": "bad"}
        for m in (5, 6, 7)
    ]
    issues += [
        {"messageId": m, "sku": f"S{m}", "code": "18448", "severity": "WARNING", "message": "meh"}
        for m in (8, 9)
    ]
    summary = {"errors": 3, "warnings": 2, "messagesProcessed": 100}
    summary |= {"messagesAccepted": 97, "messagesInvalid": 3}
    report = {"header": {"sellerId": "A", "version": "2.0", "feedId": "1"}, "issues": issues}
    report["summary"] = summary
    validate_schema("listingsFeedReport", report)
    outcome = read_processing_report(json.dumps(report), range(1, 101))
    assert len(outcome.accepted) == 97
    assert set(outcome.failed) == {5, 6, 7}
    assert all(
        not retryable and text.startswith("90220") for retryable, text in outcome.failed.values()
    )
    assert set(outcome.warnings) == {8, 9}


def test_processing_report_of_amazons_example() -> None:
    """Amazon's own example processing report: messages 4 and 5 failed, the rest accepted."""
    root = require_models()
    text = (
        root / "schemas/feeds/listings-feed-processing-report-schema-v2.example.json"
    ).read_text()
    outcome = read_processing_report(text, [1, 2, 3, 4, 5])
    assert set(outcome.failed) == {4, 5}
    assert outcome.accepted == frozenset({1, 2, 3})


def test_feed_level_error_fails_every_message_retryably() -> None:
    """An ERROR issue with no messageId (a FATAL feed) fails every message, to be sent again."""
    report = {
        "header": {},
        "issues": [{"code": "X", "severity": "ERROR", "message": "fatal"}],
        "summary": {},
    }
    outcome = read_processing_report(json.dumps(report), [1, 2])
    assert outcome.accepted == frozenset()
    assert all(retryable for retryable, _ in outcome.failed.values())


@given(
    ids=st.sets(st.integers(1, 200), min_size=1, max_size=40),
    issues=st.lists(
        st.tuples(
            st.integers(1, 220),
            st.sampled_from(["ERROR", "WARNING", "INFO"]),
            st.sampled_from(["SANDBOX_TRANSIENT", "90220"]),
        ),
        max_size=60,
    ),
)
def test_processing_report_partitions_the_messages(
    ids: set[int], issues: list[tuple[int, str, str]]
) -> None:
    """Property: every message sent is either accepted or failed, never both, never lost; a message
    fails exactly when it has an ERROR issue; issues for unknown ids are ignored."""
    report = {
        "issues": [{"messageId": m, "severity": s, "code": c, "message": "x"} for m, s, c in issues]
    }
    outcome = read_processing_report(json.dumps(report), ids)
    assert outcome.accepted | set(outcome.failed) == ids
    assert not outcome.accepted & set(outcome.failed)
    assert set(outcome.failed) == {m for m, s, _ in issues if s == "ERROR" and m in ids}


# -- order mapping --------------------------------------------------------------------------------
def _static_example(model: str, path: str) -> dict[str, Any]:
    spec = json.loads((require_models() / MODEL_FILES[model]).read_text())
    examples = spec["paths"][path]["get"]["responses"]["200"]["x-amzn-api-sandbox"]["static"]
    response: dict[str, Any] = examples[0]["response"]
    return response


def test_maps_amazons_orders_2026_example_without_pii() -> None:
    """Amazon's own searchOrders example maps to an order with ids, SKUs and the destination's
    postal code, city and country; the buyer's name and street never make it into the mapped
    order."""
    raw = _static_example("orders2026", "/orders/2026-01-01/orders")["orders"][0]
    order = from_orders_2026(raw)
    assert order.order_id == raw["orderId"]
    assert order.fulfilled_by == raw["fulfillment"]["fulfilledBy"]
    assert [line.order_item_id for line in order.lines] == [
        i["orderItemId"] for i in raw["orderItems"]
    ]
    assert order.postal_code == raw["recipient"]["deliveryAddress"]["postalCode"]
    mapped = to_sortyard_order(order, {})
    text = repr(order) + str(mapped)
    assert raw["recipient"]["deliveryAddress"]["name"] not in text
    assert raw["recipient"]["deliveryAddress"]["addressLine1"] not in text


def test_maps_amazons_v0_example() -> None:
    """Amazon's own getOrders example (v0) maps status, fulfilment channel, service level and
    dates."""
    raw = _static_example("ordersV0", "/orders/v0/orders")["payload"]["Orders"][0]
    order = from_orders_v0(
        raw, [{"OrderItemId": "1", "SellerSKU": "S", "QuantityOrdered": 2, "ASIN": "B"}]
    )
    assert order.status == "UNSHIPPED"
    assert order.fulfilled_by == "MERCHANT"
    assert order.service_level == "STANDARD"
    assert order.latest_ship is not None


def test_sortyard_order_routes_only_unshipped_units_through_the_sku_map() -> None:
    """Lines carry OrderItemId as line_id, the master SKU from the catalog (unmapped SKUs
    unchanged),
    and only units not yet shipped; the service level and dates carry over."""
    raw = {
        "orderId": "111-0000000-0000001",
        "createdTime": "2026-12-01T10:00:00Z",
        "lastUpdatedTime": "2026-12-01T11:00:00Z",
        "salesChannel": {"channelName": "AMAZON"},
        "fulfillment": {
            "fulfillmentStatus": "PARTIALLY_SHIPPED",
            "fulfilledBy": "MERCHANT",
            "fulfillmentServiceLevel": "NEXT_DAY",
            "shipByWindow": {"latestDateTime": "2026-12-02T23:59:59Z"},
        },
        "recipient": {
            "deliveryAddress": {
                "postalCode": "60629",
                "stateOrRegion": "IL",
                "city": "Chicago",
                "countryCode": "US",
            }
        },
        "orderItems": [
            {
                "orderItemId": "A1",
                "quantityOrdered": 3,
                "product": {"sellerSku": "AMZ-MUG"},
                "fulfillment": {"quantityFulfilled": 1},
            },
            {
                "orderItemId": "A2",
                "quantityOrdered": 1,
                "product": {"sellerSku": "TEE"},
                "fulfillment": {"quantityFulfilled": 1},
            },
        ],
    }
    mapped = to_sortyard_order(from_orders_2026(raw), {"AMZ-MUG": "MUG-11OZ"})
    assert [(x.line_id, x.sku, x.quantity) for x in mapped.lines] == [("A1", "MUG-11OZ", 2)]
    assert mapped.service_level == types_pb2.NEXT_DAY
    assert mapped.channel == "amazon"
    assert mapped.ship_to.postal_code == "60629"
    assert mapped.latest_ship_date.ToDatetime(tzinfo=UTC) == datetime(
        2026, 12, 2, 23, 59, 59, tzinfo=UTC
    )


def test_unreadable_order_names_the_field() -> None:
    """An order without lastUpdatedTime is an OrderMappingError naming that field (a ValueError)."""
    with pytest.raises(ValueError, match="lastUpdatedTime"):
        from_orders_2026(
            {"orderId": "1", "fulfillment": {"fulfillmentStatus": "UNSHIPPED"}, "orderItems": []}
        )


def test_carrier_codes() -> None:
    """Known carriers use Amazon's carrier codes; anything else is "Other" (sent with
    carrierName)."""
    assert [carrier_code(c) for c in ("ups", "FedEx", " USPS ", "Speedy Couriers")] == [
        "UPS",
        "FedEx",
        "USPS",
        "Other",
    ]


# -- credentials ----------------------------------------------------------------------------------
def test_credentials_from_environment_and_secrets_file(tmp_path: Path) -> None:
    """Credentials come from the library's env names; a secrets file (JSON or KEY=VALUE) wins key by
    key; a missing one is an error naming the variable, never a value."""
    env = {
        "SP_API_REFRESH_TOKEN": "rt-env",
        "LWA_APP_ID": "app-env",
        "LWA_CLIENT_SECRET": "sec-env",
    }
    assert load_credentials(env).for_client() == {
        "refresh_token": "rt-env",
        "lwa_app_id": "app-env",
        "lwa_client_secret": "sec-env",
    }
    secrets = tmp_path / "secrets.env"
    secrets.write_text("# comment\nLWA_CLIENT_SECRET='sec-file'\n")
    secrets.chmod(0o600)
    assert load_credentials(env, secrets).lwa_client_secret.reveal() == "sec-file"
    as_json = tmp_path / "secrets.json"
    as_json.write_text(
        json.dumps({"refresh_token": "rt-json", "lwa_app_id": "a", "lwa_client_secret": "b"})
    )
    assert load_credentials({}, as_json).refresh_token.reveal() == "rt-json"
    with pytest.raises(CredentialsError) as caught:
        load_credentials({"LWA_APP_ID": "app-env"})
    assert "SP_API_REFRESH_TOKEN" in str(caught.value) and "app-env" not in str(caught.value)


def test_secrets_never_print_and_logs_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    """A Secret prints as *** (repr, str, f-string); the redacting filter scrubs a secret that
    slipped into a log message anyway."""
    secret = Secret("hunter2-canary")
    assert "hunter2" not in f"{secret} {secret!r} {[secret]}"
    logger = logging.getLogger("test.redaction")
    handler = logging.Handler()
    records: list[str] = []
    handler.emit = lambda record: records.append(record.getMessage())  # type: ignore[method-assign]
    handler.addFilter(SecretRedactingFilter(["hunter2-canary"]))
    logger.addHandler(handler)
    try:
        logger.warning("token was %s", "hunter2-canary")
    finally:
        logger.removeHandler(handler)
    assert records == ["token was ***"]


# -- checkpoints ----------------------------------------------------------------------------------
def test_state_round_trips_and_replaces_atomically(tmp_path: Path) -> None:
    """The state file survives a save/load round trip with every field, leaves no temporary files,
    and a corrupt file is refused rather than silently reset (which would re-poll from scratch)."""
    path = tmp_path / "state" / "amazon.json"
    state = AdapterState.load(path)
    state.watermark = "2026-12-01T00:00:00+00:00"
    state.orders["111"] = OrderSeen("2026-12-01T00:00:00+00:00", "UNSHIPPED", "routed")
    state.refetch.append("222")
    state.confirms_in_flight["7"] = {"order_id": "111", "package": "1"}
    state.feed = FeedInFlight(
        "doc", {"1": {"sku": "S", "quantity": 3, "update_ids": ["9"]}}, "feed-1"
    )
    state.save()
    again = AdapterState.load(path)
    assert again.to_json() == state.to_json()
    assert sorted(p.name for p in path.parent.iterdir()) == ["amazon.json"]
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not JSON"):
        AdapterState.load(path)


# -- catalog CSV ----------------------------------------------------------------------------------
def test_catalog_csv_reads_entries_and_points_at_bad_lines(tmp_path: Path) -> None:
    """`sortyard skus import` reads a header-driven CSV (tags split on ;); an unknown column or an
    empty sku is an error with FILE:LINE, so nothing half-imports."""
    good = tmp_path / "skus.csv"
    good.write_text(
        "sku,amazon_seller_sku,amazon_asin,tags\nMUG-11OZ,AMZ-MUG,B0MUG,fragile; kitchen\nTEE,,,\n"
    )
    entries = read_catalog_csv(good)
    assert [(e.sku, e.amazon_seller_sku, list(e.tags)) for e in entries] == [
        ("MUG-11OZ", "AMZ-MUG", ["fragile", "kitchen"]),
        ("TEE", "", []),
    ]
    bad_header = tmp_path / "bad.csv"
    bad_header.write_text("sku,amazon_sku\nA,B\n")
    with pytest.raises(CatalogCsvError, match=r"bad.csv:1: header: unknown column\(s\) amazon_sku"):
        read_catalog_csv(bad_header)
    empty_sku = tmp_path / "empty.csv"
    empty_sku.write_text("sku,amazon_seller_sku\nA,B\n,C\n")
    with pytest.raises(CatalogCsvError, match=r"empty.csv:3: sku: empty"):
        read_catalog_csv(empty_sku)
