"""The Amazon part of `sortyard demo`: a sandbox seller account, the adapter, and a simulated
warehouse that ships what was routed, against an already running Sortyard server. It ends with what
Amazon now shows."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from sortyard.v1 import fulfillment_service_pb2, fulfillment_service_pb2_grpc, types_pb2

from adapters.amazon._adapter import AdapterConfig, AmazonAdapter, grpc_stub
from adapters.amazon._credentials import LwaCredentials, Secret
from adapters.amazon._gateway import RetryPolicy, SpApiGateway
from adapters.amazon._state import AdapterState
from adapters.amazon._throttle import RateLimiter
from adapters.amazon.sandbox import SandboxServer, SandboxWorld, Scenario
from adapters.amazon.sandbox._scenario import ListingSpec

__all__ = ["run_amazon_demo"]

_DEMO_CREDENTIALS = LwaCredentials(
    Secret("demo-refresh"), Secret("demo-app"), Secret("demo-secret")
)


def _ship_everything(channel: grpc.Channel, order_ids: Sequence[str]) -> int:
    """The simulated warehouse: every reserved fulfillment order leaves with a UPS number."""
    stub = grpc_stub(fulfillment_service_pb2_grpc.FulfillmentServiceStub, channel)
    now = Timestamp()
    now.FromDatetime(datetime.now(UTC))
    shipped = 0
    for order_id in order_ids:
        try:
            order = stub.GetOrder(
                fulfillment_service_pb2.GetOrderRequest(
                    channel="amazon", channel_order_id=order_id
                ),
                timeout=10,
            )
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                continue
            raise
        for fo in order.fulfillment_orders:
            if fo.state != types_pb2.FULFILLMENT_ORDER_STATE_RESERVED:
                continue
            digest = hashlib.sha256(fo.fulfillment_order_id.encode()).hexdigest()[:16].upper()
            stub.ConfirmShipment(
                fulfillment_service_pb2.ConfirmShipmentRequest(
                    fulfillment_order_id=fo.fulfillment_order_id,
                    carrier="UPS",
                    tracking_number="1Z" + digest,
                    shipped_at=now,
                ),
                timeout=10,
            )
            shipped += 1
    return shipped


def run_amazon_demo(
    server_address: str, skus: Sequence[str], out: TextIO, *, orders: int = 40, seed: int = 7
) -> dict[str, Any]:
    """Runs the loop once over a fresh sandbox whose listings are `skus` (the server's master SKUs)
    and prints what Amazon now shows. Returns the sandbox's record."""
    scenario = Scenario(
        seed=seed,
        orders_per_day=orders,
        listings=[ListingSpec(sku, f"B0DEMO{n:04d}", quantity=0) for n, sku in enumerate(skus)],
    )
    sandbox = SandboxServer(SandboxWorld(scenario)).start()
    gateway = SpApiGateway(
        _DEMO_CREDENTIALS,
        endpoint=sandbox.url,
        lwa_endpoint=sandbox.url,
        limiter=RateLimiter(scale=10_000),  # the sandbox does not enforce Amazon's rates
        retry=RetryPolicy(5, 0.01, 0.1),
    )
    try:
        with grpc.insecure_channel(server_address) as channel:
            adapter = AmazonAdapter(
                AdapterConfig(seller_id=scenario.seller_id, feed_poll_interval=0.0, feed_wait=10.0),
                gateway,
                channel,
                AdapterState(),
            )
            first = adapter.run_cycle()
            sandbox.world.release_pending()
            second = adapter.run_cycle()
            shipped = _ship_everything(channel, sorted(sandbox.world.orders))
            adapter.run_cycle()
        record = sandbox.world.record()
    finally:
        gateway.close()
        sandbox.stop()
    statuses = Counter(o["status"] for o in record["orders"].values())
    packages = sum(len(o["packages"]) for o in record["orders"].values())
    print("\nAmazon (local SP-API sandbox) → Sortyard → Amazon", file=out)
    print(
        f"  orders pulled: {len(record['orders'])}  routed: {first.routed + second.routed}  "
        f"Amazon-fulfilled (not routed): {first.amazon_fulfilled}  "
        f"waited for payment: {first.waiting}  cancelled: {first.cancelled + second.cancelled}",
        file=out,
    )
    print(
        f"  shipped by the warehouse: {shipped} packages; tracking on Amazon: {packages}", file=out
    )
    print("  what Amazon now shows:", file=out)
    for status, count in sorted(statuses.items()):
        print(f"    {status:<18} {count:>4} orders", file=out)
    for sku, quantity in record["quantities"].items():
        print(f"    {sku:<18} quantity {quantity}", file=out)
    return record
