"""The returns report parser, the payment adjustment feed and its report, and how a returned SKU
is spread over an order's lines: without a server or sandbox."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.amazon._lifecycle import LifecyclePhases
from adapters.amazon._refunds import (
    RefundItem,
    build_adjustment_feed,
    read_adjustment_report,
    refund_amount,
)
from adapters.amazon._returns_report import (
    AmazonReturn,
    ReturnsReportError,
    parse_returns_report,
)

HEADER = (
    "Order ID\tOrder date\tReturn request date\tReturn request status\tAmazon RMA ID\t"
    "Merchant SKU\tReturn quantity\tReturn Reason\n"
)


def test_rows_of_one_rma_are_one_return_with_amazon_reason_unchanged() -> None:
    """Rows sharing an RMA are lines of one return; the reason code is kept verbatim; pending
    approval is created unauthorized, a rejected RMA and an incomplete row create nothing and are
    noted by row number."""
    text = HEADER + (
        "111-0000001-0000001\t2026-11-01\t2026-11-20\tApproved\tD1\tSKU-A\t1\tAMZ-PG-BAD-DESC\n"
        "111-0000001-0000001\t2026-11-01\t2026-11-20\tApproved\tD1\tSKU-B\t2\tAMZ-PG-BAD-DESC\n"
        "111-0000002-0000002\t2026-11-02\t2026-11-21\tPending\tD2\tSKU-A\t1\tCR-DEFECTIVE\n"
        "111-0000003-0000003\t2026-11-02\t2026-11-21\tRejected\tD3\tSKU-A\t1\tCR-DEFECTIVE\n"
        "111-0000004-0000004\t2026-11-02\t2026-11-21\tApproved\tD4\tSKU-A\t\tCR-DEFECTIVE\n"
    )
    returns, skipped = parse_returns_report(text)
    assert [r.rma_id for r in returns] == ["D1", "D2"]
    first, second = returns
    assert first.lines == (("SKU-A", 1), ("SKU-B", 2))
    assert first.reason_code == "AMZ-PG-BAD-DESC" and first.authorized
    assert first.requested_at.startswith("2026-11-20T00:00:00")
    assert not second.authorized
    assert [n.split(":")[0] for n in skipped] == ["row 5", "row 6"]
    assert AmazonReturn.from_json(first.to_json()) == first


def test_a_report_without_the_rma_column_is_refused() -> None:
    """Another report type (no Amazon RMA ID column) is an error, not an empty report."""
    with pytest.raises(ReturnsReportError, match="amazon rma id"):
        parse_returns_report("Order ID\tMerchant SKU\tReturn quantity\tReturn Reason\n")


def test_refund_amount_rounds_to_the_cent_half_up() -> None:
    """percent x quantity x unit price, to the cent."""
    assert refund_amount(Decimal("19.99"), 2, 100) == Decimal("39.98")
    assert refund_amount(Decimal("19.99"), 1, 50) == Decimal("10.00")  # 9.995 rounds up
    assert refund_amount(Decimal("19.99"), 3, 0) == Decimal("0.00")


def test_adjustment_feed_names_each_item_and_its_report_is_matched_per_message() -> None:
    """The OrderAdjustment document carries the order, item, reason and Principal per RMA; the
    processing report fails exactly the messages with an Error result (retryable only for
    Amazon's transient codes)."""
    items = [RefundItem("11111111111111", 2, Decimal("39.98"), "USD")]
    data, messages = build_adjustment_feed(
        "A1SELLER", [("D1", "111-1-1", items), ("D2", "111-2-2", items), ("D3", "111-3-3", items)]
    )
    root = ET.fromstring(data)
    assert root.findtext("MessageType") == "OrderAdjustment"
    adjusted = root.find("Message/OrderAdjustment/AdjustedItem")
    assert adjusted is not None
    assert adjusted.findtext("AmazonOrderItemCode") == "11111111111111"
    assert adjusted.findtext("AdjustmentReason") == "CustomerReturn"
    assert adjusted.findtext("ItemPriceAdjustments/Component/Amount") == "39.98"
    assert [m.rma_id for m in messages] == ["D1", "D2", "D3"]
    report = (
        "<AmazonEnvelope><Message><ProcessingReport><StatusCode>Complete</StatusCode>"
        "<Result><MessageID>2</MessageID><ResultCode>Error</ResultCode>"
        "<ResultMessageCode>SANDBOX_TRANSIENT</ResultMessageCode></Result>"
        "<Result><MessageID>3</MessageID><ResultCode>Error</ResultCode>"
        "<ResultMessageCode>18028</ResultMessageCode></Result>"
        "</ProcessingReport></Message></AmazonEnvelope>"
    )
    outcome = read_adjustment_report(report, [1, 2, 3])
    assert outcome.accepted == frozenset({1})
    assert outcome.failed[2][0] is True and outcome.failed[3][0] is False
    unfinished = read_adjustment_report("<AmazonEnvelope/>", [1, 2])
    assert unfinished.accepted == frozenset() and set(unfinished.failed) == {1, 2}


lines_strategy = st.lists(
    st.tuples(st.sampled_from(["A", "B", "C"]), st.integers(min_value=1, max_value=4)),
    min_size=1,
    max_size=5,
)


@given(order=lines_strategy, returned=st.dictionaries(st.sampled_from(["A", "B", "C"]),
                                                      st.integers(1, 6), min_size=1))  # fmt: skip
def test_returned_units_spread_over_the_order_lines_of_their_sku(
    order: list[tuple[str, int]], returned: dict[str, int]
) -> None:
    """Every returned unit lands on a line of its SKU (lines filled in order, any excess on the
    last, for the server to judge), none is lost or invented, and the same input gives the same
    lines (a replayed report sends an identical CreateReturn)."""
    order_lines = [(f"L{n}", sku, q) for n, (sku, q) in enumerate(order)]
    ret = AmazonReturn("D1", "111", "CR-DEFECTIVE", True, "", tuple(returned.items()))
    phases: Any = LifecyclePhases()
    lines = phases.return_lines(ret, order_lines, {})
    assert lines == phases.return_lines(ret, order_lines, {})
    if any(sku not in {s for _, s, _ in order_lines} for sku in returned):
        assert lines is None
        return
    assert lines is not None
    sku_of_line = {line_id: sku for line_id, sku, _ in order_lines}
    for sku, quantity in returned.items():
        assert sum(q for line_id, s, q in lines if s == sku) == quantity
        assert all(sku_of_line[line_id] == s for line_id, s, _ in lines)
    assert all(q > 0 for _, _, q in lines)
