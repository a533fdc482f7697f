"""Sortyard's benchmark suite: speed, gRPC ceiling, store cost, decision quality, scaling, memory
and the batch optimiser at scale.

Run it with ``sortyard bench [--quick] [--only NAME]`` (or ``make bench``); see ``_suite.SECTIONS``.
"""

from benchmarks._config import BenchConfig
from benchmarks._decisions import Decision, QualityTotals, Shipment, from_engine, quality_totals
from benchmarks._echo import EchoRoutingServicer, start_echo_server
from benchmarks._greedy import PerLineGreedyRouter
from benchmarks._milp import MilpResult, solve_optimum
from benchmarks._naive import NaiveRouter, haversine_km
from benchmarks._scenario import Scenario, generate_scenario, make_network
from benchmarks._suite import SECTIONS, run_suite

__all__ = [
    "SECTIONS",
    "BenchConfig",
    "Decision",
    "EchoRoutingServicer",
    "MilpResult",
    "NaiveRouter",
    "PerLineGreedyRouter",
    "QualityTotals",
    "Scenario",
    "Shipment",
    "from_engine",
    "generate_scenario",
    "haversine_km",
    "make_network",
    "quality_totals",
    "run_suite",
    "solve_optimum",
    "start_echo_server",
]
