"""The suite as a whole: the echo ceiling speaks Sortyard's API, and `sortyard bench --quick` runs
end to end and writes a results document with every section (structure only, never timings)."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import pytest
from sortyard.v1 import routing_service_pb2, routing_service_pb2_grpc, types_pb2

from benchmarks import SECTIONS, BenchConfig, run_suite, start_echo_server


def test_echo_server_answers_route_and_route_batch_with_the_real_messages() -> None:
    """The ceiling uses Sortyard's own request/response messages: one response per request, in
    order, each echoing the order's lines in a fulfillment order."""
    server, port = start_echo_server()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = routing_service_pb2_grpc.RoutingServiceStub(channel)  # type: ignore[no-untyped-call]  # generated
            order = types_pb2.Order(
                channel="amazon",
                channel_order_id="A-1",
                lines=[types_pb2.OrderLine(line_id="1", sku="SKU-1", quantity=2)],
                ship_to=types_pb2.Address(postal_code="10001", country_code="US"),
                service_level=types_pb2.STANDARD,
            )
            one = stub.Route(routing_service_pb2.RouteRequest(order=order), timeout=10)
            assert one.status == types_pb2.ROUTED
            assert [(ln.sku, ln.quantity) for ln in one.fulfillment_orders[0].lines] == [
                ("SKU-1", 2)
            ]
            batch = routing_service_pb2.RouteBatchRequest(
                requests=[
                    routing_service_pb2.RouteRequest(
                        order=types_pb2.Order(channel_order_id=f"B-{i}", lines=order.lines)
                    )
                    for i in range(3)
                ]
            )
            answer = stub.RouteBatch(batch, timeout=10)
            assert [r.channel_order_id for r in answer.responses] == ["B-0", "B-1", "B-2"]
    finally:
        server.stop(None)


@pytest.mark.slow
def test_quick_bench_writes_every_section_with_marked_targets(tmp_path: Path) -> None:
    """`sortyard bench --quick` (the same function) runs every measurement without error and writes
    JSON and Markdown in which every section is present and every target is marked met, missed or
    not measured; the scaling plots exist."""
    outcome = run_suite(BenchConfig(quick=True, out_dir=tmp_path))
    assert [r.name for r in outcome.results] == list(SECTIONS)
    document = json.loads(outcome.paths["json"].read_text(encoding="utf-8"))
    assert set(document["sections"]) == set(SECTIONS)
    for name, section in document["sections"].items():
        assert section["error"] == "", f"{name}: {section['error']}"
        assert section["rows"], name
        for target in section["targets"]:
            assert target["verdict"] in {"met", "missed", "not measured"}
    assert document["sections"]["speed"]["data"]["equivalence"]["mismatches"] == 0
    assert (tmp_path / "latest.md").read_text(encoding="utf-8").startswith("# Sortyard benchmark")
    for plot in ("scaling_orders.png", "scaling_warehouses.png", "grpc_latency.png"):
        assert (tmp_path / plot).stat().st_size > 0
