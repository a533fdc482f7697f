"""Runs the adapter as a process: options to objects, then one cycle (`--once`) or a cycle every
`--interval` seconds until SIGTERM/SIGINT."""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass
from datetime import timedelta
from types import FrameType

import grpc
from prometheus_client import start_http_server

from adapters.amazon._adapter import AdapterConfig, AmazonAdapter
from adapters.amazon._credentials import LwaCredentials, SecretRedactingFilter, load_credentials
from adapters.amazon._gateway import LWA_ENDPOINT, NA_ENDPOINT, RetryPolicy, SpApiGateway
from adapters.amazon._metrics import AdapterMetrics
from adapters.amazon._state import AdapterState
from adapters.amazon._throttle import RateLimiter

__all__ = ["AdapterOptions", "build_adapter", "run_adapter"]

log = logging.getLogger("sortyard.adapters.amazon")


@dataclass(frozen=True)
class AdapterOptions:
    server: str = "127.0.0.1:50051"
    sp_api_endpoint: str = NA_ENDPOINT
    lwa_endpoint: str = LWA_ENDPOINT
    marketplace_id: str = "ATVPDKIKX0DER"
    seller_id: str = ""
    once: bool = False
    interval: float = 60.0
    state: str | None = None
    metrics_listen: str = ""
    secrets_file: str | None = None
    orders_v0: bool = False
    rate_scale: float = 1.0  # >1 only against the sandbox: Amazon enforces its own limits
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    attempts: int = 5
    feed_poll_interval: float = 5.0
    feed_wait: float = 120.0
    overlap_seconds: float = 900.0
    notifications_url: str = ""
    lease_seconds: float = 300.0
    retry_seconds: float = 30.0
    resync: bool = False
    returns_interval_seconds: float = 1800.0
    fba_interval_seconds: float = 1800.0


def build_adapter(
    options: AdapterOptions,
    credentials: LwaCredentials | None = None,
    metrics: AdapterMetrics | None = None,
) -> tuple[AmazonAdapter, grpc.Channel]:
    credentials = credentials or load_credentials(secrets_file=options.secrets_file)
    gateway = SpApiGateway(
        credentials,
        endpoint=options.sp_api_endpoint,
        lwa_endpoint=options.lwa_endpoint,
        marketplace_id=options.marketplace_id,
        limiter=RateLimiter(scale=options.rate_scale),
        retry=RetryPolicy(options.attempts, options.backoff_base, options.backoff_cap),
        metrics=metrics,
    )
    channel = grpc.insecure_channel(options.server)
    config = AdapterConfig(
        seller_id=options.seller_id,
        marketplace_id=options.marketplace_id,
        use_orders_v0=options.orders_v0,
        overlap=timedelta(seconds=options.overlap_seconds),
        feed_poll_interval=options.feed_poll_interval,
        feed_wait=options.feed_wait,
        lease=timedelta(seconds=options.lease_seconds),
        retry_soon=timedelta(seconds=options.retry_seconds),
        resync=options.resync,
        returns_interval=timedelta(seconds=options.returns_interval_seconds),
        fba_interval=timedelta(seconds=options.fba_interval_seconds),
    )
    adapter = AmazonAdapter(
        config,
        gateway,
        channel,
        AdapterState.load(options.state),
        notifications_url=options.notifications_url,
    )
    return adapter, channel


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host or "127.0.0.1", int(port)


def run_adapter(options: AdapterOptions) -> int:
    credentials = load_credentials(secrets_file=options.secrets_file)
    redactor = SecretRedactingFilter(credentials.secrets())
    for handler in logging.getLogger().handlers:
        handler.addFilter(redactor)
    if not options.seller_id:
        log.error("--seller-id is required (the JSON_LISTINGS_FEED header names the seller)")
        return 2
    metrics = AdapterMetrics()
    if options.metrics_listen:
        host, port = _split(options.metrics_listen)
        start_http_server(port, addr=host, registry=metrics.registry)
    adapter, channel = build_adapter(options, credentials, metrics)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: finishing the current cycle, then stopping", signum)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
    failures = 0
    try:
        while True:
            try:
                adapter.run_cycle()
                failures = 0
            except grpc.RpcError as exc:
                failures += 1
                log.error("server call failed: %s %s", exc.code(), exc.details())
                if options.once:
                    return 1
            except Exception:
                failures += 1
                log.exception("cycle failed")
                if options.once:
                    return 1
            if options.once or stop.wait(options.interval):
                return 0
    finally:
        channel.close()
        adapter.gateway.close()
