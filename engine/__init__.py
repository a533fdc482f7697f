"""Sortyard's routing core: pure computation over numpy arrays, no I/O, gRPC or SQL."""

from engine._batch import HOLD_CODES, UNFILLED_CODES, OrderBatch
from engine._distance import EARTH_RADIUS_KM, distance_matrix_km, great_circle_km
from engine._errors import (
    InvalidOrderError,
    InvalidStockError,
    SortyardError,
    UnknownSkuError,
    UnknownWarehouseError,
)
from engine._geocode import US_COUNTRY_CODES, Geocoder, zip5_key
from engine._model import (
    Address,
    Allocation,
    Candidate,
    CandidateVerdict,
    CarrierPickup,
    Explanation,
    Hold,
    LineExplanation,
    Order,
    OrderLine,
    PlannedShipment,
    RouteDecision,
    RouteStatus,
    ServiceLevel,
    Unfilled,
    Warehouse,
)
from engine._network import Network
from engine._policy import DefaultPolicy, Directives, Policy, RoutingContext
from engine._reserves import available_to_sell, remaining_reserves, usable_by_channel
from engine._result import BatchResult
from engine._router import TRIPLE_CANDIDATES, BatchState, Router
from engine._schedule import GROUND_BAND_MILES, Schedule, transit_days
from engine._stock import StockTable
from engine._validate import (
    MAX_CHANNEL_LENGTH,
    MAX_CHANNEL_ORDER_ID_LENGTH,
    MAX_LINE_ID_LENGTH,
    MAX_LINE_QUANTITY,
    MAX_LINES_PER_ORDER,
    MAX_SKU_LENGTH,
    validate_order,
)

__all__ = [
    "EARTH_RADIUS_KM",
    "GROUND_BAND_MILES",
    "HOLD_CODES",
    "MAX_CHANNEL_LENGTH",
    "MAX_CHANNEL_ORDER_ID_LENGTH",
    "MAX_LINES_PER_ORDER",
    "MAX_LINE_ID_LENGTH",
    "MAX_LINE_QUANTITY",
    "MAX_SKU_LENGTH",
    "TRIPLE_CANDIDATES",
    "UNFILLED_CODES",
    "US_COUNTRY_CODES",
    "Address",
    "Allocation",
    "BatchResult",
    "BatchState",
    "Candidate",
    "CandidateVerdict",
    "CarrierPickup",
    "DefaultPolicy",
    "Directives",
    "Explanation",
    "Geocoder",
    "Hold",
    "InvalidOrderError",
    "InvalidStockError",
    "LineExplanation",
    "Network",
    "Order",
    "OrderBatch",
    "OrderLine",
    "PlannedShipment",
    "Policy",
    "RouteDecision",
    "RouteStatus",
    "Router",
    "RoutingContext",
    "Schedule",
    "ServiceLevel",
    "SortyardError",
    "StockTable",
    "Unfilled",
    "UnknownSkuError",
    "UnknownWarehouseError",
    "Warehouse",
    "available_to_sell",
    "distance_matrix_km",
    "great_circle_km",
    "remaining_reserves",
    "transit_days",
    "usable_by_channel",
    "validate_order",
    "zip5_key",
]
