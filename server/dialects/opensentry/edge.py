"""The Open Sentry HTTP edge (docs/vendors/opensentry.md §3, §5).

- Browsers call it: sendBeacon is credentialed and its `application/json` Blob is preflighted, so
  the gateway answers preflights with the exact Origin and adds the CORS headers to answers.
- A request without a key gets 401 even when its body is over the cap, as Open Sentry answers it:
  the missing-key check runs before the body is read when the body might be too large.
- Bodies over 256 KiB get 413 `{"error":"Payload too large"}`.
- Errors arising outside the dialect are `{"error": <text>}` like Open Sentry's own: server
  failures and unknown methods carry the HTTP reason phrase (`Service Unavailable`, `Not Found`).
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus

from google.rpc import code_pb2, status_pb2  # type: ignore[attr-defined]

from gateway.edge import Edge, json_error
from gateway.status import error_info, make_status

#: Open Sentry refuses bodies larger than this many bytes (`MAX_BODY_BYTES = 256 * 1024`).
MAX_BODY_BYTES = 262_144

_MISSING_KEY = "MISSING_API_KEY"
_TEXTS = {_MISSING_KEY: "Missing auth key", "PAYLOAD_TOO_LARGE": "Payload too large"}


def _precheck(headers: Mapping[str, str], query: Mapping[str, str]) -> tuple[int, status_pb2.Status] | None:
    """401 for a keyless request whose body might be over the cap, before the body is read.

    Open Sentry checks the key before the size, and the dialect does too once the body is read:
    this check only keeps the cap from answering first. The precheck does not know the route, so
    it leaves alone what `GET /health` gets: requests whose body is known to fit.
    """
    if not _may_exceed_cap(headers):
        return None
    # The first of the two headers and the first `key` parameter that is present counts, even
    # when it is empty (JavaScript's `??`), as the dialect reads it.
    key = headers.get("X-Open-Sentry-Key")
    if key is None:
        key = headers.get("X-Sentry-Clone-Key")
    if key is None:
        key = query.get("key")
    if key:
        return None
    return 401, make_status(code_pb2.UNAUTHENTICATED, "Missing auth key", _MISSING_KEY)


def _may_exceed_cap(headers: Mapping[str, str]) -> bool:
    if "Transfer-Encoding" in headers:
        return True  # chunked: the length is unknown until the body is read
    length = headers.get("Content-Length")
    if length is None:
        return False  # no body at all
    return not length.isdigit() or int(length) > MAX_BODY_BYTES


def _render(http_status: int, status: status_pb2.Status, request_id: str) -> tuple[int, bytes]:
    if http_status == 404:
        return 404, b"404 Not Found"  # Hono's own answer for an unknown route or method
    text = _TEXTS.get(error_info(status).reason)
    if text is None:
        try:
            text = HTTPStatus(http_status).phrase
        except ValueError:
            text = status.message
    return http_status, json_error({"error": text})


def _content_type(http_status: int) -> str:
    return "text/plain; charset=UTF-8" if http_status == 404 else "application/json"


EDGE = Edge(
    render_error=_render,
    max_body_bytes=MAX_BODY_BYTES,
    cors=True,
    precheck=_precheck,
    content_type_for=_content_type,
    security=("openSentryKey", "openSentryQueryKey"),
    security_schemes={
        "openSentryKey": {
            "type": "apiKey",
            "in": "header",
            "name": "x-open-sentry-key",
            "description": "Open Sentry's key header: the DSN's public key or a project key.",
        },
        "openSentryQueryKey": {
            "type": "apiKey",
            "in": "query",
            "name": "key",
            "description": "Open Sentry's key as the `key` query parameter, where a header cannot be set.",
        },
    },
)
