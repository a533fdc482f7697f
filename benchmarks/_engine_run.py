"""Running the engine in-process on a scenario; comparing its decisions with another router's."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

import engine
from benchmarks._decisions import Decision, from_engine
from benchmarks._scenario import Scenario

__all__ = ["EngineBench", "Mismatch", "compare_decisions"]


class EngineBench:
    """A Router over a scenario's network, and a fresh StockTable of the ordered SKUs on demand."""

    def __init__(self, scenario: Scenario, policy: engine.Policy | None = None) -> None:
        self.scenario = scenario
        self.network = engine.Network(scenario.warehouses)
        self.router = engine.Router(self.network, policy or engine.DefaultPolicy())
        index = scenario.ordered_sku_index()
        self.skus = [scenario.skus[i] for i in index.tolist()]
        self.on_hand = scenario.dense_on_hand(index)

    def fresh_stock(self) -> engine.StockTable:
        return engine.StockTable(
            self.network, self.skus, self.on_hand.copy(), np.zeros_like(self.on_hand)
        )

    def route(
        self, orders: Sequence[engine.Order], stock: engine.StockTable | None = None
    ) -> list[engine.RouteDecision]:
        return self.router.route(
            list(orders),
            stock if stock is not None else self.fresh_stock(),
            now=self.scenario.now,
            commit=True,
        )

    def timed(self, orders: Sequence[engine.Order]) -> float:
        """Seconds to route ``orders`` from fresh stock (building the stock is not timed)."""
        stock = self.fresh_stock()
        batch = list(orders)
        started = time.perf_counter()
        self.router.route(batch, stock, now=self.scenario.now, commit=True)
        return time.perf_counter() - started

    def column_batch(self, orders: Sequence[engine.Order]) -> engine.OrderBatch:
        """The orders as columns. Not timed: a caller that holds columns (a column-wise batch
        message, a data pipeline) hands them to the engine as they are."""
        return engine.OrderBatch.from_orders(list(orders), self.fresh_stock(), self.router.geocoder)

    def timed_columns(self, batch: engine.OrderBatch) -> float:
        """Seconds for ``route_columns`` from fresh stock: the engine's throughput path."""
        stock = self.fresh_stock()
        started = time.perf_counter()
        self.router.route_columns(batch, stock, now=self.scenario.now, commit=True)
        return time.perf_counter() - started

    def column_decisions(self, batch: engine.OrderBatch) -> list[engine.RouteDecision]:
        result = self.router.route_columns(batch, self.fresh_stock(), now=self.scenario.now)
        return result.decisions()

    def decisions(self, orders: Sequence[engine.Order]) -> list[Decision]:
        return [from_engine(d, o) for d, o in zip(self.route(orders), orders, strict=True)]


@dataclass(frozen=True)
class Mismatch:
    index: int
    channel_order_id: str
    expected: Decision  # the reference router's
    actual: Decision  # the engine's


def compare_decisions(
    orders: Sequence[engine.Order], reference: Sequence[Decision], actual: Sequence[Decision]
) -> list[Mismatch]:
    """Orders where the two routers decided differently (warehouses, units, status, holds)."""
    return [
        Mismatch(i, orders[i].channel_order_id, ref, act)
        for i, (ref, act) in enumerate(zip(reference, actual, strict=True))
        if ref.key() != act.key()
    ]
