"""POST_PAYMENT_ADJUSTMENT_DATA: refunds to Amazon as an OrderAdjustment XML feed, and reading
its XML processing report.

Amazon's published models (amzn/selling-partner-api-models) carry no schema for this feed; the
document is the XML OrderAdjustment message of Amazon's feed envelope (amzn-envelope.xsd,
DocumentVersion 1.01): per order, one AdjustedItem per order item with AdjustmentReason
CustomerReturn and the refunded Principal. The processing report is the envelope's
ProcessingReport: a Result per message that failed (ResultCode Error) or warned.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from adapters.amazon._feeds import FeedOutcome

__all__ = [
    "PAYMENT_ADJUSTMENT_FEED",
    "RefundItem",
    "RefundMessage",
    "build_adjustment_feed",
    "read_adjustment_report",
    "refund_amount",
]

PAYMENT_ADJUSTMENT_FEED = "POST_PAYMENT_ADJUSTMENT_DATA"
XML_CONTENT_TYPE = "text/xml; charset=UTF-8"
# Amazon's processing-report codes worth resubmitting (its own trouble, not ours).
_RETRYABLE = frozenset({"SANDBOX_TRANSIENT", "InternalFailure", "ServiceUnavailable"})
_CENT = Decimal("0.01")


@dataclass(frozen=True)
class RefundItem:
    order_item_id: str
    quantity: int
    amount: Decimal  # the Principal refunded for these units
    currency: str


@dataclass(frozen=True)
class RefundMessage:
    message_id: int
    rma_id: str
    order_id: str  # AmazonOrderId
    items: tuple[RefundItem, ...]


def refund_amount(unit_price: Decimal, quantity: int, percent: int) -> Decimal:
    """percent of quantity x unit price, to the cent (half up)."""
    return (unit_price * quantity * percent / Decimal(100)).quantize(_CENT, ROUND_HALF_UP)


def build_adjustment_feed(
    seller_id: str, refunds: Sequence[tuple[str, str, Sequence[RefundItem]]]
) -> tuple[bytes, list[RefundMessage]]:
    """One OrderAdjustment message per (rma_id, order_id, items), numbered from 1."""
    envelope = ET.Element(
        "AmazonEnvelope",
        {
            "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",
            "xsi:noNamespaceSchemaLocation": "amzn-envelope.xsd",
        },
    )
    header = ET.SubElement(envelope, "Header")
    ET.SubElement(header, "DocumentVersion").text = "1.01"
    ET.SubElement(header, "MerchantIdentifier").text = seller_id
    ET.SubElement(envelope, "MessageType").text = "OrderAdjustment"
    messages: list[RefundMessage] = []
    for number, (rma_id, order_id, items) in enumerate(refunds, start=1):
        messages.append(RefundMessage(number, rma_id, order_id, tuple(items)))
        message = ET.SubElement(envelope, "Message")
        ET.SubElement(message, "MessageID").text = str(number)
        adjustment = ET.SubElement(message, "OrderAdjustment")
        ET.SubElement(adjustment, "AmazonOrderID").text = order_id
        for n, item in enumerate(items, start=1):
            adjusted = ET.SubElement(adjustment, "AdjustedItem")
            ET.SubElement(adjusted, "AmazonOrderItemCode").text = item.order_item_id
            # Our reference, shown in Seller Central's refund details: the RMA and the item.
            ET.SubElement(adjusted, "MerchantAdjustmentItemID").text = f"{rma_id}-{n}"
            ET.SubElement(adjusted, "AdjustmentReason").text = "CustomerReturn"
            prices = ET.SubElement(adjusted, "ItemPriceAdjustments")
            component = ET.SubElement(prices, "Component")
            ET.SubElement(component, "Type").text = "Principal"
            ET.SubElement(component, "Amount", {"currency": item.currency}).text = str(item.amount)
            ET.SubElement(adjusted, "Quantity").text = str(item.quantity)
    data = ET.tostring(envelope, encoding="utf-8", xml_declaration=True)
    return data, messages


def read_adjustment_report(report_text: str, message_ids: Iterable[int]) -> FeedOutcome:
    """Matches the XML processing report to the messages sent. A message with an Error result
    failed; a report with no ProcessingReport, or a StatusCode other than Complete, fails every
    message retryably (nothing can be said about any of them)."""
    ids = set(message_ids)
    root = ET.fromstring(report_text)
    report = root.find("./Message/ProcessingReport")
    if report is None or (report.findtext("StatusCode") or "").strip() != "Complete":
        return FeedOutcome(
            frozenset(), {m: (True, "no complete processing report") for m in ids}, {}
        )
    failed: dict[int, tuple[bool, str]] = {}
    warnings: dict[int, str] = {}
    feed_level: list[str] = []
    for result in report.findall("Result"):
        code = (result.findtext("ResultMessageCode") or "?").strip()
        text = f"{code}: {(result.findtext('ResultDescription') or '').strip()}"
        kind = (result.findtext("ResultCode") or "").strip()
        raw_id = (result.findtext("MessageID") or "").strip()
        message_id = int(raw_id) if raw_id.isdigit() else 0
        if message_id == 0:
            if kind == "Error":
                feed_level.append(text)
            continue
        if message_id not in ids:
            continue
        if kind == "Error":
            previous = failed.get(message_id)
            retryable = code in _RETRYABLE and (previous is None or previous[0])
            failed[message_id] = (retryable, text)
        elif kind == "Warning":
            warnings[message_id] = text
    if feed_level:
        failed = {m: (True, "; ".join(feed_level)) for m in ids}
    return FeedOutcome(frozenset(ids - set(failed)), failed, warnings)


def unit_prices(order: Mapping[str, object]) -> dict[str, tuple[Decimal, str]]:
    """orderItemId -> (unit price, currency) from an Orders 2026-01-01 order."""
    out: dict[str, tuple[Decimal, str]] = {}
    for item in order.get("orderItems") or []:  # type: ignore[attr-defined]  # JSON list
        price = ((item.get("product") or {}).get("price") or {}).get("unitPrice") or {}
        if "amount" in price:
            out[str(item.get("orderItemId"))] = (
                Decimal(str(price["amount"])),
                str(price.get("currencyCode") or "USD"),
            )
    return out
