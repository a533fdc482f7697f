"""The ceiling of the gRPC path: a RoutingService with the same request and response messages as
Sortyard's, doing no routing and no storage. It answers each order with one fulfillment order that
carries the order's lines back, so the response is about as big as a real one (protobuf parse and
build costs stay in the ceiling, business logic does not)."""

from __future__ import annotations

from concurrent import futures

import grpc
from sortyard.v1 import routing_service_pb2, routing_service_pb2_grpc, types_pb2

__all__ = ["EchoRoutingServicer", "echo_response", "start_echo_server"]


def echo_response(request: routing_service_pb2.RouteRequest) -> routing_service_pb2.RouteResponse:
    order = request.order
    response = routing_service_pb2.RouteResponse(
        order_id=f"{order.channel}:{order.channel_order_id}",
        channel_order_id=order.channel_order_id,
        status=types_pb2.ROUTED,
        policy_version="echo",
    )
    response.fulfillment_orders.append(
        types_pb2.FulfillmentOrder(
            fulfillment_order_id=f"{order.channel_order_id}-1",
            warehouse_id="ECHO",
            lines=[
                types_pb2.FulfillmentLine(line_id=ln.line_id, sku=ln.sku, quantity=ln.quantity)
                for ln in order.lines
            ],
            order_id=response.order_id,
            channel=order.channel,
            channel_order_id=order.channel_order_id,
            service_level=order.service_level,
        )
    )
    return response


class EchoRoutingServicer(routing_service_pb2_grpc.RoutingServiceServicer):
    def Route(
        self, request: routing_service_pb2.RouteRequest, context: grpc.ServicerContext
    ) -> routing_service_pb2.RouteResponse:
        return echo_response(request)

    def RouteBatch(
        self, request: routing_service_pb2.RouteBatchRequest, context: grpc.ServicerContext
    ) -> routing_service_pb2.RouteBatchResponse:
        return routing_service_pb2.RouteBatchResponse(
            responses=[echo_response(r) for r in request.requests]
        )


def start_echo_server(listen: str = "127.0.0.1:0", workers: int = 16) -> tuple[grpc.Server, int]:
    """Start the echo server (sync, thread pool, like Sortyard's); returns it and its port."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers),
        options=[
            ("grpc.max_receive_message_length", 64 * 1024 * 1024),
            ("grpc.max_send_message_length", 64 * 1024 * 1024),
        ],
    )
    add = routing_service_pb2_grpc.add_RoutingServiceServicer_to_server
    add(EchoRoutingServicer(), server)  # type: ignore[no-untyped-call]  # generated
    port = server.add_insecure_port(listen)
    server.start()
    return server, port
