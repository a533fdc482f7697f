"""``sortyard.v1.PolicyService``: validate, publish and read the routing rules of a running server.

A publish compiles the text first (off the routing path), then swaps one reference inside a
:class:`PolicyHolder`. Routing reads ``holder.current()`` once per decision, so a route that started
on one version finishes on it; a failed publish leaves the previous policy in place. The servicer
knows nothing of the store: persistence is the optional ``on_publish(source, version)`` callback,
called before the swap (if it raises, nothing is swapped).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
from sortyard.v1 import policy_service_pb2, policy_service_pb2_grpc

import engine
import rules
from server._errors import abort, abort_invalid_argument

__all__ = ["PolicyHolder", "PolicyService", "PublishedPolicy", "diagnostic_to_proto"]

OnPublish = Callable[[str, str], None]
NetworkProvider = Callable[[], Any]  # returns an engine.Network (or None) to check names against


@dataclass(frozen=True, slots=True)
class PublishedPolicy:
    """One published version: the compiled policy with the text it came from."""

    policy: engine.Policy
    version: str
    number: int  # 0 for the initial (not published) policy, then 1, 2, ...
    source: str = ""
    file_name: str = ""
    published_at: dt.datetime | None = None


class PolicyHolder:
    """The current routing policy, swapped atomically. ``current()`` never blocks.

    Versions read ``v{number}-{first 8 hex digits of the source's SHA-256}``, e.g. ``v3-1a2b3c4d``;
    ``next_number`` lets a restarted server continue its numbering from the store.
    """

    def __init__(self, initial: engine.Policy | None = None, *, next_number: int = 1) -> None:
        policy = initial if initial is not None else engine.DefaultPolicy()
        self._published = PublishedPolicy(policy, policy.version, 0)
        self._next_number = next_number
        self._publish_lock = threading.Lock()

    def current(self) -> engine.Policy:
        """The policy to route with now (capture it once per decision)."""
        return self._published.policy

    def snapshot(self) -> PublishedPolicy:
        return self._published

    def publish(
        self,
        source: str,
        file_name: str = "<rules>",
        *,
        network: Any = None,
        on_publish: OnPublish | None = None,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> PublishedPolicy:
        """Compile ``source`` and make it current. Raises :class:`rules.RulesError` (nothing
        changes) when it does not compile; whatever ``on_publish`` raises also leaves it as it was.
        """
        with self._publish_lock:  # publishes are rare; serialising them keeps numbers gapless
            number = self._next_number
            digest = hashlib.sha256(source.encode("utf-8")).hexdigest()[:8]
            version = f"v{number}-{digest}"
            policy = rules.RuleSet.compile(source, file_name, network, version=version)
            if on_publish is not None:
                on_publish(source, version)
            published = PublishedPolicy(
                policy,
                version,
                number,
                source,
                file_name,
                (clock or (lambda: dt.datetime.now(dt.UTC)))(),
            )
            self._published = published  # one reference assignment: atomic for readers
            self._next_number = number + 1
            return published


_SEVERITY = {
    rules.Severity.ERROR: policy_service_pb2.SEVERITY_ERROR,
    rules.Severity.WARNING: policy_service_pb2.SEVERITY_WARNING,
}


def diagnostic_to_proto(
    diagnostic: rules.Diagnostic, source: str, file_name: str
) -> policy_service_pb2.Diagnostic:
    span = diagnostic.span
    return policy_service_pb2.Diagnostic(
        line=span.line,
        column=span.column,
        end_line=span.end_line,
        end_column=span.end_column,
        severity=_SEVERITY[diagnostic.severity],
        code=diagnostic.code,
        message=diagnostic.message,
        hint=diagnostic.hint,
        rendered=rules.render(diagnostic, source, file_name),
    )


class PolicyService(policy_service_pb2_grpc.PolicyServiceServicer):
    def __init__(
        self,
        holder: PolicyHolder,
        *,
        on_publish: OnPublish | None = None,
        network: NetworkProvider | None = None,
    ) -> None:
        self._holder = holder
        self._on_publish = on_publish
        self._network = network

    def _file_name(self, name: str) -> str:
        return name or "<rules>"

    def _current_network(self) -> Any:
        """The network to check warehouse names against; None (names unchecked) while the server
        has no warehouses yet, so rules can be published before the network is loaded."""
        if self._network is None:
            return None
        network = self._network()
        return network if network is not None and len(network) > 0 else None

    def ValidateRules(
        self, request: policy_service_pb2.ValidateRulesRequest, context: grpc.ServicerContext
    ) -> policy_service_pb2.ValidateRulesResponse:
        file_name = self._file_name(request.file_name)
        network = self._current_network()
        diagnostics = rules.check(request.source, file_name, network)
        return policy_service_pb2.ValidateRulesResponse(
            ok=not any(d.severity is rules.Severity.ERROR for d in diagnostics),
            diagnostics=[diagnostic_to_proto(d, request.source, file_name) for d in diagnostics],
        )

    def PublishRules(
        self, request: policy_service_pb2.PublishRulesRequest, context: grpc.ServicerContext
    ) -> policy_service_pb2.PublishRulesResponse:
        file_name = self._file_name(request.file_name)
        network = self._current_network()
        try:
            published = self._holder.publish(
                request.source, file_name, network=network, on_publish=self._on_publish
            )
        except rules.RulesError as error:
            errors = [d for d in error.diagnostics if d.severity is rules.Severity.ERROR]
            abort_invalid_argument(
                context,
                [
                    (
                        f"source:{d.span.line}:{d.span.column}",
                        rules.render(d, error.source, file_name),
                    )
                    for d in errors
                ],
                reason="RULES_DO_NOT_COMPILE",
            )
        except Exception as error:  # the on_publish callback (the store) failed: nothing swapped
            abort(
                context,
                grpc.StatusCode.UNAVAILABLE,
                f"the rules compiled but could not be saved ({type(error).__name__}); "
                "the previous policy stays current",
                reason="RULES_NOT_SAVED",
            )
        policy = published.policy
        warnings = policy.warnings if isinstance(policy, rules.CompiledPolicy) else ()
        return policy_service_pb2.PublishRulesResponse(
            version=published.version,
            diagnostics=[diagnostic_to_proto(d, request.source, file_name) for d in warnings],
        )

    def GetRules(
        self, request: policy_service_pb2.GetRulesRequest, context: grpc.ServicerContext
    ) -> policy_service_pb2.GetRulesResponse:
        published = self._holder.snapshot()
        response = policy_service_pb2.GetRulesResponse(
            source=published.source, version=published.version, file_name=published.file_name
        )
        if published.published_at is not None:
            response.published_at.FromDatetime(published.published_at)
        return response
