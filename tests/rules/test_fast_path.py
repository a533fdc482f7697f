"""The compiled policy's row-wise evaluation (used when no explanation is asked) gives exactly the
directives of its full-array evaluation (used for explanations)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

import engine
from benchmarks._engine_run import EngineBench
from benchmarks._scaling import fifty_rule_policy
from benchmarks._scenario import generate_scenario


class _BothWays(engine.Policy):
    """Evaluates the wrapped policy with and without explanations on every batch and keeps both."""

    def __init__(self, inner: engine.Policy) -> None:
        self.inner = inner
        self.version = inner.version
        self.pairs: list[tuple[engine.Directives, engine.Directives]] = []

    def directives(self, ctx: engine.RoutingContext, *, explain: bool = False) -> engine.Directives:
        fast = self.inner.directives(ctx, explain=False)
        full = self.inner.directives(ctx, explain=True)
        self.pairs.append((fast, full))
        return fast

    def channel_reserves(
        self,
        skus: Sequence[str],
        on_hand: npt.NDArray[np.int64],
        now: dt.datetime,
        sku_tags: Mapping[str, frozenset[str]],
    ) -> dict[str, npt.NDArray[np.int64]]:
        return self.inner.channel_reserves(skus, on_hand, now, sku_tags)


def test_fifty_rule_policy_directives_are_the_same_with_and_without_explanations() -> None:
    """On a seeded 3,000-order batch over 50 warehouses, the 50-rule benchmark policy yields the
    same exclusions, ranking keys, holds, split limits and ship-complete flags whether it
    evaluates row-wise (routing) or on whole arrays (explaining)."""
    scenario = generate_scenario(seed=11, n_orders=3_000, n_warehouses=50, n_skus=5_000)
    bench = EngineBench(scenario)
    policy = _BothWays(fifty_rule_policy(bench.network))
    engine.Router(bench.network, policy).route(
        scenario.orders, bench.fresh_stock(), now=scenario.now
    )
    assert policy.pairs
    for fast, full in policy.pairs:
        assert full.line_excluded.any() and (full.rank_key != fast.rank_key).sum() == 0
        np.testing.assert_array_equal(fast.line_excluded, full.line_excluded)
        np.testing.assert_array_equal(fast.rank_key, full.rank_key)
        np.testing.assert_array_equal(fast.max_shipments, full.max_shipments)
        np.testing.assert_array_equal(fast.ship_complete, full.ship_complete)
        np.testing.assert_array_equal(fast.allow_line_split, full.allow_line_split)
        assert fast.hold == full.hold
