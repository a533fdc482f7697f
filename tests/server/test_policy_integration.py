"""The server with PolicyService: publish rules over gRPC, route on the new version."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from sortyard.v1 import policy_service_pb2, policy_service_pb2_grpc, types_pb2

from tests.server.helpers import TIMEOUT, order, route_request, stubs

RULES = Path(__file__).resolve().parents[2] / "rules" / "examples" / "storefront-no-split.rules"


def test_published_rules_decide_the_next_route_and_name_their_version(
    sortyard_channel: grpc.Channel,
) -> None:
    """Before a publish, routes report the default policy; after PublishRules, the next route is
    decided by the rules (no split for storefront: held) and reports the published version."""
    pytest.importorskip("server.policy_service")
    s = stubs(sortyard_channel)
    before = s.routing.Route(
        route_request(order("SF-P1", [("LAMP-DESK-LED", 10)])), timeout=TIMEOUT
    )
    assert before.policy_version == "default" and len(before.fulfillment_orders) >= 2

    policy = policy_service_pb2_grpc.PolicyServiceStub(sortyard_channel)  # type: ignore[no-untyped-call]  # generated
    published = policy.PublishRules(
        policy_service_pb2.PublishRulesRequest(source=RULES.read_text(), file_name=RULES.name),
        timeout=TIMEOUT,
    )
    after = s.routing.Route(route_request(order("SF-P2", [("LAMP-DESK-LED", 8)])), timeout=TIMEOUT)
    assert after.policy_version == published.version != "default"
    assert after.status == types_pb2.HELD and not after.fulfillment_orders
    # The stored decision keeps the version that made it.
    replay = s.routing.Route(
        route_request(order("SF-P1", [("LAMP-DESK-LED", 10)])), timeout=TIMEOUT
    )
    assert replay.replayed and replay.policy_version == "default"
