"""The scenario generator: deterministic from its seed, and realistic in the ways the suite relies
on."""

from __future__ import annotations

import collections

import numpy as np

from benchmarks import generate_scenario, make_network
from benchmarks._naive import zip_coordinates


def test_same_seed_gives_the_same_scenario_and_another_seed_does_not() -> None:
    """Every order, warehouse and stocked cell is reproduced exactly from the seed."""
    a = generate_scenario(seed=21, n_orders=2_000, n_warehouses=20, n_skus=3_000)
    b = generate_scenario(seed=21, n_orders=2_000, n_warehouses=20, n_skus=3_000)
    c = generate_scenario(seed=22, n_orders=2_000, n_warehouses=20, n_skus=3_000)
    assert a.orders == b.orders
    assert a.warehouses == b.warehouses
    for name in ("stock_sku", "stock_warehouse", "stock_quantity"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
    assert a.orders != c.orders


def test_orders_ship_to_real_zips_mostly_single_line_with_distinct_skus() -> None:
    """Ship-to ZIPs exist in the zipcodes data, about 80 % of orders have one line, no order
    repeats a SKU, and several service levels occur."""
    scenario = generate_scenario(seed=5, n_orders=5_000, n_warehouses=20, n_skus=5_000)
    known = zip_coordinates()
    assert all(o.ship_to.postal_code in known for o in scenario.orders)
    single = sum(1 for o in scenario.orders if len(o.lines) == 1) / len(scenario.orders)
    assert 0.75 < single < 0.85
    assert all(len({ln.sku for ln in o.lines}) == len(o.lines) for o in scenario.orders)
    levels = collections.Counter(o.service_level for o in scenario.orders)
    assert len(levels) >= 5


def test_networks_are_real_distinct_sites_with_varied_cutoffs_and_time_zones() -> None:
    """Networks of 5 to 200 warehouses sit at distinct real ZIPs, across several time zones and
    cutoffs; a smaller network is the head of a larger one."""
    known = zip_coordinates()
    big = make_network(200)
    assert len({w.postal_code for w in big}) == 200
    assert all(w.postal_code in known for w in big)
    assert len({w.time_zone for w in big}) >= 4
    assert len({p.cutoff for w in big for p in w.pickups}) >= 4
    assert make_network(5) == big[:5]


def test_stock_is_skewed_and_some_skus_are_scarce() -> None:
    """Most SKUs sit in a few warehouses, some in every one, and scarce SKUs exist."""
    scenario = generate_scenario(seed=8, n_orders=5_000, n_warehouses=50, n_skus=20_000)
    per_sku = np.bincount(scenario.stock_sku, minlength=len(scenario.skus))
    stocked = per_sku[per_sku > 0]
    assert np.median(stocked) <= 3
    assert (per_sku == 50).sum() > 0.02 * len(scenario.skus)
    dense = scenario.dense_on_hand()
    assert dense.sum() == scenario.stock_quantity.sum()
