"""Rich gRPC errors: google.rpc.Status with BadRequest / ErrorInfo details (AIP-193).

Servicers call these to end an RPC; each aborts the call (``context.abort_with_status`` raises), so
they are typed ``NoReturn``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import grpc
import sqlalchemy as sa
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from server._validate import Violation
from server.store import ConflictRetryError, InvalidStateError, NotFoundError

__all__ = [
    "ERROR_DOMAIN",
    "StoreErrorInterceptor",
    "abort",
    "abort_invalid_argument",
    "abort_not_found",
    "abort_wrong_state",
    "bad_request",
]

ERROR_DOMAIN = "sortyard.v1"


def bad_request(violations: Sequence[Violation]) -> error_details_pb2.BadRequest:
    return error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=field, description=description)
            for field, description in violations
        ]
    )


def _status(
    code: grpc.StatusCode, message: str, details: Sequence[Message], reason: str
) -> status_pb2.Status:
    packed = []
    for detail in (*details, error_details_pb2.ErrorInfo(reason=reason, domain=ERROR_DOMAIN)):
        container = any_pb2.Any()
        container.Pack(detail)
        packed.append(container)
    return status_pb2.Status(code=code.value[0], message=message, details=packed)


def abort(
    context: grpc.ServicerContext,
    code: grpc.StatusCode,
    message: str,
    *,
    reason: str,
    details: Sequence[Message] = (),
) -> NoReturn:
    """End the RPC with ``code``, a developer-facing message and an ErrorInfo ``reason``."""
    status = rpc_status.to_status(_status(code, message, details, reason))
    # What abort_with_status does, spelled out: grpc-testing's context lacks abort_with_status, and
    # this way servicer tests see the same grpc-status-details-bin trailer a real client does.
    context.set_trailing_metadata(status.trailing_metadata)
    context.abort(status.code, status.details)
    raise AssertionError("abort returned")  # it always raises; this satisfies NoReturn


def abort_not_found(context: grpc.ServicerContext, error: NotFoundError) -> NoReturn:
    """NOT_FOUND for a store lookup that found nothing."""
    abort(context, grpc.StatusCode.NOT_FOUND, str(error), reason="NOT_FOUND")


def abort_wrong_state(
    context: grpc.ServicerContext, error: InvalidStateError, *, reason: str
) -> NoReturn:
    """FAILED_PRECONDITION for an illegal lifecycle move, naming the current state."""
    abort(
        context,
        grpc.StatusCode.FAILED_PRECONDITION,
        f"{error} (current state: {error.state})",
        reason=reason,
    )


def abort_invalid_argument(
    context: grpc.ServicerContext,
    violations: Sequence[Violation],
    *,
    reason: str = "INVALID_ARGUMENT",
) -> NoReturn:
    """INVALID_ARGUMENT with one BadRequest field violation per problem."""
    first = violations[0]
    more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
    message = f"{first[0] or 'request'}: {first[1]}{more}"
    abort(
        context,
        grpc.StatusCode.INVALID_ARGUMENT,
        message,
        reason=reason,
        details=[bad_request(violations)],
    )


class StoreErrorInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]  # grpc ships no types
    """Maps store failures no servicer can fix to the codes clients act on (AIP-193):
    conflicts that outlasted the store's own retries → ABORTED (retry the whole call), a database
    that cannot be reached → UNAVAILABLE (retry later, maybe elsewhere)."""

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        inner = handler.unary_unary

        def guarded(request: Any, context: grpc.ServicerContext) -> Any:
            try:
                return inner(request, context)
            except ConflictRetryError:
                abort(
                    context,
                    grpc.StatusCode.ABORTED,
                    "too many concurrent writers to the same stock; nothing was changed, retry",
                    reason="CONCURRENT_MODIFICATION",
                )
            except sa.exc.OperationalError:
                abort(
                    context,
                    grpc.StatusCode.UNAVAILABLE,
                    "the store is unavailable; nothing was changed",
                    reason="STORE_UNAVAILABLE",
                )

        return grpc.unary_unary_rpc_method_handler(
            guarded,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
