"""The OTLP/HTTP edge (docs/vendors/otlp.md §2, §6).

- A Content-Type other than `application/x-protobuf` or `application/json` is refused 415 before
  the body is read.
- The gateway inflates gzip bodies, as the specification requires of a server, within the
  inflated cap and the process's body budget; a corrupt one is 400, another Content-Encoding 415.
- The body cap is the gateway's (`INGESTD_HTTP_MAX_BODY_BYTES` as sent,
  `INGESTD_HTTP_MAX_DECOMPRESSED_BYTES` inflated): past it, 413.
- Errors arising outside the servicer are a `google.rpc.Status`, as OTLP/HTTP's errors are, in
  JSON (the edge cannot know the request's encoding); a throttle carries `Retry-After`.
"""

from __future__ import annotations

from collections.abc import Mapping

from google.rpc import code_pb2, status_pb2  # type: ignore[attr-defined]

from gateway.edge import Edge
from gateway.status import HTTP_STATUS, make_status, status_body

_MEDIA_TYPES = frozenset({"application/x-protobuf", "application/json"})
#: The refusals the servicer answers in OTLP's shape itself, in the request's encoding.
_SERVICER_ANSWERS = frozenset(
    {
        code_pb2.INVALID_ARGUMENT,
        code_pb2.UNAUTHENTICATED,
        code_pb2.PERMISSION_DENIED,
        code_pb2.NOT_FOUND,
        code_pb2.RESOURCE_EXHAUSTED,
        code_pb2.UNAVAILABLE,
    }
)


def servicer_http_status(code: int) -> int | None:
    """The HTTP status (the gateway's one table) of a refusal the servicer answers in OTLP's
    shape; None for one it leaves to the gateway and this edge."""
    return HTTP_STATUS[code] if code in _SERVICER_ANSWERS else None


def _precheck(headers: Mapping[str, str], query: Mapping[str, str]) -> tuple[int, status_pb2.Status] | None:
    given = headers.get("Content-Type", "")
    if given.partition(";")[0].strip().lower() in _MEDIA_TYPES:
        return None
    message = f"unsupported Content-Type {given!r}: send application/x-protobuf or application/json"
    return 415, make_status(code_pb2.INVALID_ARGUMENT, message, "UNSUPPORTED_MEDIA_TYPE")


def _render(http_status: int, status: status_pb2.Status, request_id: str) -> tuple[int, bytes]:
    return http_status, status_body(status)


EDGE = Edge(
    render_error=_render,
    precheck=_precheck,
    security=("bearer", "apiKey"),
    inflate_gzip=True,
)
