"""The one error vocabulary of ingestd.

    IngestdError                 (carries a grpc.StatusCode and google.rpc details)
    ├── InvalidArgument          INVALID_ARGUMENT, with BadRequest field violations
    ├── Unauthenticated          UNAUTHENTICATED: no key, an unknown key or a revoked key
    ├── PermissionDenied         PERMISSION_DENIED: a valid key that may not do this
    ├── NotFound                 NOT_FOUND
    ├── AlreadyExists            ALREADY_EXISTS
    ├── FailedPrecondition       FAILED_PRECONDITION: the target's state refuses the call
    ├── Unimplemented            UNIMPLEMENTED
    ├── ResourceExhausted        RESOURCE_EXHAUSTED, with RetryInfo
    ├── Unavailable              UNAVAILABLE, with RetryInfo: retrying the same call may succeed
    └── Internal                 INTERNAL: a bug; the details stay in the server log

The domain raises these; the gRPC transport turns them into `google.rpc.Status` with details, and
the HTTP gateway maps the same code to an HTTP status through one table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2  # type: ignore[attr-defined]

#: The ErrorInfo domain of every error ingestd raises.
ERROR_DOMAIN = "ingestd.dev"


class IngestdError(Exception):
    """An error a caller should see. `reason` is a stable UPPER_SNAKE_CASE machine-readable cause."""

    code: ClassVar[grpc.StatusCode] = grpc.StatusCode.UNKNOWN
    default_reason: ClassVar[str] = "UNKNOWN"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        metadata: dict[str, str] | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason or self.default_reason
        self.metadata = dict(metadata or {})
        self.retry_after_s = retry_after_s

    def details(self) -> list[object]:
        """The google.rpc detail messages, ErrorInfo first."""
        info = error_details_pb2.ErrorInfo(reason=self.reason, domain=ERROR_DOMAIN, metadata=self.metadata)
        details: list[object] = [info]
        if self.retry_after_s is not None:
            delay = duration_pb2.Duration()
            delay.FromMilliseconds(int(self.retry_after_s * 1000))
            details.append(error_details_pb2.RetryInfo(retry_delay=delay))
        return details

    def to_status(self) -> status_pb2.Status:
        """The error as a `google.rpc.Status` with its details packed."""
        status = status_pb2.Status(code=_RPC_CODE[self.code], message=self.message)
        for detail in self.details():
            packed = any_pb2.Any()
            packed.Pack(detail)  # type: ignore[arg-type]
            status.details.append(packed)
        return status

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, reason={self.reason!r})"


class InvalidArgument(IngestdError):
    """The request is malformed. `violations` name each bad field, such as `events[2].message`."""

    code = grpc.StatusCode.INVALID_ARGUMENT
    default_reason = "INVALID_ARGUMENT"

    def __init__(self, violations: Sequence[tuple[str, str]], message: str | None = None) -> None:
        self.violations = list(violations)
        if message is None:
            first = self.violations[0] if self.violations else ("request", "is invalid")
            message = f"{first[0]}: {first[1]}"
            if len(self.violations) > 1:
                message += f" (and {len(self.violations) - 1} more)"
        super().__init__(message)

    def details(self) -> list[object]:
        bad = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=f, description=d)
                for f, d in self.violations
            ]
        )
        return [*super().details(), bad]


class Unauthenticated(IngestdError):
    code = grpc.StatusCode.UNAUTHENTICATED
    default_reason = "INVALID_API_KEY"


class PermissionDenied(IngestdError):
    code = grpc.StatusCode.PERMISSION_DENIED
    default_reason = "FORBIDDEN"


class NotFound(IngestdError):
    code = grpc.StatusCode.NOT_FOUND
    default_reason = "NOT_FOUND"


class AlreadyExists(IngestdError):
    code = grpc.StatusCode.ALREADY_EXISTS
    default_reason = "ALREADY_EXISTS"


class FailedPrecondition(IngestdError):
    """The target is in a state that refuses the call, such as a claimed stream or a built-in rule
    asked to be deleted; retrying will not help until the state changes."""

    code = grpc.StatusCode.FAILED_PRECONDITION
    default_reason = "FAILED_PRECONDITION"


class Unimplemented(IngestdError):
    code = grpc.StatusCode.UNIMPLEMENTED
    default_reason = "UNIMPLEMENTED"


class ResourceExhausted(IngestdError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    default_reason = "OVERLOADED"


class Unavailable(IngestdError):
    code = grpc.StatusCode.UNAVAILABLE
    default_reason = "UNAVAILABLE"


class Internal(IngestdError):
    code = grpc.StatusCode.INTERNAL
    default_reason = "INTERNAL"


_RPC_CODE: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: code_pb2.OK,
    grpc.StatusCode.CANCELLED: code_pb2.CANCELLED,
    grpc.StatusCode.UNKNOWN: code_pb2.UNKNOWN,
    grpc.StatusCode.INVALID_ARGUMENT: code_pb2.INVALID_ARGUMENT,
    grpc.StatusCode.DEADLINE_EXCEEDED: code_pb2.DEADLINE_EXCEEDED,
    grpc.StatusCode.NOT_FOUND: code_pb2.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS: code_pb2.ALREADY_EXISTS,
    grpc.StatusCode.PERMISSION_DENIED: code_pb2.PERMISSION_DENIED,
    grpc.StatusCode.RESOURCE_EXHAUSTED: code_pb2.RESOURCE_EXHAUSTED,
    grpc.StatusCode.FAILED_PRECONDITION: code_pb2.FAILED_PRECONDITION,
    grpc.StatusCode.ABORTED: code_pb2.ABORTED,
    grpc.StatusCode.OUT_OF_RANGE: code_pb2.OUT_OF_RANGE,
    grpc.StatusCode.UNIMPLEMENTED: code_pb2.UNIMPLEMENTED,
    grpc.StatusCode.INTERNAL: code_pb2.INTERNAL,
    grpc.StatusCode.UNAVAILABLE: code_pb2.UNAVAILABLE,
    grpc.StatusCode.DATA_LOSS: code_pb2.DATA_LOSS,
    grpc.StatusCode.UNAUTHENTICATED: code_pb2.UNAUTHENTICATED,
}


class CannotListen(RuntimeError):
    """A port could not be bound at startup (in use, or not an address of this host). Not an
    error a caller sees: the message, which names the address, is for the operator."""
