"""ReturnsService: RMAs from the channels, received at warehouses, refunded by the policy; the
returns report.

The refund verdict comes from the current policy: a rules policy with refund rules answers
``policy.refund_decision(facts)`` (see rules/_refund.py and docs/rules.md); any other policy gets
the documented default.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import cast

import grpc
from sortyard.v1 import returns_service_pb2, returns_service_pb2_grpc

import engine
from rules._refund import RefundFacts, RefundVerdict, default_refund
from server import _convert, _report
from server._errors import abort_invalid_argument, abort_not_found, abort_wrong_state
from server._observability import note
from server._runtime import Runtime
from server._validate import Violation
from server.store import IdempotencyConflictError, InvalidStateError, NotFoundError
from server.store._returns import CONDITIONS, ReturnLineError, StoredReturn

__all__ = ["ReturnsServicer", "refund_decider", "return_to_proto"]

_CONDITION_BY_ENUM = {i + 1: name for i, name in enumerate(CONDITIONS)}  # same order as the enum
_KIND = {
    "percent": returns_service_pb2.REFUND_KIND_PERCENT,
    "none": returns_service_pb2.REFUND_KIND_NONE,
    "manual_review": returns_service_pb2.REFUND_KIND_MANUAL_REVIEW,
}


def refund_decider(policy: engine.Policy) -> Callable[[str, str, str, str, int], RefundVerdict]:
    """The store's refund callback for ``policy``: its refund rules, else the default."""
    decide = getattr(policy, "refund_decision", None)

    def verdict(
        reason: str, condition: str, channel: str, sku: str, quantity: int
    ) -> RefundVerdict:
        facts = RefundFacts(reason, condition, channel, sku, quantity)
        if decide is not None:
            return cast(RefundVerdict, decide(facts))
        return default_refund(facts)

    return verdict


def return_to_proto(stored: StoredReturn) -> returns_service_pb2.Return:
    message = returns_service_pb2.Return(
        return_id=stored.return_id,
        channel=stored.channel,
        channel_rma_id=stored.channel_rma_id,
        order_id=stored.order_id,
        channel_order_id=stored.channel_order_id,
        reason_code=stored.reason_code,
        reason_text=stored.reason_text,
        state=cast(
            returns_service_pb2.ReturnState,
            returns_service_pb2.ReturnState.Value(f"RETURN_STATE_{stored.state.value}"),
        ),
        lines=[
            returns_service_pb2.ReturnLine(line_id=line_id, sku=sku, quantity=q)
            for line_id, sku, q in stored.lines
        ],
        receipts=[
            returns_service_pb2.ReturnReceipt(
                line_id=r.line_id,
                sku=r.sku,
                condition=cast(
                    returns_service_pb2.ItemCondition, CONDITIONS.index(r.condition) + 1
                ),
                quantity=r.quantity,
                restocked=r.restocked,
                refund_percent=r.refund_percent or 0,
            )
            for r in stored.receipts
        ],
        warehouse_id=stored.warehouse_id or "",
        created_at=_convert.datetime_to_proto(stored.created_at),
        history=[
            returns_service_pb2.ReturnEvent(
                at=_convert.datetime_to_proto(e.at), event=e.kind.lower(), detail=e.detail
            )
            for e in stored.events
        ],
    )
    if stored.refund is not None:
        message.refund.CopyFrom(
            returns_service_pb2.RefundDecision(
                kind=_KIND.get(stored.refund.kind, returns_service_pb2.REFUND_KIND_UNSPECIFIED),
                percent=stored.refund.percent,
                rule=stored.refund.rule,
            )
        )
    if stored.received_at is not None:
        message.received_at.CopyFrom(_convert.datetime_to_proto(stored.received_at))
    if stored.refunded_at is not None:
        message.refunded_at.CopyFrom(_convert.datetime_to_proto(stored.refunded_at))
    return message


def _validate_create(request: returns_service_pb2.CreateReturnRequest) -> list[Violation]:
    out: list[Violation] = []
    for name in ("channel", "channel_rma_id", "reason_code"):
        value = getattr(request, name)
        if not value.strip():
            out.append((name, "required"))
        elif len(value) > 128:
            out.append((name, "at most 128 characters"))
    if not request.order_id and not request.channel_order_id:
        out.append(("order_id", "give order_id or channel_order_id"))
    if not request.lines:
        out.append(("lines", "at least one line"))
    for i, line in enumerate(request.lines):
        if not line.line_id.strip():
            out.append((f"lines[{i}].line_id", "required"))
        if line.quantity <= 0:
            out.append((f"lines[{i}].quantity", f"must be > 0, got {line.quantity}"))
    return out


def _validate_receive(request: returns_service_pb2.ReceiveReturnRequest) -> list[Violation]:
    out: list[Violation] = []
    if not request.return_id.strip():
        out.append(("return_id", "required"))
    if not request.warehouse_id.strip():
        out.append(("warehouse_id", "required"))
    if not request.units:
        out.append(("units", "report the condition of at least one unit"))
    for i, unit in enumerate(request.units):
        if not unit.line_id.strip():
            out.append((f"units[{i}].line_id", "required"))
        if unit.quantity <= 0:
            out.append((f"units[{i}].quantity", f"must be > 0, got {unit.quantity}"))
        if unit.condition not in _CONDITION_BY_ENUM:
            out.append((f"units[{i}].condition", "required (ITEM_CONDITION_UNSPECIFIED)"))
    return out


class ReturnsServicer(returns_service_pb2_grpc.ReturnsServiceServicer):
    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def CreateReturn(
        self, request: returns_service_pb2.CreateReturnRequest, context: grpc.ServicerContext
    ) -> returns_service_pb2.CreateReturnResponse:
        violations = _validate_create(request)
        if violations:
            abort_invalid_argument(context, violations, reason="RETURN_INVALID")
        try:
            stored, replayed = self._runtime.store.create_return(
                channel=request.channel,
                channel_rma_id=request.channel_rma_id,
                order_id=request.order_id or None,
                channel_order_id=request.channel_order_id or None,
                lines=[(ln.line_id, ln.sku, int(ln.quantity)) for ln in request.lines],
                reason_code=request.reason_code,
                reason_text=request.reason_text,
                requested_at=_convert.datetime_from_proto(request.requested_at)
                if request.HasField("requested_at")
                else None,
                authorize=request.authorize,
            )
        except NotFoundError as error:
            abort_not_found(context, error)
        except IdempotencyConflictError as error:
            abort_invalid_argument(
                context, [("channel_rma_id", str(error))], reason="IDEMPOTENCY_CONFLICT"
            )
        except ReturnLineError as error:
            abort_invalid_argument(context, [(error.path, str(error))], reason="RETURN_INVALID")
        note(return_id=stored.return_id, replayed=replayed)
        return returns_service_pb2.CreateReturnResponse(
            rma=return_to_proto(stored), replayed=replayed
        )

    def AuthorizeReturn(
        self, request: returns_service_pb2.AuthorizeReturnRequest, context: grpc.ServicerContext
    ) -> returns_service_pb2.AuthorizeReturnResponse:
        if not request.return_id.strip():
            abort_invalid_argument(context, [("return_id", "required")], reason="RETURN_INVALID")
        try:
            stored = self._runtime.store.authorize_return(request.return_id)
        except NotFoundError as error:
            abort_not_found(context, error)
        except InvalidStateError as error:
            abort_wrong_state(context, error, reason="RETURN_STATE")
        return returns_service_pb2.AuthorizeReturnResponse(rma=return_to_proto(stored))

    def ReceiveReturn(
        self, request: returns_service_pb2.ReceiveReturnRequest, context: grpc.ServicerContext
    ) -> returns_service_pb2.ReceiveReturnResponse:
        violations = _validate_receive(request)
        if violations:
            abort_invalid_argument(context, violations, reason="RETURN_INVALID")
        decide = refund_decider(self._runtime.policies.current())
        units = [
            (u.line_id, int(u.quantity), _CONDITION_BY_ENUM[u.condition]) for u in request.units
        ]
        try:
            stored, already = self._runtime.store.receive_return(
                request.return_id, request.warehouse_id, units, decide
            )
        except NotFoundError as error:
            abort_not_found(context, error)
        except InvalidStateError as error:
            abort_wrong_state(context, error, reason="RETURN_STATE")
        except ReturnLineError as error:
            abort_invalid_argument(context, [(error.path, str(error))], reason="RETURN_INVALID")
        note(return_id=stored.return_id, already_received=already, state=stored.state.value)
        return returns_service_pb2.ReceiveReturnResponse(
            rma=return_to_proto(stored), already_received=already
        )

    def GetReturn(
        self, request: returns_service_pb2.GetReturnRequest, context: grpc.ServicerContext
    ) -> returns_service_pb2.GetReturnResponse:
        if not request.return_id and not (request.channel and request.channel_rma_id):
            abort_invalid_argument(
                context,
                [("return_id", "give return_id, or channel and channel_rma_id")],
                reason="RETURN_REFERENCE_INVALID",
            )
        stored = self._runtime.store.get_return(
            request.return_id or None, request.channel or None, request.channel_rma_id or None
        )
        if stored is None:
            what = request.return_id or f"{request.channel}/{request.channel_rma_id}"
            abort_not_found(context, NotFoundError(f"return {what}"))
        return returns_service_pb2.GetReturnResponse(rma=return_to_proto(stored))

    def ReturnsReport(
        self, request: returns_service_pb2.ReturnsReportRequest, context: grpc.ServicerContext
    ) -> returns_service_pb2.ReturnsReportResponse:
        since = _convert.datetime_from_proto(request.since) if request.HasField("since") else None
        until = (
            _convert.datetime_from_proto(request.until)
            if request.HasField("until")
            else self._runtime.clock() + dt.timedelta(seconds=1)
        )
        if since is not None and since >= until:
            abort_invalid_argument(context, [("until", "must be after since")], reason="WINDOW")
        group_by = _report.GROUPINGS.get(request.group_by, "sku")
        report = _report.compute(self._runtime.store, since=since, until=until, group_by=group_by)
        return _report.to_proto(report)
