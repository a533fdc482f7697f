"""The batch optimiser: formulation against brute force, feasibility, decomposition, time budget."""

from __future__ import annotations

import itertools
import math

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import _optimize
from engine._optimize import (
    BatchProblem,
    InfeasibleStartError,
    InvalidBatchProblemError,
    check_feasible,
    objective_of,
    solve_batch,
)
from engine._optimize_bench import _Stock, scarce_batch, sequential_greedy
from engine._optimize_model import line_order_of, order_warehouse_units

IntArray = npt.NDArray[np.int64]

BRUTE_FORCE_LIMIT = 2500  # assignments enumerated per instance
# Both ways a chunk is solved: the whole MILP (small chunks), and the decomposition by order then
# the whole MILP from its plan (large chunks; forced here with a threshold of 0 columns).
SOLVE_PATHS = (10**9, 0)


def random_problem(
    rng: np.random.Generator,
    *,
    n_orders: int,
    n_warehouses: int,
    n_skus: int,
    n_channels: int,
    max_lines: int = 2,
    max_qty: int = 2,
    max_free: int = 3,
) -> BatchProblem:
    """A random batch exercising every constraint: eligibility holes, NaN distances, channel
    reserves (sometimes more than is free), no-split lines, ship-complete orders, shipment caps."""
    per_order = rng.integers(1, max_lines + 1, size=n_orders)
    line_start = np.concatenate([[0], np.cumsum(per_order)]).astype(np.int64)
    n_lines = int(line_start[-1])
    distance = rng.uniform(5.0, 3000.0, size=(n_orders, n_warehouses))
    distance[rng.random(distance.shape) < 0.1] = np.nan
    free = rng.integers(0, max_free + 1, size=(n_skus, n_warehouses)).astype(np.int64)
    reserve = rng.integers(0, 3, size=(n_channels, n_skus, n_warehouses)).astype(np.int64)
    reserve[rng.random(reserve.shape) < 0.5] = 0
    shipment_weight = float(rng.choice([10.0, 100.0]))
    distance_weight = float(rng.choice([0.01, 0.1]))
    return BatchProblem(
        line_start=line_start,
        line_sku_row=rng.integers(0, n_skus, size=n_lines).astype(np.int64),
        line_qty=rng.integers(1, max_qty + 1, size=n_lines).astype(np.int64),
        eligible=rng.random((n_lines, n_warehouses)) < 0.8,
        distance_km=distance,
        free=free,
        order_channel=rng.integers(-1, n_channels, size=n_orders).astype(np.int64),
        reserve_remaining=reserve,
        max_shipments=rng.integers(1, 4, size=n_orders).astype(np.int64),
        allow_line_split=rng.random(n_orders) < 0.6,
        ship_complete=rng.random(n_orders) < 0.3,
        shipment_weight=shipment_weight,
        distance_weight=distance_weight,
        unfilled_penalty=10.0 * (shipment_weight + distance_weight * 3000.0),
    )


def line_options(problem: BatchProblem, line: int) -> list[tuple[int, ...]]:
    """Every way to ship one line: units per warehouse, summing to at most its quantity."""
    n_wh = problem.n_warehouses
    qty = int(problem.line_qty[line])
    return [combo for combo in itertools.product(range(qty + 1), repeat=n_wh) if sum(combo) <= qty]


def brute_force(problem: BatchProblem) -> float:
    """The optimum by enumerating every assignment and keeping the feasible cheapest."""
    options = [line_options(problem, line) for line in range(len(problem.line_qty))]
    best = math.inf
    for choice in itertools.product(*options):
        quantity = np.array(choice, dtype=np.int64).reshape(len(options), problem.n_warehouses)
        if not check_feasible(problem, quantity):
            best = min(best, objective_of(problem, quantity))
    return best


def tiny_problems(count: int) -> list[tuple[int, BatchProblem]]:
    """Seeded tiny instances small enough to enumerate (at most 3 orders and 3 warehouses)."""
    out: list[tuple[int, BatchProblem]] = []
    seed = 0
    while len(out) < count:
        rng = np.random.default_rng(seed)
        problem = random_problem(
            rng,
            n_orders=int(rng.integers(1, 4)),
            n_warehouses=int(rng.integers(1, 4)),
            n_skus=int(rng.integers(1, 3)),
            n_channels=int(rng.integers(0, 3)),
        )
        size = math.prod(len(line_options(problem, li)) for li in range(len(problem.line_qty)))
        if size <= BRUTE_FORCE_LIMIT:
            out.append((seed, problem))
        seed += 1
    return out


def shipments(problem: BatchProblem, quantity: IntArray) -> int:
    return int((order_warehouse_units(problem, quantity) > 0).sum())


def replay_is_feasible(problem: BatchProblem, quantity: IntArray) -> bool:
    """Stock and reserves only: replay the takes order by order through the allocator's rule
    (``usable_by`` from the policy contract), as the sequential router would apply them."""
    stock = _Stock(problem)
    line_order = line_order_of(problem)
    for line, wh in zip(*np.nonzero(quantity), strict=True):
        channel = int(problem.order_channel[line_order[line]])
        sku, units = int(problem.line_sku_row[line]), int(quantity[line, wh])
        if units > stock.usable(channel, sku, int(wh)):
            return False
        stock.take(channel, sku, int(wh), units)
    return True


TINY = tiny_problems(30)


@pytest.mark.parametrize(("seed", "problem"), TINY, ids=[f"seed{seed}" for seed, _ in TINY])
def test_optimal_objective_equals_brute_force(seed: int, problem: BatchProblem) -> None:
    """On tiny random batches the solver's objective (by either solve path) is the enumerated
    optimum, and its assignment is feasible: the MILP says exactly what check_feasible and
    objective_of say."""
    del seed
    optimum = brute_force(problem)
    for direct_mip_columns in SOLVE_PATHS:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(_optimize, "DIRECT_MIP_COLUMNS", direct_mip_columns)
            solution = solve_batch(problem, time_budget_s=30.0)
        assert check_feasible(problem, solution.quantity) == []
        assert solution.objective == pytest.approx(optimum, rel=1e-9, abs=1e-6)
        assert solution.fallback_components == ()
        assert solution.bound <= solution.objective + 1e-6
        assert solution.gap <= 1e-3


@pytest.mark.parametrize("seed", range(40))
def test_stock_rule_matches_sequential_allocator(seed: int) -> None:
    """check_feasible's joint reserve rule accepts an assignment's stock takes exactly when
    replaying them one by one through the allocator's usable_by rule succeeds, including cells
    whose reserves exceed what is free."""
    rng = np.random.default_rng(1000 + seed)
    problem = random_problem(rng, n_orders=4, n_warehouses=2, n_skus=2, n_channels=2, max_qty=3)
    problem = _replace(problem, eligible=np.ones_like(problem.eligible))
    problem = _replace(problem, distance_km=np.ones_like(problem.distance_km))
    problem = _replace(problem, allow_line_split=np.ones_like(problem.allow_line_split))
    problem = _replace(problem, ship_complete=np.zeros_like(problem.ship_complete))
    problem = _replace(problem, max_shipments=np.full_like(problem.max_shipments, 9))
    for _ in range(25):
        quantity = rng.integers(0, 3, size=problem.eligible.shape).astype(np.int64)
        quantity = np.minimum(quantity, problem.line_qty[:, None])
        quantity[quantity.sum(axis=1) > problem.line_qty] = 0
        stock_broken = any("oversold" in v for v in check_feasible(problem, quantity))
        assert stock_broken == (not replay_is_feasible(problem, quantity))


def _replace(problem: BatchProblem, **changes: object) -> BatchProblem:
    import dataclasses

    return dataclasses.replace(problem, **changes)  # type: ignore[arg-type]  # test-only helper


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    n_orders=st.integers(1, 12),
    n_warehouses=st.integers(1, 5),
    n_skus=st.integers(1, 4),
    n_channels=st.integers(0, 2),
)
def test_optimised_assignment_never_breaks_a_constraint_and_never_loses_to_greedy(
    seed: int, n_orders: int, n_warehouses: int, n_skus: int, n_channels: int
) -> None:
    """Over random batches with reserves, no-split lines, ship-complete orders and shipment caps,
    the optimised assignment (by either solve path) is feasible, costs no more than the greedy
    start, and its bound is a lower bound on its own objective."""
    rng = np.random.default_rng(seed)
    problem = random_problem(
        rng,
        n_orders=n_orders,
        n_warehouses=n_warehouses,
        n_skus=n_skus,
        n_channels=n_channels,
        max_lines=3,
        max_qty=3,
        max_free=5,
    )
    greedy = sequential_greedy(problem)
    assert check_feasible(problem, greedy) == []
    for direct_mip_columns in SOLVE_PATHS:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(_optimize, "DIRECT_MIP_COLUMNS", direct_mip_columns)
            solution = solve_batch(problem, time_budget_s=10.0, greedy_quantity=greedy)
        assert check_feasible(problem, solution.quantity) == []
        # Solved, not rescued by the safety net that reverts an infeasible answer to the start.
        assert solution.fallback_components == ()
        assert solution.objective <= solution.greedy_objective + 1e-6
        assert solution.objective == pytest.approx(objective_of(problem, solution.quantity))
        assert solution.bound <= solution.objective + 1e-6


def stack(problems: list[BatchProblem]) -> BatchProblem:
    """One batch made of independent ones: same warehouses, disjoint SKU rows."""
    first = problems[0]
    sku_offsets = np.cumsum([0] + [p.free.shape[0] for p in problems])
    line_offsets = np.cumsum([0] + [len(p.line_qty) for p in problems])
    return BatchProblem(
        line_start=np.concatenate(
            [[0]] + [p.line_start[1:] + off for p, off in zip(problems, line_offsets, strict=False)]
        ).astype(np.int64),
        line_sku_row=np.concatenate(
            [p.line_sku_row + off for p, off in zip(problems, sku_offsets, strict=False)]
        ),
        line_qty=np.concatenate([p.line_qty for p in problems]),
        eligible=np.concatenate([p.eligible for p in problems]),
        distance_km=np.concatenate([p.distance_km for p in problems]),
        free=np.concatenate([p.free for p in problems]),
        order_channel=np.concatenate([p.order_channel for p in problems]),
        reserve_remaining=np.zeros((0, int(sku_offsets[-1]), first.n_warehouses), np.int64),
        max_shipments=np.concatenate([p.max_shipments for p in problems]),
        allow_line_split=np.concatenate([p.allow_line_split for p in problems]),
        ship_complete=np.concatenate([p.ship_complete for p in problems]),
        shipment_weight=first.shipment_weight,
        distance_weight=first.distance_weight,
        unfilled_penalty=first.unfilled_penalty,
    )


@pytest.mark.parametrize("seed", range(3))
def test_decomposition_gives_the_same_objective_as_one_model(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch made of independent sub-batches splits into at least that many components, and
    solving each component on its own reaches the same optimum as one model of the whole batch
    and as the sub-batches solved separately."""
    parts = [
        scarce_batch(10 * seed + i, n_orders=25, n_warehouses=5, no_split_share=0.3)
        for i in range(3)
    ]
    parts = [_replace(p, unfilled_penalty=parts[0].unfilled_penalty) for p in parts]
    problem = stack(parts)
    greedy = sequential_greedy(problem)
    monkeypatch.setattr(_optimize, "CHUNK_COLUMNS", 1)
    apart = solve_batch(problem, time_budget_s=60.0, greedy_quantity=greedy)
    monkeypatch.setattr(_optimize, "CHUNK_COLUMNS", 10**9)
    whole = solve_batch(problem, time_budget_s=60.0, greedy_quantity=greedy)
    separately = sum(solve_batch(p, time_budget_s=60.0).objective for p in parts)
    assert apart.components >= 3
    assert apart.fallback_components == whole.fallback_components == ()
    assert apart.objective == pytest.approx(whole.objective, rel=2e-4)
    assert apart.objective == pytest.approx(separately, rel=2e-4)
    assert check_feasible(problem, apart.quantity) == []


def test_orders_sharing_no_stock_are_separate_components() -> None:
    """Orders that could never draw on the same (sku, warehouse) stock are solved apart, and an
    order nothing can ship belongs to no component."""
    problem = BatchProblem(
        line_start=np.array([0, 1, 2, 3], dtype=np.int64),
        line_sku_row=np.array([0, 0, 1], dtype=np.int64),
        line_qty=np.array([1, 1, 1], dtype=np.int64),
        eligible=np.ones((3, 2), dtype=np.bool_),
        distance_km=np.array([[10.0, 20.0], [20.0, 10.0], [5.0, 5.0]]),
        free=np.array([[2, 2], [0, 0]], dtype=np.int64),
        order_channel=np.full(3, -1, dtype=np.int64),
        reserve_remaining=np.zeros((0, 2, 2), dtype=np.int64),
        max_shipments=np.full(3, 3, dtype=np.int64),
        allow_line_split=np.ones(3, dtype=np.bool_),
        ship_complete=np.zeros(3, dtype=np.bool_),
        shipment_weight=100.0,
        distance_weight=1.0,
        unfilled_penalty=10_000.0,
    )
    solution = solve_batch(problem)
    # Orders 0 and 1 want sku 0 from the same cells, but every cell can serve both at once.
    assert solution.order_component.tolist() == [0, 1, -1]
    assert solution.quantity.tolist() == [[1, 0], [0, 1], [0, 0]]


def test_batch_beats_the_myopic_greedy_on_a_trade() -> None:
    """The textbook case greedy gets wrong: the first order takes the last unit the second order
    needed to ship whole. Jointly, each order ships once (2 shipments, not 3)."""
    problem = BatchProblem(
        line_start=np.array([0, 1, 3], dtype=np.int64),
        line_sku_row=np.array([0, 0, 1], dtype=np.int64),  # order 0: a; order 1: a + b
        line_qty=np.array([1, 1, 1], dtype=np.int64),
        eligible=np.ones((3, 2), dtype=np.bool_),
        distance_km=np.array([[10.0, 50.0], [10.0, 50.0]]),
        free=np.array([[1, 1], [1, 0]], dtype=np.int64),  # w0: a, b; w1: a
        order_channel=np.full(2, -1, dtype=np.int64),
        reserve_remaining=np.zeros((0, 2, 2), dtype=np.int64),
        max_shipments=np.full(2, 3, dtype=np.int64),
        allow_line_split=np.ones(2, dtype=np.bool_),
        ship_complete=np.zeros(2, dtype=np.bool_),
        shipment_weight=100.0,
        distance_weight=0.1,
        unfilled_penalty=10_000.0,
    )
    greedy = sequential_greedy(problem)
    solution = solve_batch(problem, greedy_quantity=greedy)
    assert shipments(problem, greedy) == 3
    assert shipments(problem, solution.quantity) == 2
    assert solution.quantity.tolist() == [[0, 1], [1, 0], [1, 0]]
    assert solution.objective < solution.greedy_objective
    assert solution.gap <= 1e-4


@pytest.mark.parametrize("budget", [0.0, 1e-6])
def test_exhausted_budget_falls_back_to_greedy_for_every_component(budget: float) -> None:
    """With no time to solve, the answer is the greedy start, feasible, with every component
    reported as fallen back and an honest (weak but valid) bound."""
    problem = scarce_batch(7, n_orders=80, n_warehouses=8)
    greedy = sequential_greedy(problem)
    solution = solve_batch(problem, time_budget_s=budget, greedy_quantity=greedy)
    assert check_feasible(problem, solution.quantity) == []
    assert np.array_equal(solution.quantity, greedy)
    assert solution.fallback_components == tuple(range(solution.components))
    assert solution.objective == pytest.approx(solution.greedy_objective)
    assert solution.bound <= solution.objective
    assert solution.gap >= 0.0


def test_empty_batch_and_empty_network_are_solved_trivially() -> None:
    """No orders, or no warehouses, is not an error: nothing ships, the penalty is exact."""
    no_orders = scarce_batch(0, n_orders=1, n_warehouses=2)
    no_orders = _replace(
        no_orders,
        line_start=np.zeros(1, np.int64),
        line_sku_row=np.zeros(0, np.int64),
        line_qty=np.zeros(0, np.int64),
        eligible=np.zeros((0, 2), np.bool_),
        distance_km=np.zeros((0, 2)),
        order_channel=np.zeros(0, np.int64),
        max_shipments=np.zeros(0, np.int64),
        allow_line_split=np.zeros(0, np.bool_),
        ship_complete=np.zeros(0, np.bool_),
    )
    assert solve_batch(no_orders).objective == 0.0
    problem = scarce_batch(0, n_orders=3, n_warehouses=2)
    no_warehouses = _replace(
        problem,
        eligible=problem.eligible[:, :0],
        distance_km=problem.distance_km[:, :0],
        free=problem.free[:, :0],
        reserve_remaining=problem.reserve_remaining[:, :, :0],
    )
    solution = solve_batch(no_warehouses)
    assert solution.quantity.shape == (len(problem.line_qty), 0)
    assert solution.objective == problem.unfilled_penalty * float(problem.line_qty.sum())
    assert solution.components == 0


def test_without_a_start_an_exhausted_budget_ships_nothing() -> None:
    """Without a greedy start the fallback is the always-feasible empty assignment."""
    problem = scarce_batch(3, n_orders=20, n_warehouses=4)
    solution = solve_batch(problem, time_budget_s=0.0)
    assert not solution.quantity.any()
    assert math.isnan(solution.greedy_objective)
    assert solution.objective == pytest.approx(
        problem.unfilled_penalty * float(problem.line_qty.sum())
    )


def test_reserved_stock_goes_only_to_its_channel() -> None:
    """A cell whose free units are all held for channel 0 ships to channel 0's order, and the
    other order stays unfilled rather than taking reserved stock."""
    problem = BatchProblem(
        line_start=np.array([0, 1, 2], dtype=np.int64),
        line_sku_row=np.array([0, 0], dtype=np.int64),
        line_qty=np.array([2, 2], dtype=np.int64),
        eligible=np.ones((2, 1), dtype=np.bool_),
        distance_km=np.array([[100.0], [1.0]]),
        free=np.array([[3]], dtype=np.int64),
        order_channel=np.array([0, -1], dtype=np.int64),
        reserve_remaining=np.array([[[2]]], dtype=np.int64),
        max_shipments=np.full(2, 3, dtype=np.int64),
        allow_line_split=np.ones(2, dtype=np.bool_),
        ship_complete=np.zeros(2, dtype=np.bool_),
        shipment_weight=100.0,
        distance_weight=0.1,
        unfilled_penalty=10_000.0,
    )
    solution = solve_batch(problem)
    assert solution.quantity.tolist() == [[2], [1]]
    assert check_feasible(problem, np.array([[1], [2]])) != []


def test_check_feasible_names_each_broken_constraint() -> None:
    """Each kind of violation is reported in words: ineligible warehouse, overfilled line, split
    of a no-split line, too many shipments, a short ship-complete order, oversold stock."""
    problem = BatchProblem(
        line_start=np.array([0, 2, 3], dtype=np.int64),
        line_sku_row=np.array([0, 1, 0], dtype=np.int64),
        line_qty=np.array([2, 1, 2], dtype=np.int64),
        eligible=np.array([[True, True], [True, False], [True, True]]),
        distance_km=np.array([[1.0, 2.0], [1.0, 2.0]]),
        free=np.array([[2, 2], [1, 1]], dtype=np.int64),
        order_channel=np.full(2, -1, dtype=np.int64),
        reserve_remaining=np.zeros((0, 2, 2), dtype=np.int64),
        max_shipments=np.array([1, 3], dtype=np.int64),
        allow_line_split=np.array([False, True]),
        ship_complete=np.array([False, True]),
        shipment_weight=1.0,
        distance_weight=1.0,
        unfilled_penalty=100.0,
    )
    bad = np.array([[1, 1], [0, 1], [2, 0]], dtype=np.int64)
    text = " | ".join(check_feasible(problem, bad))
    assert "line 1 ships 1 from warehouse 1, which is not eligible" in text
    assert "line 0 may not split but ships from 2 warehouses" in text
    assert "order 0 ships from 2 warehouses, at most 1 allowed" in text
    assert "sku row 0 warehouse 0: oversold by 1" in text
    assert check_feasible(problem, np.array([[0, 0], [0, 0], [1, 0]])) == [
        "order 1 must ship complete but some of its lines are short"
    ]
    assert "line 2 ships 3 units but wants 2" in " ".join(
        check_feasible(problem, np.array([[0, 0], [0, 0], [2, 1]]))
    )
    assert check_feasible(problem, np.array([[2, 0], [1, 0], [0, 2]])) == []


def test_objective_counts_shipments_distance_and_unfilled_units() -> None:
    """objective_of charges each (order, warehouse) shipment once however many lines it carries,
    its distance once, and the penalty per unit left unfilled."""
    problem = scarce_batch(0, n_orders=2, n_warehouses=3)
    quantity = np.zeros_like(problem.eligible, dtype=np.int64)
    first = int(problem.line_start[0])
    quantity[first, 1] = 1
    expected = (
        problem.shipment_weight
        + problem.distance_weight * problem.distance_km[0, 1]
        + problem.unfilled_penalty * (float(problem.line_qty.sum()) - 1)
    )
    assert objective_of(problem, quantity) == pytest.approx(expected)


def test_malformed_problem_and_infeasible_start_are_rejected_clearly() -> None:
    """Arrays that disagree in shape raise InvalidBatchProblemError (a ValueError) naming the
    array; a greedy start that oversells raises InfeasibleStartError naming the violation."""
    problem = scarce_batch(1, n_orders=5, n_warehouses=3)
    broken = _replace(problem, distance_km=problem.distance_km[:, :2])
    with pytest.raises(InvalidBatchProblemError, match="distance_km has shape"):
        solve_batch(broken)
    oversold = np.zeros_like(problem.eligible, dtype=np.int64)
    oversold[0, 0] = 1  # every line wants at least one unit; there is none once free is zero
    empty = _replace(problem, free=np.zeros_like(problem.free))
    with pytest.raises(InfeasibleStartError, match=r"sku row \d+ warehouse 0: oversold by 1"):
        solve_batch(empty, greedy_quantity=oversold)
    assert issubclass(InfeasibleStartError, ValueError)
