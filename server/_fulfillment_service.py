"""FulfillmentService: look orders up, cancel them, hand them to warehouses, confirm what shipped.

Also here: the re-routing steps other services run (``make_decide`` routes under the current policy
inside a store transaction) and ``ReroutingInventoryServicer``, the InventoryService whose Sync
re-routes unreleased fulfillment orders after a sync that leaves a warehouse short.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import cast

import grpc
from sortyard.v1 import (
    fulfillment_service_pb2,
    fulfillment_service_pb2_grpc,
    inventory_service_pb2,
    types_pb2,
)

import engine
from server import _convert
from server._errors import abort_invalid_argument, abort_not_found, abort_wrong_state
from server._inventory_service import InventoryServicer
from server._observability import note
from server._runtime import Runtime
from server._validate import (
    validate_cancel_request,
    validate_confirm_request,
    validate_get_order_request,
)
from server.store import (
    Decide,
    InvalidStateError,
    NotFoundError,
    RerouteResult,
    ShipmentLineError,
    Shortfall,
    StoredFulfillmentOrder,
)

__all__ = [
    "FBA_TAG",
    "FBA_WAREHOUSE_ID",
    "FulfillmentServicer",
    "ReleaseHub",
    "ReroutingInventoryServicer",
    "fulfillment_order_to_proto",
    "make_decide",
]

#: Amazon's FBA stock as a location: visible in availability, never routed to (inactive).
FBA_WAREHOUSE_ID = "amazon-fba"
FBA_TAG = "fba"
# How often a WatchReleased stream looks at the store even without a local release (releases made
# by another server process sharing the database).
WATCH_POLL_SECONDS = 1.0


def make_decide(runtime: Runtime) -> tuple[engine.Network, Decide]:
    """The current network and a ``decide`` that routes under the current policy (for re-routes)."""
    policy = runtime.policies.current()
    network = runtime.network()
    router = runtime.router(network, policy)

    def decide(
        orders: Sequence[engine.Order], stock: engine.StockTable
    ) -> list[engine.RouteDecision]:
        return router.route(
            list(orders),
            stock,
            now=runtime.clock(),
            commit=True,
            sku_tags=runtime.sku_tags([ln.sku for o in orders for ln in o.lines]),
        )

    return network, decide


def fulfillment_order_to_proto(fo: StoredFulfillmentOrder) -> types_pb2.FulfillmentOrder:
    """``_convert.stored_fulfillment_order_to_proto`` plus the lifecycle fields: each package's own
    lines, the units still to ship, release and delivery times, the cancel reason."""
    message = _convert.stored_fulfillment_order_to_proto(fo)
    for shipment, package in zip(message.shipments, fo.shipments, strict=True):
        if package.lines:
            del shipment.lines[:]
            shipment.lines.extend(_lines(package.lines))
    message.remaining.extend(_lines(fo.remaining))
    if fo.released_at is not None:
        message.released_at.CopyFrom(_convert.datetime_to_proto(fo.released_at))
    if fo.delivered_at is not None:
        message.delivered_at.CopyFrom(_convert.datetime_to_proto(fo.delivered_at))
    message.cancel_reason = fo.cancel_reason or ""
    return message


def _lines(allocations: Sequence[engine.Allocation]) -> list[types_pb2.FulfillmentLine]:
    return [
        types_pb2.FulfillmentLine(line_id=a.line_id, sku=a.sku, quantity=a.quantity)
        for a in allocations
    ]


def pick_list(fo: StoredFulfillmentOrder) -> fulfillment_service_pb2.PickList:
    message = fulfillment_service_pb2.PickList(
        fulfillment_order=fulfillment_order_to_proto(fo),
        lines=_lines(fo.remaining),
        service_level=cast(types_pb2.ServiceLevel, int(fo.service_level)),
        warehouse_id=fo.warehouse_id,
    )
    if fo.ship_by is not None:
        message.ship_by.CopyFrom(_convert.datetime_to_proto(fo.ship_by))
    if fo.released_at is not None:
        message.released_at.CopyFrom(_convert.datetime_to_proto(fo.released_at))
    return message


def reroute_to_proto(
    result: RerouteResult, runtime: Runtime
) -> fulfillment_service_pb2.RerouteOutcome:
    stored = runtime.store.get_order(order_id=result.order_id)
    new = [
        fulfillment_order_to_proto(fo)
        for fo in (stored.fulfillment_orders if stored else ())
        if fo.fulfillment_order_id in result.new_fulfillment_order_ids
    ]
    return fulfillment_service_pb2.RerouteOutcome(
        order_id=result.order_id,
        from_fulfillment_order_ids=list(result.from_fulfillment_order_ids),
        new_fulfillment_orders=new,
        unfilled=_convert.unfilled_to_proto(result.unfilled),
        status=_convert.order_state_to_proto(result.state),
        hold_reason=result.hold_reason or "",
    )


class ReleaseHub:
    """Wakes WatchReleased streams when fulfillment orders are released (a condition variable).

    ``close`` (server shutdown) ends every stream; a stream also ends when its client cancels.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._generation = 0
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def generation(self) -> int:
        with self._cond:
            return self._generation

    def notify(self) -> None:
        with self._cond:
            self._generation += 1
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def wait(self, seen: int, timeout: float) -> int:
        """Block until a release after generation ``seen``, close or ``timeout``; the generation."""
        with self._cond:
            self._cond.wait_for(lambda: self._generation != seen or self._closed, timeout)
            return self._generation


class FulfillmentServicer(fulfillment_service_pb2_grpc.FulfillmentServiceServicer):
    def __init__(self, runtime: Runtime, hub: ReleaseHub | None = None) -> None:
        self._runtime = runtime
        self.hub = hub or ReleaseHub()

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
            abort_not_found(context, NotFoundError(f"order {what}"))
        note(order_id=stored.order_id, state=str(stored.state))
        response = fulfillment_service_pb2.GetOrderResponse(
            order_id=stored.order_id,
            status=_convert.order_state_to_proto(stored.state),
            route_status=cast(types_pb2.RouteStatus, int(stored.route_status)),  # same numbers
            order=_convert.order_to_proto(stored.order),
            fulfillment_orders=[fulfillment_order_to_proto(fo) for fo in stored.fulfillment_orders],
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
                reason=request.reason,
            )
        except NotFoundError as error:
            abort_not_found(context, error)
        except InvalidStateError as error:
            abort_wrong_state(context, error, reason="ORDER_STATE")
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
        lines = [(ln.line_id, int(ln.quantity)) for ln in request.lines] or None
        try:
            fulfillment_order, already = self._runtime.store.confirm_shipment(
                request.fulfillment_order_id,
                carrier=request.carrier,
                tracking_number=request.tracking_number,
                shipped_at=shipped_at,
                lines=lines,
            )
        except NotFoundError as error:
            abort_not_found(context, error)
        except InvalidStateError as error:
            abort_wrong_state(context, error, reason="ORDER_STATE")
        except ShipmentLineError as error:
            abort_invalid_argument(
                context,
                [(f"lines[{error.index}].{error.field}", str(error))],
                reason="SHIPMENT_INVALID",
            )
        note(fulfillment_order_id=request.fulfillment_order_id, already_confirmed=already)
        return fulfillment_service_pb2.ConfirmShipmentResponse(
            fulfillment_order=fulfillment_order_to_proto(fulfillment_order),
            already_confirmed=already,
        )

    def ReleaseFulfillmentOrders(
        self,
        request: fulfillment_service_pb2.ReleaseFulfillmentOrdersRequest,
        context: grpc.ServicerContext,
    ) -> fulfillment_service_pb2.ReleaseFulfillmentOrdersResponse:
        ids = list(request.fulfillment_order_ids)
        violations = []
        if bool(ids) == bool(request.warehouse_id):
            violations.append(
                ("fulfillment_order_ids", "give fulfillment_order_ids or warehouse_id (not both)")
            )
        violations.extend(
            (f"fulfillment_order_ids[{i}]", "must not be blank")
            for i, fid in enumerate(ids)
            if not fid.strip()
        )
        if ids and request.HasField("ship_by_before"):
            violations.append(("ship_by_before", "only with warehouse_id"))
        if violations:
            abort_invalid_argument(context, violations, reason="RELEASE_INVALID")
        before = (
            _convert.datetime_from_proto(request.ship_by_before)
            if request.HasField("ship_by_before")
            else None
        )
        try:
            released = self._runtime.store.release_fulfillment_orders(
                ids, warehouse_id=request.warehouse_id or None, ship_by_before=before
            )
        except NotFoundError as error:
            abort_not_found(context, error)
        except InvalidStateError as error:
            abort_wrong_state(context, error, reason="ORDER_STATE")
        if released:
            self.hub.notify()
        note(released=len(released))
        return fulfillment_service_pb2.ReleaseFulfillmentOrdersResponse(
            released=[pick_list(fo) for fo in released]
        )

    def ListReleased(
        self, request: fulfillment_service_pb2.ListReleasedRequest, context: grpc.ServicerContext
    ) -> fulfillment_service_pb2.ListReleasedResponse:
        if not request.warehouse_id.strip():
            abort_invalid_argument(context, [("warehouse_id", "required")], reason="WAREHOUSE")
        waiting = self._runtime.store.list_released(request.warehouse_id)
        return fulfillment_service_pb2.ListReleasedResponse(
            pick_lists=[pick_list(fo) for fo in waiting]
        )

    def WatchReleased(
        self, request: fulfillment_service_pb2.WatchReleasedRequest, context: grpc.ServicerContext
    ) -> Iterator[fulfillment_service_pb2.PickList]:
        if not request.warehouse_id.strip():
            abort_invalid_argument(context, [("warehouse_id", "required")], reason="WAREHOUSE")
        store, hub = self._runtime.store, self.hub
        context.add_callback(hub.notify)  # a cancelled client wakes its stream so it can end
        generation = hub.generation()  # before the snapshot: a release in between is not missed
        sent: set[str] = set()
        for fo in store.list_released(request.warehouse_id):
            sent.add(fo.fulfillment_order_id)
            if request.include_existing:
                yield pick_list(fo)
        while context.is_active() and not hub.closed:
            generation = hub.wait(generation, WATCH_POLL_SECONDS)
            if hub.closed or not context.is_active():
                break
            for fo in store.list_released(request.warehouse_id):
                if fo.fulfillment_order_id not in sent:
                    sent.add(fo.fulfillment_order_id)
                    yield pick_list(fo)

    def MarkDelivered(
        self, request: fulfillment_service_pb2.MarkDeliveredRequest, context: grpc.ServicerContext
    ) -> fulfillment_service_pb2.MarkDeliveredResponse:
        if not request.fulfillment_order_id.strip():
            abort_invalid_argument(
                context, [("fulfillment_order_id", "required")], reason="DELIVERY_INVALID"
            )
        delivered_at = (
            _convert.datetime_from_proto(request.delivered_at)
            if request.HasField("delivered_at")
            else self._runtime.clock()
        )
        try:
            fo, already = self._runtime.store.mark_delivered(
                request.fulfillment_order_id, delivered_at
            )
        except NotFoundError as error:
            abort_not_found(context, error)
        except InvalidStateError as error:
            abort_wrong_state(context, error, reason="ORDER_STATE")
        return fulfillment_service_pb2.MarkDeliveredResponse(
            fulfillment_order=fulfillment_order_to_proto(fo), already_delivered=already
        )

    def CancelFulfillmentOrder(
        self,
        request: fulfillment_service_pb2.CancelFulfillmentOrderRequest,
        context: grpc.ServicerContext,
    ) -> fulfillment_service_pb2.CancelFulfillmentOrderResponse:
        if not request.fulfillment_order_id.strip():
            abort_invalid_argument(
                context, [("fulfillment_order_id", "required")], reason="CANCEL_INVALID"
            )
        network, decide = make_decide(self._runtime)
        try:
            result = self._runtime.store.cancel_fulfillment_order(
                request.fulfillment_order_id, request.reason, decide, network=network
            )
        except NotFoundError as error:
            abort_not_found(context, error)
        except InvalidStateError as error:
            abort_wrong_state(context, error, reason="ORDER_STATE")
        note(order_id=result.order_id, rerouted_to=len(result.new_fulfillment_order_ids))
        return fulfillment_service_pb2.CancelFulfillmentOrderResponse(
            outcome=reroute_to_proto(result, self._runtime)
        )


class ReroutingInventoryServicer(InventoryServicer):
    """InventoryService with the lifecycle steps: a Sync that leaves a warehouse short re-routes
    the unreleased fulfillment orders holding that stock (ReRouteShortfalls, after the sync has
    committed); GetAvailability adds written-off units and marks the FBA location; SyncFba sets
    Amazon's FBA counts."""

    def Sync(
        self, request: inventory_service_pb2.SyncRequest, context: grpc.ServicerContext
    ) -> inventory_service_pb2.SyncResponse:
        response = super().Sync(request, context)
        if response.shortfalls:
            self.reroute_shortfalls(response)
        return response

    def reroute_shortfalls(self, response: inventory_service_pb2.SyncResponse) -> None:
        """ReRouteShortfalls: move reservations off warehouses the sync left short."""
        runtime = self._runtime
        shortfalls = [
            Shortfall(
                warehouse_id=s.warehouse_id,
                sku=s.sku,
                on_hand=s.on_hand,
                reserved=s.reserved,
                short_by=s.short_by,
                fulfillment_order_ids=tuple(s.fulfillment_order_ids),
            )
            for s in response.shortfalls
        ]
        network, decide = make_decide(runtime)
        results = runtime.store.reroute_shortfalls(shortfalls, decide, network=network)
        note(rerouted_orders=len(results))

    def GetAvailability(
        self, request: inventory_service_pb2.GetAvailabilityRequest, context: grpc.ServicerContext
    ) -> inventory_service_pb2.GetAvailabilityResponse:
        response = super().GetAvailability(request, context)
        written_off = self._runtime.store.written_off(list(request.skus))
        seen = set()
        for row in response.warehouses:
            row.written_off = written_off.get((row.warehouse_id, row.sku), 0)
            row.fba = row.warehouse_id == FBA_WAREHOUSE_ID
            seen.add((row.warehouse_id, row.sku))
        for (warehouse_id, sku), units in sorted(written_off.items()):
            if (warehouse_id, sku) not in seen:  # nothing on hand there, only write-offs
                response.warehouses.append(
                    inventory_service_pb2.WarehouseStock(
                        warehouse_id=warehouse_id, sku=sku, written_off=units
                    )
                )
        return response

    def SyncFba(
        self, request: inventory_service_pb2.SyncFbaRequest, context: grpc.ServicerContext
    ) -> inventory_service_pb2.SyncFbaResponse:
        violations = []
        for i, level in enumerate(request.levels):
            if not level.sku.strip():
                violations.append((f"levels[{i}].sku", "required"))
            if level.on_hand < 0:
                violations.append((f"levels[{i}].on_hand", f"must be >= 0, got {level.on_hand}"))
        if violations:
            abort_invalid_argument(context, violations, reason="STOCK_LEVEL_INVALID")
        ensure_fba_location(self._runtime)
        levels = [(FBA_WAREHOUSE_ID, lv.sku, int(lv.on_hand)) for lv in request.levels]
        try:
            self._runtime.store.sync(levels, request_id=request.request_id)
        except (ValueError, KeyError) as error:
            abort_invalid_argument(context, [("levels", str(error))], reason="STOCK_LEVEL_INVALID")
        return inventory_service_pb2.SyncFbaResponse(skus=len({lv.sku for lv in request.levels}))


def ensure_fba_location(runtime: Runtime) -> None:
    """Create the "amazon-fba" location once: inactive (never routed to, not sellable FBM stock)
    and tagged "fba". Its coordinates are nominal (Amazon's network has no single site)."""
    known = {w.warehouse_id for w in runtime.store.list_warehouses(include_inactive=True)}
    if FBA_WAREHOUSE_ID in known:
        return
    runtime.store.put_warehouses(
        [
            engine.Warehouse(
                FBA_WAREHOUSE_ID,
                47.6,
                -122.3,
                name="Amazon FBA",
                postal_code="98109",
                tags=frozenset({FBA_TAG}),
                active=False,
            )
        ]
    )
