"""Channel reserves in routing, and available-to-sell."""

from __future__ import annotations

import numpy as np

from engine import DefaultPolicy, Network, RouteStatus, available_to_sell
from tests.engine.helpers import NOW, TestPolicy, east, order, route, shipped, stock_of, warehouse


def one_warehouse() -> Network:
    return Network([warehouse("W0", east(1)), warehouse("W1", east(8), active=False)])


def test_other_channels_cannot_take_a_reserve() -> None:
    """With 4 of 10 units reserved for amazon, shopify can take 6 and no more."""
    network = one_warehouse()
    stock = stock_of(network, {("W0", "A"): 10, ("W1", "A"): 50})
    policy = TestPolicy(reserves={"amazon": {("A", 0): 4}})
    [decision] = route(network, stock, [order(("A", 8), channel="shopify")], policy)
    assert decision.status is RouteStatus.PARTIALLY_ROUTED
    assert shipped(decision) == {"W0": {"L0": 6}}


def test_reserving_channel_uses_its_reserve_and_the_shared_pool() -> None:
    """amazon may take all 10 units: its own 4 and the shared 6."""
    network = one_warehouse()
    stock = stock_of(network, {("W0", "A"): 10})
    policy = TestPolicy(reserves={"amazon": {("A", 0): 4}})
    [decision] = route(network, stock, [order(("A", 10), channel="amazon")], policy)
    assert decision.status is RouteStatus.ROUTED


def test_reserve_is_consumed_by_the_reserving_channel_first() -> None:
    """After amazon takes 3 (from its reserve of 4), only 1 stays held back from shopify, so
    shopify can take 6 of the remaining 7; a live amazon reservation counts the same way."""
    network = one_warehouse()
    stock = stock_of(network, {("W0", "A"): 10})
    policy = TestPolicy(reserves={"amazon": {("A", 0): 4}})
    first, second = route(
        network,
        stock,
        [order(("A", 3), channel="amazon"), order(("A", 7), channel="shopify", order_id="o2")],
        policy,
    )
    assert first.status is RouteStatus.ROUTED
    assert shipped(second) == {"W0": {"L0": 6}}
    assert stock.reserved_by_channel["amazon"][0, 0] == 3
    assert stock.reserved_by_channel["shopify"][0, 0] == 6
    # A new batch sees amazon's 3 live reservations against its reserve of 4: 1 left held back.
    assert available_to_sell(stock, policy, ["shopify", "amazon"], NOW)["shopify"].tolist() == [0]
    assert available_to_sell(stock, policy, ["amazon"], NOW)["amazon"].tolist() == [1]


def test_available_to_sell_follows_the_reserve_contract() -> None:
    """ATS per channel = usable units over active warehouses minus safety stock, floored at 0."""
    network = one_warehouse()
    stock = stock_of(network, {("W0", "A"): 10, ("W0", "B"): 2, ("W1", "A"): 50})
    stock.reserved[0, 0] = 1
    stock.reserved_by_channel["amazon"] = np.zeros_like(stock.reserved)
    stock.reserved_by_channel["amazon"][0, 0] = 1
    policy = TestPolicy(reserves={"amazon": {("A", 0): 4}}, safety={"shopify": 3})
    ats = available_to_sell(stock, policy, ["shopify", "amazon", "storefront"], NOW)
    # on_hand 10 - reserved 1 = 9; amazon's reserve has 3 left, held back from the others.
    assert ats["amazon"].tolist() == [9, 2]
    assert ats["storefront"].tolist() == [6, 2]
    assert ats["shopify"].tolist() == [3, 0]  # 6 - 3 and max(0, 2 - 3)


def test_available_to_sell_ignores_oversold_cells() -> None:
    """A cell where a sync dropped on-hand below reserved counts as zero, not negative."""
    network = one_warehouse()
    stock = stock_of(network, {("W0", "A"): 2})
    stock.reserved[0, 0] = 5
    assert available_to_sell(stock, DefaultPolicy(), ["x"], NOW)["x"].tolist() == [0]
