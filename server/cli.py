"""The ``sortyard`` command: ``serve``, ``route``, ``demo``, plus subcommands other packages mount.

Optional subcommands (``rules``, the Amazon adapter, benchmarks) are mounted when their module
imports; a missing or broken one never breaks the rest of the CLI.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["build_parser", "main"]

_log = logging.getLogger("sortyard.cli")

# Modules that may add a subcommand through ``add_subparser(subparsers) -> None``.
OPTIONAL_SUBCOMMANDS = (
    "rules.cli",
    "adapters.amazon.cli",
    "benchmarks.cli",
    "server._replay",
    "server._report",
)
DEFAULT_DB = "sqlite:///sortyard.db"
DEFAULT_SERVER = "127.0.0.1:50051"
EXIT_USAGE = 2


def _add_serve(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "serve",
        help="run the gRPC server",
        description="Run the Sortyard gRPC server until SIGTERM/SIGINT, then drain gracefully.",
    )
    p.add_argument("--listen", default="127.0.0.1:50051", help="host:port (default %(default)s)")
    p.add_argument("--db", default=DEFAULT_DB, help="store URL (default %(default)s)")
    p.add_argument("--network", metavar="FILE", help="warehouse network TOML to load at start")
    p.add_argument("--stock", metavar="FILE", help="stock CSV (warehouse_id,sku,on_hand) to sync")
    p.add_argument("--rules", metavar="FILE", help="rules file to compile and publish at start")
    p.add_argument("--metrics-listen", metavar="ADDR", help="host:port for Prometheus metrics")
    p.add_argument("--grace", type=float, default=10.0, help="shutdown grace seconds")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.set_defaults(handler=_cmd_serve)


def _add_route(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "route",
        help="route one order (JSON) through a running server",
        description="Route ORDER.json (an Order, or a RouteRequest) through a running server.",
    )
    p.add_argument("order", metavar="ORDER.json")
    p.add_argument("--server", default=DEFAULT_SERVER, help="host:port (default %(default)s)")
    p.add_argument("--dry-run", action="store_true", help="decide and explain; reserve nothing")
    p.add_argument("--explain", action="store_true", help="show every candidate warehouse")
    p.add_argument("--json", action="store_true", help="print the RouteResponse as JSON")
    p.add_argument("--request-id", default=None, help="idempotency key (default: a new UUID)")
    p.add_argument("--timeout", type=float, default=10.0, help="deadline in seconds")
    p.set_defaults(handler=_cmd_route)


def _add_demo(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "demo",
        help="route a few hundred example orders end to end on a throwaway database",
        description="Self-contained demo: temporary SQLite, six US warehouses, a real gRPC server.",
    )
    p.add_argument("--orders", type=int, default=300, help="orders to generate (default 300)")
    p.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    p.set_defaults(handler=_cmd_demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sortyard", description="Order routing for multichannel sellers."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_serve(subparsers)
    _add_route(subparsers)
    _add_demo(subparsers)
    for module_name in OPTIONAL_SUBCOMMANDS:
        try:
            module = importlib.import_module(module_name)
            add_subparser = module.add_subparser
        except Exception:  # absent or mid-edit: the core commands must keep working
            _log.debug("optional subcommand %s not available", module_name, exc_info=True)
            continue
        try:
            add_subparser(subparsers)
        except Exception:
            _log.debug("optional subcommand %s failed to mount", module_name, exc_info=True)
    return parser


# ---- serve ------------------------------------------------------------------------------------


def _publish_rules(path: str, store: Any) -> Any:
    """A PolicyHolder with the rules file compiled and published (checked against the network).

    Raises ValueError (the rules package's RulesError, already rendered as file:line:col with the
    source line and a caret) when the file does not compile, OSError when it cannot be read.
    """
    import engine
    from server.policy_service import PolicyHolder

    source = Path(path).read_text(encoding="utf-8")
    holder = PolicyHolder()
    network = engine.Network(store.list_warehouses(include_inactive=True))
    holder.publish(source, path, network=network)
    return holder


def _cmd_serve(args: argparse.Namespace) -> int:
    from sortyard.v1 import inventory_service_pb2

    from server import _convert
    from server._app import ServerOptions, serve_until_signalled, start_server
    from server._files import ConfigFileError, load_network, load_stock
    from server._observability import configure_logging
    from server._validate import validate_sync_request
    from server.store import Store

    configure_logging(getattr(logging, args.log_level))
    try:
        warehouses = load_network(args.network) if args.network else None
        levels = load_stock(args.stock) if args.stock else None
    except ConfigFileError as error:
        print(f"sortyard serve: {error}", file=sys.stderr)
        return EXIT_USAGE

    store = Store.open(args.db)
    try:
        if warehouses is not None:
            store.put_warehouses([_convert.warehouse_from_proto(w) for w in warehouses])
        if levels is not None:
            known = {w.warehouse_id for w in store.list_warehouses(include_inactive=True)}
            problems = validate_sync_request(
                inventory_service_pb2.SyncRequest(levels=levels), known
            )
            if problems:
                listed = "; ".join(f"{f}: {d}" for f, d in problems)
                print(f"sortyard serve: {args.stock}: {listed}", file=sys.stderr)
                return EXIT_USAGE
            store.sync([(lv.warehouse_id, lv.sku, lv.on_hand) for lv in levels])
        policies = None
        if args.rules:
            try:
                policies = _publish_rules(args.rules, store)
            except (ValueError, OSError) as error:
                print(f"sortyard serve: {args.rules}:\n{error}", file=sys.stderr)
                return EXIT_USAGE
        options = ServerOptions(
            listen=args.listen, metrics_listen=args.metrics_listen, grace_seconds=args.grace
        )
        try:
            running = start_server(store, args.listen, options=options, policies=policies)
        except OSError as error:
            print(f"sortyard serve: {error}", file=sys.stderr)
            return 1
        print(f"sortyard: serving on {running.address}", file=sys.stderr, flush=True)
        if running.metrics_port is not None:
            print(f"sortyard: metrics on port {running.metrics_port}", file=sys.stderr, flush=True)
        serve_until_signalled(running)
    finally:
        store.close()
    return 0


# ---- route ------------------------------------------------------------------------------------


def _cmd_route(args: argparse.Namespace) -> int:
    import grpc
    from google.protobuf import json_format
    from google.rpc import error_details_pb2
    from grpc_status import rpc_status

    from server._files import ConfigFileError, load_route_request
    from server._render import render_route_response
    from server._stubs import ApiStubs

    try:
        request = load_route_request(args.order)
    except ConfigFileError as error:
        print(f"sortyard route: {error}", file=sys.stderr)
        return EXIT_USAGE
    request.dry_run = request.dry_run or args.dry_run
    request.explain = request.explain or args.explain
    if args.request_id is not None:
        request.request_id = args.request_id
    elif not request.request_id:
        request.request_id = str(uuid.uuid4())

    with grpc.insecure_channel(args.server) as channel:
        stub = ApiStubs.connect(channel).routing
        try:
            response = stub.Route(request, timeout=args.timeout)
        except grpc.RpcError as error:
            print(f"sortyard route: {error.code().name}: {error.details()}", file=sys.stderr)
            status = rpc_status.from_call(error)
            for detail in status.details if status is not None else ():
                if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                    bad = error_details_pb2.BadRequest()
                    detail.Unpack(bad)
                    for v in bad.field_violations:
                        print(f"  {v.field}: {v.description}", file=sys.stderr)
            return 1
    if args.json:
        print(json_format.MessageToJson(response, preserving_proto_field_name=True, indent=2))
    else:
        print(render_route_response(response, dry_run=request.dry_run))
    return 0


# ---- demo -------------------------------------------------------------------------------------


def _cmd_demo(args: argparse.Namespace) -> int:
    from server._demo import run_demo

    return run_demo(orders=args.orders, seed=args.seed, out=sys.stdout)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return EXIT_USAGE
    result = handler(args)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
