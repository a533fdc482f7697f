"""Measurement 3: what persisting a route costs, on SQLite and PostgreSQL, with 1, 4 and 16 clients.

Each client is a thread calling ``Store.route`` with one new order per transaction (lock the stock
rows, decide with the engine, write the order and its reservations with the conditional decrement,
commit), so the figure is persisted orders/s as a unary Route would see it without gRPC. The
reference is the engine alone deciding the same orders in the same run (no store): the gap is the
store's cost. Runs are bounded by order count and time.
"""

from __future__ import annotations

import itertools
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import engine
from benchmarks._config import BenchConfig
from benchmarks._progress import Progress
from benchmarks._results import Figure, SectionResult, figure
from benchmarks._scenario import Scenario, generate_scenario
from benchmarks._serve import load_scenario, scratch_postgres

__all__ = ["persist_rate", "run"]

CLIENTS = (1, 4, 16)


def persist_rate(
    db_url: str,
    scenario: Scenario,
    orders: Sequence[engine.Order],
    *,
    clients: int,
    max_seconds: float,
) -> float:
    """Orders/s persisted by ``clients`` threads routing ``orders`` one per transaction."""
    from server.store import RouteRequestRecord, Store

    store = Store.open(db_url)
    try:
        network = engine.Network(store.list_warehouses())
        router = engine.Router(network, engine.DefaultPolicy())

        def decide(
            batch: Sequence[engine.Order], stock: engine.StockTable
        ) -> list[engine.RouteDecision]:
            return router.route(list(batch), stock, now=scenario.now, commit=True)

        counter = itertools.count()
        done = [0]
        lock = threading.Lock()
        deadline = time.perf_counter() + max_seconds

        def worker() -> None:
            mine = 0
            while time.perf_counter() < deadline:
                i = next(counter)
                if i >= len(orders):
                    break
                record = RouteRequestRecord(order=orders[i], request_id=orders[i].channel_order_id)
                store.route([record], decide, network=network)
                mine += 1
            with lock:
                done[0] += mine

        started = time.perf_counter()
        threads = [threading.Thread(target=worker) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
    finally:
        store.close()
    return done[0] / elapsed


def run(config: BenchConfig) -> SectionResult:
    result = SectionResult(
        "store",
        "3. Store cost",
        "the engine alone deciding the same orders one at a time, no store (same run)",
    )
    reps = config.size(1, 3)
    seconds = 1.0 if config.quick else 3.0
    per_run = config.size(800, 3_000)
    backends = ["sqlite"] + (["postgresql"] if config.pg_url else [])
    runs = len(backends) * len(CLIENTS) * reps
    scenario = generate_scenario(
        seed=config.seed + 9,
        n_orders=per_run * runs + 1_000,
        n_warehouses=50,
        n_skus=config.size(5_000, 20_000),
    )
    orders = scenario.orders
    cursor = [1_000]

    def fresh(count: int) -> Sequence[engine.Order]:
        chunk = orders[cursor[0] : cursor[0] + count]
        cursor[0] += count
        return chunk

    # Reference: the engine deciding orders one call each, no store.
    network = engine.Network(scenario.warehouses)
    router = engine.Router(network, engine.DefaultPolicy())
    index = scenario.ordered_sku_index()
    skus = [scenario.skus[i] for i in index.tolist()]
    on_hand = scenario.dense_on_hand(index)
    stock = engine.StockTable(network, skus, on_hand, on_hand * 0)
    router.route(list(orders[:10]), stock, now=scenario.now)
    engine_alone: list[float] = []
    calls = config.size(50, 300)
    for _ in range(reps):
        started = time.perf_counter()
        for order in orders[:calls]:
            router.route([order], stock, now=scenario.now)
        engine_alone.append(calls / (time.perf_counter() - started))
    result.row("engine alone, one order per call", figure(engine_alone, "orders/s"))

    rates: dict[str, dict[int, list[float]]] = {b: {c: [] for c in CLIENTS} for b in backends}
    notes: list[str] = []
    with (
        tempfile.TemporaryDirectory(prefix="sortyard-store-") as tmp,
        Progress("store: persisted orders/s", runs) as progress,
    ):
        urls = {"sqlite": f"sqlite:///{Path(tmp) / 'store.db'}"}
        load_scenario(urls["sqlite"], scenario)
        pg_context = scratch_postgres(config.pg_url) if config.pg_url else None
        try:
            if pg_context is not None:
                urls["postgresql"] = pg_context.__enter__()
                load_scenario(urls["postgresql"], scenario)
            for _ in range(reps):  # interleaved: every backend and client count once per rep
                for backend in backends:
                    for clients in CLIENTS:
                        rates[backend][clients].append(
                            persist_rate(
                                urls[backend],
                                scenario,
                                fresh(per_run),
                                clients=clients,
                                max_seconds=seconds,
                            )
                        )
                        progress.advance(detail=f"{backend} x{clients}")
        except Exception as error:
            notes.append(f"store run failed: {type(error).__name__}: {error}")
        finally:
            if pg_context is not None:
                pg_context.__exit__(None, None, None)
    figures: dict[str, dict[str, Figure]] = {}
    for backend in backends:
        for clients in CLIENTS:
            f = figure(rates[backend][clients], "orders/s")
            figures.setdefault(backend, {})[str(clients)] = f
            result.row(f"{backend}, {clients:>2} client(s), 1 order per transaction", f)
    if not config.pg_url:
        notes.append("PostgreSQL not measured: set SORTYARD_TEST_PG_URL or pass --pg-url")
    result.notes += notes
    result.data.update(
        engine_alone=figure(engine_alone).to_json(),
        persisted={b: {c: f.to_json() for c, f in v.items()} for b, v in figures.items()},
    )
    return result
