"""A local SP-API sandbox: Login-with-Amazon, Orders (v0 and 2026-01-01), confirmShipment, Feeds,
Listings Items, Reports (returns) and FBA inventory, with scenarios, fault injection and a record of
what it received."""

from adapters.amazon.sandbox._http import SandboxServer
from adapters.amazon.sandbox._scenario import (
    OrderSpec,
    Scenario,
    ScenarioError,
    generate_orders,
    load_scenario,
    scenario_from_dict,
)
from adapters.amazon.sandbox._world import ApiError, FaultPlan, SandboxWorld

__all__ = [
    "ApiError",
    "FaultPlan",
    "OrderSpec",
    "SandboxServer",
    "SandboxWorld",
    "Scenario",
    "ScenarioError",
    "generate_orders",
    "load_scenario",
    "scenario_from_dict",
]
