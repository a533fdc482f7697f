"""RoutingService: validate, decide with the engine inside the store's transaction, answer.

The store owns the transaction (lock stock, decide, write order + reservations, commit) and calls
back into ``decide``, where the engine routes the batch against the stock it loaded. The policy is
read once per RPC, so every order of one call is decided by the same policy version.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import grpc
from sortyard.v1 import routing_service_pb2, routing_service_pb2_grpc, types_pb2

import engine
from server import _convert
from server._errors import abort, abort_invalid_argument
from server._observability import note
from server._runtime import Runtime
from server._validate import Violation, validate_route_batch_size, validate_route_request
from server.store import (
    IdempotencyConflictError,
    ReplanCandidate,
    RouteRequestRecord,
    StoredRoute,
    replan,
)

__all__ = ["MIN_ROUTE_BUDGET_SECONDS", "RoutingServicer", "optimization_budget"]

# Below this much time left, routing would most likely finish after the caller gave up: refuse
# up front rather than reserve stock for an answer nobody reads.
MIN_ROUTE_BUDGET_SECONDS = 0.05


def validate_replan_request(request: routing_service_pb2.ReplanRequest) -> list[Violation]:
    """Field violations of a ReplanRequest (blank or repeated order ids, an empty window)."""
    out: list[Violation] = []
    seen: set[str] = set()
    for i, order_id in enumerate(request.order_ids):
        if not order_id.strip():
            out.append((f"order_ids[{i}]", "must not be blank"))
        elif order_id in seen:
            out.append((f"order_ids[{i}]", f"{order_id!r} is listed twice"))
        seen.add(order_id)
    if request.HasField("since") and request.HasField("until"):
        since, until = request.since, request.until
        if (since.seconds, since.nanos) >= (until.seconds, until.nanos):
            out.append(("until", "must be after since"))
    return out


def optimization_budget(
    request: routing_service_pb2.RouteBatchRequest | routing_service_pb2.ReplanRequest,
    context: grpc.ServicerContext | None = None,
) -> tuple[float, list[Violation]]:
    """The solver's time budget for an optimized batch: ``time_budget`` (default 2 s) capped at
    ``engine.MAX_TIME_BUDGET_SECONDS`` and at half of what is left of the caller's deadline (the
    rest is for the greedy pass and the store). A negative or malformed duration is a violation."""
    budget = engine.DEFAULT_TIME_BUDGET_SECONDS
    if request.HasField("time_budget"):  # proto3 message field: presence is tracked
        seconds, nanos = request.time_budget.seconds, request.time_budget.nanos
        if seconds < 0 or nanos < 0 or nanos >= 1_000_000_000:
            return 0.0, [("time_budget", "must be a non-negative duration, e.g. 2s")]
        budget = seconds + nanos / 1e9
    budget = min(budget, engine.MAX_TIME_BUDGET_SECONDS)
    remaining = context.time_remaining() if context is not None else None
    if remaining is not None:
        budget = min(budget, max(0.0, remaining / 2))
    return budget, []


def report_to_proto(report: engine.OptimizationReport) -> routing_service_pb2.OptimizationReport:
    return routing_service_pb2.OptimizationReport(
        objective=report.objective,
        bound=report.bound,
        gap=report.gap,
        components=report.components,
        fallback_components=list(report.fallback_components),
        greedy_objective=report.greedy_objective,
    )


def request_hash(request: routing_service_pb2.RouteRequest) -> str:
    """Hash of what an idempotency key promises: the order (not the explain/dry-run flags)."""
    return hashlib.sha256(request.order.SerializeToString(deterministic=True)).hexdigest()


@dataclass(frozen=True)
class _Entry:
    position: int  # index in the caller's request list
    request: routing_service_pb2.RouteRequest
    order: engine.Order


def check_deadline(context: grpc.ServicerContext) -> None:
    """DEADLINE_EXCEEDED before the expensive part when the caller's deadline is nearly spent."""
    remaining = context.time_remaining()
    if remaining is not None and remaining < MIN_ROUTE_BUDGET_SECONDS:
        abort(
            context,
            grpc.StatusCode.DEADLINE_EXCEEDED,
            f"only {max(remaining, 0) * 1000:.0f} ms of the deadline left; nothing was routed",
            reason="DEADLINE_TOO_SHORT",
        )


def response_for(
    entry: _Entry,
    stored: StoredRoute,
    policy: engine.Policy,
    *,
    dry_run: bool,
) -> routing_service_pb2.RouteResponse:
    decision = stored.decision
    assert decision is not None  # errors are handled by the caller
    order = entry.order
    response = routing_service_pb2.RouteResponse(
        order_id="" if dry_run else stored.order_id,
        channel_order_id=order.channel_order_id,
        status=cast(types_pb2.RouteStatus, int(decision.status)),  # same numbers by design
        policy_version=decision.policy_version or policy.version,
        replayed=stored.replayed,
        unfilled=_convert.unfilled_to_proto(decision.unfilled),
    )
    ids = stored.fulfillment_order_ids if not dry_run else ()
    for n, shipment in enumerate(decision.shipments):
        response.fulfillment_orders.append(
            _convert.shipment_to_proto(
                shipment,
                fulfillment_order_id=ids[n] if n < len(ids) else "",
                order=order,
                order_id=response.order_id,
            )
        )
    if decision.hold is not None:
        response.hold_code = decision.hold.code
        response.hold_reason = decision.hold.reason
    wants_explanation = entry.request.explain or dry_run
    if wants_explanation and decision.explanation is not None:
        response.explanation.CopyFrom(_convert.explanation_to_proto(decision.explanation))
    return response


def rejected(
    request: routing_service_pb2.RouteRequest, violations: Sequence[Violation]
) -> routing_service_pb2.RouteResponse:
    return routing_service_pb2.RouteResponse(
        status=types_pb2.REJECTED,
        channel_order_id=request.order.channel_order_id,
        field_violations=[types_pb2.FieldViolation(field=f, description=d) for f, d in violations],
    )


class RoutingServicer(routing_service_pb2_grpc.RoutingServiceServicer):
    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def _route(
        self,
        entries: Sequence[_Entry],
        *,
        dry_run: bool,
        policy: engine.Policy,
        network: engine.Network,
        optimize_budget: float | None = None,
        reports: list[engine.OptimizationReport] | None = None,
    ) -> list[StoredRoute]:
        """Route ``entries`` in order in one store call (one transaction per the store's rules).

        With ``optimize_budget`` (seconds) the new orders are assigned jointly
        (:func:`engine.route_optimized`) inside the same transaction, and the optimisation report
        of the attempt that committed is appended to ``reports``."""
        runtime = self._runtime
        router = runtime.router(network, policy)
        explain = dry_run or any(e.request.explain for e in entries)
        # Read outside the store's write transaction: it is catalog data, not stock.
        sku_tags = runtime.sku_tags([line.sku for e in entries for line in e.order.lines])

        attempt: list[engine.OptimizationReport] = []

        def decide(
            orders: Sequence[engine.Order], stock: engine.StockTable
        ) -> list[engine.RouteDecision]:
            if optimize_budget is not None:
                optimized = engine.route_optimized(
                    router,
                    list(orders),
                    stock,
                    now=runtime.clock(),
                    time_budget_s=optimize_budget,
                    explain=explain,
                    commit=True,
                    sku_tags=sku_tags,
                )
                # The store retries a conflicting transaction from scratch: keep the last try.
                attempt[:] = [optimized.report]
                return optimized.decisions
            return router.route(
                list(orders),
                stock,
                now=runtime.clock(),
                explain=explain,
                commit=True,
                sku_tags=sku_tags,
            )

        records = [
            RouteRequestRecord(
                order=e.order, request_id=e.request.request_id, request_hash=request_hash(e.request)
            )
            for e in entries
        ]
        results = runtime.store.route(records, decide, network=network, dry_run=dry_run)
        if reports is not None:
            reports.append(attempt[0] if attempt else engine.OptimizationReport.empty())
        if not dry_run:
            for stored in results:
                if stored.decision is not None and not stored.replayed:
                    runtime.metrics.orders.labels(stored.decision.status.name).inc()
        return list(results)

    def Route(
        self, request: routing_service_pb2.RouteRequest, context: grpc.ServicerContext
    ) -> routing_service_pb2.RouteResponse:
        note(
            orders=1,
            postal_code=request.order.ship_to.postal_code,
            country=request.order.ship_to.country_code,
            dry_run=request.dry_run,
        )
        violations = validate_route_request(request)
        if violations:
            abort_invalid_argument(context, violations, reason="ORDER_INVALID")
        check_deadline(context)
        policy = self._runtime.policies.current()
        network = self._runtime.network()
        entry = _Entry(0, request, _convert.order_from_proto(request.order))
        (stored,) = self._route([entry], dry_run=request.dry_run, policy=policy, network=network)
        if isinstance(stored.error, IdempotencyConflictError):
            abort_invalid_argument(
                context, [("request_id", str(stored.error))], reason="IDEMPOTENCY_CONFLICT"
            )
        if stored.error is not None:
            raise stored.error
        response = response_for(entry, stored, policy, dry_run=request.dry_run)
        note(status=types_pb2.RouteStatus.Name(response.status), replayed=response.replayed)
        return response

    def Replan(
        self, request: routing_service_pb2.ReplanRequest, context: grpc.ServicerContext
    ) -> routing_service_pb2.ReplanResponse:
        """Re-solve reserved, unreleased orders jointly; move only what lowers the cost."""
        note(orders=len(request.order_ids), dry_run=request.dry_run)
        violations = validate_replan_request(request)
        budget, bad_budget = optimization_budget(request, context)
        violations.extend(bad_budget)
        if violations:
            abort_invalid_argument(context, violations, reason="REPLAN_INVALID")
        check_deadline(context)
        runtime = self._runtime
        policy = runtime.policies.current()
        network = runtime.network()
        router = runtime.router(network, policy)
        attempt: list[engine.OptimizationReport] = []

        def decide(
            candidates: Sequence[ReplanCandidate], stock: engine.StockTable
        ) -> dict[int, engine.RouteDecision]:
            outcome = engine.replan_orders(
                router,
                [c.order for c in candidates],
                [c.allocations for c in candidates],
                stock,
                now=runtime.clock(),
                time_budget_s=budget,
                sku_tags=runtime.sku_tags([ln.sku for c in candidates for ln in c.order.lines]),
            )
            attempt[:] = [outcome.report]  # the store may retry the transaction: keep the last
            return outcome.moved

        result = replan(
            runtime.store,
            decide,
            network=network,
            order_ids=list(request.order_ids),
            since=_convert.datetime_from_proto(request.since)
            if request.HasField("since")
            else None,
            until=_convert.datetime_from_proto(request.until)
            if request.HasField("until")
            else None,
            dry_run=request.dry_run,
        )
        report = attempt[0] if attempt else engine.OptimizationReport.empty()
        note(moved=len(result.moved_order_ids), considered=result.orders_considered)
        return routing_service_pb2.ReplanResponse(
            shipments_before=result.shipments_before,
            shipments_after=result.shipments_after,
            distance_km_before=result.distance_km_before,
            distance_km_after=result.distance_km_after,
            moved_order_ids=list(result.moved_order_ids),
            report=report_to_proto(report),
            orders_considered=result.orders_considered,
        )

    def RouteBatch(
        self, request: routing_service_pb2.RouteBatchRequest, context: grpc.ServicerContext
    ) -> routing_service_pb2.RouteBatchResponse:
        note(orders=len(request.requests))
        too_big = validate_route_batch_size(request)
        if too_big:
            abort_invalid_argument(context, too_big, reason="BATCH_TOO_LARGE")
        optimize_budget: float | None = None
        if request.optimize:
            optimize_budget, bad_budget = optimization_budget(request, context)
            if bad_budget:
                abort_invalid_argument(context, bad_budget, reason="TIME_BUDGET_INVALID")
        check_deadline(context)
        self._runtime.metrics.batch_size.observe(len(request.requests))
        policy = self._runtime.policies.current()
        network = self._runtime.network()

        responses: list[routing_service_pb2.RouteResponse | None] = [None] * len(request.requests)
        valid: list[_Entry] = []
        for i, item in enumerate(request.requests):
            violations = validate_route_request(item, prefix=f"requests[{i}].")
            if violations:
                responses[i] = rejected(item, violations)
            else:
                valid.append(_Entry(i, item, _convert.order_from_proto(item.order)))

        # One store call per run of entries with the same dry_run flag, in request order, so later
        # orders see the stock that earlier ones took (and a dry run sees what was committed).
        # Optimized, each run is one joint problem; their reports add up.
        reports: list[engine.OptimizationReport] = []
        start = 0
        while start < len(valid):
            end = start
            while end < len(valid) and valid[end].request.dry_run == valid[start].request.dry_run:
                end += 1
            run = valid[start:end]
            dry_run = run[0].request.dry_run
            results = self._route(
                run,
                dry_run=dry_run,
                policy=policy,
                network=network,
                optimize_budget=optimize_budget,
                reports=reports if optimize_budget is not None else None,
            )
            for entry, stored in zip(run, results, strict=True):
                prefix = f"requests[{entry.position}]."
                if isinstance(stored.error, IdempotencyConflictError):
                    responses[entry.position] = rejected(
                        entry.request, [(f"{prefix}request_id", str(stored.error))]
                    )
                elif stored.error is not None:
                    raise stored.error
                else:
                    responses[entry.position] = response_for(entry, stored, policy, dry_run=dry_run)
            start = end

        done = [r for r in responses if r is not None]
        assert len(done) == len(responses)
        statuses: dict[str, int] = {}
        for r in done:
            name = types_pb2.RouteStatus.Name(r.status)
            statuses[name] = statuses.get(name, 0) + 1
        note(statuses=statuses)
        response = routing_service_pb2.RouteBatchResponse(responses=done)
        if request.optimize:
            report = engine.OptimizationReport.empty()
            for part in reports:
                report = report.combine(part)
            response.optimization.CopyFrom(report_to_proto(report))
            note(
                optimize_objective=round(report.objective, 3),
                optimize_gap=round(report.gap, 6),
                optimize_fallbacks=len(report.fallback_components),
            )
        return response
