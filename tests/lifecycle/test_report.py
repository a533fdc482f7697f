"""The returns report against a hand-computed fixture: through the API, the store and the CLI."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sortyard.v1 import fulfillment_service_pb2 as fs
from sortyard.v1 import returns_service_pb2 as rs

from server._convert import datetime_to_proto
from server.cli import main
from tests.lifecycle.conftest import START, TIMEOUT, Api, Clock

DAY = dt.timedelta(days=1)


def _ship(api: Api, channel_order_id: str, sku: str, quantity: int) -> None:
    routed = api.route(channel_order_id, (sku, quantity))
    for fo in routed.fulfillment_orders:
        api.fulfillment.ConfirmShipment(
            fs.ConfirmShipmentRequest(
                fulfillment_order_id=fo.fulfillment_order_id,
                carrier="UPS",
                tracking_number=f"1Z-{channel_order_id}",
            ),
            timeout=TIMEOUT,
        )


def _rma(api: Api, rma: str, order: str, quantity: int, reason: str) -> str:
    created = api.returns.CreateReturn(
        rs.CreateReturnRequest(
            channel="amazon",
            channel_rma_id=rma,
            channel_order_id=order,
            lines=[rs.ReturnLine(line_id="1", quantity=quantity)],
            reason_code=reason,
            authorize=True,
        ),
        timeout=TIMEOUT,
    )
    return str(created.rma.return_id)


def _receive(api: Api, return_id: str, warehouse: str, *units: tuple[int, int]) -> None:
    api.returns.ReceiveReturn(
        rs.ReceiveReturnRequest(
            return_id=return_id,
            warehouse_id=warehouse,
            units=[
                rs.ReceivedUnits(line_id="1", quantity=q, condition=c)  # type: ignore[arg-type]
                for q, c in units
            ],
        ),
        timeout=TIMEOUT,
    )


@pytest.fixture
def fixture(api: Api, clock: Clock) -> Api:
    """Day 0: ship MUG 4 + MUG 6 + CUP 5 + TEE 2. RMA-1 (day 1, MUG 2, CR-DEFECTIVE) received
    sellable at WEST on day 3 and refunded; RMA-2 (day 2, MUG 3, CR-UNWANTED_ITEM) received on day 6
    at EAST: 1 sellable, 2 customer damaged (manual review, no refund); RMA-3 (day 2, CUP 1,
    CR-DEFECTIVE) received defective at EAST 12 h later and refunded; RMA-4 (day 4, TEE 2,
    CR-DAMAGED_BY_CARRIER) never received."""
    api.sync(("EAST", "MUG", 20), ("EAST", "CUP", 20), ("EAST", "TEE", 20))
    _ship(api, "O1", "MUG", 4)
    _ship(api, "O2", "MUG", 6)
    _ship(api, "O3", "CUP", 5)
    _ship(api, "O4", "TEE", 2)
    clock.now = START + DAY
    r1 = _rma(api, "RMA-1", "O1", 2, "CR-DEFECTIVE")
    clock.now = START + 2 * DAY
    r2 = _rma(api, "RMA-2", "O2", 3, "CR-UNWANTED_ITEM")
    r3 = _rma(api, "RMA-3", "O3", 1, "CR-DEFECTIVE")
    clock.now = START + 2.5 * DAY
    _receive(api, r3, "EAST", (1, rs.ITEM_CONDITION_DEFECTIVE))
    clock.now = START + 3 * DAY
    _receive(api, r1, "WEST", (2, rs.ITEM_CONDITION_SELLABLE))
    clock.now = START + 4 * DAY
    _rma(api, "RMA-4", "O4", 2, "CR-DAMAGED_BY_CARRIER")
    clock.now = START + 6 * DAY
    _receive(
        api, r2, "EAST", (1, rs.ITEM_CONDITION_SELLABLE), (2, rs.ITEM_CONDITION_CUSTOMER_DAMAGED)
    )
    clock.now = START + 7 * DAY
    return api


def test_report_numbers_match_the_hand_computed_fixture(fixture: Api) -> None:
    """Return rate per SKU = returned / shipped (MUG 5/10, CUP 1/5, TEE 2/2); reasons by count
    (CR-DEFECTIVE 2 of 4); restock 3 of 6 received = 50 %; refunds after 2 and 0.5 days."""
    report = fixture.returns.ReturnsReport(rs.ReturnsReportRequest(), timeout=TIMEOUT)
    assert [(s.sku, s.units_shipped, s.units_returned, s.return_rate) for s in report.skus] == [
        ("CUP", 5, 1, 0.2),
        ("MUG", 10, 5, 0.5),
        ("TEE", 2, 2, 1.0),
    ]
    assert [(r.reason_code, r.returns, r.units, r.share) for r in report.reasons] == [
        ("CR-DEFECTIVE", 2, 3, 0.5),
        ("CR-DAMAGED_BY_CARRIER", 1, 2, 0.25),
        ("CR-UNWANTED_ITEM", 1, 3, 0.25),
    ]
    assert (
        report.units_returned,
        report.units_received,
        report.units_restocked,
        report.units_written_off,
    ) == (8, 6, 3, 3)
    assert report.restock_percent == 50.0
    assert report.refunded_returns == 2
    assert report.mean_days_to_refund == pytest.approx(1.25)
    assert report.median_days_to_refund == pytest.approx(1.25)


def test_report_by_warehouse_and_window(fixture: Api) -> None:
    """Grouped by receiving warehouse (unreceived returns apart); a window from day 2 keeps only
    the returns created since, and nothing shipped in it."""
    by_wh = fixture.returns.ReturnsReport(
        rs.ReturnsReportRequest(group_by=rs.REPORT_GROUPING_WAREHOUSE), timeout=TIMEOUT
    )
    rows = {
        r.key: (r.returns, r.units_returned, r.units_received, r.units_restocked)
        for r in by_wh.rows
    }
    assert rows == {"EAST": (2, 4, 4, 1), "WEST": (1, 2, 2, 2), "(not received)": (1, 2, 0, 0)}
    windowed = fixture.returns.ReturnsReport(
        rs.ReturnsReportRequest(since=datetime_to_proto(START + 2 * DAY)), timeout=TIMEOUT
    )
    assert windowed.units_returned == 6
    assert [(s.sku, s.units_shipped, s.return_rate) for s in windowed.skus] == [
        ("CUP", 0, 0.0),
        ("MUG", 0, 0.0),
        ("TEE", 0, 0.0),
    ]
    assert windowed.refunded_returns == 1
    assert windowed.mean_days_to_refund == pytest.approx(0.5)


def test_cli_report_reads_the_store_and_draws_a_chart(
    fixture: Api, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`sortyard report returns --db URL --by reason --format json --chart F.png` prints the same
    figures as the API and writes a PNG; `--format csv` prints one row per group."""
    chart = tmp_path / "returns.png"
    code = main(
        [
            "report",
            "returns",
            "--db",
            db_url,
            "--until",
            "2026-03-20",
            "--by",
            "reason",
            "--format",
            "json",
            "--chart",
            str(chart),
        ]
    )
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["restock_percent"] == 50.0
    assert {r["key"]: r["units_returned"] for r in data["rows"]} == {
        "CR-DEFECTIVE": 3,
        "CR-UNWANTED_ITEM": 3,
        "CR-DAMAGED_BY_CARRIER": 2,
    }
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["report", "returns", "--server", fixture.running.address, "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("sku,returns,units_returned")
    assert lines[1].startswith("MUG,2,5,")
