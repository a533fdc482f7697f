"""Measurement 2: the gRPC path (persisted routing) against its ceiling, an echo server with
the same messages.

Servers run in their own processes (:mod:`benchmarks._serve`); the same client code drives both, and
repetitions alternate echo and Sortyard. Every order is new (a repeated order would be answered from
the store without routing). Measured:

- unary Route, closed loop with 4 client threads: requests/s of Sortyard (SQLite) over the echo's;
- unary Route latency p50/p99 in open loop at 25, 50 and 90 % of Sortyard's own closed-loop maximum;
- RouteBatch of 1,000 orders back to back: routed and persisted orders/s on SQLite and, with a
  PostgreSQL URL, on PostgreSQL (a scratch database); echo batches for the ceiling;
- a profile of one RouteBatch of 1,000 handled in-process (parse, servicer, serialise), its time
  split into protobuf, engine, store and the rest.
"""

from __future__ import annotations

import cProfile
import pstats
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sortyard.v1 import routing_service_pb2

from benchmarks._config import BenchConfig
from benchmarks._load import batch_loop, closed_loop, open_loop, percentile
from benchmarks._plots import line_plot
from benchmarks._progress import Progress
from benchmarks._results import SectionResult, Target, figure
from benchmarks._scenario import Scenario, generate_scenario
from benchmarks._serve import ServerProcess, load_scenario, scratch_postgres

__all__ = ["profile_route_batch", "run"]

BATCH = 1_000
LOAD_LEVELS = (0.25, 0.50, 0.90)


class _Requests:
    """Hands out never-used RouteRequests of a scenario, in order."""

    def __init__(self, scenario: Scenario) -> None:
        from server._convert import order_to_proto

        self.requests = [
            routing_service_pb2.RouteRequest(order=order_to_proto(o), request_id=o.channel_order_id)
            for o in scenario.orders
        ]
        self.next = 0

    def take(self, count: int) -> list[routing_service_pb2.RouteRequest]:
        if self.next + count > len(self.requests):
            raise RuntimeError("the scenario ran out of fresh orders; raise its size")
        chunk = self.requests[self.next : self.next + count]
        self.next += count
        return chunk

    def batches(self, count: int) -> list[routing_service_pb2.RouteBatchRequest]:
        return [
            routing_service_pb2.RouteBatchRequest(requests=self.take(BATCH)) for _ in range(count)
        ]


class _Context:
    """The little of ``grpc.ServicerContext`` a servicer uses when called in-process."""

    def time_remaining(self) -> None:
        return None

    def abort(self, code: Any, details: str) -> None:
        raise RuntimeError(f"{code}: {details}")

    def abort_with_status(self, status: Any) -> None:
        raise RuntimeError(str(status))

    def invocation_metadata(self) -> tuple[()]:
        return ()

    def set_trailing_metadata(self, metadata: Any) -> None:
        return None

    def peer(self) -> str:
        return "ipv4:127.0.0.1:0"


def _bucket(filename: str, function: str) -> str:
    text = f"{filename} {function}"
    if "google/protobuf" in text or "_pb2" in text or "upb" in text or "server/_convert" in text:
        return "protobuf (parse, convert, build)"
    if "/engine/" in text or "numba" in text or "numpy" in text:
        return "engine"
    if any(k in text for k in ("/server/store/", "sqlalchemy", "sqlite3", "psycopg")):
        return "store (SQLAlchemy + driver)"
    if "/server/" in text:
        return "server (validation, servicer)"
    return "other (Python runtime, logging, ...)"


def profile_route_batch(
    db_url: str,
    warm_up: routing_service_pb2.RouteBatchRequest,
    batch: routing_service_pb2.RouteBatchRequest,
) -> tuple[dict[str, float], list[tuple[str, float]]]:
    """Share of the time of one RouteBatch handled in-process, per bucket (sums to 1), and the ten
    functions with the most own time (``file:line(function)``, share). ``warm_up`` is handled
    first, unprofiled, so lazy imports and caches do not count."""
    from server import start_server
    from server._routing_service import RoutingServicer

    running = start_server(db_url, "127.0.0.1:0")
    try:
        servicer = RoutingServicer(running.runtime)

        def handle(payload: bytes) -> bytes:
            request = routing_service_pb2.RouteBatchRequest.FromString(payload)
            response = servicer.RouteBatch(request, _Context())
            return bytes(response.SerializeToString())

        handle(warm_up.SerializeToString())
        profiler = cProfile.Profile()
        profiler.runcall(handle, batch.SerializeToString())
    finally:
        running.stop(grace=1.0)
    stats = pstats.Stats(profiler)
    totals: dict[str, float] = {}
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]  # documented-enough internals
    for (filename, _line, function), (_cc, _nc, tottime, _ct, _callers) in raw.items():
        bucket = _bucket(filename, function)
        totals[bucket] = totals.get(bucket, 0.0) + tottime
    whole = sum(totals.values()) or 1.0
    hottest = sorted(raw.items(), key=lambda kv: -kv[1][2])[:10]
    top = [
        (f"{Path(fn).name}:{line}({func})", entry[2] / whole) for (fn, line, func), entry in hottest
    ]
    return {k: v / whole for k, v in sorted(totals.items(), key=lambda kv: -kv[1])}, top


def _batch_rate(
    address: str, batches: Sequence[routing_service_pb2.RouteBatchRequest], seconds: float
) -> float:
    return batch_loop(address, batches, max_seconds=seconds).rate


def run(config: BenchConfig) -> SectionResult:
    result = SectionResult(
        "grpc",
        "2. The gRPC path vs its ceiling",
        "echo server with the same request/response messages, same client, same run",
    )
    reps = config.size(2, config.reps)
    unary_seconds = 1.0 if config.quick else 3.0
    latency_seconds = 1.0 if config.quick else 3.0
    batch_calls = config.size(2, 6)
    batch_seconds = 1.0 if config.quick else 5.0
    # Enough fresh orders for every call of every repetition (echo reuses Sortyard's requests).
    unary_budget = int(reps * unary_seconds * 2_500) + int(latency_seconds * 2_500 * 1.2) + 1_000
    batch_budget = BATCH * (reps * batch_calls + (reps * batch_calls if config.pg_url else 0) + 3)
    scenario = generate_scenario(
        seed=config.seed + 5,
        n_orders=unary_budget + batch_budget,
        n_warehouses=50,
        n_skus=config.size(10_000, 50_000),
    )
    requests = _Requests(scenario)
    tmp = tempfile.TemporaryDirectory(prefix="sortyard-bench-")
    sqlite_url = f"sqlite:///{Path(tmp.name) / 'bench.db'}"
    load_scenario(sqlite_url, scenario)

    echo_rps: list[float] = []
    route_rps: list[float] = []
    ratio: list[float] = []
    per_rep = int(unary_seconds * 2_500)
    with ServerProcess("echo") as echo, ServerProcess("sortyard", sqlite_url) as sortyard:
        with Progress("gRPC unary: echo vs Sortyard", reps) as progress:
            for _ in range(reps):
                chunk = requests.take(per_rep)
                e = closed_loop(echo.address, chunk, max_seconds=unary_seconds)
                s = closed_loop(sortyard.address, chunk, max_seconds=unary_seconds)
                echo_rps.append(e.rate)
                route_rps.append(s.rate)
                ratio.append(s.rate / e.rate)
                progress.advance()
        max_rps = figure(route_rps).median
        latency: dict[str, dict[str, float]] = {}
        with Progress("gRPC unary latency", len(LOAD_LEVELS)) as progress:
            for level in LOAD_LEVELS:
                rate = max(1.0, max_rps * level)
                chunk = requests.take(int(rate * latency_seconds) + 2)
                r = open_loop(sortyard.address, chunk, rate=rate, seconds=latency_seconds)
                latency[f"{level:.0%}"] = {
                    "rate": rate,
                    "p50_ms": percentile(r.latencies_ms, 50),
                    "p99_ms": percentile(r.latencies_ms, 99),
                    "errors": r.errors,
                }
                progress.advance()
        echo_batch: list[float] = []
        sqlite_batch: list[float] = []
        with Progress("gRPC RouteBatch 1,000 (SQLite)", reps) as progress:
            for _ in range(reps):
                batches = requests.batches(batch_calls)
                echo_batch.append(_batch_rate(echo.address, batches, batch_seconds))
                sqlite_batch.append(_batch_rate(sortyard.address, batches, batch_seconds))
                progress.advance()

    pg_batch: list[float] = []
    pg_note = ""
    if config.pg_url:
        try:
            with scratch_postgres(config.pg_url) as pg_url:
                load_scenario(pg_url, scenario)
                with (
                    ServerProcess("sortyard", pg_url) as pg_server,
                    Progress("gRPC RouteBatch 1,000 (PostgreSQL)", reps) as progress,
                ):
                    for _ in range(reps):
                        pg_batch.append(
                            _batch_rate(
                                pg_server.address, requests.batches(batch_calls), batch_seconds
                            )
                        )
                        progress.advance()
        except Exception as error:
            pg_note = f"PostgreSQL run failed: {type(error).__name__}: {error}"
    else:
        pg_note = "no PostgreSQL URL (set SORTYARD_TEST_PG_URL or pass --pg-url)"

    # The SQLite database of the runs above (its server has stopped), with fresh orders.
    shares, hottest = profile_route_batch(sqlite_url, *requests.batches(2))
    tmp.cleanup()

    result.row("echo unary, 4 client threads", figure(echo_rps, "req/s"))
    result.row("Sortyard unary Route (SQLite)", figure(route_rps, "req/s"))
    result.row("Sortyard / echo (same rep)", figure(ratio, ""))
    for label, at_level in latency.items():
        result.row(
            f"latency at {label} of max ({at_level['rate']:,.0f}/s)",
            f"p50 {at_level['p50_ms']:.1f} ms, p99 {at_level['p99_ms']:.1f} ms",
        )
    result.row("echo RouteBatch 1,000", figure(echo_batch, "orders/s"))
    result.row("Sortyard RouteBatch 1,000 (SQLite)", figure(sqlite_batch, "orders/s"))
    if pg_batch:
        result.row("Sortyard RouteBatch 1,000 (PostgreSQL)", figure(pg_batch, "orders/s"))
    for bucket, share in shares.items():
        result.row(f"profile of RouteBatch 1,000: {bucket}", f"{share:.0%}")
    result.notes.append(
        "hottest functions in RouteBatch 1,000 (own time): "
        + "; ".join(f"{name} {share:.0%}" for name, share in hottest[:5])
    )
    result.targets += [
        Target("unary Route (SQLite) / echo req/s", 0.5, ">=", "", figure(ratio)),
        Target(
            "RouteBatch 1,000 on SQLite", 25_000, ">=", "orders/s", figure(sqlite_batch, "orders/s")
        ),
        Target(
            "RouteBatch 1,000 on PostgreSQL",
            15_000,
            ">=",
            "orders/s",
            figure(pg_batch, "orders/s") if pg_batch else None,
            note=pg_note,
        ),
    ]
    if pg_note:
        result.notes.append(pg_note)
    result.data.update(
        echo_rps=figure(echo_rps).to_json(),
        route_rps=figure(route_rps).to_json(),
        ratio=figure(ratio).to_json(),
        latency=latency,
        echo_batch=figure(echo_batch).to_json(),
        sqlite_batch=figure(sqlite_batch).to_json(),
        postgres_batch=figure(pg_batch).to_json() if pg_batch else None,
        profile_shares=shares,
        profile_hottest=hottest,
    )
    result.plots.append(
        line_plot(
            config.out_dir / "grpc_latency.png",
            "Unary Route latency vs offered load (SQLite)",
            "offered load (req/s)",
            "ms",
            {
                "p50": {v["rate"]: v["p50_ms"] for v in latency.values()},
                "p99": {v["rate"]: v["p99_ms"] for v in latency.values()},
            },
        )
    )
    return result
