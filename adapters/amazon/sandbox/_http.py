"""The sandbox's HTTP face: SP-API and Login-with-Amazon routes on a stdlib threading server.

Answers are shaped as Amazon's models say (Orders v0 wrapped in `payload`, the newer APIs bare,
every error a JSON body with an `errors` array, 429 included, because the client library raises only
then). Control routes under `/_sandbox/` let a user or a test drive the seller account and read the
record.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from adapters.amazon._rates import PUBLISHED_RATES
from adapters.amazon.sandbox._scenario import OrderSpec, Scenario, generate_orders
from adapters.amazon.sandbox._world import ApiError, SandboxWorld, parse_iso

__all__ = ["SandboxServer"]

log = logging.getLogger("sortyard.sandbox.amazon")

Json = dict[str, Any]
Params = dict[str, str]
# (world, path groups, query params, JSON body, base URL) -> (status, body)
Handler = Callable[[SandboxWorld, tuple[str, ...], Params, Any, str], tuple[int, Any]]

_ROUTES: list[tuple[str, re.Pattern[str], str | None, Handler]] = []


def _route(method: str, pattern: str, operation: str | None) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        _ROUTES.append((method, re.compile(f"^{pattern}$"), operation, fn))
        return fn

    return register


_SEG = "([^/]+)"


@_route("GET", "/orders/2026-01-01/orders", "searchOrders")
def _search(w: SandboxWorld, g: tuple[str, ...], q: Params, b: Any, base: str) -> tuple[int, Any]:
    return 200, w.search_orders(q)


@_route("GET", f"/orders/2026-01-01/orders/{_SEG}", "getOrder")
def _get_2026(w: SandboxWorld, g: tuple[str, ...], q: Params, b: Any, base: str) -> tuple[int, Any]:
    return 200, w.get_order_2026(g[0], q)


@_route("GET", "/orders/v0/orders", "getOrders")
def _get_orders(
    w: SandboxWorld, g: tuple[str, ...], q: Params, b: Any, base: str
) -> tuple[int, Any]:
    return 200, w.get_orders_v0(q)


@_route("GET", f"/orders/v0/orders/{_SEG}", "getOrderV0")
def _get_v0(w: SandboxWorld, g: tuple[str, ...], q: Params, b: Any, base: str) -> tuple[int, Any]:
    return 200, w.get_order_v0(g[0])


@_route("GET", f"/orders/v0/orders/{_SEG}/orderItems", "getOrderItems")
def _items(w: SandboxWorld, g: tuple[str, ...], q: Params, b: Any, base: str) -> tuple[int, Any]:
    return 200, w.get_order_items_v0(g[0], q)


@_route("POST", f"/orders/v0/orders/{_SEG}/shipmentConfirmation", "confirmShipment")
def _confirm(w: SandboxWorld, g: tuple[str, ...], q: Params, b: Any, base: str) -> tuple[int, Any]:
    w.confirm_shipment(g[0], _object(b))
    return 204, None


@_route("POST", "/feeds/2021-06-30/documents", "createFeedDocument")
def _create_doc(
    w: SandboxWorld, g: tuple[str, ...], q: Params, b: Any, base: str
) -> tuple[int, Any]:
    return 201, w.create_feed_document(_object(b), base)


@_route("POST", "/feeds/2021-06-30/feeds", "createFeed")
def _create_feed(
    w: SandboxWorld, g: tuple[str, ...], q: Params, b: Any, base: str
) -> tuple[int, Any]:
    return 202, w.create_feed(_object(b))


@_route("GET", "/feeds/2021-06-30/feeds", "getFeeds")
def _get_feeds(
    w: SandboxWorld, g: tuple[str, ...], q: Params, b: Any, base: str
) -> tuple[int, Any]:
    return 200, w.list_feeds(q)


@_route("GET", f"/feeds/2021-06-30/feeds/{_SEG}", "getFeed")
def _get_feed(w: SandboxWorld, g: tuple[str, ...], q: Params, b: Any, base: str) -> tuple[int, Any]:
    return 200, w.get_feed(g[0])


@_route("GET", f"/feeds/2021-06-30/documents/{_SEG}", "getFeedDocument")
def _feed_doc(w: SandboxWorld, g: tuple[str, ...], q: Params, b: Any, base: str) -> tuple[int, Any]:
    return 200, w.feed_document(g[0], base)


@_route("GET", f"/listings/2021-08-01/items/{_SEG}/{_SEG}", "getListingsItem")
def _get_item(w: SandboxWorld, g: tuple[str, ...], q: Params, b: Any, base: str) -> tuple[int, Any]:
    return 200, w.get_listing(g[0], g[1])


@_route("PATCH", f"/listings/2021-08-01/items/{_SEG}/{_SEG}", "patchListingsItem")
def _patch_item(
    w: SandboxWorld, g: tuple[str, ...], q: Params, b: Any, base: str
) -> tuple[int, Any]:
    return 200, w.patch_listing(g[0], g[1], _object(b))


@_route("GET", "/fba/inventory/v1/summaries", "getInventorySummaries")
def _fba(w: SandboxWorld, g: tuple[str, ...], q: Params, b: Any, base: str) -> tuple[int, Any]:
    return 200, w.inventory_summaries(q)


@_route("POST", "/reports/2021-06-30/reports", "createReport")
def _create_report(
    w: SandboxWorld, g: tuple[str, ...], q: Params, b: Any, base: str
) -> tuple[int, Any]:
    return 202, w.create_report(_object(b))


@_route("GET", f"/reports/2021-06-30/reports/{_SEG}", "getReport")
def _report(w: SandboxWorld, g: tuple[str, ...], q: Params, b: Any, base: str) -> tuple[int, Any]:
    return 200, w.get_report(g[0])


@_route("GET", f"/reports/2021-06-30/documents/{_SEG}", "getReportDocument")
def _report_doc(
    w: SandboxWorld, g: tuple[str, ...], q: Params, b: Any, base: str
) -> tuple[int, Any]:
    return 200, w.report_document(g[0], base)


# -- control routes (not SP-API: no token, no faults) ---------------------------------------------
@_route("GET", "/_sandbox/record", None)
def _record(w: SandboxWorld, g: tuple[str, ...], q: Params, b: Any, base: str) -> tuple[int, Any]:
    return 200, w.record()


@_route("GET", "/_sandbox/notifications", None)
def _notes(w: SandboxWorld, g: tuple[str, ...], q: Params, b: Any, base: str) -> tuple[int, Any]:
    return 200, {"messages": w.pop_notifications()}


@_route("POST", "/_sandbox/release-pending", None)
def _release(w: SandboxWorld, g: tuple[str, ...], q: Params, b: Any, base: str) -> tuple[int, Any]:
    return 200, {"released": w.release_pending()}


@_route("POST", f"/_sandbox/orders/{_SEG}/status", None)
def _status(w: SandboxWorld, g: tuple[str, ...], q: Params, b: Any, base: str) -> tuple[int, Any]:
    try:
        order = w.set_status(g[0], str(_object(b).get("status")))
    except KeyError:
        return 404, {"errors": [{"code": "NotFound", "message": f"Order {g[0]} not found"}]}
    except ValueError as exc:
        return 400, {"errors": [{"code": "InvalidInput", "message": str(exc)}]}
    return 200, {"orderId": order.order_id, "status": order.status}


@_route("POST", "/_sandbox/orders", None)
def _add_orders(
    w: SandboxWorld, g: tuple[str, ...], q: Params, b: Any, base: str
) -> tuple[int, Any]:
    body = _object(b)
    added = []
    if "generate" in body:
        spec = dict(body["generate"])
        scenario = Scenario(
            seed=int(spec.get("seed", 99)),
            days=float(spec.get("days", 1)),
            orders_per_day=int(spec.get("count", 10)),
            listings=w.scenario.default_listings(),
        )
        for order in generate_orders(scenario, w.now()):
            if order.order_id not in w.orders:
                added.append(w.add_order(order).order_id)
    for raw in body.get("orders", []):
        raw = dict(raw)
        raw["created"] = (
            parse_iso(raw.get("created") or "", "created") if raw.get("created") else w.now()
        )
        raw["lines"] = [tuple(x) for x in raw.get("lines", [])]
        try:
            added.append(w.add_order(OrderSpec(**raw)).order_id)
        except (TypeError, ValueError) as exc:
            raise ApiError(400, "InvalidInput", str(exc)) from exc
    return 200, {"added": added}


@_route("POST", "/_sandbox/faults", None)
def _faults(w: SandboxWorld, g: tuple[str, ...], q: Params, b: Any, base: str) -> tuple[int, Any]:
    try:
        w.set_faults(_object(b))
    except (TypeError, ValueError) as exc:
        raise ApiError(400, "InvalidInput", str(exc)) from exc
    return 200, asdict(w.faults)


def _object(body: Any) -> Json:
    if not isinstance(body, dict):
        raise ApiError(400, "InvalidInput", "The request body must be a JSON object.")
    return body


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("sandbox %s", format % args)

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode("utf-8")
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def _dispatch(self, method: str) -> None:
        world = self.server.world
        parts = urlsplit(self.path)
        path = parts.path
        raw = self._body()
        base = self.server.base_url
        if method == "POST" and path == "/auth/o2/token":
            form = dict(parse_qsl(raw.decode("utf-8")))
            status, answer = world.issue_token(form)
            self._send(status, answer)
            return
        if method == "PUT" and path.startswith("/_sandbox/uploads/"):
            ok = world.upload(unquote(path.rsplit("/", 1)[1]), raw)
            self._send(
                200 if ok else 404,
                None if ok else {"errors": [{"code": "NotFound", "message": "no such document"}]},
            )
            return
        if method == "GET" and path.startswith("/_sandbox/documents/"):
            data = world.download(unquote(path.rsplit("/", 1)[1]))
            if data is None:
                self._send(404, {"errors": [{"code": "NotFound", "message": "no such document"}]})
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        for route_method, pattern, operation, handler in _ROUTES:
            if route_method != method:
                continue
            match = pattern.match(path)
            if match is None:
                continue
            groups = tuple(unquote(g) for g in match.groups())
            self._handle(world, operation, handler, groups, query, raw, base)
            return
        self._send(404, {"errors": [{"code": "NotFound", "message": f"No route {method} {path}"}]})

    def _handle(
        self,
        world: SandboxWorld,
        operation: str | None,
        handler: Handler,
        groups: tuple[str, ...],
        query: Params,
        raw: bytes,
        base: str,
    ) -> None:
        headers = {"x-amzn-RequestId": secrets.token_hex(8)}
        if operation is not None:
            headers["x-amzn-RateLimit-Limit"] = f"{PUBLISHED_RATES[operation].rate:g}"
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            self._send(
                400, {"errors": [{"code": "InvalidInput", "message": "Body is not JSON."}]}, headers
            )
            return
        fault = None
        try:
            if operation is not None:
                world.check_token(self.headers.get("x-amz-access-token"))
                fault = world.draw_fault()
                if fault is not None:
                    world.faults_injected[f"{operation}:{fault}"] += 1
                if fault == "throttle":
                    raise ApiError(
                        429, "QuotaExceeded", "You exceeded your quota for the requested resource."
                    )
                if fault == "error-before":
                    raise ApiError(503, "ServiceUnavailable", "Service temporarily unavailable.")
                if fault == "slow":
                    time.sleep(world.faults.slow_seconds)
            status, answer = handler(world, groups, query, body, base)
            if fault == "error-after":
                raise ApiError(500, "InternalFailure", "We encountered an internal error.")
        except ApiError as exc:
            self._send(exc.status, exc.body(), headers)
            return
        except Exception:  # a sandbox bug must still answer in Amazon's error shape
            log.exception("sandbox handler failed for %s", operation)
            self._send(
                500, {"errors": [{"code": "InternalFailure", "message": "Sandbox error."}]}, headers
            )
            return
        self._send(status, answer, headers)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    world: SandboxWorld
    base_url: str


class SandboxServer:
    """A local SP-API + LWA on 127.0.0.1. `url` is both the SP-API endpoint and the LWA endpoint."""

    def __init__(
        self, world: SandboxWorld | None = None, *, host: str = "127.0.0.1", port: int = 0
    ):
        self.world = world or SandboxWorld()
        self._server = _Server((host, port), _Handler)
        self._server.world = self.world
        self.port = int(self._server.server_address[1])
        self.url = f"http://{host}:{self.port}"
        self._server.base_url = self.url
        self._thread: threading.Thread | None = None

    def start(self) -> SandboxServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="sp-api-sandbox", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
