"""JSON_LISTINGS_FEED documents for quantities, and reading their processing reports.

One message per SKU (the latest quantity wins), each a PATCH that merges the DEFAULT (merchant-
fulfilled) `fulfillment_availability` quantity: `merge` changes the quantity without resetting the
listing's handling time, unlike `replace` (Amazon changelog, 2025-06-16).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "FeedOutcome",
    "QuantityMessage",
    "build_quantity_feed",
    "read_processing_report",
]

# Issues worth resubmitting: the listing exists and the value is fine; something passed.
# Anything else (unknown SKU, invalid attribute) is surfaced and retried only slowly.
RETRYABLE_CODES = frozenset({"SANDBOX_TRANSIENT", "InternalFailure", "ServiceUnavailable"})


@dataclass(frozen=True)
class QuantityMessage:
    message_id: int
    seller_sku: str
    quantity: int


def build_quantity_feed(
    seller_id: str, quantities: Mapping[str, int], product_type: str = "PRODUCT"
) -> tuple[dict[str, Any], list[QuantityMessage]]:
    """The feed document and its messages, numbered from 1 in SKU order."""
    messages = [
        QuantityMessage(n, sku, max(0, int(qty)))
        for n, (sku, qty) in enumerate(sorted(quantities.items()), start=1)
    ]
    document = {
        "header": {"sellerId": seller_id, "version": "2.0", "issueLocale": "en_US"},
        "messages": [
            {
                "messageId": m.message_id,
                "sku": m.seller_sku,
                "operationType": "PATCH",
                "productType": product_type,
                "patches": [
                    {
                        "op": "merge",
                        "path": "/attributes/fulfillment_availability",
                        "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": m.quantity}],
                    }
                ],
            }
            for m in messages
        ],
    }
    return document, messages


@dataclass(frozen=True)
class FeedOutcome:
    accepted: frozenset[int]
    # messageId -> (retryable, "CODE: message")
    failed: dict[int, tuple[bool, str]]
    warnings: dict[int, str]


def read_processing_report(report_text: str, message_ids: Iterable[int]) -> FeedOutcome:
    """Matches the report's issues to the messages sent. A message with an ERROR issue failed;
    warnings do not fail a message. A feed-level ERROR (no messageId) fails every message,
    retryably."""
    ids = set(message_ids)
    report = json.loads(report_text)
    failed: dict[int, tuple[bool, str]] = {}
    warnings: dict[int, str] = {}
    feed_level: list[str] = []
    for issue in report.get("issues") or []:
        text = f"{issue.get('code', '?')}: {issue.get('message', '')}"
        message_id = issue.get("messageId")
        severity = issue.get("severity")
        if message_id is None:
            if severity == "ERROR":
                feed_level.append(text)
            continue
        if message_id not in ids:
            continue
        if severity == "ERROR":
            retryable = str(issue.get("code")) in RETRYABLE_CODES
            previous = failed.get(message_id)
            failed[message_id] = (retryable and (previous is None or previous[0]), text)
        elif severity == "WARNING":
            warnings[message_id] = text
    if feed_level:
        failed = {m: (True, "; ".join(feed_level)) for m in ids}
    return FeedOutcome(frozenset(ids - set(failed)), failed, warnings)
