"""NetworkService: upsert and list warehouses."""

from __future__ import annotations

import grpc
from sortyard.v1 import network_service_pb2, network_service_pb2_grpc

from server import _convert
from server._errors import abort_invalid_argument
from server._observability import note
from server._runtime import Runtime
from server._validate import validate_put_warehouses

__all__ = ["NetworkServicer"]


class NetworkServicer(network_service_pb2_grpc.NetworkServiceServicer):
    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def PutWarehouses(
        self, request: network_service_pb2.PutWarehousesRequest, context: grpc.ServicerContext
    ) -> network_service_pb2.PutWarehousesResponse:
        note(warehouses=len(request.warehouses))
        violations = validate_put_warehouses(request)
        if violations:
            abort_invalid_argument(context, violations, reason="WAREHOUSE_INVALID")
        warehouses = [_convert.warehouse_from_proto(w) for w in request.warehouses]
        self._runtime.store.put_warehouses(warehouses)
        wanted = {w.warehouse_id for w in warehouses}
        stored = [
            w
            for w in self._runtime.store.list_warehouses(include_inactive=True)
            if w.warehouse_id in wanted
        ]
        return network_service_pb2.PutWarehousesResponse(
            warehouses=[_convert.warehouse_to_proto(w) for w in stored]
        )

    def ListWarehouses(
        self, request: network_service_pb2.ListWarehousesRequest, context: grpc.ServicerContext
    ) -> network_service_pb2.ListWarehousesResponse:
        warehouses = self._runtime.store.list_warehouses(include_inactive=request.include_inactive)
        return network_service_pb2.ListWarehousesResponse(
            warehouses=[_convert.warehouse_to_proto(w) for w in warehouses]
        )
