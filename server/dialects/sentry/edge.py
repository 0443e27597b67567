"""The Sentry HTTP edge (docs/vendors/sentry.md §4, §7).

- Browsers call it from any origin: the JavaScript SDK posts `text/plain` with `?sentry_key=`, so
  answers carry the CORS headers for the exact Origin and expose the headers an SDK backs off by,
  `X-Sentry-Rate-Limits` and `Retry-After` (and `X-Sentry-Error`), as Relay's do.
- Bodies over 20 MiB as sent get 413: Relay's per-request limit. Inflated bodies are capped by the
  servicer at `INGESTD_HTTP_MAX_DECOMPRESSED_BYTES`.
- Errors arising outside the servicer are Relay's `{"detail": <text>}`.
"""

from __future__ import annotations

from http import HTTPStatus

from google.rpc import status_pb2  # type: ignore[attr-defined]

from gateway.edge import Edge, json_error

#: Relay takes requests of up to 20 MB (docs.sentry.io/concepts/data-management/size-limits).
MAX_BODY_BYTES = 20 * 1024 * 1024
EXPOSED_HEADERS = ("x-sentry-error", "x-sentry-rate-limits", "retry-after")

_DETAILS = {
    404: "Not Found",
    413: "request body too large",
    503: "the service is overloaded",
}


def _render(http_status: int, status: status_pb2.Status, request_id: str) -> tuple[int, bytes]:
    detail = _DETAILS.get(http_status)
    if detail is None:
        try:
            detail = status.message if http_status < 500 else HTTPStatus(http_status).phrase
        except ValueError:  # 499, a status only gRPC gateways use
            detail = status.message
    return http_status, json_error({"detail": detail})


EDGE = Edge(
    render_error=_render,
    max_body_bytes=MAX_BODY_BYTES,
    cors=True,
    security=("sentryAuth", "sentryQueryKey"),
    security_schemes={
        "sentryAuth": {
            "type": "apiKey",
            "in": "header",
            "name": "x-sentry-auth",
            "description": "Sentry's auth header, `Sentry sentry_key=<public key>, sentry_version=7`.",
        },
        "sentryQueryKey": {
            "type": "apiKey",
            "in": "query",
            "name": "sentry_key",
            "description": (
                "Sentry's public key as the `sentry_key` query parameter, as JavaScript SDKs send it."
            ),
        },
    },
    expose_headers=EXPOSED_HEADERS,
)
