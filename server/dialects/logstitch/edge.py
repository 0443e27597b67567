"""The LogStitch HTTP edge: errors that arise outside the dialect, in LogStitch's shape
`{"error": {"code", "message", "details": [{"field", "message"}]}, "request_id": "req_…"}`
(docs/vendors/logstitch.md §3).

LogStitch documents no code for a body over the cap, a stalled body or an unavailable server;
these use `payload_too_large` (413), `request_timeout` (408) and `service_unavailable` (503). The
SDK retries 5xx and network errors only, so a 503 is retried and a 429 is not. The body cap is the
gateway's (`http_max_body_bytes`): LogStitch documents none. Server-side ingest only, so no CORS.

A path under `/api/v1/` that no route matches is answered here, 404 `not_found` (§3.4): LogStitch
serves its whole API under that base and documents one error shape for every answer, while
Logister and SimpleLogs, which also have routes there, document none for an unknown path.
"""

from __future__ import annotations

from google.rpc import code_pb2, status_pb2  # type: ignore[attr-defined]

from gateway.edge import Edge, json_error
from gateway.status import error_info, field_violations
from server.dialects.logstitch.common import error, stamped

# gRPC code → (HTTP status, LogStitch code) for errors the dialect did not render itself.
_BY_CODE: dict[int, tuple[int, str]] = {
    code_pb2.INVALID_ARGUMENT: (400, "validation_error"),
    code_pb2.UNAUTHENTICATED: (401, "invalid_api_key"),
    code_pb2.PERMISSION_DENIED: (403, "forbidden"),
    code_pb2.NOT_FOUND: (404, "not_found"),
    code_pb2.ALREADY_EXISTS: (409, "conflict"),
    code_pb2.RESOURCE_EXHAUSTED: (429, "rate_limited"),
    code_pb2.UNAVAILABLE: (503, "service_unavailable"),
}
_BY_REASON: dict[str, tuple[int, str]] = {
    "PAYLOAD_TOO_LARGE": (413, "payload_too_large"),
    "BODY_TIMEOUT": (408, "request_timeout"),
    "MISSING_API_KEY": (401, "unauthorized"),
    "KEY_REVOKED": (401, "key_revoked"),
    "ROUTE_NOT_FOUND": (404, "not_found"),
}


def render(http_status: int, status: status_pb2.Status, request_id: str) -> tuple[int, bytes]:
    """(http status, LogStitch error body) for a status raised outside the dialect."""
    reason = error_info(status).reason
    fallback = (max(http_status, 500), "internal_error")
    http, code = _BY_REASON.get(reason) or _BY_CODE.get(status.code) or fallback
    message = status.message
    if code == "internal_error":
        message = "Internal server error"  # the details stay in the server log
    elif code == "not_found":
        message = "Not found"
    answer = stamped(error(http, code, message, field_violations(status)), request_id)
    return http, json_error(answer.body)


EDGE = Edge(render_error=render, security=("bearer",), unmatched_prefixes=("/api/v1/",))
