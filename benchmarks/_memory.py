"""Measurement 6: memory of the engine holding 1M SKUs across 50 warehouses.

Measured in a fresh subprocess (``python -m benchmarks._memory SKUS WAREHOUSES SEED``) so nothing
else of the suite is in its heap: it generates the stock (sparse), notes its resident set, builds
the engine's Network, StockTable (every SKU) and Router, routes a batch of orders, and reports the
growth of the resident set and the peak. Bytes per stocked (sku, warehouse) pair is the growth
divided by the number of cells that actually hold stock; the reference is the sparse input itself (3
int64 per cell).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys

import numpy as np

from benchmarks._config import BenchConfig
from benchmarks._results import SectionResult, Target, figure

__all__ = ["measure", "run"]

PAGE = 4096


def _rss_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as fh:
        return int(fh.read().split()[1]) * PAGE


def measure(n_skus: int, n_warehouses: int, seed: int) -> dict[str, float]:
    """Run inside the subprocess: build and use the engine's tables, report memory figures."""
    import engine
    from benchmarks._scenario import generate_scenario

    scenario = generate_scenario(
        seed=seed, n_orders=10_000, n_warehouses=n_warehouses, n_skus=n_skus
    )
    before = _rss_bytes()
    network = engine.Network(scenario.warehouses)
    on_hand = scenario.dense_on_hand()
    stock = engine.StockTable(network, scenario.skus, on_hand, np.zeros_like(on_hand))
    router = engine.Router(network, engine.DefaultPolicy())
    router.route(list(scenario.orders), stock, now=scenario.now, commit=True)
    after = _rss_bytes()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {
        "skus": n_skus,
        "warehouses": n_warehouses,
        "stocked_pairs": scenario.stocked_pairs,
        "rss_before": before,
        "rss_after": after,
        "peak_rss": peak,
        "array_bytes": float(stock.on_hand.nbytes + stock.reserved.nbytes),
    }


def run(config: BenchConfig) -> SectionResult:
    result = SectionResult(
        "memory",
        "6. Memory",
        "the sparse input (sku, warehouse, quantity) at 24 bytes per stocked pair",
    )
    n_skus = config.size(100_000, 1_000_000)
    warehouses = 50
    figures: list[dict[str, float]] = []
    for _ in range(1 if config.quick else 2):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks._memory",
                str(n_skus),
                str(warehouses),
                str(config.seed),
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=600,
        )
        figures.append(json.loads(done.stdout.strip().splitlines()[-1]))
    pairs = figures[0]["stocked_pairs"]
    growth = [(f["rss_after"] - f["rss_before"]) for f in figures]
    peak = [f["peak_rss"] / 2**20 for f in figures]
    per_pair = [g / pairs for g in growth]
    result.row("SKUs x warehouses", f"{n_skus:,} x {warehouses} ({pairs:,} stocked pairs)")
    result.row("peak RSS of the process", figure(peak, "MiB"))
    result.row(
        "RSS growth for network + stock + router + 10k routes",
        figure([g / 2**20 for g in growth], "MiB"),
    )
    result.row(
        "engine stock arrays (on_hand + reserved)", f"{figures[0]['array_bytes'] / 2**20:,.0f} MiB"
    )
    result.row("bytes per stocked pair", figure(per_pair, "B"))
    result.targets.append(
        Target("bytes per stocked (sku, warehouse) pair", 64, "<=", "B", figure(per_pair, "B"))
    )
    result.notes.append(
        "the engine keeps dense int64 [sku, warehouse] arrays (16 bytes per cell, stocked or not); "
        f"with {pairs / (n_skus * warehouses):.1%} of cells stocked that is "
        f"{16 * n_skus * warehouses / pairs:.0f} bytes per stocked pair before any other overhead."
    )
    if config.quick:
        result.notes.append(f"quick mode: {n_skus:,} SKUs instead of 1,000,000.")
    result.data.update(runs=figures)
    return result


if __name__ == "__main__":
    skus, warehouse_count, seed_arg = (int(a) for a in sys.argv[1:4])
    print(json.dumps(measure(skus, warehouse_count, seed_arg)))
