"""The Operyn HTTP edge: a 1 MiB body cap, and errors in the shapes of Operyn's NestJS server
(docs/vendors/operyn.md §6).

NestJS answers what its framework refuses (a body over the cap, an unknown route) as
`{"message", "error", "statusCode"}`, and an unexpected failure as
`{"statusCode": 500, "message": "Internal server error"}`. Operyn's own answers (202, 400, 401,
403, 429) are made by its servicer (`server.dialects.operyn.service`).
"""

from __future__ import annotations

from http import HTTPStatus

from google.rpc import code_pb2, status_pb2  # type: ignore[attr-defined]

from gateway.edge import Edge, json_error
from server.dialects.operyn.translate import body_refused

#: NestJS' body-parser default is 100 kb; ingestd reads up to 1 MiB, so batches a stricter
#: server would refuse still land. The servicer caps gzip bodies it inflates at the same size.
MAX_BODY_BYTES = 1_048_576

#: Operyn's answer to a missing, unknown or revoked key.
UNAUTHORIZED = {"statusCode": 401, "message": "Invalid or missing API key"}
_UNMATCHED = "no route for "


def _render(http_status: int, status: status_pb2.Status, request_id: str) -> tuple[int, bytes]:
    body: object
    if http_status == 413:
        body = body_refused(413, "request entity too large").body
    elif http_status == 404 and status.code == code_pb2.NOT_FOUND and status.message.startswith(_UNMATCHED):
        # Express' answer for a method or path it has no route for: `Cannot GET /events/logs`.
        body = {
            "message": f"Cannot {status.message[len(_UNMATCHED) :]}",
            "error": "Not Found",
            "statusCode": 404,
        }
    elif http_status == 401:
        body = UNAUTHORIZED
    elif http_status >= 500 and http_status not in (503, 504):
        body = {"statusCode": 500, "message": "Internal server error"}
        http_status = 500
    else:
        body = {"message": status.message, "error": _phrase(http_status), "statusCode": http_status}
    return http_status, json_error(body)


def _phrase(http_status: int) -> str:
    try:
        return HTTPStatus(http_status).phrase
    except ValueError:  # 499, a status only gRPC gateways use
        return "Client Closed Request"


EDGE = Edge(render_error=_render, max_body_bytes=MAX_BODY_BYTES, security=("apiKey",))
