"""Build, start and stop the Sortyard gRPC server.

A synchronous ``grpc.server`` on a thread pool (measured 10-20 % faster than grpc.aio for this
workload), with the health service, server reflection, a Prometheus endpoint, and graceful shutdown:
health goes NOT_SERVING first, then ``server.stop(grace)`` lets in-flight calls finish.
"""

from __future__ import annotations

import importlib
import logging
import signal
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import grpc
import sqlalchemy as sa
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import start_http_server
from sortyard.v1 import (
    fulfillment_service_pb2,
    inventory_service_pb2,
    network_service_pb2,
    policy_service_pb2,
    returns_service_pb2,
    returns_service_pb2_grpc,
    routing_service_pb2,
)

import engine
from server._errors import StoreErrorInterceptor
from server._fulfillment_service import FulfillmentServicer, ReroutingInventoryServicer
from server._network_service import NetworkServicer
from server._observability import Metrics, ObservabilityInterceptor, StoreGaugeCollector
from server._returns_service import ReturnsServicer
from server._routing_service import RoutingServicer
from server._runtime import Clock, PolicySource, Runtime, StaticPolicySource, utc_now
from server._stubs import register_policy_servicer, register_servicers
from server.store import Store

__all__ = [
    "DEFAULT_LISTEN",
    "RunningServer",
    "ServerOptions",
    "serve_until_signalled",
    "start_server",
]

_log = logging.getLogger("sortyard.server")

DEFAULT_LISTEN = "127.0.0.1:50051"
MiB = 1024 * 1024


@dataclass(frozen=True)
class ServerOptions:
    listen: str = "127.0.0.1:0"
    # One RPC per worker thread; routing is CPU-bound under the GIL, so more threads mostly add
    # waiting. 16 keeps a store connection pool of 5 + overflow busy without piling up.
    max_workers: int = 16
    # Beyond this many RPCs in flight the server answers RESOURCE_EXHAUSTED instead of queueing
    # work that would outlive its deadline.
    max_concurrent_rpcs: int = 128
    max_message_bytes: int = 64 * MiB
    grace_seconds: float = 10.0
    metrics_listen: str | None = None  # "host:port" for Prometheus; None: no endpoint
    reflection: bool = True


def _service_name(module: Any, name: str) -> str:
    return str(module.DESCRIPTOR.services_by_name[name].full_name)


ROUTING_SERVICE = _service_name(routing_service_pb2, "RoutingService")
NETWORK_SERVICE = _service_name(network_service_pb2, "NetworkService")
INVENTORY_SERVICE = _service_name(inventory_service_pb2, "InventoryService")
FULFILLMENT_SERVICE = _service_name(fulfillment_service_pb2, "FulfillmentService")
POLICY_SERVICE = _service_name(policy_service_pb2, "PolicyService")
RETURNS_SERVICE = _service_name(returns_service_pb2, "ReturnsService")
HEALTH_SERVICE = _service_name(health_pb2, "Health")


def _split_host_port(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"expected host:port, got {address!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


def _store_totals(store: Store) -> tuple[list[tuple[str, int, int]], dict[str, int]]:
    """Per-warehouse stock totals and order counts by state: two aggregate reads per scrape.

    Read-only SQL against the store's tables because the store exposes no aggregate yet.
    """
    with store.engine.connect() as conn:
        stock = [
            (str(r[0]), int(r[1] or 0), int(r[2] or 0))
            for r in conn.execute(
                sa.text(
                    "SELECT warehouse_id, SUM(on_hand), SUM(reserved) FROM stock"
                    " GROUP BY warehouse_id ORDER BY warehouse_id"
                )
            )
        ]
        orders = {
            str(r[0]): int(r[1])
            for r in conn.execute(sa.text("SELECT state, COUNT(*) FROM orders GROUP BY state"))
        }
    return stock, orders


@dataclass
class RunningServer:
    """A started server. ``port`` is the bound port (the real one when asked for port 0)."""

    server: grpc.Server
    host: str
    port: int
    runtime: Runtime
    health: health.HealthServicer
    options: ServerOptions
    services: tuple[str, ...]
    metrics_port: int | None = None
    _metrics_http: Any = None
    _owns_store: bool = True
    _stopped: threading.Event = field(default_factory=threading.Event)
    # Run first on stop: ends server-streaming calls (WatchReleased) so the drain need not wait.
    _on_stop: list[Callable[[], None]] = field(default_factory=list)

    @property
    def address(self) -> str:
        """``host:port`` for a client channel."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "", "::", "[::]") else self.host
        return f"{host}:{self.port}"

    @property
    def store(self) -> Store:
        return self.runtime.store

    def stop(self, grace: float | None = None) -> None:
        """Drain: health NOT_SERVING, refuse new calls, let in-flight ones finish within grace."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self.health.enter_graceful_shutdown()
        for hook in self._on_stop:
            hook()
        grace = self.options.grace_seconds if grace is None else grace
        self.server.stop(grace).wait()
        if self._metrics_http is not None:
            self._metrics_http.shutdown()
            self._metrics_http.server_close()
        if self._owns_store:
            self.runtime.store.close()
        _log.info("stopped", extra={"fields": {"port": self.port}})

    def wait(self) -> None:
        self.server.wait_for_termination()

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop(grace=1.0)


def start_server(
    db: str | Store,
    listen: str = "127.0.0.1:0",
    *,
    policies: PolicySource | None = None,
    clock: Clock = utc_now,
    options: ServerOptions | None = None,
    geocoder: engine.Geocoder | None = None,
) -> RunningServer:
    """Open the store (a URL, or an open Store the caller keeps owning), start serving, return.

    ``listen`` overrides ``options.listen``; ``"127.0.0.1:0"`` picks a free port (tests).
    """
    options = options or ServerOptions()
    owns_store = isinstance(db, str)
    store = Store.open(db, clock=clock) if isinstance(db, str) else db
    metrics = Metrics()
    if geocoder is None:
        # Load the ZIP table (about 2 s) before reporting SERVING, not inside the first Route.
        geocoder = engine.Geocoder.default()
    # The batch optimiser's compiled pricing kernel (numba: seconds the first time on a machine,
    # a disk-cache load after), in the background so the first optimised RouteBatch need not.
    threading.Thread(target=engine.warm_up_optimizer, name="sortyard-warm-up", daemon=True).start()
    policy_source, policy_module = _policy_support(policies)
    runtime = Runtime(
        store=store,
        policies=policy_source,
        clock=clock,
        metrics=metrics,
        geocoder=geocoder,
    )
    try:
        return _start(runtime, listen, options, owns_store=owns_store, policy_module=policy_module)
    except BaseException:
        if owns_store:
            store.close()
        raise


def _start(
    runtime: Runtime,
    listen: str,
    options: ServerOptions,
    *,
    owns_store: bool,
    policy_module: Any,
) -> RunningServer:
    server = grpc.server(
        ThreadPoolExecutor(max_workers=options.max_workers, thread_name_prefix="sortyard-rpc"),
        # Outermost first: the observability interceptor sees the code the client gets.
        interceptors=[ObservabilityInterceptor(runtime.metrics), StoreErrorInterceptor()],
        options=[
            ("grpc.max_receive_message_length", options.max_message_bytes),
            ("grpc.max_send_message_length", options.max_message_bytes),
            # On by default: a second server on the same port would start silently and steal
            # traffic (grpc/grpc#16005).
            ("grpc.so_reuseport", 0),
        ],
        maximum_concurrent_rpcs=options.max_concurrent_rpcs,
    )
    fulfillment = FulfillmentServicer(runtime)
    register_servicers(
        server,
        routing=RoutingServicer(runtime),
        network=NetworkServicer(runtime),
        inventory=ReroutingInventoryServicer(runtime),
        fulfillment=fulfillment,
    )
    returns_service_pb2_grpc.add_ReturnsServiceServicer_to_server(  # type: ignore[no-untyped-call]  # generated
        ReturnsServicer(runtime), server
    )
    services = [
        ROUTING_SERVICE,
        NETWORK_SERVICE,
        INVENTORY_SERVICE,
        FULFILLMENT_SERVICE,
        RETURNS_SERVICE,
    ]
    if policy_module is not None:
        register_policy_servicer(
            server, policy_module.PolicyService(runtime.policies, network=runtime.network)
        )
        services.append(POLICY_SERVICE)
    services.extend(_register_optional_services(server, runtime))

    health_servicer = health.HealthServicer(
        experimental_non_blocking=True,
        experimental_thread_pool=ThreadPoolExecutor(max_workers=1, thread_name_prefix="health"),
    )
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if options.reflection:
        reflection.enable_server_reflection(
            [*services, HEALTH_SERVICE, reflection.SERVICE_NAME], server
        )

    host, _ = _split_host_port(listen)
    port = server.add_insecure_port(listen)
    if port == 0:  # grpc returns 0 instead of raising when it cannot bind (grpc/grpc#16920)
        raise OSError(f"cannot listen on {listen}: address in use or not available")

    metrics_http = None
    metrics_port = None
    if options.metrics_listen:
        runtime.metrics.registry.register(StoreGaugeCollector(lambda: _store_totals(runtime.store)))
        metrics_host, wanted_port = _split_host_port(options.metrics_listen)
        metrics_http, _thread = start_http_server(
            wanted_port, addr=metrics_host, registry=runtime.metrics.registry
        )
        metrics_port = int(metrics_http.server_port)

    server.start()
    for name in (*services, ""):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    running = RunningServer(
        server=server,
        host=host,
        port=port,
        runtime=runtime,
        health=health_servicer,
        options=options,
        services=tuple(services),
        metrics_port=metrics_port,
        _metrics_http=metrics_http,
        _owns_store=owns_store,
        _on_stop=[fulfillment.hub.close],
    )
    _log.info(
        "serving",
        extra={
            "fields": {
                "listen": running.address,
                "services": services,
                "metrics_port": metrics_port,
            }
        },
    )
    return running


@dataclass(frozen=True)
class _OptionalService:
    """A service another engineer ships in ``server/``; served when its module imports."""

    module: str
    build: Callable[[Any, Runtime], object]  # (module, runtime) -> servicer
    grpc_module: str
    add_function: str
    service_name: str


OPTIONAL_SERVICES = (
    _OptionalService(
        "server.catalog_service",
        lambda m, runtime: m.CatalogServicer(runtime.store),
        "sortyard.v1.catalog_service_pb2_grpc",
        "add_CatalogServiceServicer_to_server",
        "sortyard.v1.CatalogService",
    ),
    _OptionalService(
        "server.channel_service",
        lambda m, runtime: m.ChannelServicer.from_runtime(runtime),
        "sortyard.v1.channel_service_pb2_grpc",
        "add_ChannelServiceServicer_to_server",
        "sortyard.v1.ChannelService",
    ),
)


def _register_optional_services(server: grpc.Server, runtime: Runtime) -> list[str]:
    """Register every optional service whose code imports; one that fails is logged and skipped,
    so a half-written module never takes the core services down with it."""
    served = []
    for spec in OPTIONAL_SERVICES:
        try:
            servicer = spec.build(importlib.import_module(spec.module), runtime)
            add = getattr(importlib.import_module(spec.grpc_module), spec.add_function)
            add(servicer, server)
        except Exception:
            _log.warning("optional service %s not served", spec.service_name, exc_info=True)
            continue
        served.append(spec.service_name)
    return served


def _policy_support(policies: PolicySource | None) -> tuple[PolicySource, Any]:
    """The policy source to route with, and the ``server.policy_service`` module when it can serve
    PolicyService for that source (a ``PolicyHolder``).

    Imported lazily and guarded: a policy module that is missing or mid-edit must never stop the
    server from starting; it then routes with the given policy (or the default) and serves no
    PolicyService.
    """
    try:
        module = importlib.import_module("server.policy_service")
        holder_type = module.PolicyHolder
    except Exception:
        _log.warning("PolicyService unavailable; routing with a fixed policy", exc_info=True)
        return policies or StaticPolicySource(), None
    source = policies if policies is not None else holder_type()
    return source, module if isinstance(source, holder_type) else None


def serve_until_signalled(running: RunningServer) -> None:
    """Block until SIGTERM or SIGINT, then shut down gracefully (main thread only)."""
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        _log.info(
            "signal received; draining", extra={"fields": {"signal": signal.Signals(signum).name}}
        )
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        while not stop.wait(timeout=1.0):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        running.stop()
