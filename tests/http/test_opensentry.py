"""Open Sentry over HTTP: `POST /v1/ingest` and `GET /health` as its clients see them, the check
order of every documented status, keys, CORS for browser beacons, and read-back through
EventService (docs/vendors/opensentry.md)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson

from ingestd.v1 import event_pb2, event_service_pb2
from tests.conftest import MASTER_SECRET, PROJECT_SECRET, Client, Http, grpc_channel

PAYLOADS = Path(__file__).resolve().parent.parent / "payloads" / "opensentry"
CAP = 262_144
#: The seed's curl example, byte for byte.
CURL_BODY = b'{"type":"error","exception":{"type":"Error","value":"test from curl"}}'
ERROR = b'{"type":"error","exception":{"type":"Error","value":"boom"}}'


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


async def _post(
    http: Http,
    body: bytes | AsyncIterator[bytes],
    headers: dict[str, str] | None = None,
    *,
    path: str = "/v1/ingest",
    query: str = "",
) -> tuple[int, Any]:
    """POSTs raw bytes; returns the status and the decoded JSON answer."""
    sent = {"Content-Type": "application/json", **(headers or {})}
    async with http.session.post(http.url(path + query), data=body, headers=sent) as response:
        assert response.content_type == "application/json"
        return response.status, orjson.loads(await response.read())


async def _events(http: Http, **filters: str) -> list[dict[str, Any]]:
    """The project's events, newest first, as EventService answers over HTTP."""
    async with http.session.get(
        http.url("/v1/projects/default/events"), params=filters, headers=http.bearer(PROJECT_SECRET)
    ) as response:
        assert response.status == 200, await response.text()
        events: list[dict[str, Any]] = (await response.json()).get("events", [])
    return events


def _is_batch_id(answer: Any) -> bool:
    return set(answer) == {"id"} and uuid.UUID(answer["id"]).version == 4


async def test_health(http: Http) -> None:
    async with http.session.get(http.url("/health")) as response:
        assert response.status == 200
        assert response.content_type == "application/json"
        assert await response.json() == {"status": "ok"}


async def test_the_seed_curl_example_is_stored_and_read_back(http: Http) -> None:
    secret, _ = await _key(http)

    status, answer = await _post(http, CURL_BODY, {"X-Open-Sentry-Key": secret})

    assert status == 202 and _is_batch_id(answer)
    [event] = await _events(http)
    assert event["kind"] == "KIND_ERROR" and event["dialect"] == "opensentry"
    assert event["message"] == "Error: test from curl"
    assert event["error"]["exception"] == {"type": "Error", "value": "test from curl"}
    assert event["id"] != answer["id"], "the answer is a batch id, not an event id"
    async with grpc_channel(http.running.grpc_port) as channel:
        client = Client.for_channel(http.running, channel)
        got = await client.events.GetEvent(
            event_service_pb2.GetEventRequest(project="default", event=event["id"]), metadata=client.project
        )
    assert got.event.error.exception.value == "test from curl"
    assert got.event.level == event_pb2.LEVEL_ERROR


async def test_the_seed_items_are_stored_with_every_field(http: Http) -> None:
    secret, _ = await _key(http)
    headers = {"X-Open-Sentry-Key": secret}
    for name in ("error_item", "transaction_item", "ai_generation_item", "batch"):
        status, answer = await _post(http, (PAYLOADS / f"{name}.json").read_bytes(), headers)
        assert (status, _is_batch_id(answer)) == (202, True), name

    [error] = await _events(http, text="Cannot read property")
    assert error["occurredAt"] == "2026-05-30T12:00:01Z"
    assert (error["environment"], error["release"]) == ("production", "web@2.4.1")
    assert error["tags"] == {"region": "us-east"}
    assert error["user"] == {"id": "user_123", "email": "dev@example.com"}
    assert error["error"]["exception"]["frames"] == [
        {"filename": "app/page.tsx", "function": "loadData", "lineno": 42, "colno": 12, "inApp": True}
    ]
    assert error["error"]["breadcrumbs"][0]["message"] == "User opened settings"
    assert len(error["fingerprint"]) == 64

    [transaction] = await _events(http, kind="KIND_TRANSACTION")
    assert transaction["traceId"] == "trace-abc-123"
    assert transaction["transaction"]["name"] == "GET /api/checkout"
    assert transaction["transaction"]["durationMs"] == 245
    assert transaction["transaction"]["spans"] == [
        {
            "spanId": "span-1",
            "parentSpanId": "root-span-id",
            "op": "db.query",
            "description": "SELECT * FROM orders",
            "durationMs": 40,
        }
    ]

    [generation] = await _events(http, kind="KIND_AI_GENERATION")
    body = generation["aiGeneration"]
    assert (body["provider"], body["model"], body["status"]) == (
        "openrouter",
        "anthropic/claude-sonnet-4",
        "ok",
    )
    assert (body["inputTokens"], body["outputTokens"], body["totalTokens"]) == ("1200", "340", "1540")
    assert (body["totalCostUsd"], body["latencyMs"], body["timeToFirstTokenMs"]) == (0.00482, 1820, 420)
    assert (generation["traceId"], generation["tags"]) == ("trace-abc-123", {"feature": "chat"})

    assert [e["message"] for e in await _events(http, text="Error: ")][:2] == [
        "Error: second",
        "Error: first",
    ]


async def test_identical_errors_group_as_one_issue(http: Http) -> None:
    secret, _ = await _key(http)

    def error(value: str, line: int, at: str) -> bytes:
        frames = [{"filename": "app.js", "function": "handler", "lineno": line, "inApp": True}]
        item = {"type": "error", "exception": {"type": "E", "value": value, "stacktrace": {"frames": frames}}}
        return orjson.dumps({**item, "timestamp": at})

    for body in (
        error("same", 10, "2026-05-30T12:00:00Z"),
        error("same", 11, "2026-05-30T12:05:00Z"),
        error("other", 10, "2026-05-30T12:01:00Z"),
    ):
        assert (await _post(http, body, {"X-Open-Sentry-Key": secret}))[0] == 202

    async with http.session.get(
        http.url("/v1/projects/default/issues"), headers=http.bearer(PROJECT_SECRET)
    ) as response:
        issues = (await response.json())["issues"]
    assert [(i["title"], i["count"]) for i in issues] == [("E: same", "2"), ("E: other", "1")]


async def _chunks(size: int) -> AsyncIterator[bytes]:
    for _ in range(size // 65_536):
        yield b" " * 65_536


async def test_each_status_in_open_sentrys_check_order(http: Http) -> None:
    public, _ = await _key(http)
    revoked, revoked_id = await _key(http)
    async with http.session.post(
        http.url(f"/v1/organizations/default/keys/{revoked_id}:revoke"), headers=http.bearer(MASTER_SECRET)
    ) as response:
        assert response.status == 200
    huge = ERROR + b" " * CAP
    exactly_cap = ERROR + b" " * (CAP - len(ERROR))
    cases: list[tuple[str, dict[str, str], str, bytes | AsyncIterator[bytes], int, dict[str, str]]] = [
        ("no key + huge body", {}, "", huge, 401, {"error": "Missing auth key"}),
        ("no key + huge chunked body", {}, "", _chunks(CAP * 2), 401, {"error": "Missing auth key"}),
        ("no key + not JSON", {}, "", b"{", 401, {"error": "Missing auth key"}),
        ("empty header beats query", {"X-Open-Sentry-Key": ""}, f"?key={public}", ERROR, 401, {}),
        ("bad key + huge body", {"X-Open-Sentry-Key": "nope"}, "", huge, 413, {"error": "Payload too large"}),
        ("bad key + not JSON", {"X-Open-Sentry-Key": "nope"}, "", b"{", 400, {"error": "Invalid JSON"}),
        ("bad key + bad item", {"X-Open-Sentry-Key": "nope"}, "", b"[]", 400, {"error": "Invalid payload"}),
        ("bad key", {"X-Open-Sentry-Key": "nope"}, "", ERROR, 403, {"error": "Invalid DSN key"}),
        (
            "first header wins",
            {"X-Open-Sentry-Key": "nope", "X-Sentry-Clone-Key": public},
            "",
            ERROR,
            403,
            {},
        ),
        ("revoked key", {"X-Open-Sentry-Key": revoked}, "", ERROR, 403, {"error": "Invalid DSN key"}),
        ("master key", {"X-Open-Sentry-Key": MASTER_SECRET}, "", ERROR, 403, {"error": "Invalid DSN key"}),
        (
            "good key + huge body",
            {"X-Open-Sentry-Key": public},
            "",
            huge,
            413,
            {"error": "Payload too large"},
        ),
        ("float in an int field", {"X-Open-Sentry-Key": public}, "", _generation(12.5), 400, {}),
        ("string tag only", {"X-Open-Sentry-Key": public}, "", _error_with(tags={"n": 1}), 400, {}),
        ("project key", {"X-Open-Sentry-Key": PROJECT_SECRET}, "", ERROR, 202, {}),
        ("exactly 256 KiB", {"X-Open-Sentry-Key": public}, "", exactly_cap, 202, {}),
        ("21 items", {"X-Open-Sentry-Key": public}, "", b"[" + b",".join([ERROR] * 21) + b"]", 400, {}),
        ("20 items", {"X-Open-Sentry-Key": public}, "", b"[" + b",".join([ERROR] * 20) + b"]", 202, {}),
    ]
    stored = 0
    for name, headers, query, body, status, answer in cases:
        got_status, got_answer = await _post(http, body, headers, query=query)
        assert got_status == status, name
        if status == 202:
            assert _is_batch_id(got_answer), name
            stored += body.count(b'"boom"') if isinstance(body, bytes) else 0
        else:
            assert set(got_answer) == {"error"}, name
            assert not answer or got_answer == answer, name
    assert len(await _events(http)) == stored == 22, "a refused request stores nothing"


def _generation(latency: float) -> bytes:
    item = {"type": "ai_generation", "provider": "openai", "model": "gpt-4o", "inputTokens": 1}
    return orjson.dumps({**item, "latencyMs": latency})


def _error_with(**fields: Any) -> bytes:
    return orjson.dumps({"type": "error", "exception": {"type": "E", "value": "boom"}, **fields})


async def test_keys_come_from_headers_the_query_and_beacons(http: Http) -> None:
    secret, _ = await _key(http)
    sends: list[tuple[dict[str, str], str, str]] = [
        ({"X-Sentry-Clone-Key": secret}, "", "/v1/ingest"),
        ({}, f"?key={secret}", "/v1/ingest"),
        # sendBeacon: the SDK's `?key=k` plus its own `&key=k`, a Blob or a string body.
        ({"Content-Type": "application/json"}, f"?key={secret}&key={secret}", "/v1/ingest"),
        ({"Content-Type": "text/plain;charset=UTF-8"}, f"?key={secret}&key={secret}", "/v1/ingest"),
        ({"X-Open-Sentry-Key": secret}, "", "/ingest"),
        ({}, f"?key={secret}&key=other", "/ingest"),
    ]
    for headers, query, path in sends:
        status, answer = await _post(http, ERROR, headers, path=path, query=query)
        assert (status, _is_batch_id(answer)) == (202, True), (headers, query, path)

    assert len(await _events(http)) == len(sends)


async def test_browsers_get_cors_for_the_exact_origin(http: Http) -> None:
    secret, _ = await _key(http)
    origin = "https://app.example.com"
    preflight = {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, x-open-sentry-key",
    }
    async with http.session.options(http.url("/v1/ingest"), headers=preflight) as response:
        assert response.status == 204
        assert response.headers["Access-Control-Allow-Origin"] == origin
        assert response.headers["Access-Control-Allow-Credentials"] == "true"
        assert "POST" in response.headers["Access-Control-Allow-Methods"]
        allowed = {h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")}
        assert {"content-type", "x-open-sentry-key"} <= allowed
        assert "Origin" in response.headers["Vary"]

    for query, status in ((f"?key={secret}&key={secret}", 202), ("", 401)):
        async with http.session.post(
            http.url("/v1/ingest" + query),
            data=ERROR,
            headers={"Origin": origin, "Content-Type": "text/plain"},
        ) as response:
            assert response.status == status
            assert response.headers["Access-Control-Allow-Origin"] == origin
            assert response.headers["Access-Control-Allow-Credentials"] == "true"
            assert "Origin" in response.headers["Vary"]


async def test_other_methods_on_open_sentrys_paths_are_not_found(http: Http) -> None:
    # Hono answers an unknown route or method with a plain-text 404.
    for method, path in (
        ("GET", "/v1/ingest"),
        ("PUT", "/v1/ingest"),
        ("DELETE", "/ingest"),
        ("POST", "/health"),
    ):
        async with http.session.request(method, http.url(path)) as response:
            assert response.status == 404, (method, path)
            assert response.headers["Content-Type"] == "text/plain; charset=UTF-8"
            assert await response.read() == b"404 Not Found"


async def test_health_answers_head_and_ignores_unknown_query_parameters(http: Http) -> None:
    async with http.session.head(http.url("/health")) as response:
        assert response.status == 200
    async with http.session.get(http.url("/health?probe=1")) as response:
        assert (response.status, await response.json()) == (200, {"status": "ok"})


async def test_an_item_ingestd_cannot_store_refuses_the_whole_batch(http: Http) -> None:
    secret, _ = await _key(http)
    # Open Sentry's schema takes any trace id; ingestd's events hold at most 200 characters.
    long_trace = {"type": "transaction", "name": "n", "traceId": "t" * 201, "durationMs": 1}
    body = orjson.dumps([orjson.loads(ERROR), long_trace])

    assert await _post(http, body, {"X-Open-Sentry-Key": "nope"}) == (403, {"error": "Invalid DSN key"})
    assert await _post(http, body, {"X-Open-Sentry-Key": secret}) == (400, {"error": "Invalid payload"})
    assert await _events(http) == []
