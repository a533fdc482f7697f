"""Refund decisions follow the policy's refund rules, end to end through a server running a
compiled rules policy; concurrent retries of one receipt refund and restock once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import cast

import grpc
import pytest
from sortyard.v1 import fulfillment_service_pb2 as fs
from sortyard.v1 import network_service_pb2, returns_service_pb2_grpc
from sortyard.v1 import returns_service_pb2 as rs

from rules import RuleSet
from server import start_server
from server._app import RunningServer
from server._runtime import StaticPolicySource
from server._stubs import ApiStubs
from tests.lifecycle.conftest import TIMEOUT, WAREHOUSES, Api, Clock

POLICY = """\
refund 100% when return.reason in ["CR-DEFECTIVE", "CR-DAMAGED_BY_CARRIER"]
refund 50% when return.reason == "CR-UNWANTED_ITEM" and return.condition == "sellable"
manual review when return.reason == "CR-SWITCHEROO"
refund none
"""


@pytest.fixture
def ruled(db_url: str, clock: Clock) -> Iterator[Api]:
    """A server routing and refunding with POLICY."""
    policy = RuleSet.compile(POLICY, "refunds.rules")
    running: RunningServer = start_server(
        db_url, "127.0.0.1:0", clock=clock, policies=StaticPolicySource(policy)
    )
    try:
        with grpc.insecure_channel(running.address) as channel:
            stubs = ApiStubs.connect(channel)
            stubs.network.PutWarehouses(
                network_service_pb2.PutWarehousesRequest(warehouses=WAREHOUSES), timeout=TIMEOUT
            )
            yield Api(
                channel,
                stubs,
                returns_service_pb2_grpc.ReturnsServiceStub(channel),  # type: ignore[no-untyped-call]  # generated
                running,
            )
    finally:
        running.stop(grace=1.0)


def _returned(api: Api, rma: str, reason: str, *units: tuple[int, int]) -> rs.Return:
    """Ship an order of MUG x (sum of units) and receive it back at WEST in those conditions."""
    quantity = sum(q for q, _ in units)
    routed = api.route(f"O-{rma}", ("MUG", quantity))
    api.fulfillment.ConfirmShipment(
        fs.ConfirmShipmentRequest(
            fulfillment_order_id=routed.fulfillment_orders[0].fulfillment_order_id,
            carrier="UPS",
            tracking_number=f"1Z-{rma}",
        ),
        timeout=TIMEOUT,
    )
    rid = api.returns.CreateReturn(
        rs.CreateReturnRequest(
            channel="amazon",
            channel_rma_id=rma,
            channel_order_id=f"O-{rma}",
            lines=[rs.ReturnLine(line_id="1", quantity=quantity)],
            reason_code=reason,
            authorize=True,
        ),
        timeout=TIMEOUT,
    ).rma.return_id
    return cast(
        rs.Return,
        api.returns.ReceiveReturn(
            rs.ReceiveReturnRequest(
                return_id=rid,
                warehouse_id="WEST",
                units=[
                    rs.ReceivedUnits(line_id="1", quantity=q, condition=c)  # type: ignore[arg-type]
                    for q, c in units
                ],
            ),
            timeout=TIMEOUT,
        ).rma,
    )


S, D = rs.ITEM_CONDITION_SELLABLE, rs.ITEM_CONDITION_DAMAGED


@pytest.mark.parametrize(
    ("reason", "units", "kind", "percent", "state"),
    [
        ("CR-DEFECTIVE", [(1, D)], rs.REFUND_KIND_PERCENT, 100, rs.RETURN_STATE_REFUNDED),
        ("CR-UNWANTED_ITEM", [(2, S)], rs.REFUND_KIND_PERCENT, 50, rs.RETURN_STATE_REFUNDED),
        # 1 sellable unit at 50 %, 1 damaged unit at none: 25 % unit-weighted.
        (
            "CR-UNWANTED_ITEM",
            [(1, S), (1, D)],
            rs.REFUND_KIND_PERCENT,
            25,
            rs.RETURN_STATE_REFUNDED,
        ),
        ("CR-SWITCHEROO", [(1, S)], rs.REFUND_KIND_MANUAL_REVIEW, 0, rs.RETURN_STATE_RESTOCKED),
        ("AMZ-PG-BAD-DESC", [(1, D)], rs.REFUND_KIND_NONE, 0, rs.RETURN_STATE_WRITTEN_OFF),
    ],
)
def test_refunds_follow_the_rules(
    ruled: Api, reason: str, units: list[tuple[int, int]], kind: int, percent: int, state: int
) -> None:
    """Each return gets the verdict of the first matching refund rule; only a percentage sends a
    refund request to the channel, with each line's percentage."""
    ruled.sync(("EAST", "MUG", 10))
    stored = _returned(ruled, "RMA-1", reason, *units)
    assert (stored.refund.kind, stored.refund.percent, stored.state) == (kind, percent, state)
    assert stored.refund.rule.startswith("line ")
    entries = ruled.running.store.pull_outbox("amazon", kinds=("refund",))
    if kind == rs.REFUND_KIND_PERCENT:
        [entry] = entries
        assert entry.dedup_key == "RMA-1"
        assert sum(line["quantity"] for line in entry.payload["lines"]) == sum(
            q for q, c in units if reason != "CR-UNWANTED_ITEM" or c == S
        )
    else:
        assert entries == []


def test_concurrent_retries_of_a_receipt_restock_and_refund_once(ruled: Api) -> None:
    """Eight clients sending the same ReceiveReturn at once: exactly one applies it (the rest
    answer already_received), the units are restocked once and one refund is queued."""
    ruled.sync(("EAST", "MUG", 10), ("WEST", "MUG", 0))
    routed = ruled.route("O-1", ("MUG", 2))
    ruled.fulfillment.ConfirmShipment(
        fs.ConfirmShipmentRequest(
            fulfillment_order_id=routed.fulfillment_orders[0].fulfillment_order_id,
            carrier="UPS",
            tracking_number="1Z",
        ),
        timeout=TIMEOUT,
    )
    rid = ruled.returns.CreateReturn(
        rs.CreateReturnRequest(
            channel="amazon",
            channel_rma_id="RMA-1",
            channel_order_id="O-1",
            lines=[rs.ReturnLine(line_id="1", quantity=2)],
            reason_code="CR-DEFECTIVE",
            authorize=True,
        ),
        timeout=TIMEOUT,
    ).rma.return_id
    request = rs.ReceiveReturnRequest(
        return_id=rid,
        warehouse_id="WEST",
        units=[rs.ReceivedUnits(line_id="1", quantity=2, condition=S)],
    )
    answers: list[bool] = []
    lock = threading.Lock()

    def receive() -> None:
        answer = ruled.returns.ReceiveReturn(request, timeout=TIMEOUT)
        with lock:
            answers.append(answer.already_received)

    threads = [threading.Thread(target=receive) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [False] + [True] * 7
    assert ruled.cell("WEST", "MUG") == (2, 0)
    assert len(ruled.running.store.pull_outbox("amazon", kinds=("refund",))) == 1
    assert ruled.running.store.check_invariants() == []
