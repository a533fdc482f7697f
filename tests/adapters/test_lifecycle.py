"""After the sale, end to end on loopback (sandbox + real server + the real client library): every
SKU's first quantity push, Amazon returns into Sortyard returns, refunds back to Amazon exactly
once, and FBA inventory into the "amazon-fba" location."""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc
import pytest
from sortyard.v1 import (
    channel_service_pb2,
    channel_service_pb2_grpc,
    inventory_service_pb2,
    inventory_service_pb2_grpc,
    returns_service_pb2,
    returns_service_pb2_grpc,
)

from adapters.amazon import AdapterState, AmazonAdapter
from adapters.amazon._adapter import grpc_stub
from adapters.amazon._gateway import SpApiOutcomeUnknownError
from adapters.amazon._returns_report import (
    RETURNS_REPORT_TYPE,
    AmazonReturn,
    parse_returns_report,
)
from adapters.amazon.sandbox import SandboxServer, Scenario
from adapters.amazon.sandbox._scenario import ListingSpec
from adapters.amazon.sandbox._world import UNIT_PRICE
from tests.adapters.amazon_models import validate_definition
from tests.adapters.conftest import make_adapter, seed_network
from tests.adapters.loop import Warehouse, ensure_channel_services, server_availability
from tests.db import database_urls

SKUS = [f"SKU-L{i:02d}" for i in range(1, 9)]
LISTINGS = [
    ListingSpec(s, f"B0LIFE{i:04d}", quantity=0, fba_quantity=3 * i) for i, s in enumerate(SKUS)
]
FAST = {
    "returns_interval": timedelta(0),
    "fba_interval": timedelta(0),
    "initial_returns_lookback": timedelta(days=5),
}


def _scenario(**overrides: Any) -> Scenario:
    settings: dict[str, Any] = {
        "seed": 5,
        "orders_per_day": 12,
        "fba_share": 0.0,
        "pending_share": 0.0,
        "cancelled_share": 0.0,
        "max_lines": 2,
        "max_quantity": 2,
        "listings": LISTINGS,
        "return_share": 1.0,
        "return_delay_hours": 0.0,
    }
    settings.update(overrides)
    return Scenario(**settings)


@pytest.fixture
def server(sortyard_server: Any) -> Iterator[tuple[Any, grpc.Channel]]:
    ensure_channel_services(sortyard_server)
    with grpc.insecure_channel(sortyard_server.address) as channel:
        seed_network(channel, SKUS, on_hand=20)
        yield sortyard_server, channel


def _returns_stub(channel: grpc.Channel) -> Any:
    return grpc_stub(returns_service_pb2_grpc.ReturnsServiceStub, channel)


def _adapter(
    sandbox: SandboxServer, channel: grpc.Channel, state: AdapterState | None = None, **kw: Any
) -> AmazonAdapter:
    return make_adapter(sandbox, channel, state, **{**FAST, **kw})


@pytest.mark.parametrize("backend", database_urls())
def test_first_cycle_pushes_every_stocked_sku(
    make_sandbox: Callable[..., SandboxServer], server: tuple[Any, grpc.Channel], backend: str
) -> None:
    """A fresh adapter's first cycle sends every stocked SKU's quantity, though no stock changed
    after Amazon became known (no recount): Amazon then shows the server's available-to-sell for
    every SKU."""
    _, channel = server
    sandbox = make_sandbox(_scenario(orders_per_day=0))
    adapter = _adapter(sandbox, channel)
    report = adapter.run_cycle()
    assert report.resync_queued == len(SKUS)
    quantities = sandbox.world.record()["quantities"]
    expected = server_availability(channel, SKUS)
    assert all(expected[s] > 0 for s in SKUS)
    assert {s: quantities[s] for s in SKUS} == expected


def test_request_resync_queues_every_stocked_sku_once(server: tuple[Any, grpc.Channel]) -> None:
    """RequestResync queues one quantity update per stocked SKU; asked again while they wait, it
    queues none (coalesced); a request without a channel is INVALID_ARGUMENT."""
    _, channel = server
    stub = grpc_stub(channel_service_pb2_grpc.ChannelServiceStub, channel)
    first = stub.RequestResync(channel_service_pb2.RequestResyncRequest(channel="amazon"))
    again = stub.RequestResync(channel_service_pb2.RequestResyncRequest(channel="amazon"))
    assert (first.queued, first.skus) == (len(SKUS), len(SKUS))
    assert (again.queued, again.skus) == (0, len(SKUS))
    with pytest.raises(grpc.RpcError) as err:
        stub.RequestResync(channel_service_pb2.RequestResyncRequest(channel=""))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_a_channel_first_pull_gets_every_stocked_sku_once(
    server: tuple[Any, grpc.Channel],
) -> None:
    """The first pull ever for a channel (registration) queues and hands out every stocked SKU's
    quantity with no recount; once acknowledged, a later first pull after a server restart (a new
    servicer, same database) queues nothing again."""
    running, channel = server
    from server.channel_service import ChannelServicer

    stub = grpc_stub(channel_service_pb2_grpc.ChannelServiceStub, channel)
    request = channel_service_pb2.PullUpdatesRequest(
        channel="storefront", kinds=[channel_service_pb2.UPDATE_KIND_QUANTITY], limit=100
    )
    first = stub.PullUpdates(request).updates
    assert sorted(u.quantity.sku for u in first) == SKUS
    assert all(u.quantity.available > 0 for u in first)
    stub.AckUpdates(
        channel_service_pb2.AckUpdatesRequest(
            channel="storefront", update_ids=[u.update_id for u in first]
        )
    )
    restarted = ChannelServicer.from_runtime(running.runtime)
    assert restarted._resync("storefront", only_if_new=True) == (0, 0)
    assert list(stub.PullUpdates(request).updates) == []


@pytest.mark.parametrize("backend", database_urls())
def test_concurrent_resyncs_and_pulls_hand_each_sku_out_once_per_pull(
    server: tuple[Any, grpc.Channel], backend: str
) -> None:
    """Resyncs racing each other and a puller: no pull ever hands out a SKU twice (coalesced, and
    never while one is in flight), and when the dust settles every SKU went out."""
    import threading

    _, channel = server
    stub = grpc_stub(channel_service_pb2_grpc.ChannelServiceStub, channel)
    request = channel_service_pb2.PullUpdatesRequest(
        channel="amazon", kinds=[channel_service_pb2.UPDATE_KIND_QUANTITY], limit=100
    )
    delivered: Counter[str] = Counter()
    duplicates: list[list[str]] = []
    stop = threading.Event()

    def resync() -> None:
        for _ in range(6):
            stub.RequestResync(channel_service_pb2.RequestResyncRequest(channel="amazon"))

    def pull() -> None:
        while not stop.is_set():
            updates = list(stub.PullUpdates(request).updates)
            skus = [u.quantity.sku for u in updates]
            if len(skus) != len(set(skus)):
                duplicates.append(skus)
            delivered.update(skus)
            if updates:
                stub.AckUpdates(
                    channel_service_pb2.AckUpdatesRequest(
                        channel="amazon", update_ids=[u.update_id for u in updates]
                    )
                )

    puller = threading.Thread(target=pull)
    resyncers = [threading.Thread(target=resync) for _ in range(3)]
    puller.start()
    for thread in resyncers:
        thread.start()
    for thread in resyncers:
        thread.join(timeout=60)
    stop.set()
    puller.join(timeout=60)
    rest = list(stub.PullUpdates(request).updates)
    delivered.update(u.quantity.sku for u in rest)
    assert not duplicates
    assert set(delivered) == set(SKUS)


def test_an_adapter_with_a_checkpoint_resyncs_only_when_told(
    make_sandbox: Callable[..., SandboxServer], server: tuple[Any, grpc.Channel]
) -> None:
    """With a checkpoint and no --resync nothing is queued at start; with --resync every SKU is."""
    _, channel = server
    sandbox = make_sandbox(_scenario(orders_per_day=0))
    # FBA reads stay out of it: a FBA sync queues quantities of its own.
    no_fba = {"fba_interval": timedelta(days=1)}
    now = datetime.now(UTC).isoformat()
    first = _adapter(sandbox, channel, AdapterState(fba_synced=now), **no_fba).run_cycle()
    assert first.resync_queued == len(SKUS) and first.quantities_accepted == len(SKUS)
    mark = "2026-01-01T00:00:00+00:00"
    state = AdapterState(watermark=mark, fba_synced=now)
    assert _adapter(sandbox, channel, state, **no_fba).run_cycle().resync_queued == 0
    forced = _adapter(
        sandbox, channel, AdapterState(watermark=mark, fba_synced=now), resync=True, **no_fba
    )
    assert forced.run_cycle().resync_queued == len(SKUS)


def _ship_everything(sandbox: SandboxServer, channel: grpc.Channel, adapter: AmazonAdapter) -> None:
    adapter.run_cycle()  # orders in and routed
    Warehouse(channel).ship(sandbox.world.orders)


def _expected_returns(sandbox: SandboxServer) -> dict[str, Any]:
    world = sandbox.world
    report_id = world.create_report(
        {"reportType": RETURNS_REPORT_TYPE, "marketplaceIds": ["ATVPDKIKX0DER"]}
    )["reportId"]
    document = world.download(world.reports[report_id]["reportDocumentId"])
    assert document is not None
    import gzip

    returns, skipped = parse_returns_report(gzip.decompress(document).decode("utf-8"))
    assert not skipped
    return {r.rma_id: r for r in returns}


def test_returns_report_creates_each_rma_once_even_after_a_crash(
    make_sandbox: Callable[..., SandboxServer], server: tuple[Any, grpc.Channel], tmp_path: Path
) -> None:
    """Every RMA of Amazon's returns report becomes one Sortyard return with Amazon's reason code
    unchanged, authorized, for the returned units. A crash after the returns were created but
    before the checkpoint was saved reads the report again: every RMA replays, none is created
    twice. Later cycles within the checkpoint create nothing."""
    _, channel = server
    sandbox = make_sandbox(_scenario())
    state_file = tmp_path / "state.json"
    adapter = _adapter(sandbox, channel, AdapterState.load(state_file))
    _ship_everything(sandbox, channel, adapter)
    adapter.state.save()
    shutil.copy(state_file, tmp_path / "before.json")
    report = adapter.run_cycle()  # tracking out, then the returns report in
    expected = _expected_returns(sandbox)
    assert len(expected) >= 5
    assert report.returns_created == len(expected)
    stub = _returns_stub(channel)
    for rma_id, ret in expected.items():
        rma = stub.GetReturn(
            returns_service_pb2.GetReturnRequest(channel="amazon", channel_rma_id=rma_id)
        ).rma
        assert rma.channel_order_id == ret.order_id
        assert rma.reason_code == ret.reason_code
        assert rma.state == returns_service_pb2.RETURN_STATE_AUTHORIZED
        assert sum(line.quantity for line in rma.lines) == sum(q for _, q in ret.lines)
    # The report carries several reason codes, so a reason the adapter made up could not match
    # every RMA above. (The sandbox draws a code per package, and how orders split into packages
    # follows the clock's carrier cutoffs: naming one code here failed on some runs.)
    assert len({r.reason_code for r in expected.values()}) >= 2

    # The crash: the state file as it was before the returns phase saved anything.
    shutil.copy(tmp_path / "before.json", state_file)
    restarted = _adapter(sandbox, channel, AdapterState.load(state_file))
    restarted._resync_pending = False
    again = restarted.run_cycle()
    assert again.returns_created == 0
    assert again.returns_replayed == len(expected)
    totals = stub.ReturnsReport(returns_service_pb2.ReturnsReportRequest())
    units = sum(q for r in expected.values() for _, q in r.lines)
    assert totals.units_returned == units
    assert restarted.run_cycle().returns_created == 0


def test_a_return_for_an_order_sortyard_lacks_waits_then_is_given_up_loudly(
    make_sandbox: Callable[..., SandboxServer],
    server: tuple[Any, grpc.Channel],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A return whose order is not in Sortyard is kept and retried with each report, not dropped;
    after max_return_attempts it is given up with an error naming the RMA."""
    _, channel = server
    sandbox = make_sandbox(_scenario(orders_per_day=0))
    adapter = _adapter(sandbox, channel, max_return_attempts=2)
    stray = AmazonReturn(
        "D000000001", "111-0000000-0000000", "CR-DEFECTIVE", True, "", (("SKU-L01", 1),)
    )
    adapter.state.returns_pending[stray.rma_id] = {"return": stray.to_json(), "attempts": 0}
    assert adapter.run_cycle().returns_waiting == 1
    assert stray.rma_id in adapter.state.returns_pending
    assert adapter.run_cycle().returns_failed == 1
    assert stray.rma_id not in adapter.state.returns_pending
    assert any("D000000001" in r.getMessage() and r.levelname == "ERROR" for r in caplog.records)


def _receive_all(channel: grpc.Channel, rma_ids: list[str]) -> None:
    stub = _returns_stub(channel)
    for rma_id in rma_ids:
        rma = stub.GetReturn(
            returns_service_pb2.GetReturnRequest(channel="amazon", channel_rma_id=rma_id)
        ).rma
        stub.ReceiveReturn(
            returns_service_pb2.ReceiveReturnRequest(
                return_id=rma.return_id,
                warehouse_id="EWR-1",
                units=[
                    returns_service_pb2.ReceivedUnits(
                        line_id=line.line_id,
                        quantity=line.quantity,
                        condition=returns_service_pb2.ITEM_CONDITION_SELLABLE,
                    )
                    for line in rma.lines
                ],
            )
        )


def _refunded_rmas(sandbox: SandboxServer) -> set[str]:
    return {r["merchant_adjustment_id"].rsplit("-", 1)[0] for r in sandbox.world.refunds}


def _assert_conformant(sandbox: SandboxServer) -> None:
    """Every report and feed request the adapter sent, and the sandbox's feed list, validate
    against Amazon's models (the payment adjustment document itself has no published schema)."""
    seen: Counter[str] = Counter()
    for received in sandbox.world.received:
        body = {k: v for k, v in received["body"].items() if k != "path"}  # the library's stray key
        definition = {
            "createReport": ("reports", "CreateReportSpecification"),
            "createFeed": ("feeds", "CreateFeedSpecification"),
            "createFeedDocument": ("feeds", "CreateFeedDocumentSpecification"),
        }.get(received["operation"])
        if definition:
            validate_definition(*definition, body)
            seen[received["operation"]] += 1
    assert seen["createReport"] and seen["createFeed"]
    listed = sandbox.world.list_feeds({"feedTypes": "POST_PAYMENT_ADJUSTMENT_DATA"})
    validate_definition("feeds", "GetFeedsResponse", listed)
    assert listed["feeds"]


def test_refunds_reach_amazon_exactly_once_under_faults(
    make_sandbox: Callable[..., SandboxServer], server: tuple[Any, grpc.Channel]
) -> None:
    """Received returns queue refunds (100% for sellable units by the default policy); with 20%
    429s, 5% 5xx (half of them after Amazon applied the call), 30% of feed messages rejected, a
    feed FATAL now and then, and the answer to a createFeed lost after Amazon took it, every refund
    reaches Amazon exactly once, for quantity x unit price, and the outbox is drained."""
    _, channel = server
    sandbox = make_sandbox(_scenario())
    adapter = _adapter(sandbox, channel, retry_soon=timedelta(0))
    _ship_everything(sandbox, channel, adapter)
    adapter.run_cycle()
    expected = _expected_returns(sandbox)
    _receive_all(channel, sorted(expected))

    # The first createFeed is taken by Amazon, but its answer never arrives.
    real_create = adapter.gateway.create_feed
    lost: list[str] = []

    def create_then_lose(document_id: str, feed_type: str = "JSON_LISTINGS_FEED", **kw: Any) -> str:
        feed_id = real_create(document_id, feed_type, **kw)
        if not lost and feed_type == "POST_PAYMENT_ADJUSTMENT_DATA":
            lost.append(feed_id)
            raise SpApiOutcomeUnknownError("createFeed: answer lost")
        return feed_id

    adapter.gateway.create_feed = create_then_lose  # type: ignore[method-assign]  # fault hook
    sandbox.world.set_faults(
        {
            "throttle_rate": 0.2,
            "server_error_rate": 0.05,
            "reject_message_rate": 0.3,
            "fatal_feed_rate": 0.1,
            "seed": 3,
        }
    )
    for _ in range(30):
        adapter.run_cycle()
        if _refunded_rmas(sandbox) == set(expected) and adapter.state.refund_feed is None:
            break
    assert lost
    results = sandbox.world.record()["adjustment_results"]
    # A refund sent twice would show as Amazon refusing to refund more than was charged.
    assert "SANDBOX_REFUND_EXCEEDS" not in results, results
    refunds = sandbox.world.record()["refunds"]
    by_rma = Counter(r["merchant_adjustment_id"].rsplit("-", 1)[0] for r in refunds)
    assert set(by_rma) == set(expected)
    for rma_id, ret in expected.items():
        assert by_rma[rma_id] == len({sku for sku, _ in ret.lines}), rma_id
        paid = sum(
            Decimal(r["amount"])
            for r in refunds
            if r["merchant_adjustment_id"].startswith(rma_id + "-")
        )
        assert paid == Decimal(UNIT_PRICE) * sum(q for _, q in ret.lines)
    sandbox.world.set_faults({})
    _assert_conformant(sandbox)
    leftover = grpc_stub(channel_service_pb2_grpc.ChannelServiceStub, channel).PullUpdates(
        channel_service_pb2.PullUpdatesRequest(
            channel="amazon", kinds=[channel_service_pb2.UPDATE_KIND_REFUND]
        )
    )
    assert list(leftover.updates) == []


def test_fba_inventory_lands_in_the_amazon_fba_location(
    make_sandbox: Callable[..., SandboxServer], server: tuple[Any, grpc.Channel]
) -> None:
    """Every page of getInventorySummaries is read and each SKU's fulfillable FBA units are the
    server's "amazon-fba" on-hand, which never counts toward Amazon's merchant-fulfilled
    available-to-sell."""
    _, channel = server
    many = [ListingSpec(f"SKU-F{i:03d}", f"B0FBA{i:05d}", fba_quantity=i) for i in range(1, 121)]
    sandbox = make_sandbox(_scenario(orders_per_day=0, listings=many))
    seed_network(channel, [x.seller_sku for x in many], on_hand=1)
    before = server_availability(channel, ["SKU-F005"])
    report = _adapter(sandbox, channel).run_cycle()
    assert report.fba_skus == len(many)
    assert sandbox.world.record()["calls"]["getInventorySummaries"] >= 3  # 50 per page
    answer = grpc_stub(inventory_service_pb2_grpc.InventoryServiceStub, channel).GetAvailability(
        inventory_service_pb2.GetAvailabilityRequest(skus=["SKU-F005", "SKU-F120"])
    )
    fba = {(row.sku, row.warehouse_id): row.on_hand for row in answer.warehouses if row.fba}
    assert fba == {("SKU-F005", "amazon-fba"): 5, ("SKU-F120", "amazon-fba"): 120}
    assert server_availability(channel, ["SKU-F005"]) == before
