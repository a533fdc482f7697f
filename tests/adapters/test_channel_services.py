"""ChannelService and CatalogService on a real server: the catalog maps channel SKUs (and identity),
bad requests get INVALID_ARGUMENT with field paths, `sortyard skus import` loads a CSV, and the
outbox hands out, leases and settles updates."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from sortyard.v1 import (
    catalog_service_pb2,
    catalog_service_pb2_grpc,
    channel_service_pb2,
    channel_service_pb2_grpc,
)

from adapters.amazon import cli
from adapters.amazon._adapter import grpc_stub
from tests.adapters.conftest import seed_network
from tests.adapters.loop import ensure_channel_services


@pytest.fixture
def channel(sortyard_server: Any) -> Iterator[grpc.Channel]:
    ensure_channel_services(sortyard_server)
    with grpc.insecure_channel(sortyard_server.address) as chan:
        yield chan


def _violations(error: grpc.RpcError) -> list[str]:
    status = rpc_status.from_call(error)
    assert status is not None
    fields = []
    for detail in status.details:
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            fields += [v.field for v in bad.field_violations]
    return fields


def test_catalog_maps_channel_skus_and_identity(channel: grpc.Channel) -> None:
    """An imported Amazon SellerSKU resolves to its master SKU; an unmapped SKU that is a master SKU
    resolves to itself; anything else is unknown, with no master SKU."""
    seed_network(channel, ["TEE-BLK-M"], on_hand=1)
    stub = grpc_stub(catalog_service_pb2_grpc.CatalogServiceStub, channel)
    stub.ImportSkus(
        catalog_service_pb2.ImportSkusRequest(
            entries=[
                catalog_service_pb2.CatalogEntry(
                    sku="MUG-11OZ", amazon_seller_sku="AMZ-MUG", amazon_asin="B0MUG"
                )
            ]
        ),
        timeout=10,
    )
    answer = stub.ResolveSkus(
        catalog_service_pb2.ResolveSkusRequest(
            channel="amazon", channel_skus=["AMZ-MUG", "TEE-BLK-M", "NOPE"]
        ),
        timeout=10,
    )
    assert [(r.channel_sku, r.sku, r.source) for r in answer.resolutions] == [
        ("AMZ-MUG", "MUG-11OZ", catalog_service_pb2.SKU_RESOLUTION_SOURCE_MAPPING),
        ("TEE-BLK-M", "TEE-BLK-M", catalog_service_pb2.SKU_RESOLUTION_SOURCE_IDENTITY),
        ("NOPE", "", catalog_service_pb2.SKU_RESOLUTION_SOURCE_UNKNOWN),
    ]


def test_bad_catalog_and_outbox_requests_name_the_field(channel: grpc.Channel) -> None:
    """A duplicate master SKU, a SellerSKU mapped twice, a pull without a channel or with an
    unspecified kind, and an ack of a non-id all fail with INVALID_ARGUMENT and BadRequest field
    paths (`entries[1].sku`, ...); nothing is imported, and the server keeps serving."""
    catalog = grpc_stub(catalog_service_pb2_grpc.CatalogServiceStub, channel)
    with pytest.raises(grpc.RpcError) as caught:
        catalog.ImportSkus(
            catalog_service_pb2.ImportSkusRequest(
                entries=[
                    catalog_service_pb2.CatalogEntry(sku="A", amazon_seller_sku="X"),
                    catalog_service_pb2.CatalogEntry(sku="A"),
                    catalog_service_pb2.CatalogEntry(sku="B", amazon_seller_sku="X"),
                ]
            ),
            timeout=10,
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _violations(caught.value) == ["entries[1].sku", "entries[2].amazon_seller_sku"]
    resolved = catalog.ResolveSkus(
        catalog_service_pb2.ResolveSkusRequest(channel="amazon", channel_skus=["X"]), timeout=10
    )
    assert resolved.resolutions[0].sku == ""  # nothing of the bad import was written

    outbox = grpc_stub(channel_service_pb2_grpc.ChannelServiceStub, channel)
    with pytest.raises(grpc.RpcError) as caught:
        outbox.PullUpdates(
            channel_service_pb2.PullUpdatesRequest(
                kinds=[channel_service_pb2.UPDATE_KIND_UNSPECIFIED]
            ),
            timeout=10,
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _violations(caught.value) == ["channel", "kinds[0]"]
    with pytest.raises(grpc.RpcError) as caught:
        outbox.AckUpdates(
            channel_service_pb2.AckUpdatesRequest(channel="amazon", update_ids=["7", "x"]),
            timeout=10,
        )
    assert _violations(caught.value) == ["update_ids[1]"]
    empty = outbox.PullUpdates(channel_service_pb2.PullUpdatesRequest(channel="amazon"), timeout=10)
    assert list(empty.updates) == []


def test_quantity_updates_carry_the_current_value_and_lease(channel: grpc.Channel) -> None:
    """A pulled quantity update carries the SKU's current available-to-sell and the channel's SKU;
    while leased it is not handed out again; a nack gives it back; an ack settles it for good."""
    outbox = grpc_stub(channel_service_pb2_grpc.ChannelServiceStub, channel)
    kinds = [channel_service_pb2.UPDATE_KIND_QUANTITY]
    outbox.PullUpdates(channel_service_pb2.PullUpdatesRequest(channel="amazon"), timeout=10)
    grpc_stub(catalog_service_pb2_grpc.CatalogServiceStub, channel).ImportSkus(
        catalog_service_pb2.ImportSkusRequest(
            entries=[catalog_service_pb2.CatalogEntry(sku="MUG", amazon_seller_sku="AMZ-MUG")]
        ),
        timeout=10,
    )
    seed_network(channel, ["MUG"], on_hand=4)  # three warehouses: 12 available
    lease = Duration()
    lease.FromTimedelta(timedelta(minutes=5))
    (update,) = outbox.PullUpdates(
        channel_service_pb2.PullUpdatesRequest(channel="amazon", kinds=kinds, lease=lease),
        timeout=10,
    ).updates
    assert (update.quantity.sku, list(update.quantity.channel_skus)) == ("MUG", ["AMZ-MUG"])
    assert update.quantity.available == 12 and update.attempts == 0
    again = outbox.PullUpdates(
        channel_service_pb2.PullUpdatesRequest(channel="amazon", kinds=kinds), timeout=10
    )
    assert list(again.updates) == []  # leased
    outbox.NackUpdates(
        channel_service_pb2.NackUpdatesRequest(
            channel="amazon", update_id=update.update_id, error="x"
        ),
        timeout=10,
    )
    (retried,) = outbox.PullUpdates(
        channel_service_pb2.PullUpdatesRequest(channel="amazon", kinds=kinds), timeout=10
    ).updates
    assert retried.update_id == update.update_id and retried.attempts == 1
    acked = outbox.AckUpdates(
        channel_service_pb2.AckUpdatesRequest(channel="amazon", update_ids=[update.update_id]),
        timeout=10,
    )
    assert acked.acknowledged == 1
    with pytest.raises(grpc.RpcError) as caught:
        outbox.NackUpdates(
            channel_service_pb2.NackUpdatesRequest(channel="amazon", update_id=update.update_id),
            timeout=10,
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_skus_import_command_loads_the_csv(
    channel: grpc.Channel, sortyard_server: Any, tmp_path: Path
) -> None:
    """`sortyard skus import FILE.csv` sends the CSV to CatalogService; afterwards the SellerSKU
    resolves to the master SKU."""
    csv = tmp_path / "skus.csv"
    csv.write_text("sku,amazon_seller_sku,tags\nMUG-RED,AMZ-MUG-RED,fragile\n")
    parser = argparse.ArgumentParser()
    cli.add_subparser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["skus", "import", str(csv), "--server", sortyard_server.address])
    assert args.handler(args) == 0
    resolved = grpc_stub(catalog_service_pb2_grpc.CatalogServiceStub, channel).ResolveSkus(
        catalog_service_pb2.ResolveSkusRequest(channel="amazon", channel_skus=["AMZ-MUG-RED"]),
        timeout=10,
    )
    assert resolved.resolutions[0].sku == "MUG-RED"
