"""Errors that arise outside the LogStitch dialect, rendered by its edge in LogStitch's shape with a
`request_id`: unknown methods, oversized bodies, overload, server failures."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from google.rpc import code_pb2  # type: ignore[attr-defined]

from gateway.status import make_status
from server.dialects.logstitch import edge
from server.dialects.logstitch import query as logstitch_query
from server.errors import InvalidArgument, Unavailable
from server.ingest import Ingest
from tests.conftest import Http, http_gateway, make_settings
from tests.http.test_logstitch import EVENTS, assert_error, call, event


async def test_other_methods_on_the_events_path_answer_not_found(http: Http) -> None:
    for method in ("PUT", "DELETE", "PATCH"):
        status, body = await call(http, method, EVENTS, event(), headers={"X-Request-Id": "r-404"})
        assert status == 404
        assert assert_error(body, "not_found")["message"] == "Not found"
        assert body["request_id"] == "req_r-404"


async def test_an_unknown_path_under_api_v1_answers_not_found_in_logstitch_shape(http: Http) -> None:
    """docs/vendors/logstitch.md §3.4: LogStitch serves its whole API under `/api/v1/` and answers
    every error in its shape; the other vendors with routes there document none for an unknown
    path. A known path with another method keeps its own vendor's answer, and a path elsewhere
    the canonical `google.rpc.Status`."""
    for method, path in (
        ("GET", "/api/v1/nothing"),
        ("POST", "/api/v1/events/extra"),
        ("GET", "/api/v1/alerts/rules/auth_brute_force/history"),
        ("DELETE", "/api/v1/"),
        ("GET", "/api/v1/ingest_events/42/extra"),
    ):
        status, body = await call(http, method, path, headers={"X-Request-Id": "r-unknown"})
        assert status == 404, (method, path, body)
        error = assert_error(body, "not_found")
        assert (error["message"], error["details"]) == ("Not found", [])
        assert body["request_id"] == "req_r-unknown"

    async with http.session.get(http.url("/api/v1/ingest_events"), headers=http.bearer()) as response:
        assert response.status == 404
        assert set(orjson.loads(await response.read())) == {"error"}, "Logister's own shape"
    async with http.session.get(http.url("/api/v2/events"), headers=http.bearer()) as response:
        assert response.status == 404
        assert set(orjson.loads(await response.read())) == {"code", "message", "details"}


async def test_a_body_over_the_cap_is_refused_before_it_is_read(http: Http) -> None:
    oversized = io.BytesIO(b'{"action": "' + b"x" * (4 * 1024 * 1024) + b'"}')
    status, body = await call(http, "POST", EVENTS, oversized)
    assert status == 413
    assert assert_error(body, "payload_too_large")["message"] == "request body exceeds 4194304 bytes"


@pytest.fixture
async def busy(http_target: tuple[str, str]) -> AsyncIterator[Http]:
    """An ingestd that refuses every call as overloaded."""
    database_url, mode = http_target
    async with http_gateway(make_settings(database_url, max_inflight_calls=0), mode) as client:
        yield client


async def test_overload_answers_rate_limited_with_retry_after(busy: Http) -> None:
    for method, body in (("POST", event()), ("GET", None)):
        async with busy.session.request(
            method, busy.url(EVENTS), data=orjson.dumps(body), headers=busy.bearer()
        ) as response:
            assert response.status == 429
            assert response.headers["Retry-After"] == "1"
            assert_error(orjson.loads(await response.read()), "rate_limited")


async def test_server_failures_answer_internal_error_and_service_unavailable(
    http: Http, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: Any) -> Any:
        raise RuntimeError("the secret details of a bug")

    async def unavailable(*args: Any) -> Any:
        raise Unavailable("database unavailable, retry shortly", retry_after_s=1.0)

    monkeypatch.setattr(logstitch_query, "list_page", broken)
    status, body = await call(http, "GET", EVENTS)
    assert status == 500
    assert assert_error(body, "internal_error")["message"] == "Internal server error"

    monkeypatch.setattr(logstitch_query, "list_page", unavailable)
    monkeypatch.setattr(Ingest, "commit", unavailable)
    for method, sent in (("GET", None), ("POST", event())):
        async with http.session.request(
            method, http.url(EVENTS), data=orjson.dumps(sent), headers=http.bearer()
        ) as response:
            assert response.status == 503, method
            assert response.headers["Retry-After"] == "1"
            assert_error(orjson.loads(await response.read()), "service_unavailable")


@pytest.mark.parametrize(
    ("status", "http_status", "expected"),
    [
        (
            make_status(code_pb2.RESOURCE_EXHAUSTED, "too big", "PAYLOAD_TOO_LARGE"),
            413,
            (413, "payload_too_large"),
        ),
        (make_status(code_pb2.DEADLINE_EXCEEDED, "slow", "BODY_TIMEOUT"), 408, (408, "request_timeout")),
        (make_status(code_pb2.UNAUTHENTICATED, "no key", "MISSING_API_KEY"), 401, (401, "unauthorized")),
        (make_status(code_pb2.UNAUTHENTICATED, "revoked", "KEY_REVOKED"), 401, (401, "key_revoked")),
        (make_status(code_pb2.UNAUTHENTICATED, "bad", "INVALID_API_KEY"), 401, (401, "invalid_api_key")),
        (make_status(code_pb2.PERMISSION_DENIED, "no", "FORBIDDEN"), 403, (403, "forbidden")),
        (make_status(code_pb2.RESOURCE_EXHAUSTED, "busy", "OVERLOADED"), 429, (429, "rate_limited")),
        (make_status(code_pb2.UNAVAILABLE, "down", "UNAVAILABLE"), 503, (503, "service_unavailable")),
        (make_status(code_pb2.INTERNAL, "bug", "INTERNAL"), 500, (500, "internal_error")),
        (make_status(code_pb2.DEADLINE_EXCEEDED, "late", "DEADLINE"), 504, (504, "internal_error")),
    ],
)
def test_the_edge_maps_every_status_to_a_logstitch_code(
    status: Any, http_status: int, expected: tuple[int, str]
) -> None:
    rendered_status, body = edge.render(http_status, status, "abc")
    assert (rendered_status, orjson.loads(body)["error"]["code"]) == expected
    assert orjson.loads(body)["request_id"] == "req_abc"


def test_the_edge_lists_field_violations_as_details() -> None:
    status = InvalidArgument([("colour", "unknown field")]).to_status()
    http_status, body = edge.render(400, status, "req_x")
    assert http_status == 400
    assert orjson.loads(body) == {
        "error": {
            "code": "validation_error",
            "message": "colour: unknown field",
            "details": [{"field": "colour", "message": "unknown field"}],
        },
        "request_id": "req_x",
    }
