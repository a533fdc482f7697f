"""PolicyService over a real gRPC server on 127.0.0.1:0: validate, publish (compile then swap
atomically, keep the previous policy on failure), read back; and routing under concurrent publishes
never mixes two versions inside one decision."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from sortyard.v1 import policy_service_pb2 as pb
from sortyard.v1 import policy_service_pb2_grpc

import engine
from server.policy_service import PolicyHolder, PolicyService
from tests.rules.helpers import NOW, network, order, stock_of

GOOD = (
    'rule "no 3PL for Amazon"\n  when order.channel == "amazon"\n'
    '  exclude warehouses tagged "3pl"\n'
)
BAD = 'rule "r"\n  require warehouse "ORD1"\n'


class Server:
    def __init__(self, holder: PolicyHolder, service: PolicyService) -> None:
        self.holder = holder
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        policy_service_pb2_grpc.add_PolicyServiceServicer_to_server(  # type: ignore[no-untyped-call]  # generated
            service, self.server
        )
        port = self.server.add_insecure_port("127.0.0.1:0")
        assert port != 0
        self.server.start()
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.stub = policy_service_pb2_grpc.PolicyServiceStub(self.channel)  # type: ignore[no-untyped-call]  # generated

    def close(self) -> None:
        self.channel.close()
        self.server.stop(grace=None)


@pytest.fixture
def published() -> list[tuple[str, str]]:
    return []


@pytest.fixture
def served(published: list[tuple[str, str]]) -> Iterator[Server]:
    holder = PolicyHolder()
    service = PolicyService(
        holder, on_publish=lambda source, version: published.append((source, version)),
        network=network,
    )  # fmt: skip
    server = Server(holder, service)
    yield server
    server.close()


def violations(error: grpc.RpcError) -> list[tuple[str, str]]:
    status = rpc_status.from_call(error)
    assert status is not None
    found = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            found += [(v.field, v.description) for v in bad.field_violations]
    return found


def test_validate_reports_structured_diagnostics(served: Server) -> None:
    """ValidateRules: ok=false and each diagnostic with position, severity, code, hint, rendering;
    warnings alone leave ok=true."""
    response = served.stub.ValidateRules(pb.ValidateRulesRequest(source=BAD, file_name="p.rules"))
    assert not response.ok
    (diag,) = response.diagnostics
    assert (diag.line, diag.column, diag.end_line, diag.end_column) == (2, 21, 2, 27)
    assert diag.severity == pb.SEVERITY_ERROR and diag.code == "unknown-warehouse"
    assert diag.message == "unknown warehouse 'ORD1'" and diag.hint == "did you mean 'ORD-1'?"
    assert diag.rendered.startswith("p.rules:2:21: error: unknown warehouse 'ORD1'\n")
    warn = 'rule "r"\n  when order.channel == "a" and order.channel == "b"\n  hold "x"\n'
    response = served.stub.ValidateRules(pb.ValidateRulesRequest(source=warn))
    assert response.ok and [d.severity for d in response.diagnostics] == [pb.SEVERITY_WARNING]


def test_publish_swaps_and_get_reads_back(served: Server, published: list[tuple[str, str]]) -> None:
    """PublishRules compiles, persists through on_publish, swaps; GetRules returns it."""
    before = served.holder.current()
    response = served.stub.PublishRules(pb.PublishRulesRequest(source=GOOD, file_name="a.rules"))
    assert response.version.startswith("v1-") and list(response.diagnostics) == []
    assert published == [(GOOD, response.version)]
    current = served.holder.current()
    assert current is not before and current.version == response.version
    got = served.stub.GetRules(pb.GetRulesRequest())
    assert (got.source, got.version, got.file_name) == (GOOD, response.version, "a.rules")
    assert got.published_at.seconds > 0
    second = served.stub.PublishRules(pb.PublishRulesRequest(source=GOOD + "\n"))
    assert second.version.startswith("v2-")


def test_bad_publish_is_rejected_and_previous_policy_stays(
    served: Server, published: list[tuple[str, str]]
) -> None:
    """Errors: INVALID_ARGUMENT with a field violation per error; nothing persisted or swapped."""
    first = served.stub.PublishRules(pb.PublishRulesRequest(source=GOOD))
    with pytest.raises(grpc.RpcError) as caught:
        served.stub.PublishRules(pb.PublishRulesRequest(source=BAD, file_name="bad.rules"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    ((field, description),) = violations(caught.value)
    assert field == "source:2:21"
    assert description.startswith("bad.rules:2:21: error: unknown warehouse 'ORD1'")
    assert served.holder.current().version == first.version
    assert served.stub.GetRules(pb.GetRulesRequest()).version == first.version
    assert len(published) == 1


def test_hostile_publish_is_rejected_and_server_keeps_serving(served: Server) -> None:
    """A deeply nested file is refused with INVALID_ARGUMENT; the server keeps the old policy."""
    hostile = 'rule "r"\n  when ' + "(" * 100_000 + "\n"
    with pytest.raises(grpc.RpcError) as caught:
        served.stub.PublishRules(pb.PublishRulesRequest(source=hostile))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "nest deeper than 32" in violations(caught.value)[0][1]
    assert served.stub.GetRules(pb.GetRulesRequest()).version == "default"


def test_failed_persist_does_not_swap() -> None:
    """When on_publish raises (the store is down), the publish fails and nothing changes."""

    def broken(source: str, version: str) -> None:
        raise OSError("disk full")

    holder = PolicyHolder()
    server = Server(holder, PolicyService(holder, on_publish=broken))
    try:
        with pytest.raises(grpc.RpcError) as caught:
            server.stub.PublishRules(pb.PublishRulesRequest(source=GOOD))
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        assert holder.current().version == "default"
        ok = PolicyService(holder).PublishRules(pb.PublishRulesRequest(source=GOOD), None)
        assert ok.version.startswith("v1-")  # the failed attempt used no number
    finally:
        server.close()


def test_concurrent_publishes_never_mix_versions_within_a_decision(served: Server) -> None:
    """Routing threads capture holder.current() once per batch while another thread publishes
    over gRPC: every decision of a batch carries that batch's version, the decisions obey it (an
    Amazon order never ships from the 3PL under a version that excludes it), and each thread sees
    versions only move forward."""
    sources = [GOOD, 'rule "nothing"\n  when order.channel == "none"\n  hold "x"\n']
    stop = threading.Event()
    problems: list[str] = []
    net = network()
    levels = {("3PL-NJ", "MUG"): 10**6, ("EWR-1", "MUG"): 10**6}

    def route_batches() -> None:
        seen_numbers: list[int] = []
        while not stop.is_set():
            policy = served.holder.current()
            batch = [order(("MUG", 1), channel="amazon", order_id=f"o{i}") for i in range(20)]
            decisions = engine.Router(net, policy).route(batch, stock_of(levels), now=NOW)
            versions = {d.policy_version for d in decisions}
            if versions != {policy.version}:
                problems.append(f"mixed versions {versions} in one batch")
            where = {s.warehouse_id for d in decisions for s in d.shipments}
            excludes_3pl = "3PL" in getattr(policy, "source", "")
            if excludes_3pl and "3PL-NJ" in where:
                problems.append(f"{policy.version} shipped from the excluded 3PL")
            number = int(policy.version[1:].split("-")[0]) if policy.version != "default" else 0
            if seen_numbers and number < seen_numbers[-1]:
                problems.append("a version went backwards")
            seen_numbers.append(number)

    threads = [threading.Thread(target=route_batches) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        for i in range(12):
            served.stub.PublishRules(pb.PublishRulesRequest(source=sources[i % 2] + "\n" * i))
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert problems == []
    assert served.holder.snapshot().number == 12


def test_holder_publishes_are_serialised_and_gapless() -> None:
    """Concurrent publishes get distinct consecutive numbers and the last one is current."""
    holder = PolicyHolder()
    results: list[str] = []
    lock = threading.Lock()

    def publish(i: int) -> None:
        source = f'rule "r{i}"\n  when order.channel == "c{i}"\n  hold "x"\n'
        version = holder.publish(source).version
        with lock:
            results.append(version)

    threads = [threading.Thread(target=publish, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    numbers = sorted(int(v[1:].split("-")[0]) for v in results)
    assert numbers == list(range(1, 9))
    assert holder.snapshot().number == 8 and holder.current().version in results


def test_names_are_not_checked_while_the_server_has_no_warehouses() -> None:
    """Before any PutWarehouses, rules naming warehouses can still be validated and published."""
    holder = PolicyHolder()
    service = PolicyService(holder, network=lambda: engine.Network([]))
    response = service.ValidateRules(pb.ValidateRulesRequest(source=BAD), None)
    assert response.ok and list(response.diagnostics) == []
    assert service.PublishRules(pb.PublishRulesRequest(source=BAD), None).version.startswith("v1-")
