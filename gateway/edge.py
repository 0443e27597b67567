"""What a vendor's HTTP edge may decide: its body cap, whether browsers may call it, a check that
runs before the body is read, and how an error looks in its vendor's shape.

A vendor's documented answers, errors included, are made by its servicer in `server/dialects/<vendor>/`,
which also declares its edge (`edge.py`).
An edge renders only what arises outside the dialect: a body over the cap, an unknown method, an
unknown path under a prefix it claims (`unmatched_prefixes`), a failure of the server
(UNAVAILABLE, RESOURCE_EXHAUSTED, INTERNAL), or an error from the gateway's generic binding of
query parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import orjson
from google.rpc import status_pb2  # type: ignore[attr-defined]

#: Renders (http status, status, request id) as (http status, body bytes).
ErrorRenderer = Callable[[int, status_pb2.Status, str], tuple[int, bytes]]
#: Looks at (headers, query) before the body is read; returns an error to answer instead, or None.
Precheck = Callable[[Mapping[str, str], Mapping[str, str]], tuple[int, status_pb2.Status] | None]


@dataclass(frozen=True, slots=True)
class Edge:
    """One vendor's HTTP edge."""

    render_error: ErrorRenderer
    #: The largest body read; None takes the gateway's setting.
    max_body_bytes: int | None = None
    #: Whether browsers call these routes (credentialed beacons and preflighted fetches).
    cors: bool = False
    precheck: Precheck | None = None
    #: The Content-Type of the error bodies.
    content_type: str = "application/json"
    #: The error Content-Type by HTTP status, where a vendor's differ; overrides `content_type`.
    content_type_for: Callable[[int], str] | None = None
    #: The API document's security schemes (`gateway.openapi.SECURITY_SCHEMES`, or its own
    #: `security_schemes`) the vendor takes
    #: its key through, any one of them; empty where the key is in the body.
    security: tuple[str, ...] = ()
    #: Security schemes of the vendor's own (OpenAPI Security Scheme Objects, by name), added to
    #: the API document.
    security_schemes: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    #: Path prefixes (such as `/api/v1/`) whose requests no route matches this edge answers, in
    #: its vendor's shape; the longest prefix of any edge wins. Elsewhere such a request gets the
    #: canonical `google.rpc.Status`.
    unmatched_prefixes: tuple[str, ...] = ()
    #: Whether the gateway inflates a gzip body before the servicer sees it, as it does for the
    #: canonical routes: within the inflated cap (`INGESTD_HTTP_MAX_DECOMPRESSED_BYTES`) and counted
    #: against the process's body budget, with any other Content-Encoding refused 415. Otherwise
    #: the servicer gets the bytes as sent, for a vendor that decodes them its own way.
    inflate_gzip: bool = False
    #: With `cors`, the response headers a browser's script may read
    #: (`Access-Control-Expose-Headers`), such as a vendor's rate-limit headers.
    expose_headers: tuple[str, ...] = ()


def json_error(body: object) -> bytes:
    return orjson.dumps(body)
