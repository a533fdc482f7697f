"""The whole loop for tests: a real server (with the channel and catalog services), a simulated
warehouse that ships what was routed, and checks of what the sandbox ("Amazon") now shows."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from sortyard.v1 import (
    catalog_service_pb2_grpc,
    channel_service_pb2_grpc,
    fulfillment_service_pb2,
    fulfillment_service_pb2_grpc,
    inventory_service_pb2,
    inventory_service_pb2_grpc,
    types_pb2,
)

from adapters.amazon._adapter import grpc_stub
from adapters.amazon.sandbox import SandboxServer

CHANNEL_SERVICE = "sortyard.v1.ChannelService"
CARRIERS = ("UPS", "FedEx", "USPS", "Speedy Couriers")


def ensure_channel_services(running: Any) -> None:
    """Serves ChannelService and CatalogService on the running server if the server does not yet
    register them itself (grpc accepts handlers added after start)."""
    from server.catalog_service import CatalogServicer
    from server.channel_service import ChannelServicer

    if CHANNEL_SERVICE in running.services:
        return
    register: Any = channel_service_pb2_grpc.add_ChannelServiceServicer_to_server
    register(ChannelServicer.from_runtime(running.runtime), running.server)
    register = catalog_service_pb2_grpc.add_CatalogServiceServicer_to_server
    register(CatalogServicer(running.store), running.server)


def tracking_number(fulfillment_order_id: str) -> str:
    return "1Z" + hashlib.sha256(fulfillment_order_id.encode()).hexdigest()[:16].upper()


class Warehouse:
    """Ships every reserved fulfillment order of the given Amazon orders via ConfirmShipment."""

    def __init__(self, channel: grpc.Channel) -> None:
        self._fulfillment = grpc_stub(fulfillment_service_pb2_grpc.FulfillmentServiceStub, channel)
        # fulfillment order id -> (Amazon order id, tracking number)
        self.shipped: dict[str, tuple[str, str]] = {}

    def order(self, amazon_order_id: str) -> fulfillment_service_pb2.GetOrderResponse | None:
        try:
            answer: fulfillment_service_pb2.GetOrderResponse = self._fulfillment.GetOrder(
                fulfillment_service_pb2.GetOrderRequest(
                    channel="amazon", channel_order_id=amazon_order_id
                ),
                timeout=10,
            )
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise
        return answer

    def ship(self, amazon_order_ids: Iterable[str]) -> int:
        count = 0
        now = Timestamp()
        now.FromDatetime(datetime.now(UTC))
        for order_id in amazon_order_ids:
            answer = self.order(order_id)
            if answer is None:
                continue
            for n, fo in enumerate(answer.fulfillment_orders):
                if fo.state != types_pb2.FULFILLMENT_ORDER_STATE_RESERVED:
                    continue
                number = tracking_number(fo.fulfillment_order_id)
                self._fulfillment.ConfirmShipment(
                    fulfillment_service_pb2.ConfirmShipmentRequest(
                        fulfillment_order_id=fo.fulfillment_order_id,
                        carrier=CARRIERS[n % len(CARRIERS)],
                        tracking_number=number,
                        shipped_at=now,
                    ),
                    timeout=10,
                )
                self.shipped[fo.fulfillment_order_id] = (order_id, number)
                count += 1
        return count


def server_availability(channel: grpc.Channel, skus: list[str]) -> dict[str, int]:
    answer = grpc_stub(inventory_service_pb2_grpc.InventoryServiceStub, channel).GetAvailability(
        inventory_service_pb2.GetAvailabilityRequest(skus=skus, channel="amazon"), timeout=10
    )
    return {a.sku: int(a.available) for a in answer.availability}


def tracking_on_amazon(sandbox: SandboxServer) -> list[tuple[str, str]]:
    """(order id, tracking number) of every package Amazon shows, duplicates included."""
    record = sandbox.world.record()
    return [
        (order_id, package["tracking_number"])
        for order_id, order in record["orders"].items()
        for package in order["packages"]
    ]
