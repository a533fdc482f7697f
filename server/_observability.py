"""Structured logs and Prometheus metrics for the gRPC server.

One JSON log line per RPC (method, code, latency, order count) and per-method counters, latency
histograms and error counts, all from one server interceptor. Handlers add fields to the current
RPC's log line through :func:`note`. Logs never carry buyer PII: only ids, counts, codes, and a
ship-to postal code and country where a handler chooses to add them.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = [
    "JsonLogFormatter",
    "Metrics",
    "ObservabilityInterceptor",
    "StoreGaugeCollector",
    "configure_logging",
    "note",
]

_log = logging.getLogger("sortyard.rpc")

# Fields the running handler adds to its RPC's log line; None outside an RPC.
_rpc_fields: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "sortyard_rpc_fields", default=None
)


def note(**fields: Any) -> None:
    """Add fields (counts, ids, codes: never names, streets or emails) to this RPC's log line."""
    current = _rpc_fields.get()
    if current is not None:
        current.update(fields)


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the record's ``fields``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(level: int = logging.INFO) -> None:
    """Send the ``sortyard`` loggers to stderr as JSON lines (idempotent)."""
    root = logging.getLogger("sortyard")
    root.setLevel(level)
    if not any(isinstance(h.formatter, JsonLogFormatter) for h in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(JsonLogFormatter())
        root.addHandler(handler)
    root.propagate = False


class Metrics:
    """The server's Prometheus metrics, in their own registry (one per server, so tests can run
    several servers in one process)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.rpcs = Counter(
            "sortyard_rpc_requests",
            "RPCs handled, by method and status code.",
            ["method", "code"],
            registry=self.registry,
        )
        self.rpc_errors = Counter(
            "sortyard_rpc_errors",
            "RPCs that ended with a status other than OK, by method and code.",
            ["method", "code"],
            registry=self.registry,
        )
        self.rpc_latency = Histogram(
            "sortyard_rpc_latency_seconds",
            "Server-side RPC latency by method.",
            ["method"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.orders = Counter(
            "sortyard_orders_routed",
            "Orders routed (not dry runs, not replays), by route status.",
            ["status"],
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "sortyard_route_batch_orders",
            "Orders per RouteBatch call.",
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000),
            registry=self.registry,
        )


class StoreGaugeCollector(Collector):
    """Stock, reservation and order-state gauges, read from the store on each scrape.

    ``read_totals`` returns ``(stock rows, orders by state)`` where a stock row is
    ``(warehouse_id, on_hand, reserved)`` summed over SKUs: one cheap aggregate query per scrape
    instead of bookkeeping on every write.
    """

    def __init__(
        self,
        read_totals: Callable[[], tuple[list[tuple[str, int, int]], dict[str, int]]],
    ) -> None:
        self._read_totals = read_totals

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            stock, orders = self._read_totals()
        except Exception:  # a scrape must not take the server down; the log says why
            logging.getLogger("sortyard.metrics").exception("reading store totals failed")
            return
        on_hand = GaugeMetricFamily(
            "sortyard_stock_on_hand_units", "Units on hand, by warehouse.", labels=["warehouse"]
        )
        reserved = GaugeMetricFamily(
            "sortyard_stock_reserved_units",
            "Units reserved for routed orders, by warehouse.",
            labels=["warehouse"],
        )
        for warehouse_id, units_on_hand, units_reserved in stock:
            on_hand.add_metric([warehouse_id], units_on_hand)
            reserved.add_metric([warehouse_id], units_reserved)
        by_state = GaugeMetricFamily(
            "sortyard_orders", "Stored orders, by state.", labels=["state"]
        )
        for state, count in sorted(orders.items()):
            by_state.add_metric([state], count)
        yield on_hand
        yield reserved
        yield by_state


def _short_method(full_method: str) -> str:
    # "/sortyard.v1.RoutingService/Route" -> "RoutingService/Route"
    service, _, method = full_method.rpartition("/")
    return f"{service.rpartition('.')[2]}/{method}"


class ObservabilityInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]  # grpc ships no types
    """Times every unary-unary RPC, counts it by status code, and writes its JSON log line."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler  # streaming (reflection, health Watch): not ours to measure
        method = _short_method(handler_call_details.method)
        inner = handler.unary_unary
        metrics = self._metrics

        def observed(request: Any, context: grpc.ServicerContext) -> Any:
            fields: dict[str, Any] = {}
            token = _rpc_fields.set(fields)
            started = time.perf_counter()
            code = grpc.StatusCode.OK
            try:
                response = inner(request, context)
                code = context.code() or grpc.StatusCode.OK
                return response
            except Exception:
                code = context.code() or grpc.StatusCode.UNKNOWN
                if code is grpc.StatusCode.UNKNOWN:
                    _log.exception(
                        "unhandled error in %s", method, extra={"fields": {"method": method}}
                    )
                raise
            finally:
                elapsed = time.perf_counter() - started
                _rpc_fields.reset(token)
                code_name = code.name
                metrics.rpcs.labels(method, code_name).inc()
                metrics.rpc_latency.labels(method).observe(elapsed)
                if code is not grpc.StatusCode.OK:
                    metrics.rpc_errors.labels(method, code_name).inc()
                _log.info(
                    "rpc",
                    extra={
                        "fields": {
                            "method": method,
                            "code": code_name,
                            "latency_ms": round(elapsed * 1000, 3),
                            **fields,
                        }
                    },
                )

        return grpc.unary_unary_rpc_method_handler(
            observed,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
