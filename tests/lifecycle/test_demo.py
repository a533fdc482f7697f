"""The demo runs the whole lifecycle: ship, deliver, return, restock, refund, report."""

from __future__ import annotations

import io
import re

from server._demo import run_demo


def test_demo_ships_delivers_returns_refunds_and_prints_the_report() -> None:
    """A small demo run cancels and re-routes, ships (one order in two packages), delivers,
    receives returns (some restocked, some written off), sends refunds, prints the returns report
    and ends with the invariants holding."""
    out = io.StringIO()
    assert run_demo(orders=80, seed=3, out=out) == 0
    text = out.getvalue()
    assert re.search(r"Warehouse cancel: \S+ cancelled \S+; (re-routed to|held)", text)
    assert re.search(r"shipped \d+ packages \(\S+ shipped in two packages\)", text)
    returns = re.search(
        r"Returns: 8 requested, (\d+) units received, (\d+) restocked, (\d+) written off;"
        r" (\d+) refunds",
        text,
    )
    assert returns is not None
    received, restocked, written_off, refunds = map(int, returns.groups())
    assert received == restocked + written_off and restocked > 0 and written_off > 0
    assert refunds > 0
    assert "Returns report (by reason code):" in text and "CR-DEFECTIVE" in text
    assert "invariants: OK" in text
