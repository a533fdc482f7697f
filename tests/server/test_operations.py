"""Operating the server: health, reflection, graceful shutdown, metrics, deadlines."""

from __future__ import annotations

import threading
import urllib.request
from typing import Any

import grpc
import pytest
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from sortyard.v1 import routing_service_pb2, types_pb2

import engine
from server import ServerOptions
from tests.server.helpers import TIMEOUT, order, route_request, stubs

OUR_SERVICES = {
    "sortyard.v1.RoutingService",
    "sortyard.v1.NetworkService",
    "sortyard.v1.InventoryService",
    "sortyard.v1.FulfillmentService",
}


def test_health_reports_every_service_and_the_whole_server_serving(
    sortyard_channel: grpc.Channel,
) -> None:
    """grpc.health.v1 answers SERVING for "" and for each of our services, NOT_FOUND for others."""
    health = health_pb2_grpc.HealthStub(sortyard_channel)
    for service in ["", *sorted(OUR_SERVICES)]:
        answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=TIMEOUT)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING, service
    with pytest.raises(grpc.RpcError) as caught:
        health.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=TIMEOUT)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_reflection_lists_and_describes_our_services(sortyard_channel: grpc.Channel) -> None:
    """What ``grpcurl list`` shows: our services, health and reflection; and a service's methods
    resolve to their full descriptors through reflection alone."""
    database = ProtoReflectionDescriptorDatabase(sortyard_channel)
    services = set(database.get_services())
    assert services >= OUR_SERVICES | {
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }
    pool = DescriptorPool(database)
    routing = pool.FindServiceByName("sortyard.v1.RoutingService")
    assert {m.name for m in routing.methods} == {"Route", "RouteBatch", "Replan"}
    assert pool.FindMessageTypeByName("sortyard.v1.Order").fields_by_name["ship_to"]


class _GatedPolicy(engine.DefaultPolicy):
    """The default policy, but ``directives`` waits at a gate: a route provably in flight."""

    def __init__(self) -> None:
        super().__init__(version="gated")
        self.entered = threading.Event()
        self.release = threading.Event()

    def directives(self, ctx: engine.RoutingContext, *, explain: bool = False) -> engine.Directives:
        if not self.entered.is_set():  # only the first route waits
            self.entered.set()
            assert self.release.wait(timeout=30), "test never released the gate"
        return super().directives(ctx, explain=explain)


class _Fixed:
    def __init__(self, policy: engine.Policy) -> None:
        self.policy = policy

    def current(self) -> engine.Policy:
        return self.policy


def test_graceful_shutdown_finishes_the_in_flight_route_and_refuses_new_calls(
    start_sortyard: Any,
) -> None:
    """On stop, health turns NOT_SERVING at once, the route already running completes with its
    answer and its reservation committed, and new calls are refused."""
    policy = _GatedPolicy()
    running = start_sortyard(policies=_Fixed(policy))
    channel = grpc.insecure_channel(running.address)
    s = stubs(channel)
    result: dict[str, Any] = {}

    def route() -> None:
        try:
            result["response"] = s.routing.Route(
                route_request(order("SF-INFLIGHT", [("MUG-11OZ-WHT", 2)])), timeout=TIMEOUT
            )
        except grpc.RpcError as error:
            result["error"] = error

    client = threading.Thread(target=route)
    client.start()
    release_gate_on_failure = policy.release.set  # so a failing assert below never hangs the route
    try:
        _drain_while_in_flight(running, policy, s)
    finally:
        release_gate_on_failure()
    client.join(timeout=TIMEOUT)
    assert "error" not in result, result.get("error")
    assert result["response"].status == types_pb2.ROUTED
    assert result["response"].policy_version == "gated"
    channel.close()


def _drain_while_in_flight(running: Any, policy: _GatedPolicy, s: Any) -> None:
    assert policy.entered.wait(timeout=TIMEOUT)
    stopper = threading.Thread(target=running.stop, kwargs={"grace": 20.0})
    stopper.start()
    # Health flips before the drain completes: load balancers stop sending new work.
    for _ in range(200):
        if running.health._server_status.get("") == health_pb2.HealthCheckResponse.NOT_SERVING:
            break
        threading.Event().wait(0.01)
    assert running.health._server_status.get("") == health_pb2.HealthCheckResponse.NOT_SERVING
    # Once stop() is in effect, new connections are refused. Probe with health checks (which touch
    # no store lock) until then, then show a Route is refused too.
    for _ in range(100):
        with grpc.insecure_channel(running.address) as fresh:
            try:
                health_pb2_grpc.HealthStub(fresh).Check(health_pb2.HealthCheckRequest(), timeout=1)
            except grpc.RpcError:
                break
        threading.Event().wait(0.05)
    with grpc.insecure_channel(running.address) as fresh, pytest.raises(grpc.RpcError) as refused:
        stubs(fresh).routing.Route(route_request(order("SF-LATE")), timeout=2)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert stopper.is_alive(), "stop() returned while a call was still in flight"
    policy.release.set()
    stopper.join(timeout=TIMEOUT)
    assert not stopper.is_alive()


def test_metrics_endpoint_serves_rpc_and_stock_metrics(start_sortyard: Any) -> None:
    """With metrics enabled, /metrics carries per-method RPC counts, latency, errors, orders by
    status and the stock gauges."""
    running = start_sortyard(options=ServerOptions(metrics_listen="127.0.0.1:0"))
    with grpc.insecure_channel(running.address) as channel:
        s = stubs(channel)
        s.routing.Route(route_request(order("SF-M")), timeout=TIMEOUT)
        with pytest.raises(grpc.RpcError):
            s.routing.Route(route_request(order("SF-BAD", [("X", 0)])), timeout=TIMEOUT)
    url = f"http://127.0.0.1:{running.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=TIMEOUT) as page:
        text = page.read().decode()
    assert 'sortyard_rpc_requests_total{code="OK",method="RoutingService/Route"} 1.0' in text
    assert (
        'sortyard_rpc_errors_total{code="INVALID_ARGUMENT",method="RoutingService/Route"} 1.0'
        in text
    )
    assert 'sortyard_rpc_latency_seconds_count{method="RoutingService/Route"} 2.0' in text
    assert 'sortyard_orders_routed_total{status="ROUTED"} 1.0' in text
    assert 'sortyard_stock_reserved_units{warehouse="ORD-1"} 1.0' in text
    assert 'sortyard_stock_on_hand_units{warehouse="ORD-1"}' in text
    assert 'sortyard_orders{state="ROUTED"} 1.0' in text


def test_rpc_log_lines_are_json_without_buyer_pii(
    sortyard_channel: grpc.Channel, caplog: pytest.LogCaptureFixture
) -> None:
    """Each RPC logs one structured line with method, code, latency and order count; the ship-to
    city and state never appear, the postal code and country do."""
    o = order("SF-LOG")
    o.ship_to.city = "Chicago"
    o.ship_to.state = "Illinois"
    o.attributes["buyer_email"] = "jane@example.com"
    import logging

    from server._observability import JsonLogFormatter

    with caplog.at_level(logging.INFO, logger="sortyard.rpc"):
        logging.getLogger("sortyard").addHandler(caplog.handler)
        try:
            stubs(sortyard_channel).routing.Route(route_request(o), timeout=TIMEOUT)
        finally:
            logging.getLogger("sortyard").removeHandler(caplog.handler)
    records = [r for r in caplog.records if r.name == "sortyard.rpc"]
    assert records
    line = JsonLogFormatter().format(records[-1])
    import json

    entry = json.loads(line)
    assert entry["method"] == "RoutingService/Route" and entry["code"] == "OK"
    assert entry["orders"] == 1 and entry["postal_code"] == "60629" and "latency_ms" in entry
    assert "Chicago" not in line and "Illinois" not in line and "jane@" not in line


def test_a_nearly_spent_deadline_is_refused_before_routing(tmp_path: Any) -> None:
    """With less than the routing budget left, Route answers DEADLINE_EXCEEDED and reserves
    nothing (grpcio-testing with a strict fake clock, so the remaining time is exact)."""
    import grpc_testing

    from server._routing_service import MIN_ROUTE_BUDGET_SECONDS, RoutingServicer
    from server._runtime import Runtime, StaticPolicySource
    from server.store import Store

    store = Store.open(f"sqlite:///{tmp_path / 'd.db'}")
    try:
        runtime = Runtime(store=store, policies=StaticPolicySource())
        descriptor = routing_service_pb2.DESCRIPTOR.services_by_name["RoutingService"]
        test_server = grpc_testing.server_from_dictionary(
            {descriptor: RoutingServicer(runtime)}, grpc_testing.strict_fake_time(1_000.0)
        )
        rpc = test_server.invoke_unary_unary(
            descriptor.methods_by_name["Route"],
            (),
            route_request(order("SF-LATE")),
            MIN_ROUTE_BUDGET_SECONDS / 2,
        )
        _response, _metadata, code, details = rpc.termination()
        assert code == grpc.StatusCode.DEADLINE_EXCEEDED
        assert "nothing was routed" in details
        assert store.get_order(channel="storefront", channel_order_id="SF-LATE") is None
    finally:
        store.close()


def test_validation_runs_before_the_store_in_the_servicer(tmp_path: Any) -> None:
    """grpcio-testing: a malformed order is answered INVALID_ARGUMENT, naming the field, by the
    servicer itself before any network or store work. (grpcio-testing drops trailers on abort, so
    the BadRequest details are checked over a real server in test_bad_input.)"""
    import grpc_testing

    from server._routing_service import RoutingServicer
    from server._runtime import Runtime, StaticPolicySource
    from server.store import Store

    store = Store.open(f"sqlite:///{tmp_path / 'v.db'}")
    try:
        descriptor = routing_service_pb2.DESCRIPTOR.services_by_name["RoutingService"]
        test_server = grpc_testing.server_from_dictionary(
            {descriptor: RoutingServicer(Runtime(store=store, policies=StaticPolicySource()))},
            grpc_testing.strict_real_time(),
        )
        bad = order("SF-1", [("MUG-11OZ-WHT", 1), ("MUG-11OZ-WHT", -1)])
        rpc = test_server.invoke_unary_unary(
            descriptor.methods_by_name["Route"], (), route_request(bad), None
        )
        _response, _trailing, code, details = rpc.termination()
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert details.startswith("order.lines[1].quantity: must be at least 1")
        assert store.network_version() == 0 and store.known_channels() == set()
    finally:
        store.close()


def test_an_unreachable_store_is_unavailable_not_unknown(
    start_sortyard: Any, tmp_path: Any
) -> None:
    """When the database cannot be opened, calls fail with UNAVAILABLE (retryable, reason
    STORE_UNAVAILABLE) rather than an opaque UNKNOWN."""
    import shutil

    from tests.server.helpers import error_reason

    home = tmp_path / "db-home"
    home.mkdir()
    running = start_sortyard(f"sqlite:///{home / 'sortyard.db'}")
    with grpc.insecure_channel(running.address) as channel:
        s = stubs(channel)
        assert s.routing.Route(route_request(order("SF-UP")), timeout=TIMEOUT).status == (
            types_pb2.ROUTED
        )
        running.store.engine.dispose()
        shutil.rmtree(home)  # SQLite cannot open a file in a directory that is gone
        with pytest.raises(grpc.RpcError) as caught:
            s.routing.Route(route_request(order("SF-DOWN")), timeout=TIMEOUT)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        assert error_reason(caught.value) == "STORE_UNAVAILABLE"


def test_conflicts_beyond_the_store_retries_are_aborted(
    sortyard_server: Any, sortyard_channel: grpc.Channel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the store gives up on a write conflict after its own retries, the call fails with
    ABORTED (reason CONCURRENT_MODIFICATION): the client may retry the whole call."""
    from server.store import ConflictRetryError
    from tests.server.helpers import error_reason

    def always_conflicting(*_args: Any, **_kwargs: Any) -> Any:
        raise ConflictRetryError("gave up after 8 attempts colliding with concurrent writers")

    monkeypatch.setattr(sortyard_server.store, "route", always_conflicting)
    with pytest.raises(grpc.RpcError) as caught:
        stubs(sortyard_channel).routing.Route(route_request(order("SF-C")), timeout=TIMEOUT)
    assert caught.value.code() == grpc.StatusCode.ABORTED
    assert error_reason(caught.value) == "CONCURRENT_MODIFICATION"
