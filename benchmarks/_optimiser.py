"""Measurement 7: the batch optimiser at scale, against its own proven bound.

Batches of 1,000 scarce orders x 50 warehouses as the MILP study in ``shared/brief/perf-limits.md``
section 4 builds them (orders of 2-3 SKUs competing for a pool of n/5, each SKU in half the
warehouses with 1.5-3x the batch's demand; $5 + $0.005/km a shipment, $1,000 an unfilled unit),
each solved with the 2 s budget RouteBatch uses, warm-started from a sequential greedy. The gap is
the optimiser's own proof: (cost - proven lower bound) / cost. Nothing here knows the optimum.
"""

from __future__ import annotations

import time

from benchmarks._config import BenchConfig
from benchmarks._progress import Progress
from benchmarks._results import SectionResult, Target, figure

__all__ = ["run"]

ORDERS = 1_000
WAREHOUSES = 50
BUDGET_SECONDS = 2.0


def run(config: BenchConfig) -> SectionResult:
    from engine._optimize import solve_batch, warm_up
    from engine._optimize_bench import sequential_greedy, study_batch
    from engine._optimize_model import order_warehouse_units

    result = SectionResult(
        "optimiser",
        "7. Batch optimiser at scale",
        f"its own proven bound, {ORDERS:,} scarce orders x {WAREHOUSES} warehouses, "
        f"budget {BUDGET_SECONDS:g} s",
    )
    warm_up()  # the pricing kernel's one-time compilation is not the batch's time
    instances = config.size(1, 10)
    gaps: list[float] = []
    seconds: list[float] = []
    cost_ratio: list[float] = []
    ship_ratio: list[float] = []
    with Progress("optimiser instances", instances) as progress:
        for k in range(instances):
            problem = study_batch(config.seed * 100 + k, n_orders=ORDERS, n_warehouses=WAREHOUSES)
            greedy = sequential_greedy(problem)
            started = time.perf_counter()
            solution = solve_batch(problem, time_budget_s=BUDGET_SECONDS, greedy_quantity=greedy)
            seconds.append(time.perf_counter() - started)
            gaps.append(solution.gap)
            cost_ratio.append(solution.objective / solution.greedy_objective)
            shipped = int((order_warehouse_units(problem, solution.quantity) > 0).sum())
            greedy_shipped = int((order_warehouse_units(problem, greedy) > 0).sum())
            ship_ratio.append(shipped / greedy_shipped)
            progress.advance(detail=f"gap {solution.gap:.2%}")
    within = sum(gap <= 0.01 for gap in gaps)
    result.row("proven gap", figure(gaps))
    result.row("instances within 1 %", f"{within} of {len(gaps)}")
    result.row("wall time per batch (budget 2 s)", figure(seconds, "s"))
    result.row("cost / greedy cost", figure(cost_ratio, "x"))
    result.row("shipments / greedy shipments", figure(ship_ratio, "x"))
    result.targets.append(
        Target(
            "proven gap (median over instances)",
            0.01,
            "<=",
            "",
            figure(gaps),
            note=f"{within} of {len(gaps)} instances within 1 %",
        )
    )
    result.targets.append(
        Target("wall time per batch", BUDGET_SECONDS, "<=", "s", figure(seconds, "s"))
    )
    result.data.update(
        orders=ORDERS,
        warehouses=WAREHOUSES,
        budget_seconds=BUDGET_SECONDS,
        gaps=gaps,
        seconds=seconds,
        cost_ratio=cost_ratio,
        shipment_ratio=ship_ratio,
    )
    result.notes.append(
        "Batches the master MILP cannot finish within the budget keep the neighbourhood search's "
        "plan; their gap is what the bound proves, not a loss against greedy."
    )
    return result
