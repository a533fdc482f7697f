"""Sortyard's routing core: pure computation over numpy arrays, no I/O, gRPC or SQL."""

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
from engine._policy import DefaultPolicy, Directives, Policy, RoutingContext

__all__ = [
    "Address",
    "Allocation",
    "Candidate",
    "CandidateVerdict",
    "CarrierPickup",
    "DefaultPolicy",
    "Directives",
    "Explanation",
    "Hold",
    "LineExplanation",
    "Order",
    "OrderLine",
    "PlannedShipment",
    "Policy",
    "RouteDecision",
    "RouteStatus",
    "RoutingContext",
    "ServiceLevel",
    "Unfilled",
    "Warehouse",
]
