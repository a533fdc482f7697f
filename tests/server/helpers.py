"""Builders and assertions shared by the server tests."""

from __future__ import annotations

from typing import cast

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from sortyard.v1 import routing_service_pb2, types_pb2

from server._stubs import ApiStubs

TIMEOUT = 30.0


Stubs = ApiStubs


def stubs(channel: grpc.Channel) -> ApiStubs:
    return ApiStubs.connect(channel)


def order(
    channel_order_id: str,
    lines: list[tuple[str, int]] | None = None,
    *,
    postal_code: str = "60629",
    channel: str = "storefront",
    service_level: int = types_pb2.STANDARD,
) -> types_pb2.Order:
    """An order to Chicago (60629) by default; ``lines`` are (sku, quantity), ids "1", "2"..."""
    lines = lines if lines is not None else [("MUG-11OZ-WHT", 1)]
    return types_pb2.Order(
        channel=channel,
        channel_order_id=channel_order_id,
        lines=[
            types_pb2.OrderLine(line_id=str(i + 1), sku=sku, quantity=qty)
            for i, (sku, qty) in enumerate(lines)
        ],
        ship_to=types_pb2.Address(postal_code=postal_code, country_code="US"),
        service_level=cast(types_pb2.ServiceLevel, service_level),
    )


def route_request(o: types_pb2.Order, **kwargs: object) -> routing_service_pb2.RouteRequest:
    return routing_service_pb2.RouteRequest(order=o, **kwargs)  # type: ignore[arg-type]


def field_violations(error: grpc.RpcError) -> dict[str, str]:
    """The BadRequest field violations of a failed call, field path -> description."""
    status = rpc_status.from_call(error)
    assert status is not None, "no google.rpc.Status details on the error"
    found: dict[str, str] = {}
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            found.update({v.field: v.description for v in bad.field_violations})
    return found


def error_reason(error: grpc.RpcError) -> str:
    """The ErrorInfo reason of a failed call ('' when none)."""
    status = rpc_status.from_call(error)
    if status is None:
        return ""
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return str(info.reason)
    return ""
