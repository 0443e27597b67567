"""The one table from gRPC status to HTTP status, and the canonical API's error body.

The table is grpc-gateway's `HTTPStatusFromCode`. The canonical API answers an error as the JSON
form of `google.rpc.Status` with its details, and adds `Retry-After` when a RetryInfo detail says
when to retry. Vendor routes render the same status in their vendor's shape (`gateway.edge`).
"""

from __future__ import annotations

import math

import orjson
from google.protobuf import json_format
from google.rpc import code_pb2, error_details_pb2, status_pb2  # type: ignore[attr-defined]

HTTP_STATUS: dict[int, int] = {
    code_pb2.OK: 200,
    code_pb2.CANCELLED: 499,
    code_pb2.UNKNOWN: 500,
    code_pb2.INVALID_ARGUMENT: 400,
    code_pb2.DEADLINE_EXCEEDED: 504,
    code_pb2.NOT_FOUND: 404,
    code_pb2.ALREADY_EXISTS: 409,
    code_pb2.PERMISSION_DENIED: 403,
    code_pb2.UNAUTHENTICATED: 401,
    code_pb2.RESOURCE_EXHAUSTED: 429,
    code_pb2.FAILED_PRECONDITION: 400,
    code_pb2.ABORTED: 409,
    code_pb2.OUT_OF_RANGE: 400,
    code_pb2.UNIMPLEMENTED: 501,
    code_pb2.INTERNAL: 500,
    code_pb2.UNAVAILABLE: 503,
    code_pb2.DATA_LOSS: 500,
}


def http_status(status: status_pb2.Status) -> int:
    """The HTTP status for a gRPC status; unknown codes are 500."""
    return HTTP_STATUS.get(status.code, 500)


def make_status(
    code: int, message: str, reason: str, metadata: dict[str, str] | None = None
) -> status_pb2.Status:
    """A `google.rpc.Status` with an ErrorInfo detail, for errors the gateway finds itself (a body
    too large, malformed JSON) before any RPC runs."""
    status = status_pb2.Status(code=code, message=message)
    status.details.add().Pack(
        error_details_pb2.ErrorInfo(reason=reason, domain="ingestd.dev", metadata=metadata or {})
    )
    return status


def error_info(status: status_pb2.Status) -> error_details_pb2.ErrorInfo:
    """The status's ErrorInfo detail, or an empty one."""
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info
    return error_details_pb2.ErrorInfo()


def field_violations(status: status_pb2.Status) -> list[tuple[str, str]]:
    """The (field, description) pairs of the status's BadRequest detail."""
    found: list[tuple[str, str]] = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            request = error_details_pb2.BadRequest()
            detail.Unpack(request)
            found.extend((v.field, v.description) for v in request.field_violations)
    return found


def retry_after(status: status_pb2.Status) -> str | None:
    """The `Retry-After` header value (whole seconds, at least 1) a RetryInfo detail asks for."""
    for detail in status.details:
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            seconds = info.retry_delay.seconds + info.retry_delay.nanos / 1e9
            return str(max(1, math.ceil(seconds)))
    return None


def status_body(status: status_pb2.Status) -> bytes:
    """The canonical error body: `google.rpc.Status` as proto3 JSON, details included."""
    return orjson.dumps(json_format.MessageToDict(status))
