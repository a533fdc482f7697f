"""Returns over gRPC: RMAs created idempotently, received into stock or the write-off bucket,
quantities pushed to every channel, refunds decided by the policy and queued exactly once."""

from __future__ import annotations

from typing import cast

import grpc
import pytest
from sortyard.v1 import fulfillment_service_pb2 as fs
from sortyard.v1 import inventory_service_pb2 as inv
from sortyard.v1 import returns_service_pb2 as rs

from server.store import OutboxEntry
from tests.lifecycle.conftest import TIMEOUT, Api, Clock
from tests.server.helpers import error_reason, field_violations


def _shipped_order(api: Api, channel_order_id: str = "A-1") -> str:
    """An order of 3 MUG + 1 CUP from EAST, shipped; returns its order id."""
    api.sync(("EAST", "MUG", 10), ("EAST", "CUP", 10), ("WEST", "MUG", 0))
    routed = api.route(channel_order_id, ("MUG", 3), ("CUP", 1))
    for fo in routed.fulfillment_orders:
        api.fulfillment.ConfirmShipment(
            fs.ConfirmShipmentRequest(
                fulfillment_order_id=fo.fulfillment_order_id,
                carrier="UPS",
                tracking_number=f"1Z-{channel_order_id}",
            ),
            timeout=TIMEOUT,
        )
    return routed.order_id


def _create(
    api: Api, rma: str, lines: list[tuple[str, int]], reason: str = "CR-DEFECTIVE", **kw: object
) -> rs.CreateReturnResponse:
    return cast(
        rs.CreateReturnResponse,
        api.returns.CreateReturn(
            rs.CreateReturnRequest(
                channel="amazon",
                channel_rma_id=rma,
                channel_order_id=str(kw.pop("channel_order_id", "A-1")),
                lines=[rs.ReturnLine(line_id=line_id, quantity=q) for line_id, q in lines],
                reason_code=reason,
                **kw,  # type: ignore[arg-type]
            ),
            timeout=TIMEOUT,
        ),
    )


def _receive(
    api: Api, return_id: str, units: list[tuple[str, int, int]], warehouse: str = "WEST"
) -> rs.ReceiveReturnResponse:
    return cast(
        rs.ReceiveReturnResponse,
        api.returns.ReceiveReturn(
            rs.ReceiveReturnRequest(
                return_id=return_id,
                warehouse_id=warehouse,
                units=[
                    rs.ReceivedUnits(line_id=line_id, quantity=q, condition=c)  # type: ignore[arg-type]
                    for line_id, q, c in units
                ],
            ),
            timeout=TIMEOUT,
        ),
    )


def _drain(api: Api, channel: str, kind: str) -> list[OutboxEntry]:
    store = api.running.store
    entries = store.pull_outbox(channel, kinds=(kind,), limit=1000)
    store.ack_outbox([e.outbox_id for e in entries])
    return entries


def test_a_return_restocks_exactly_the_sellable_units_and_pushes_every_channel(
    api: Api, clock: Clock
) -> None:
    """Of three returned units, the two sellable ones go back on hand at the receiving warehouse
    and the damaged one to the write-off bucket (shown in GetAvailability, never sold); a quantity
    update for the SKU is queued for every known channel, and each channel's available-to-sell
    includes the restocked units."""
    api.running.store.register_channels(["amazon", "shopify"])
    _shipped_order(api)
    created = _create(api, "RMA-1", [("1", 3)], authorize=True)
    assert created.rma.state == rs.RETURN_STATE_AUTHORIZED
    for channel in ("amazon", "shopify"):
        _drain(api, channel, "quantity")
    before = api.cell("WEST", "MUG")
    clock.advance(days=3)
    answer = _receive(
        api,
        created.rma.return_id,
        [("1", 2, rs.ITEM_CONDITION_SELLABLE), ("1", 1, rs.ITEM_CONDITION_DAMAGED)],
    )
    stored = answer.rma
    assert not answer.already_received
    assert api.cell("WEST", "MUG") == (before[0] + 2, 0)
    assert api.cell("EAST", "MUG") == (7, 0)
    for channel in ("amazon", "shopify"):
        queued = _drain(api, channel, "quantity")
        assert [e.payload for e in queued] == [{"sku": "MUG"}]
    view = api.inventory.GetAvailability(inv.GetAvailabilityRequest(skus=["MUG"]), timeout=TIMEOUT)
    west = next(w for w in view.warehouses if w.warehouse_id == "WEST")
    assert (west.on_hand, west.written_off, west.available) == (2, 1, 2)
    per_channel = {a.channel: a.available for a in view.availability}
    assert per_channel["amazon"] == per_channel["shopify"] == 7 + 2
    assert [(r.condition, r.quantity, r.restocked) for r in stored.receipts] == [
        (rs.ITEM_CONDITION_SELLABLE, 2, True),
        (rs.ITEM_CONDITION_DAMAGED, 1, False),
    ]
    assert [e.event for e in stored.history] == [
        "requested",
        "authorized",
        "received",
        "inspected",
        "restocked",
        "refunded",
    ]
    assert api.running.store.check_invariants() == []


def test_refund_goes_out_exactly_once_even_when_receive_is_retried(api: Api) -> None:
    """The refund request is queued once per RMA (dedup key = the RMA), also when ReceiveReturn is
    retried after it succeeded; the retry answers already_received and restocks nothing more."""
    _shipped_order(api)
    rid = _create(api, "RMA-1", [("1", 1)], authorize=True).rma.return_id
    first = _receive(api, rid, [("1", 1, rs.ITEM_CONDITION_SELLABLE)])
    after_first = api.cell("WEST", "MUG")
    again = _receive(api, rid, [("1", 1, rs.ITEM_CONDITION_SELLABLE)])
    assert again.already_received
    assert api.cell("WEST", "MUG") == after_first
    refund = first.rma.refund
    assert (refund.kind, refund.percent, refund.rule) == (rs.REFUND_KIND_PERCENT, 100, "default")
    entries = _drain(api, "amazon", "refund")
    assert [(e.dedup_key, e.payload["lines"]) for e in entries] == [
        (
            "RMA-1",
            [
                {
                    "line_id": "1",
                    "sku": "MUG",
                    "quantity": 1,
                    "condition": "sellable",
                    "percent": 100,
                    "rule": "default",
                }
            ],
        )
    ]
    _receive(api, rid, [("1", 1, rs.ITEM_CONDITION_SELLABLE)])
    assert _drain(api, "amazon", "refund") == []


def test_default_refund_sends_customer_damage_to_manual_review(api: Api) -> None:
    """With no refund rule, a unit the customer damaged goes to manual review: nothing is sent to
    the channel and the return stays written off (not refunded)."""
    _shipped_order(api)
    rid = _create(api, "RMA-1", [("2", 1)], "CR-UNWANTED_ITEM", authorize=True)
    answer = _receive(api, rid.rma.return_id, [("2", 1, rs.ITEM_CONDITION_CUSTOMER_DAMAGED)])
    stored = answer.rma
    assert stored.state == rs.RETURN_STATE_WRITTEN_OFF
    assert stored.refund.kind == rs.REFUND_KIND_MANUAL_REVIEW
    assert _drain(api, "amazon", "refund") == []


def test_create_return_is_idempotent_by_channel_rma(api: Api) -> None:
    """The same RMA again answers the stored return (replayed); the same RMA with different lines
    is INVALID_ARGUMENT; returning more than shipped names the field."""
    _shipped_order(api)
    first = _create(api, "RMA-1", [("1", 2)])
    again = _create(api, "RMA-1", [("1", 2)])
    assert again.replayed and not first.replayed
    assert again.rma.return_id == first.rma.return_id
    with pytest.raises(grpc.RpcError) as caught:
        _create(api, "RMA-1", [("1", 1)])
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_reason(caught.value) == "IDEMPOTENCY_CONFLICT"
    with pytest.raises(grpc.RpcError) as caught:
        _create(api, "RMA-2", [("1", 2)])  # 2 of the 3 are already on RMA-1
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "lines[0].quantity" in field_violations(caught.value)
    with pytest.raises(grpc.RpcError) as caught:
        _create(api, "RMA-3", [("9", 1)])
    assert "lines[0].line_id" in field_violations(caught.value)


def test_receiving_before_authorization_is_failed_precondition(api: Api) -> None:
    """A REQUESTED return cannot be received: FAILED_PRECONDITION naming REQUESTED, nothing
    restocked. After AuthorizeReturn it can."""
    _shipped_order(api)
    rid = _create(api, "RMA-1", [("1", 1)]).rma.return_id
    with pytest.raises(grpc.RpcError) as caught:
        _receive(api, rid, [("1", 1, rs.ITEM_CONDITION_SELLABLE)])
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "REQUESTED" in (caught.value.details() or "")
    assert api.cell("WEST", "MUG") == (0, 0)
    api.returns.AuthorizeReturn(rs.AuthorizeReturnRequest(return_id=rid), timeout=TIMEOUT)
    done = _receive(api, rid, [("1", 1, rs.ITEM_CONDITION_SELLABLE)])
    assert done.rma.state == rs.RETURN_STATE_REFUNDED
    assert api.cell("WEST", "MUG") == (1, 0)


def test_bad_receipts_are_invalid_argument_with_field_paths(api: Api) -> None:
    """Unspecified conditions, more units than returned and unknown warehouses are rejected with
    the field path, and nothing is restocked."""
    _shipped_order(api)
    rid = _create(api, "RMA-1", [("1", 1)], authorize=True).rma.return_id
    with pytest.raises(grpc.RpcError) as caught:
        _receive(api, rid, [("1", 1, rs.ITEM_CONDITION_UNSPECIFIED)])
    assert "units[0].condition" in field_violations(caught.value)
    with pytest.raises(grpc.RpcError) as caught:
        _receive(api, rid, [("1", 2, rs.ITEM_CONDITION_SELLABLE)])
    assert "units[0].quantity" in field_violations(caught.value)
    with pytest.raises(grpc.RpcError) as caught:
        _receive(api, rid, [("1", 1, rs.ITEM_CONDITION_SELLABLE)], warehouse="NOWHERE")
    assert "warehouse_id" in field_violations(caught.value)
    assert api.cell("WEST", "MUG") == (0, 0)
    got = api.returns.GetReturn(
        rs.GetReturnRequest(channel="amazon", channel_rma_id="RMA-1"), timeout=TIMEOUT
    )
    assert got.rma.state == rs.RETURN_STATE_AUTHORIZED


def test_fba_location_is_visible_but_never_routed_to(api: Api) -> None:
    """SyncFba puts Amazon's FBA counts into "amazon-fba": GetAvailability shows it (flagged FBA),
    but it adds nothing to FBM available-to-sell and an order is never routed there."""
    api.inventory.SyncFba(
        inv.SyncFbaRequest(levels=[inv.FbaLevel(sku="MUG", on_hand=50)]), timeout=TIMEOUT
    )
    api.sync(("EAST", "MUG", 1))
    view = api.inventory.GetAvailability(
        inv.GetAvailabilityRequest(skus=["MUG"], channel="amazon"), timeout=TIMEOUT
    )
    rows = {w.warehouse_id: (w.on_hand, w.fba) for w in view.warehouses}
    assert rows == {"amazon-fba": (50, True), "EAST": (1, False)}
    assert [a.available for a in view.availability] == [1]
    routed = api.route("A-9", ("MUG", 5))
    assert [f.warehouse_id for f in routed.fulfillment_orders] == ["EAST"]
    assert sum(u.quantity for u in routed.unfilled) == 4
