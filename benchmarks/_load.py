"""Load generators for the gRPC measurements: closed loop (throughput), open loop (latency at a
given rate, measured from the scheduled send time so a slow answer cannot hide queueing), and a
sequential RouteBatch loop. Every loop is bounded in both request count and time, and talks only to
127.0.0.1."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import grpc
from sortyard.v1 import routing_service_pb2, routing_service_pb2_grpc

__all__ = ["LoadResult", "batch_loop", "closed_loop", "open_loop", "percentile"]

CALL_TIMEOUT_S = 30.0
CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
]


@dataclass(frozen=True)
class LoadResult:
    completed: int
    errors: int
    seconds: float
    latencies_ms: tuple[float, ...]

    @property
    def rate(self) -> float:
        return self.completed / self.seconds if self.seconds else 0.0


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def closed_loop(
    address: str,
    requests: Sequence[routing_service_pb2.RouteRequest],
    *,
    threads: int = 4,
    max_seconds: float = 3.0,
) -> LoadResult:
    """``threads`` sync clients calling unary Route back to back until the requests or the time
    run out."""
    channel = grpc.insecure_channel(address, options=CHANNEL_OPTIONS)
    stub = routing_service_pb2_grpc.RoutingServiceStub(channel)  # type: ignore[no-untyped-call]  # generated
    stub.Route(requests[0], timeout=CALL_TIMEOUT_S)  # warm the connection (not counted)
    counter = itertools.count(1)
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + max_seconds

    def worker() -> None:
        mine: list[float] = []
        failed = 0
        while time.perf_counter() < deadline:
            i = next(counter)
            if i >= len(requests):
                break
            sent = time.perf_counter()
            try:
                stub.Route(requests[i], timeout=CALL_TIMEOUT_S)
                mine.append((time.perf_counter() - sent) * 1000)
            except grpc.RpcError:
                failed += 1
        with lock:
            latencies.extend(mine)
            errors[0] += failed

    started = time.perf_counter()
    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - started
    channel.close()
    return LoadResult(len(latencies), errors[0], elapsed, tuple(latencies))


def open_loop(
    address: str,
    requests: Sequence[routing_service_pb2.RouteRequest],
    *,
    rate: float,
    seconds: float = 2.0,
) -> LoadResult:
    """Send at ``rate`` per second (asynchronously, not waiting for answers) for ``seconds``."""
    channel = grpc.insecure_channel(address, options=CHANNEL_OPTIONS)
    stub = routing_service_pb2_grpc.RoutingServiceStub(channel)  # type: ignore[no-untyped-call]  # generated
    stub.Route(requests[0], timeout=CALL_TIMEOUT_S)
    count = min(len(requests) - 1, int(rate * seconds))
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    done = threading.Semaphore(0)
    started = time.perf_counter()

    def on_done(future: grpc.Future, scheduled: float) -> None:
        finished = time.perf_counter()
        with lock:
            if future.exception() is None:
                latencies.append((finished - scheduled) * 1000)
            else:
                errors[0] += 1
        done.release()

    for i in range(count):
        scheduled = started + i / rate
        pause = scheduled - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        future = stub.Route.future(requests[i + 1], timeout=CALL_TIMEOUT_S)
        future.add_done_callback(lambda f, s=scheduled: on_done(f, s))
    for _ in range(count):
        done.acquire(timeout=CALL_TIMEOUT_S)
    elapsed = time.perf_counter() - started
    channel.close()
    return LoadResult(len(latencies), errors[0], elapsed, tuple(latencies))


def batch_loop(
    address: str,
    batches: Sequence[routing_service_pb2.RouteBatchRequest],
    *,
    max_seconds: float = 3.0,
) -> LoadResult:
    """RouteBatch calls back to back from one client; ``completed`` counts orders answered."""
    channel = grpc.insecure_channel(address, options=CHANNEL_OPTIONS)
    stub = routing_service_pb2_grpc.RoutingServiceStub(channel)  # type: ignore[no-untyped-call]  # generated
    orders = 0
    errors = 0
    latencies: list[float] = []
    deadline = time.perf_counter() + max_seconds
    started = time.perf_counter()
    for batch in batches:
        if time.perf_counter() >= deadline:
            break
        sent = time.perf_counter()
        try:
            response = stub.RouteBatch(batch, timeout=CALL_TIMEOUT_S)
            orders += len(response.responses)
            latencies.append((time.perf_counter() - sent) * 1000)
        except grpc.RpcError:
            errors += 1
    elapsed = time.perf_counter() - started
    channel.close()
    return LoadResult(orders, errors, elapsed, tuple(latencies))
