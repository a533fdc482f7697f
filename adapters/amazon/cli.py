"""`sortyard sandbox amazon`, `sortyard adapter amazon` and `sortyard skus import FILE.csv`."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from typing import Any

__all__ = ["add_subparser"]


def add_subparser(subparsers: Any) -> None:
    sandbox = subparsers.add_parser("sandbox", help="local marketplace sandboxes")
    sandbox_kinds = sandbox.add_subparsers(
        dest="sandbox_kind", metavar="MARKETPLACE", required=True
    )
    p = sandbox_kinds.add_parser("amazon", help="a local SP-API + Login-with-Amazon on loopback")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8787, help="0 picks a free port (default 8787)")
    p.add_argument("--scenario", help="scenario JSON: listings, orders per day, mixes, faults")
    p.set_defaults(handler=_cmd_sandbox)

    adapter = subparsers.add_parser("adapter", help="marketplace adapters")
    adapter_kinds = adapter.add_subparsers(
        dest="adapter_kind", metavar="MARKETPLACE", required=True
    )
    a = adapter_kinds.add_parser(
        "amazon",
        help="pull Amazon orders into Sortyard, push tracking and quantities back",
        description="Credentials: SP_API_REFRESH_TOKEN, LWA_APP_ID, LWA_CLIENT_SECRET "
        "(environment) or --secrets-file. Against the sandbox: --sp-api-endpoint and "
        "--lwa-endpoint http://127.0.0.1:8787, any non-empty credentials, "
        "--seller-id A1SANDBOXSELLER.",
    )
    from adapters.amazon._gateway import LWA_ENDPOINT, NA_ENDPOINT

    a.add_argument("--server", default="127.0.0.1:50051", help="Sortyard gRPC address")
    a.add_argument("--sp-api-endpoint", default=NA_ENDPOINT)
    a.add_argument("--lwa-endpoint", default=LWA_ENDPOINT)
    a.add_argument("--marketplace-id", default="ATVPDKIKX0DER")
    a.add_argument("--seller-id", default="", help="your Merchant Token (required)")
    a.add_argument("--once", action="store_true", help="one ingest-and-push cycle, then exit")
    a.add_argument("--interval", type=float, default=60.0, help="seconds between cycles")
    a.add_argument(
        "--state", help="checkpoint file (default: none, so every start looks back 3 days)"
    )
    a.add_argument("--metrics-listen", default="", help="HOST:PORT for Prometheus metrics")
    a.add_argument("--secrets-file", help="JSON or KEY=VALUE file with the three LWA credentials")
    a.add_argument(
        "--orders-v0", action="store_true", help="read orders with v0 getOrders (deprecated)"
    )
    a.add_argument(
        "--rate-scale", type=float, default=1.0, help="multiply Amazon's rates (sandbox only)"
    )
    a.add_argument("--backoff-base", type=float, default=0.5)
    a.add_argument("--feed-poll-interval", type=float, default=5.0)
    a.add_argument("--feed-wait", type=float, default=120.0)
    a.add_argument("--overlap-seconds", type=float, default=900.0)
    a.add_argument("--lease-seconds", type=float, default=300.0, help="outbox lease per pull")
    a.add_argument(
        "--retry-seconds", type=float, default=30.0, help="delay before a failed update is retried"
    )
    a.add_argument(
        "--resync",
        action="store_true",
        help="send every SKU's quantity on the first cycle (done anyway without a checkpoint)",
    )
    a.add_argument(
        "--returns-interval", type=float, default=1800.0, help="seconds between returns reports"
    )
    a.add_argument(
        "--fba-interval", type=float, default=1800.0, help="seconds between FBA inventory reads"
    )
    a.add_argument("--notifications-url", default="", help="an ORDER_CHANGE queue (the sandbox's)")
    a.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    a.set_defaults(handler=_cmd_adapter)

    skus = subparsers.add_parser("skus", help="the master catalog")
    sku_commands = skus.add_subparsers(dest="skus_command", metavar="ACTION", required=True)
    s = sku_commands.add_parser("import", help="import FILE.csv into the server's catalog")
    s.add_argument("file")
    s.add_argument("--server", default="127.0.0.1:50051")
    s.set_defaults(handler=_cmd_skus_import)


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    # httpx logs every request URL at INFO; the adapter's own per-operation lines say what matters.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, getattr(logging, level)))


def _cmd_sandbox(args: argparse.Namespace) -> int:
    from adapters.amazon.sandbox import SandboxServer, SandboxWorld, ScenarioError, load_scenario

    _configure_logging("INFO")
    try:
        scenario = load_scenario(args.scenario) if args.scenario else None
        world = SandboxWorld(scenario)
    except (ScenarioError, TypeError, ValueError) as exc:
        print(f"sortyard sandbox amazon: {exc}", file=sys.stderr)
        return 2
    server = SandboxServer(world, host=args.host, port=args.port)
    record = world.record()
    print(
        json.dumps(
            {
                "url": server.url,
                "seller_id": world.scenario.seller_id,
                "orders": len(record["orders"]),
                "record": f"{server.url}/_sandbox/record",
            }
        ),
        flush=True,
    )
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


def _cmd_adapter(args: argparse.Namespace) -> int:
    from adapters.amazon._credentials import CredentialsError
    from adapters.amazon._runner import AdapterOptions, run_adapter

    _configure_logging(args.log_level)
    options = AdapterOptions(
        server=args.server,
        sp_api_endpoint=args.sp_api_endpoint,
        lwa_endpoint=args.lwa_endpoint,
        marketplace_id=args.marketplace_id,
        seller_id=args.seller_id,
        once=args.once,
        interval=args.interval,
        state=args.state,
        metrics_listen=args.metrics_listen,
        secrets_file=args.secrets_file,
        orders_v0=args.orders_v0,
        rate_scale=args.rate_scale,
        backoff_base=args.backoff_base,
        feed_poll_interval=args.feed_poll_interval,
        feed_wait=args.feed_wait,
        overlap_seconds=args.overlap_seconds,
        notifications_url=args.notifications_url,
        lease_seconds=args.lease_seconds,
        retry_seconds=args.retry_seconds,
        resync=args.resync,
        returns_interval_seconds=args.returns_interval,
        fba_interval_seconds=args.fba_interval,
    )
    try:
        return run_adapter(options)
    except (CredentialsError, ValueError) as exc:
        print(f"sortyard adapter amazon: {exc}", file=sys.stderr)
        return 2


def _cmd_skus_import(args: argparse.Namespace) -> int:
    import grpc
    from sortyard.v1 import catalog_service_pb2, catalog_service_pb2_grpc

    from adapters.amazon._adapter import grpc_stub
    from adapters.amazon._skus_csv import CatalogCsvError, read_catalog_csv

    try:
        entries = read_catalog_csv(args.file)
    except CatalogCsvError as exc:
        print(f"sortyard skus import: {exc}", file=sys.stderr)
        return 2
    with grpc.insecure_channel(args.server) as channel:
        stub = grpc_stub(catalog_service_pb2_grpc.CatalogServiceStub, channel)
        try:
            response = stub.ImportSkus(
                catalog_service_pb2.ImportSkusRequest(entries=entries), timeout=60
            )
        except grpc.RpcError as exc:
            print(f"sortyard skus import: {exc.code().name}: {exc.details()}", file=sys.stderr)
            return 1
    print(f"imported {response.imported} SKUs from {args.file}")
    return 0
