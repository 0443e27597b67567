"""The simplelogs HTTP edge (see `gateway.edge`): browsers call it, and its errors are
`{"message": …}` like the dialect's own (docs/vendors/simplelogs.md §3).

- `cors`: the client SDK beacons from web pages (`navigator.sendBeacon`, credentialed, with an
  `Origin`), and its keepalive-fetch fallback sends `application/json`, which browsers preflight
  (docs/vendors/simplelogs.md §7). The gateway answers the preflight and echoes the exact origin.
- The body cap is 1 MiB (§3). The vendor documents none; a browser beacon carries at most 64 KiB,
  and the server SDK flushes small batches every few hundred milliseconds.
"""

from __future__ import annotations

from http import HTTPStatus

from google.rpc import status_pb2  # type: ignore[attr-defined]

from gateway.edge import Edge, json_error

MAX_BODY_BYTES = 1024 * 1024

#: The messages of the statuses that arise outside the dialect, in the dialect's wording.
_MESSAGES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def _render(http_status: int, status: status_pb2.Status, request_id: str) -> tuple[int, bytes]:
    try:
        fallback = HTTPStatus(http_status).phrase
    except ValueError:
        fallback = "Error"
    return http_status, json_error({"message": _MESSAGES.get(http_status, fallback)})


EDGE = Edge(render_error=_render, max_body_bytes=MAX_BODY_BYTES, cors=True)
