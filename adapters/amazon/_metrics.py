"""Prometheus metrics of the adapter, per SP-API operation: calls, latency, errors, throttles."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["AdapterMetrics"]


class AdapterMetrics:
    """One registry per adapter, so several adapters (and tests) never share counters."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.calls = Counter(
            "sortyard_amazon_calls",
            "SP-API calls by operation and outcome",
            ["operation", "outcome"],
            registry=r,
        )
        self.latency = Histogram(
            "sortyard_amazon_call_seconds", "SP-API call latency", ["operation"], registry=r
        )
        self.errors = Counter(
            "sortyard_amazon_errors",
            "SP-API error answers by status",
            ["operation", "status"],
            registry=r,
        )
        self.throttles = Counter(
            "sortyard_amazon_throttles", "HTTP 429 answers", ["operation"], registry=r
        )
        self.throttle_wait = Counter(
            "sortyard_amazon_throttle_wait_seconds",
            "Seconds spent waiting for the client-side token bucket",
            ["operation"],
            registry=r,
        )
        self.orders = Counter(
            "sortyard_amazon_orders",
            "Orders ingested by what was done with them",
            ["action"],
            registry=r,
        )
        self.updates = Counter(
            "sortyard_amazon_updates",
            "Outbox updates by kind and result",
            ["kind", "result"],
            registry=r,
        )
        self.returns = Counter(
            "sortyard_amazon_returns",
            "Amazon returns (RMAs) by what creating them in Sortyard gave",
            ["outcome"],
            registry=r,
        )
        self.checkpoint = Gauge(
            "sortyard_amazon_checkpoint_timestamp_seconds",
            "The orders poll watermark (Unix time)",
            registry=r,
        )
        self.cycles = Counter("sortyard_amazon_cycles", "Completed cycles", registry=r)
