"""The Open Sentry edge's own decisions, pure: when a keyless request is refused before its body
is read, and how errors arising outside the dialect look."""

from __future__ import annotations

import orjson
import pytest
from google.rpc import code_pb2  # type: ignore[attr-defined]
from multidict import CIMultiDict

from gateway.status import make_status
from server.dialects.opensentry.edge import EDGE, MAX_BODY_BYTES

KEYLESS_HUGE = {"Content-Length": str(MAX_BODY_BYTES + 1)}


@pytest.mark.parametrize(
    ("headers", "query", "refused"),
    [
        pytest.param(KEYLESS_HUGE, {}, True, id="huge-without-key"),
        pytest.param({"Transfer-Encoding": "chunked"}, {}, True, id="chunked-without-key"),
        pytest.param({**KEYLESS_HUGE, "X-Open-Sentry-Key": ""}, {"key": "k"}, True, id="empty-header-wins"),
        pytest.param({**KEYLESS_HUGE, "x-open-sentry-key": "k"}, {}, False, id="header"),
        pytest.param({**KEYLESS_HUGE, "X-Sentry-Clone-Key": "k"}, {}, False, id="legacy-header"),
        pytest.param(KEYLESS_HUGE, {"key": "k"}, False, id="query"),
        # A body known to fit is read, and the dialect answers 401 itself; `GET /health` has none.
        pytest.param({"Content-Length": str(MAX_BODY_BYTES)}, {}, False, id="fits"),
        pytest.param({}, {}, False, id="no-body"),
    ],
)
def test_precheck(headers: dict[str, str], query: dict[str, str], refused: bool) -> None:
    assert EDGE.precheck is not None
    answer = EDGE.precheck(CIMultiDict(headers), query)

    assert (answer is not None) == refused
    if answer is not None:
        http, status = answer
        assert EDGE.render_error(http, status, "r") == (401, orjson.dumps({"error": "Missing auth key"}))


@pytest.mark.parametrize(
    ("http", "code", "reason", "text"),
    [
        pytest.param(
            413, code_pb2.RESOURCE_EXHAUSTED, "PAYLOAD_TOO_LARGE", "Payload too large", id="too-large"
        ),
        pytest.param(503, code_pb2.UNAVAILABLE, "UNAVAILABLE", "Service Unavailable", id="unavailable"),
        pytest.param(429, code_pb2.RESOURCE_EXHAUSTED, "OVERLOADED", "Too Many Requests", id="busy"),
        pytest.param(500, code_pb2.INTERNAL, "INTERNAL", "Internal Server Error", id="internal"),
        pytest.param(499, code_pb2.CANCELLED, "CANCELLED", "cancelled", id="no-phrase"),
    ],
)
def test_errors_outside_the_dialect_look_like_open_sentrys(
    http: int, code: int, reason: str, text: str
) -> None:
    status = make_status(code, "cancelled", reason)

    assert EDGE.render_error(http, status, "r") == (http, orjson.dumps({"error": text}))
    assert EDGE.max_body_bytes == 262_144 and EDGE.cors


def test_not_found_is_hono_plain_text() -> None:
    status = make_status(code_pb2.NOT_FOUND, "no route", "ROUTE_NOT_FOUND")
    assert EDGE.render_error(404, status, "r") == (404, b"404 Not Found")
    assert EDGE.content_type_for is not None
    assert EDGE.content_type_for(404) == "text/plain; charset=UTF-8"
    assert EDGE.content_type_for(401) == "application/json"
