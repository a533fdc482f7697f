"""InventoryService: absolute stock counts in, available-to-sell per channel out."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
import numpy as np
from sortyard.v1 import inventory_service_pb2, inventory_service_pb2_grpc

import engine
from server._errors import abort_invalid_argument
from server._observability import note
from server._runtime import Runtime
from server._validate import validate_availability_request, validate_sync_request
from server.store import IdempotencyConflictError, InvalidLevelError, UnknownWarehouseError

__all__ = ["InventoryServicer"]


class InventoryServicer(inventory_service_pb2_grpc.InventoryServiceServicer):
    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def _channels(self, policy: engine.Policy, wanted: str = "") -> list[str]:
        """The channels to report: the one asked for, else every channel the store or policy knows.

        With no channel known yet, one row per SKU under channel "" (any channel without a reserve
        of its own) still answers the question.
        """
        if wanted:
            return [wanted]
        known = set(self._runtime.store.known_channels()) | set(policy.channels())
        return sorted(known) or [""]

    def _availability(
        self, skus: Sequence[str], channel: str = ""
    ) -> tuple[list[inventory_service_pb2.ChannelAvailability], engine.StockTable]:
        runtime = self._runtime
        policy = runtime.policies.current()
        network = runtime.network()
        stock = runtime.store.load_stock(list(skus), network)
        channels = self._channels(policy, channel)
        by_channel = engine.available_to_sell(
            stock, policy, channels, runtime.clock(), runtime.sku_tags(stock.skus)
        )
        rows = [
            inventory_service_pb2.ChannelAvailability(
                channel=ch, sku=sku, available=int(by_channel[ch][k])
            )
            for k, sku in enumerate(stock.skus)
            for ch in channels
        ]
        return rows, stock

    def Sync(
        self, request: inventory_service_pb2.SyncRequest, context: grpc.ServicerContext
    ) -> inventory_service_pb2.SyncResponse:
        note(levels=len(request.levels))
        known = self._runtime.network().warehouse_ids
        violations = validate_sync_request(request, frozenset(known))
        if violations:
            abort_invalid_argument(context, violations, reason="STOCK_LEVEL_INVALID")
        levels = [(lv.warehouse_id, lv.sku, lv.on_hand) for lv in request.levels]
        try:
            result = self._runtime.store.sync(levels, request_id=request.request_id)
        except UnknownWarehouseError as error:  # the network changed since the check above
            abort_invalid_argument(
                context,
                [
                    (
                        f"levels[{error.index}].warehouse_id",
                        f"unknown warehouse {error.warehouse_id!r}",
                    )
                ],
                reason="STOCK_LEVEL_INVALID",
            )
        except InvalidLevelError as error:
            abort_invalid_argument(
                context,
                [(f"levels[{error.index}].{error.field}", str(error))],
                reason="STOCK_LEVEL_INVALID",
            )
        except IdempotencyConflictError as error:
            abort_invalid_argument(
                context, [("request_id", str(error))], reason="IDEMPOTENCY_CONFLICT"
            )
        skus = list(dict.fromkeys(lv.sku for lv in request.levels))
        availability, _ = self._availability(skus) if skus else ([], None)
        note(shortfalls=len(result.shortfalls))
        return inventory_service_pb2.SyncResponse(
            availability=availability,
            shortfalls=[
                inventory_service_pb2.Shortfall(
                    warehouse_id=s.warehouse_id,
                    sku=s.sku,
                    on_hand=s.on_hand,
                    reserved=s.reserved,
                    short_by=s.short_by,
                    fulfillment_order_ids=list(s.fulfillment_order_ids),
                )
                for s in result.shortfalls
            ],
        )

    def GetAvailability(
        self, request: inventory_service_pb2.GetAvailabilityRequest, context: grpc.ServicerContext
    ) -> inventory_service_pb2.GetAvailabilityResponse:
        note(skus=len(request.skus))
        violations = validate_availability_request(request)
        if violations:
            abort_invalid_argument(context, violations, reason="AVAILABILITY_REQUEST_INVALID")
        skus = list(dict.fromkeys(request.skus))
        availability, stock = self._availability(skus, request.channel)
        warehouses = []
        ids = stock.network.warehouse_ids
        for k, sku in enumerate(stock.skus):
            for w in np.flatnonzero((stock.on_hand[k] != 0) | (stock.reserved[k] != 0)):
                on_hand, reserved = int(stock.on_hand[k, w]), int(stock.reserved[k, w])
                warehouses.append(
                    inventory_service_pb2.WarehouseStock(
                        warehouse_id=ids[w],
                        sku=sku,
                        on_hand=on_hand,
                        reserved=reserved,
                        available=on_hand - reserved,
                    )
                )
        return inventory_service_pb2.GetAvailabilityResponse(
            availability=availability, warehouses=warehouses
        )
