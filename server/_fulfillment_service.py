"""FulfillmentService: look orders up, cancel them, confirm what shipped."""

from __future__ import annotations

from typing import NoReturn, cast

import grpc
from sortyard.v1 import fulfillment_service_pb2, fulfillment_service_pb2_grpc, types_pb2

from server import _convert
from server._errors import abort, abort_invalid_argument
from server._observability import note
from server._runtime import Runtime
from server._validate import (
    validate_cancel_request,
    validate_confirm_request,
    validate_get_order_request,
)
from server.store import InvalidStateError, NotFoundError

__all__ = ["FulfillmentServicer"]


def _not_found(context: grpc.ServicerContext, error: NotFoundError) -> NoReturn:
    abort(context, grpc.StatusCode.NOT_FOUND, str(error), reason="NOT_FOUND")


def _wrong_state(context: grpc.ServicerContext, error: InvalidStateError) -> NoReturn:
    abort(
        context,
        grpc.StatusCode.FAILED_PRECONDITION,
        f"{error} (current state: {error.state})",
        reason="ORDER_STATE",
    )


class FulfillmentServicer(fulfillment_service_pb2_grpc.FulfillmentServiceServicer):
    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def GetOrder(
        self, request: fulfillment_service_pb2.GetOrderRequest, context: grpc.ServicerContext
    ) -> fulfillment_service_pb2.GetOrderResponse:
        violations = validate_get_order_request(request)
        if violations:
            abort_invalid_argument(context, violations, reason="ORDER_REFERENCE_INVALID")
        stored = self._runtime.store.get_order(
            order_id=request.order_id or None,
            channel=request.channel or None,
            channel_order_id=request.channel_order_id or None,
        )
        if stored is None:
            what = request.order_id or f"{request.channel}/{request.channel_order_id}"
            _not_found(context, NotFoundError(f"order {what}"))
        note(order_id=stored.order_id, state=str(stored.state))
        response = fulfillment_service_pb2.GetOrderResponse(
            order_id=stored.order_id,
            status=_convert.order_state_to_proto(stored.state),
            route_status=cast(types_pb2.RouteStatus, int(stored.route_status)),  # same numbers
            order=_convert.order_to_proto(stored.order),
            fulfillment_orders=[
                _convert.stored_fulfillment_order_to_proto(fo) for fo in stored.fulfillment_orders
            ],
            unfilled=_convert.unfilled_to_proto(stored.unfilled),
            history=[
                fulfillment_service_pb2.OrderEvent(
                    at=_convert.datetime_to_proto(event.at),
                    event=event.kind.lower(),
                    detail=event.detail,
                    fulfillment_order_id=event.fulfillment_order_id or "",
                )
                for event in stored.events
            ],
            policy_version=stored.policy_version,
        )
        if stored.hold is not None:
            response.hold_reason = stored.hold.reason
        return response

    def CancelOrder(
        self, request: fulfillment_service_pb2.CancelOrderRequest, context: grpc.ServicerContext
    ) -> fulfillment_service_pb2.CancelOrderResponse:
        violations = validate_cancel_request(request)
        if violations:
            abort_invalid_argument(context, violations, reason="ORDER_REFERENCE_INVALID")
        try:
            result = self._runtime.store.cancel_order(
                order_id=request.order_id or None,
                channel=request.channel or None,
                channel_order_id=request.channel_order_id or None,
            )
        except NotFoundError as error:
            _not_found(context, error)
        except InvalidStateError as error:
            _wrong_state(context, error)
        note(order_id=result.order_id, units_released=result.units_released)
        return fulfillment_service_pb2.CancelOrderResponse(
            order_id=result.order_id,
            status=_convert.order_state_to_proto(result.state),
            units_released=result.units_released,
        )

    def ConfirmShipment(
        self,
        request: fulfillment_service_pb2.ConfirmShipmentRequest,
        context: grpc.ServicerContext,
    ) -> fulfillment_service_pb2.ConfirmShipmentResponse:
        violations = validate_confirm_request(request)
        if violations:
            abort_invalid_argument(context, violations, reason="SHIPMENT_INVALID")
        shipped_at = (
            _convert.datetime_from_proto(request.shipped_at)
            if request.HasField("shipped_at")
            else self._runtime.clock()
        )
        try:
            fulfillment_order, already = self._runtime.store.confirm_shipment(
                request.fulfillment_order_id,
                carrier=request.carrier,
                tracking_number=request.tracking_number,
                shipped_at=shipped_at,
            )
        except NotFoundError as error:
            _not_found(context, error)
        except InvalidStateError as error:
            _wrong_state(context, error)
        note(fulfillment_order_id=request.fulfillment_order_id, already_confirmed=already)
        return fulfillment_service_pb2.ConfirmShipmentResponse(
            fulfillment_order=_convert.stored_fulfillment_order_to_proto(fulfillment_order),
            already_confirmed=already,
        )
