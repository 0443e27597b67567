"""The Logister HTTP edge: its 2 MiB body cap and its error shape (see `gateway.edge`;
docs/vendors/logister.md §1, §3).

Logister answers every error as JSON with `Content-Type: application/json; charset=utf-8`. A body
over the cap is refused before authentication, as Logister's own body limiter does, with
`{"error": "telemetry request exceeds 2097152 bytes", "code": "request_bytes", "limit": 2097152}`.
A key refused anywhere is `{"error": "Unauthorized"}`; every other error is `{"error": message}`.
No CORS: Logister's clients are servers and apps, and Logister has no CORS configuration.
"""

from __future__ import annotations

from google.rpc import code_pb2, status_pb2  # type: ignore[attr-defined]

from gateway.edge import Edge, json_error
from gateway.status import error_info
from server.dialects.logister.limits import MAX_WIRE_BYTES

#: Logister's wire cap for a request body, which its limits also check for gRPC callers.
MAX_BODY_BYTES = MAX_WIRE_BYTES
#: Rails answers JSON with this Content-Type.
JSON = "application/json; charset=utf-8"


def _render(http_status: int, status: status_pb2.Status, request_id: str) -> tuple[int, bytes]:
    info = error_info(status)
    if info.reason == "PAYLOAD_TOO_LARGE":
        limit = int(info.metadata.get("limit", MAX_BODY_BYTES))
        body: dict[str, object] = {
            "error": f"telemetry request exceeds {limit} bytes",
            "code": "request_bytes",
            "limit": limit,
        }
        return 413, json_error(body)
    if status.code == code_pb2.UNAUTHENTICATED:
        return 401, json_error({"error": "Unauthorized"})
    return http_status, json_error({"error": status.message})


EDGE = Edge(
    render_error=_render,
    max_body_bytes=MAX_BODY_BYTES,
    content_type=JSON,
    security=("bearer", "apiKey"),
)
