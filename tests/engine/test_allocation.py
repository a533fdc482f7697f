"""Allocation rules of the default policy, one behaviour per test."""

from __future__ import annotations

import numpy as np

from engine import CandidateVerdict, Network, RouteStatus
from tests.engine.helpers import TestPolicy, east, order, route, shipped, stock_of, warehouse

NEAR, MID, FAR, FARTHEST = east(1), east(3), east(6), east(10)


def net(*points: tuple[float, float], **options: object) -> Network:
    return Network([warehouse(f"W{i}", p, **options) for i, p in enumerate(points)])


def test_whole_order_goes_to_nearest_warehouse_that_fills_it() -> None:
    """The nearest warehouse holding every line wins over a nearer one that holds only part."""
    network = net(NEAR, MID, FAR)
    stock = stock_of(
        network, {("W0", "A"): 5, ("W1", "A"): 5, ("W1", "B"): 5, ("W2", "A"): 9, ("W2", "B"): 9}
    )
    [decision] = route(network, stock, [order(("A", 2), ("B", 1))])
    assert decision.status is RouteStatus.ROUTED
    assert shipped(decision) == {"W1": {"L0": 2, "L1": 1}}
    assert decision.shipments[0].distance_km > 0


def test_repeated_sku_lines_are_added_up_for_the_whole_order_check() -> None:
    """Two lines of the same SKU need their sum at one warehouse to ship as one."""
    network = net(NEAR, FAR)
    stock = stock_of(network, {("W0", "A"): 3, ("W1", "A"): 4})
    [decision] = route(network, stock, [order(("A", 2), ("A", 2))])
    assert shipped(decision) == {"W1": {"L0": 2, "L1": 2}}


def test_split_uses_fewest_warehouses_then_least_total_distance() -> None:
    """With no single warehouse able to fill it, two shipments beat three, and the pair with the
    least total distance wins."""
    network = net(NEAR, MID, FAR, FARTHEST)
    stock = stock_of(
        network,
        {
            ("W0", "A"): 1,
            ("W0", "C"): 1,
            ("W1", "B"): 1,
            ("W2", "A"): 1,
            ("W2", "B"): 1,
            ("W3", "C"): 1,
        },
    )
    # 2-covers: {W0, W1} (1 + 3 degrees away) and {W0, W2} (1 + 6): the nearer pair wins.
    [decision] = route(network, stock, [order(("A", 1), ("B", 1), ("C", 1))])
    assert decision.status is RouteStatus.ROUTED
    assert set(shipped(decision)) == {"W0", "W1"}


def test_split_prefers_two_far_warehouses_over_three_near_ones() -> None:
    """The number of shipments comes before distance."""
    network = net(NEAR, MID, FAR, FARTHEST)
    stock = stock_of(
        network,
        {
            ("W0", "A"): 1,
            ("W1", "B"): 1,
            ("W2", "C"): 1,
            ("W3", "A"): 1,
            ("W3", "B"): 1,
            ("W2", "A"): 0,
        },
        skus=["C"],
    )
    [decision] = route(network, stock, [order(("A", 1), ("B", 1), ("C", 1))])
    assert set(shipped(decision)) == {"W2", "W3"}


def test_line_quantity_is_split_across_warehouses_when_needed() -> None:
    """One line of 5 with 3 + 2 units in two warehouses ships as two shipments."""
    network = net(NEAR, MID, FAR)
    stock = stock_of(network, {("W0", "A"): 3, ("W1", "A"): 1, ("W2", "A"): 2})
    [decision] = route(network, stock, [order(("A", 5))])
    assert decision.status is RouteStatus.ROUTED
    assert shipped(decision) == {"W0": {"L0": 3}, "W2": {"L0": 2}}


def test_without_line_split_each_line_ships_whole() -> None:
    """With line splitting off, a line comes whole from one warehouse or not at all."""
    network = net(NEAR, MID)
    stock = stock_of(network, {("W0", "A"): 3, ("W1", "A"): 2, ("W1", "B"): 1})
    [decision] = route(
        network, stock, [order(("A", 5), ("B", 1))], TestPolicy(allow_line_split=False)
    )
    assert decision.status is RouteStatus.PARTIALLY_ROUTED
    assert shipped(decision) == {"W1": {"L1": 1}}
    [unfilled] = decision.unfilled
    assert (unfilled.line_id, unfilled.quantity, unfilled.code) == ("L0", 5, "INSUFFICIENT_STOCK")


def test_without_line_split_lines_may_still_go_to_different_warehouses() -> None:
    """Line splitting off still allows each line its own warehouse."""
    network = net(NEAR, MID)
    stock = stock_of(network, {("W0", "A"): 5, ("W1", "B"): 1})
    [decision] = route(
        network, stock, [order(("A", 5), ("B", 1))], TestPolicy(allow_line_split=False)
    )
    assert shipped(decision) == {"W0": {"L0": 5}, "W1": {"L1": 1}}


def test_max_shipments_limits_the_split_and_leaves_the_rest_unfilled() -> None:
    """With max 2 shipments and stock spread over 3 warehouses, the two that place the most units
    are used and the rest is unfilled as MAX_SHIPMENTS_REACHED."""
    network = net(NEAR, MID, FAR)
    stock = stock_of(network, {("W0", "A"): 1, ("W1", "A"): 3, ("W2", "A"): 2})
    [decision] = route(network, stock, [order(("A", 6))], TestPolicy(max_shipments=2))
    assert decision.status is RouteStatus.PARTIALLY_ROUTED
    assert shipped(decision) == {"W1": {"L0": 3}, "W2": {"L0": 2}}
    [unfilled] = decision.unfilled
    assert (unfilled.quantity, unfilled.code) == (1, "MAX_SHIPMENTS_REACHED")


def test_default_policy_allows_three_shipments() -> None:
    """The default policy splits across up to three warehouses."""
    network = net(NEAR, MID, FAR, FARTHEST)
    stock = stock_of(network, {("W0", "A"): 1, ("W1", "A"): 1, ("W2", "A"): 1, ("W3", "A"): 1})
    [three] = route(network, stock, [order(("A", 3))], commit=False)
    assert three.status is RouteStatus.ROUTED and len(three.shipments) == 3
    [four] = route(network, stock, [order(("A", 4))])
    assert four.status is RouteStatus.PARTIALLY_ROUTED
    assert sum(a.quantity for s in four.shipments for a in s.lines) == 3


def test_short_stock_routes_partially_with_insufficient_stock() -> None:
    """Units that exist nowhere are unfilled as INSUFFICIENT_STOCK; the rest ships."""
    network = net(NEAR)
    stock = stock_of(network, {("W0", "A"): 2, ("W0", "B"): 1})
    [decision] = route(network, stock, [order(("A", 5), ("B", 1))])
    assert decision.status is RouteStatus.PARTIALLY_ROUTED
    assert shipped(decision) == {"W0": {"L0": 2, "L1": 1}}
    assert [(u.line_id, u.quantity, u.code) for u in decision.unfilled] == [
        ("L0", 3, "INSUFFICIENT_STOCK")
    ]


def test_nothing_in_stock_is_backordered() -> None:
    """An order of which nothing can be placed is BACKORDERED with every line unfilled."""
    network = net(NEAR)
    stock = stock_of(network, {("W0", "A"): 0})
    [decision] = route(network, stock, [order(("A", 2))])
    assert decision.status is RouteStatus.BACKORDERED
    assert decision.shipments == ()
    assert [(u.quantity, u.code) for u in decision.unfilled] == [(2, "INSUFFICIENT_STOCK")]


def test_ship_complete_order_is_held_and_takes_nothing() -> None:
    """A ship-complete order that cannot be covered is HELD (SHIP_COMPLETE) and reserves nothing."""
    network = net(NEAR)
    stock = stock_of(network, {("W0", "A"): 2})
    [decision] = route(network, stock, [order(("A", 3))], TestPolicy(ship_complete=True))
    assert decision.status is RouteStatus.HELD
    assert decision.hold is not None and decision.hold.code == "SHIP_COMPLETE"
    assert stock.reserved.sum() == 0


def test_inactive_warehouse_is_never_used() -> None:
    """An inactive warehouse is skipped even when it is nearest and full."""
    network = Network([warehouse("W0", NEAR, active=False), warehouse("W1", FAR)])
    stock = stock_of(network, {("W0", "A"): 9, ("W1", "A"): 9})
    [decision] = route(network, stock, [order(("A", 1))])
    assert shipped(decision) == {"W1": {"L0": 1}}


def test_excluded_cell_is_skipped_and_reported_in_the_explanation() -> None:
    """A policy exclusion removes the warehouse for that SKU, and the explanation names the rule."""
    network = net(NEAR, FAR)
    stock = stock_of(network, {("W0", "A"): 9, ("W1", "A"): 9})
    [decision] = route(
        network, stock, [order(("A", 1))], TestPolicy(exclude=[("A", "W0")]), explain=True
    )
    assert shipped(decision) == {"W1": {"L0": 1}}
    assert decision.explanation is not None
    [line] = decision.explanation.lines
    by_id = {c.warehouse_id: c for c in line.candidates}
    assert by_id["W0"].verdict is CandidateVerdict.EXCLUDED
    assert by_id["W0"].reason == "excluded by rule 'no-A-at-W0'"
    assert by_id["W1"].verdict is CandidateVerdict.CHOSEN
    assert decision.explanation.rule_effects == (("test", "applied"),)


def test_no_eligible_warehouse_is_reported_as_such() -> None:
    """When every warehouse is excluded for a line, its units are NO_ELIGIBLE_WAREHOUSE."""
    network = net(NEAR)
    stock = stock_of(network, {("W0", "A"): 9})
    [decision] = route(network, stock, [order(("A", 1))], TestPolicy(exclude=[("A", "W0")]))
    assert decision.status is RouteStatus.BACKORDERED
    assert decision.unfilled[0].code == "NO_ELIGIBLE_WAREHOUSE"


def test_capacity_left_limits_shipments_per_warehouse() -> None:
    """A warehouse with capacity 1 takes one shipment; the next order goes elsewhere; capacity
    is decremented in place on commit and -1 means unlimited."""
    network = net(NEAR, FAR)
    stock = stock_of(network, {("W0", "A"): 9, ("W1", "A"): 9})
    capacity = np.array([1, -1], dtype=np.int64)
    first, second = route(
        network, stock, [order(("A", 1)), order(("A", 1), order_id="o2")], capacity_left=capacity
    )
    assert set(shipped(first)) == {"W0"}
    assert set(shipped(second)) == {"W1"}
    assert capacity.tolist() == [0, -1]


def test_later_orders_see_stock_taken_by_earlier_ones() -> None:
    """Within a batch, the first order takes the nearest units and the second goes farther."""
    network = net(NEAR, FAR)
    stock = stock_of(network, {("W0", "A"): 1, ("W1", "A"): 1})
    first, second = route(network, stock, [order(("A", 1)), order(("A", 1), order_id="o2")])
    assert set(shipped(first)) == {"W0"}
    assert set(shipped(second)) == {"W1"}


def test_commit_reserves_in_place_and_dry_run_does_not() -> None:
    """commit=True adds allocations to reserved and reserved_by_channel; commit=False leaves the
    table untouched."""
    network = net(NEAR)
    stock = stock_of(network, {("W0", "A"): 5})
    route(network, stock, [order(("A", 2), channel="amazon")], commit=False)
    assert stock.reserved.sum() == 0 and stock.reserved_by_channel == {}
    route(network, stock, [order(("A", 2), channel="amazon")])
    assert stock.reserved.tolist() == [[2]]
    assert stock.reserved_by_channel["amazon"].tolist() == [[2]]


def test_existing_reservations_reduce_what_can_be_routed() -> None:
    """Units already reserved are not available again, even if a sync dropped on-hand below them."""
    network = net(NEAR, FAR)
    stock = stock_of(network, {("W0", "A"): 3, ("W1", "A"): 3})
    stock.reserved[0, 0] = 4  # on_hand 3 < reserved 4: allowed, the shortfall stays visible
    [decision] = route(network, stock, [order(("A", 2))])
    assert shipped(decision) == {"W1": {"L0": 2}}


def test_policy_preference_changes_the_ranking() -> None:
    """A rank-key bonus makes a farther warehouse win, and the explanation says it ranked higher."""
    network = net(NEAR, FAR)
    stock = stock_of(network, {("W0", "A"): 9, ("W1", "A"): 9})
    [decision] = route(
        network, stock, [order(("A", 1))], TestPolicy(prefer={"W1": 10_000.0}), explain=True
    )
    assert set(shipped(decision)) == {"W1"}
    assert decision.explanation is not None
    near = decision.explanation.lines[0].candidates[0]
    assert near.verdict is CandidateVerdict.RANKED_LOWER
    assert "ranked lower than W1" in near.reason


def test_policy_hold_is_passed_through() -> None:
    """A hold from the policy makes the order HELD with the policy's code and rule, reserving
    nothing, while the rest of the batch routes."""
    network = net(NEAR)
    stock = stock_of(network, {("W0", "A"): 9})
    held, routed = route(
        network, stock, [order(("A", 1)), order(("A", 1), order_id="o2")], TestPolicy(hold=["o1"])
    )
    assert held.status is RouteStatus.HELD
    assert held.hold is not None and (held.hold.code, held.hold.rule) == ("POLICY_HOLD", "review")
    assert routed.status is RouteStatus.ROUTED
    assert stock.reserved.sum() == 1
    assert held.policy_version == "test"


def test_explanation_names_the_farther_and_the_short_candidates() -> None:
    """Explanations give distance comparisons and stock shortfalls in plain words, with ranks."""
    network = net(NEAR, MID, FAR)
    stock = stock_of(network, {("W0", "A"): 1, ("W1", "A"): 5, ("W2", "A"): 5})
    [decision] = route(network, stock, [order(("A", 3))], explain=True)
    assert decision.explanation is not None
    assert decision.explanation.summary.startswith("routed whole from W1")
    near, mid, far = decision.explanation.lines[0].candidates
    assert near.reason == "only 1 available, 3 needed" and near.rank == 1
    assert mid.reason == "nearest that can fill the whole order" and mid.rank == 2
    assert far.reason.startswith("farther (") and "than W1" in far.reason and far.rank == 3
    assert mid.available == 5 and mid.ship_by is not None and mid.deliver_by is not None


def test_decisions_come_back_in_input_order_with_rejections_in_place() -> None:
    """Malformed, held and routed orders keep their input positions."""
    network = net(NEAR)
    stock = stock_of(network, {("W0", "A"): 9})
    bad = order(("A", 0), order_id="bad")
    decisions = route(network, stock, [order(("A", 1)), bad, order(("Z", 1), order_id="o3")])
    assert [d.status for d in decisions] == [
        RouteStatus.ROUTED,
        RouteStatus.REJECTED,
        RouteStatus.HELD,
    ]
    assert decisions[1].violations == (("order.lines[0].quantity", "must be positive"),)
    assert decisions[2].hold is not None and decisions[2].hold.code == "UNKNOWN_SKU"
    assert "'Z'" in decisions[2].hold.reason


def test_limits_above_three_use_greedy_covers() -> None:
    """With max_shipments 5, an order needing five warehouses is routed across all five."""
    network = Network([warehouse(f"W{i}", east(i + 1)) for i in range(6)])
    stock = stock_of(network, {(f"W{i}", "A"): 1 for i in range(6)})
    [decision] = route(network, stock, [order(("A", 5))], TestPolicy(max_shipments=5))
    assert decision.status is RouteStatus.ROUTED
    assert set(shipped(decision)) == {"W0", "W1", "W2", "W3", "W4"}


def test_empty_batch_routes_nothing() -> None:
    """An empty batch returns no decisions and leaves stock alone."""
    network = net(NEAR)
    stock = stock_of(network, {("W0", "A"): 1})
    assert route(network, stock, []) == []
    assert stock.reserved.sum() == 0


def test_explanations_see_the_stock_each_order_saw() -> None:
    """In an explained batch, the second order's candidates show the units left after the first
    order took its share, and why the emptied warehouse lost."""
    network = net(NEAR, FAR)
    stock = stock_of(network, {("W0", "A"): 2, ("W1", "A"): 5})
    first, second = route(
        network, stock, [order(("A", 2)), order(("A", 2), order_id="o2")], explain=True
    )
    assert first.explanation is not None and second.explanation is not None
    assert first.explanation.lines[0].candidates[0].available == 2
    near = second.explanation.lines[0].candidates[0]
    assert (near.available, near.verdict) == (0, CandidateVerdict.RANKED_LOWER)
    assert near.reason == "only 0 available, 2 needed"
