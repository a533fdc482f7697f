"""Typed access to the protoc-generated gRPC code (client stubs, servicer registration).

protoc's grpc plugin emits unannotated functions, which strict mypy refuses to call from typed
code; the calls live here once, with that reason, instead of an ignore at every call site.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc
from sortyard.v1 import (
    fulfillment_service_pb2_grpc,
    inventory_service_pb2_grpc,
    network_service_pb2_grpc,
    policy_service_pb2_grpc,
    routing_service_pb2_grpc,
)

__all__ = ["ApiStubs", "register_policy_servicer", "register_servicers"]


@dataclass(frozen=True)
class ApiStubs:
    """Client stubs of every Sortyard service on one channel (methods take ``timeout=``)."""

    routing: Any
    network: Any
    inventory: Any
    fulfillment: Any

    @classmethod
    def connect(cls, channel: grpc.Channel) -> ApiStubs:
        return cls(
            routing=routing_service_pb2_grpc.RoutingServiceStub(channel),  # type: ignore[no-untyped-call]  # generated
            network=network_service_pb2_grpc.NetworkServiceStub(channel),  # type: ignore[no-untyped-call]  # generated
            inventory=inventory_service_pb2_grpc.InventoryServiceStub(channel),  # type: ignore[no-untyped-call]  # generated
            fulfillment=fulfillment_service_pb2_grpc.FulfillmentServiceStub(channel),  # type: ignore[no-untyped-call]  # generated
        )


def register_servicers(
    server: grpc.Server, *, routing: object, network: object, inventory: object, fulfillment: object
) -> None:
    """Add our four servicers to ``server``."""
    routing_service_pb2_grpc.add_RoutingServiceServicer_to_server(routing, server)  # type: ignore[no-untyped-call]  # generated
    network_service_pb2_grpc.add_NetworkServiceServicer_to_server(network, server)  # type: ignore[no-untyped-call]  # generated
    inventory_service_pb2_grpc.add_InventoryServiceServicer_to_server(inventory, server)  # type: ignore[no-untyped-call]  # generated
    fulfillment_service_pb2_grpc.add_FulfillmentServiceServicer_to_server(fulfillment, server)  # type: ignore[no-untyped-call]  # generated


def register_policy_servicer(server: grpc.Server, servicer: object) -> None:
    """Add the rules engineer's PolicyService servicer to ``server``."""
    policy_service_pb2_grpc.add_PolicyServiceServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]  # generated
