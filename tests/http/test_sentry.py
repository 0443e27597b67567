"""Sentry's ingest protocol over HTTP, as Relay answers it (docs/vendors/sentry.md): envelopes with
and without item lengths, every item type, the legacy store route, the four places a key may be,
compressed and chunked bodies, browsers, the daily limit, and each bad input's answer, never a
500. Read back through `GET /v1/projects/{project}/events`."""

from __future__ import annotations

import gzip
import uuid
import zlib
from collections.abc import AsyncIterator
from typing import Any

import brotli
import orjson
import pytest
import structlog
from multidict import CIMultiDict

from server.dsn import project_number
from tests.conftest import MASTER_SECRET, PROJECT_SECRET, Http, http_gateway, make_settings

NUMBER = project_number("default")
ENVELOPE = f"/api/{NUMBER}/envelope/"
STORE = f"/api/{NUMBER}/store/"
PROJECT_ID_DETAIL = "event submission rejected with_reason: ProjectId"


async def _key(http: Http, kind: str = "API_KEY_KIND_PUBLIC") -> tuple[str, str]:
    """A new key of `kind` for project `default`: (secret, id)."""
    async with http.session.post(
        http.url("/v1/organizations/default/keys"),
        json={"kind": kind, "project": "default"},
        headers=http.bearer(MASTER_SECRET),
    ) as response:
        assert response.status == 200, await response.text()
        made = await response.json()
    return made["secret"], made["apiKey"]["id"]


def _auth(key: str) -> dict[str, str]:
    return {"X-Sentry-Auth": f"Sentry sentry_key={key}, sentry_version=7, sentry_client=test/1.0"}


async def _post(
    http: Http,
    body: bytes | AsyncIterator[bytes],
    headers: dict[str, str] | None = None,
    *,
    path: str = ENVELOPE,
) -> tuple[int, Any, CIMultiDict[str]]:
    """POSTs raw bytes; returns the status, the decoded JSON answer and the headers."""
    async with http.session.post(http.url(path), data=body, headers=headers or {}) as response:
        assert response.content_type == "application/json", await response.text()
        return response.status, orjson.loads(await response.read()), response.headers.copy()


async def _events(http: Http) -> list[dict[str, Any]]:
    async with http.session.get(
        http.url("/v1/projects/default/events"),
        params={"pageSize": "100"},
        headers=http.bearer(PROJECT_SECRET),
    ) as response:
        assert response.status == 200, await response.text()
        events: list[dict[str, Any]] = (await response.json()).get("events", [])
    return events


def envelope(header: dict[str, Any], *items: tuple[dict[str, Any], bytes], lengths: bool = True) -> bytes:
    """An envelope as the Python SDK frames it (`lengths`), or as JavaScript does: no lengths but
    on attachments, and no final newline."""
    lines = [orjson.dumps(header)]
    for item_header, payload in items:
        if lengths or item_header.get("type") == "attachment":
            item_header = {**item_header, "length": len(payload)}
        lines += [orjson.dumps(item_header), payload]
    return b"\n".join(lines) + (b"\n" if lengths else b"")


def event_envelope(message: str, event_id: str | None = None) -> tuple[bytes, str]:
    event_id = event_id or uuid.uuid4().hex
    payload = orjson.dumps({"event_id": event_id, "message": message, "level": "error"})
    return envelope({"event_id": event_id}, ({"type": "event"}, payload)), event_id


# Routes and answers


@pytest.mark.parametrize("path", [ENVELOPE, ENVELOPE.rstrip("/")])
async def test_an_event_is_stored_and_answered_with_its_id(http: Http, path: str) -> None:
    key, _ = await _key(http)
    body, event_id = event_envelope("hello world")

    status, answer, headers = await _post(http, body, _auth(key), path=path)

    assert (status, answer) == (200, {"id": event_id})
    [event] = await _events(http)
    assert (event["kind"], event["dialect"], event["message"]) == ("KIND_ERROR", "sentry", "hello world")
    assert event["idempotencyKey"] == event_id


async def test_javascript_framing_without_lengths_or_final_newline(http: Http) -> None:
    key, _ = await _key(http)
    event_id = uuid.uuid4().hex
    exception = {
        "values": [
            {
                "type": "TypeError",
                "value": "x is undefined",
                "stacktrace": {
                    "frames": [
                        {"filename": "vendor.js", "function": "run", "in_app": False, "lineno": 1},
                        {"filename": "app.js", "function": "load", "in_app": True, "lineno": 42, "colno": 7},
                    ]
                },
                "mechanism": {"type": "onerror", "handled": False},
            }
        ]
    }
    payload = orjson.dumps({"event_id": event_id, "exception": exception, "timestamp": 1_790_000_000.25})
    body = envelope(
        {"event_id": event_id, "sent_at": "2026-12-02T10:00:00.000Z"},
        ({"type": "event"}, payload),
        ({"type": "attachment", "filename": "log.txt", "content_type": "text/plain"}, b"line 1\nline 2"),
        lengths=False,
    )
    assert not body.endswith(b"\n")

    # The browser SDK's request: `text/plain`, the key in the query string.
    status, answer, _ = await _post(
        http,
        body,
        {"Content-Type": "text/plain;charset=UTF-8"},
        path=f"{ENVELOPE}?sentry_version=7&sentry_key={key}&sentry_client=sentry.javascript.browser%2F11.12.0",
    )

    assert (status, answer) == (200, {"id": event_id})
    [event] = await _events(http)
    exc = event["error"]["exception"]
    assert (exc["type"], exc["mechanism"]) == ("TypeError", {"type": "onerror", "handled": False})
    assert [(f["function"], f.get("inApp")) for f in exc["frames"]] == [("run", False), ("load", True)]
    assert event["message"] == "TypeError: x is undefined"
    assert event["occurredAt"] == "2026-09-21T14:13:20.250Z"
    # The attachment's metadata, not its content.
    assert event["context"]["attachments"] == [
        {"filename": "log.txt", "content_type": "text/plain", "size": 13}
    ]


async def test_every_item_type_is_stored_and_unknown_ones_skipped(http: Http) -> None:
    key, _ = await _key(http)
    trace_id, span_id = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    log = {
        "items": [
            {
                "timestamp": 1_790_000_000.5,
                "level": "warn",
                "body": "disk almost full",
                "trace_id": trace_id,
                "attributes": {
                    "sentry.environment": {"value": "prod", "type": "string"},
                    "logger.name": {"value": "app.disk", "type": "string"},
                    "free_mb": {"value": 12, "type": "integer"},
                },
            }
        ]
    }
    session = {
        "sid": str(uuid.uuid4()),
        "did": "user-1",
        "init": True,
        "started": "2026-12-02T10:00:00Z",
        "timestamp": "2026-12-02T10:05:00Z",
        "status": "exited",
        "duration": 300,
        "attrs": {"release": "1.0", "environment": "prod"},
    }
    sessions = {
        "attrs": {"release": "1.0"},
        "aggregates": [{"started": "2026-12-02T10:00:00Z", "exited": 3, "crashed": 1}],
    }
    report = {
        "timestamp": 1_790_000_000,
        "discarded_events": [{"reason": "queue_overflow", "category": "error", "quantity": 4}],
    }
    check_in = {
        "check_in_id": uuid.uuid4().hex,
        "monitor_slug": "reconcile",
        "status": "error",
        "duration": 2.5,
        "monitor_config": {"schedule": {"type": "crontab", "value": "0 9 * * 1-5"}, "checkin_margin": 10},
    }
    transaction = {
        "type": "transaction",
        "transaction": "GET /orders",
        "start_timestamp": 1_790_000_000.0,
        "timestamp": 1_790_000_000.125,
        "contexts": {
            "trace": {"trace_id": trace_id, "span_id": span_id, "op": "http.server", "status": "ok"}
        },
        "spans": [
            {
                "span_id": "b" * 16,
                "parent_span_id": span_id,
                "trace_id": trace_id,
                "op": "db",
                "description": "SELECT 1",
                "start_timestamp": 1_790_000_000.01,
                "timestamp": 1_790_000_000.02,
            }
        ],
    }
    body = envelope(
        {},
        (
            {"type": "log", "item_count": 1, "content_type": "application/vnd.sentry.items.log+json"},
            orjson.dumps(log),
        ),
        ({"type": "session"}, orjson.dumps(session)),
        ({"type": "sessions"}, orjson.dumps(sessions)),
        ({"type": "client_report"}, orjson.dumps(report)),
        ({"type": "check_in"}, orjson.dumps(check_in)),
        ({"type": "transaction"}, orjson.dumps(transaction)),
        ({"type": "profile"}, b'{"whatever": true}'),
        ({"type": "replay_recording"}, b"\x00\x01binary"),
    )

    status, answer, _ = await _post(http, body, _auth(key))

    assert status == 200 and set(answer) == {"id"}
    events = await _events(http)
    kinds = sorted(e["kind"] for e in events)
    assert kinds == ["KIND_CHECK_IN", "KIND_LOG"] + ["KIND_METRIC"] * 4 + ["KIND_TRANSACTION"]
    [logged] = [e for e in events if e["kind"] == "KIND_LOG"]
    assert (logged["message"], logged["level"], logged["environment"], logged["traceId"]) == (
        "disk almost full",
        "LEVEL_WARNING",
        "prod",
        trace_id,
    )
    assert logged["log"]["logger"] == "app.disk" and logged["log"]["metadata"]["free_mb"] == 12
    metrics = sorted(
        (e["metric"]["name"], e["metric"]["value"], tuple(sorted(e["metric"].get("labels", {}).items())))
        for e in events
        if e["kind"] == "KIND_METRIC"
    )
    assert metrics == [
        ("sentry.client_report.discarded_events", 4, (("category", "error"), ("reason", "queue_overflow"))),
        ("sentry.session", 1, (("init", "true"), ("status", "exited"))),
        ("sentry.sessions", 1, (("status", "crashed"),)),
        ("sentry.sessions", 3, (("status", "exited"),)),
    ]
    [checked] = [e for e in events if e["kind"] == "KIND_CHECK_IN"]
    # Weekdays at 9: the longest gap is the weekend's 72 hours, plus a 10-minute margin.
    assert checked["checkIn"] == {
        "slug": "reconcile",
        "status": "CHECK_IN_STATUS_ERROR",
        "expectedIntervalSeconds": str(72 * 3600 + 600),
        "durationMs": 2500,
    }
    [traced] = [e for e in events if e["kind"] == "KIND_TRANSACTION"]
    assert traced["transaction"]["durationMs"] == 125
    assert traced["transaction"]["spans"][0]["durationMs"] == pytest.approx(10, abs=0.01)


async def test_an_envelope_of_unknown_items_is_accepted(http: Http) -> None:
    key, _ = await _key(http)
    body = envelope({}, ({"type": "profile_chunk"}, b"{}"), ({"type": "statsd"}, b"a:1|c"))

    assert (await _post(http, body, _auth(key)))[:2] == (200, {})
    assert await _events(http) == []


async def test_a_retried_envelope_is_stored_once(http: Http) -> None:
    key, _ = await _key(http)
    log = orjson.dumps({"items": [{"timestamp": 1_790_000_000.5, "level": "info", "body": "retry me"}]})
    body, event_id = event_envelope("once")
    body += envelope({}, ({"type": "log"}, log)).split(b"\n", 1)[1]

    first = await _post(http, body, _auth(key))
    second = await _post(http, body, _auth(key))

    assert first[:2] == second[:2] == (200, {"id": event_id})
    assert sorted(e["message"] for e in await _events(http)) == ["once", "retry me"]


async def test_the_legacy_store_route_takes_one_json_event(http: Http) -> None:
    key, _ = await _key(http)
    event_id = uuid.uuid4().hex
    payload = orjson.dumps({"event_id": event_id, "logentry": {"message": "user %s", "params": ["7"]}})

    # Any Content-Type: Relay parses the body as JSON regardless.
    status, answer, _ = await _post(http, payload, {**_auth(key), "Content-Type": "text/plain"}, path=STORE)

    assert (status, answer) == (200, {"id": event_id})
    [event] = await _events(http)
    assert (event["kind"], event["message"]) == ("KIND_ERROR", "user %s")


# Compression and transfer


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("gzip", gzip.compress), ("deflate", zlib.compress), ("br", brotli.compress)],
)
async def test_compressed_bodies(http: Http, encoding: str, compress: Any) -> None:
    key, _ = await _key(http)
    body, event_id = event_envelope(f"compressed with {encoding}")

    status, answer, _ = await _post(http, compress(body), {**_auth(key), "Content-Encoding": encoding})

    assert (status, answer) == (200, {"id": event_id})
    assert [e["message"] for e in await _events(http)] == [f"compressed with {encoding}"]


async def test_a_chunked_gzip_body_without_content_length(http: Http) -> None:
    """What the Node SDK sends: gzip, chunked, no Content-Length."""
    key, _ = await _key(http)
    body, event_id = event_envelope("from node")
    compressed = gzip.compress(body)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(compressed), 16):
            yield compressed[start : start + 16]

    status, answer, _ = await _post(http, chunks(), {**_auth(key), "Content-Encoding": "gzip"})

    assert (status, answer) == (200, {"id": event_id})


async def test_the_sdk_named_by_sentry_client_is_in_the_log_line(http: Http) -> None:
    key, _ = await _key(http)
    body, event_id = event_envelope("which sdk")

    with structlog.testing.capture_logs() as logged:
        assert (await _post(http, body, _auth(key)))[:2] == (200, {"id": event_id})

    assert [line["client"] for line in logged if "client" in line] == ["test/1.0"]


# Keys


async def test_a_project_key_and_the_authorization_header_are_accepted(http: Http) -> None:
    body, event_id = event_envelope("project key")
    headers = {"Authorization": f"Sentry sentry_key={PROJECT_SECRET}, sentry_version=7"}

    assert (await _post(http, body, headers))[:2] == (200, {"id": event_id})


async def test_the_envelope_header_dsn_authenticates_a_request_without_a_key(http: Http) -> None:
    key, _ = await _key(http)
    event_id = uuid.uuid4().hex
    dsn = f"http://{key}@127.0.0.1:{http.port}/{NUMBER}"
    payload = orjson.dumps({"event_id": event_id, "message": "tunneled"})
    body = envelope({"event_id": event_id, "dsn": dsn}, ({"type": "event"}, payload))

    assert (await _post(http, body))[:2] == (200, {"id": event_id})


@pytest.mark.parametrize(
    ("headers", "query", "status", "detail"),
    [
        ({}, "", 401, "missing authorization information"),
        ({"X-Sentry-Auth": "Sentry sentry_version=7"}, "", 401, "bad x-sentry-auth header"),
        (
            {"X-Sentry-Auth": "Sentry sentry_key={key}, sentry_version=8"},
            "",
            400,
            "unsupported protocol version (8)",
        ),
        (
            {"X-Sentry-Auth": "Sentry sentry_key={key}"},
            "?sentry_key={key}",
            401,
            "multiple authorization payloads detected",
        ),
        (
            {"X-Sentry-Auth": "Sentry sentry_key={key}", "Authorization": "Sentry sentry_key={key}"},
            "",
            401,
            "multiple authorization payloads detected",
        ),
        ({"X-Sentry-Auth": "Sentry sentry_key=pub_unknown"}, "", 403, PROJECT_ID_DETAIL),
        ({"X-Sentry-Auth": f"Sentry sentry_key={MASTER_SECRET}"}, "", 403, PROJECT_ID_DETAIL),
    ],
    ids=["none", "no-key", "version", "header-and-query", "two-headers", "unknown-key", "master-key"],
)
async def test_key_refusals(
    http: Http, headers: dict[str, str], query: str, status: int, detail: str
) -> None:
    key, _ = await _key(http)
    body, _ = event_envelope("refused")
    sent = {name: value.format(key=key) for name, value in headers.items()}

    answer = await _post(http, body, sent, path=ENVELOPE + query.format(key=key))

    assert answer[:2] == (status, {"detail": detail})
    assert await _events(http) == []


async def test_a_project_number_that_is_not_the_keys_project(http: Http) -> None:
    key, _ = await _key(http)
    body, _ = event_envelope("elsewhere")

    answer = await _post(http, body, _auth(key), path=f"/api/{NUMBER + 1}/envelope/")

    assert answer[:2] == (403, {"detail": PROJECT_ID_DETAIL})
    assert await _events(http) == []


async def test_a_revoked_key(http: Http) -> None:
    key, key_id = await _key(http)
    async with http.session.post(
        http.url(f"/v1/organizations/default/keys/{key_id}:revoke"),
        json={},
        headers=http.bearer(MASTER_SECRET),
    ) as response:
        assert response.status == 200

    assert (await _post(http, event_envelope("revoked")[0], _auth(key)))[:2] == (
        403,
        {"detail": PROJECT_ID_DETAIL},
    )


# Bad input: the protocol's answer, never a 500


def _truncated() -> bytes:
    body, _ = event_envelope("cut short")
    return body[:-10]


def _wrong_length() -> bytes:
    return b'{}\n{"type":"event","length":5}\n{"message":"longer than five"}\n'


@pytest.mark.parametrize(
    ("body", "headers", "path", "status", "answer"),
    [
        (
            _truncated(),
            {},
            ENVELOPE,
            400,
            {"detail": "invalid event envelope", "causes": ["unexpected end of file"]},
        ),
        (
            _wrong_length(),
            {},
            ENVELOPE,
            400,
            {"detail": "invalid event envelope", "causes": ["missing newline after header or payload"]},
        ),
        (
            b"not json\n",
            {},
            ENVELOPE,
            400,
            {"detail": "invalid event envelope", "causes": ["invalid envelope header"]},
        ),
        (
            b'{}\n{"length": 2}\n{}\n',
            {},
            ENVELOPE,
            400,
            {"detail": "invalid event envelope", "causes": ["invalid item header"]},
        ),
        (b"", {}, ENVELOPE, 400, {"detail": "empty request body"}),
        (b"not json", {}, STORE, 400, {"detail": "invalid JSON data"}),
        (
            b"\x1f\x8b not gzip",
            {"Content-Encoding": "gzip"},
            ENVELOPE,
            400,
            {"detail": "invalid request body", "causes": ["invalid gzip data"]},
        ),
        (
            b"garbage",
            {"Content-Encoding": "br"},
            ENVELOPE,
            400,
            {"detail": "invalid request body", "causes": ["invalid br data"]},
        ),
        (b"{}", {}, "/api/default/envelope/", 400, {"detail": "bad project path parameter"}),
    ],
    ids=[
        "truncated",
        "wrong-length",
        "header-not-json",
        "item-without-type",
        "empty",
        "store-not-json",
        "bad-gzip",
        "bad-brotli",
        "project-not-a-number",
    ],
)
async def test_bad_input(
    http: Http, body: bytes, headers: dict[str, str], path: str, status: int, answer: dict[str, Any]
) -> None:
    key, _ = await _key(http)

    assert (await _post(http, body, {**_auth(key), **headers}, path=path))[:2] == (status, answer)


async def test_a_body_that_inflates_past_the_cap(http_target: tuple[str, str]) -> None:
    database_url, mode = http_target
    settings = make_settings(
        database_url, http_max_decompressed_bytes=1024, http_max_bytes_in_flight=8 * 1024 * 1024
    )
    async with http_gateway(settings, mode) as http:
        key, _ = await _key(http)
        body, _ = event_envelope("x" * 4096)

        answer = await _post(http, gzip.compress(body), {**_auth(key), "Content-Encoding": "gzip"})

        assert answer[:2] == (413, {"detail": "request body too large"})


async def test_an_invalid_item_is_dropped_and_the_rest_stored(http: Http) -> None:
    key, _ = await _key(http)
    body = envelope(
        {},
        ({"type": "check_in"}, b'{"monitor_slug": "nightly", "status": "exploded"}'),
        ({"type": "log"}, b"not json"),
        ({"type": "event"}, orjson.dumps({"message": "kept"})),
    )

    status, answer, _ = await _post(http, body, _auth(key))

    assert status == 200 and set(answer) == {"id"}
    assert [e["message"] for e in await _events(http)] == ["kept"]


async def test_a_header_dsn_of_another_project_is_refused(http: Http) -> None:
    key, _ = await _key(http)
    dsn = f"http://{key}@127.0.0.1/{NUMBER + 1}"
    body = envelope({"dsn": dsn}, ({"type": "event"}, b'{"message": "x"}'))

    answer = await _post(http, body, _auth(key))

    assert answer[:2] == (
        400,
        {
            "detail": "invalid event envelope",
            "causes": ["project id header mismatch between envelope and request"],
        },
    )


# Browsers and limits


async def test_browsers_get_cors_headers_that_expose_the_rate_limit_headers(http: Http) -> None:
    key, _ = await _key(http)
    body, _ = event_envelope("from a browser")

    status, _, headers = await _post(
        http,
        body,
        {"Origin": "https://shop.example.com", "Content-Type": "text/plain;charset=UTF-8"},
        path=f"{ENVELOPE}?sentry_key={key}&sentry_version=7",
    )

    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == "https://shop.example.com"
    assert headers["Access-Control-Expose-Headers"] == "x-sentry-error, x-sentry-rate-limits, retry-after"
    async with http.session.options(
        http.url(ENVELOPE),
        headers={
            "Origin": "https://shop.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, x-sentry-auth",
        },
    ) as preflight:
        assert preflight.status == 204
        assert preflight.headers["Access-Control-Allow-Origin"] == "https://shop.example.com"
        assert "x-sentry-auth" in preflight.headers["Access-Control-Allow-Headers"]


async def test_past_the_daily_limit_the_answer_is_429_with_both_rate_limit_headers(limited: Http) -> None:
    key, _ = await _key(limited)
    assert (await _post(limited, event_envelope("first")[0], _auth(key)))[0] == 200

    status, answer, headers = await _post(limited, event_envelope("second")[0], _auth(key))

    assert status == 429 and answer["detail"].startswith("Sentry dropped data due to a quota")
    assert headers["Retry-After"] == "60"
    assert headers["X-Sentry-Rate-Limits"] == "60::project:daily_event_limit"
    assert [e["message"] for e in await _events(limited)] == ["first"]


async def test_the_admin_api_and_the_cli_show_a_dsn_for_public_keys(http: Http) -> None:
    async with http.session.post(
        http.url("/v1/organizations/default/keys"),
        json={"kind": "API_KEY_KIND_PUBLIC", "project": "default"},
        headers=http.bearer(MASTER_SECRET),
    ) as response:
        made = await response.json()
    assert made["dsn"] == f"http://{made['secret']}@127.0.0.1:0/{NUMBER}"
    async with http.session.post(
        http.url("/v1/organizations/default/keys"),
        json={"kind": "API_KEY_KIND_PROJECT", "project": "default"},
        headers=http.bearer(MASTER_SECRET),
    ) as response:
        assert "dsn" not in await response.json()


async def test_another_method_is_a_404_in_relays_shape(http: Http) -> None:
    async with http.session.get(http.url(ENVELOPE)) as response:
        assert response.status == 404
        assert await response.json() == {"detail": "Not Found"}
