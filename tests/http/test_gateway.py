"""The canonical API over HTTP: routes from the annotations, proto3 JSON both ways, errors as
`google.rpc.Status`, and the limits that hold before any work is done. Every test runs through the
in-process dispatcher and through a gateway fronting ingestd over gRPC (`--grpc-upstream`)."""

from __future__ import annotations

import asyncio
import gzip
from typing import Any

import orjson
import pytest

from ingestd.v1 import event_service_pb2
from tests.conftest import MASTER_SECRET, Client, Http, grpc_channel, http_gateway, make_settings

WRITE = "/v1/projects/default/events:write"
ERROR_EVENT = {
    "service": "billing-api",
    "environment": "production",
    "occurredAt": "2026-05-30T12:00:01Z",
    "tags": {"region": "us-east"},
    "error": {"exception": {"type": "TypeError", "value": "x is undefined", "frames": [{"lineno": 42}]}},
}


async def _json(http: Http, method: str, path: str, **kwargs: Any) -> tuple[int, Any, Any]:
    kwargs.setdefault("headers", http.bearer())
    async with http.session.request(method, http.url(path), **kwargs) as response:
        body = await response.read()
        return response.status, orjson.loads(body) if body else None, response.headers


def _reason(body: dict[str, Any]) -> str:
    [info] = [d for d in body["details"] if d["@type"].endswith("google.rpc.ErrorInfo")]
    return str(info["reason"])


async def test_written_events_read_back_over_http_and_grpc(http: Http) -> None:
    status, body, headers = await _json(http, "POST", WRITE, json={"events": [ERROR_EVENT]})
    assert status == 200, body
    assert body["acceptedCount"] == 1
    [result] = body["results"]
    assert result["outcome"] == "WRITE_OUTCOME_ACCEPTED"
    event_id = result["eventId"]
    assert headers["X-Request-Id"]

    status, listed, _ = await _json(http, "GET", "/v1/projects/default/events?kind=KIND_ERROR&pageSize=10")
    assert status == 200
    assert [e["id"] for e in listed["events"]] == [event_id]
    assert listed["events"][0]["error"]["exception"]["value"] == "x is undefined"

    # GetEvent has response_body "event": the body is the event itself.
    status, event, _ = await _json(http, "GET", f"/v1/projects/default/events/{event_id}")
    assert status == 200
    assert (event["id"], event["service"], event["tags"]) == (event_id, "billing-api", {"region": "us-east"})
    assert event["dialect"] == "ingestd"

    async with grpc_channel(http.running.grpc_port) as channel:
        client = Client.for_channel(http.running, channel)
        got = await client.events.GetEvent(
            event_service_pb2.GetEventRequest(project="default", event=event_id), metadata=client.project
        )
    assert got.event.error.exception.type == "TypeError"


async def test_query_parameters_bind_to_request_fields(http: Http) -> None:
    events = [{**ERROR_EVENT, "service": f"svc-{i}"} for i in range(3)]
    await _json(http, "POST", WRITE, json={"events": events})
    status, page, _ = await _json(http, "GET", "/v1/projects/default/events?page_size=2")
    assert status == 200 and len(page["events"]) == 2
    token = page["nextPageToken"]
    status, rest, _ = await _json(http, "GET", f"/v1/projects/default/events?pageSize=2&pageToken={token}")
    assert [e["service"] for e in rest["events"]] == ["svc-0"]
    status, only, _ = await _json(http, "GET", "/v1/projects/default/events?service=svc-1")
    assert [e["service"] for e in only["events"]] == ["svc-1"]


@pytest.mark.parametrize(
    ("query", "field"),
    [("pageSize=ten", "pageSize"), ("kind=KIND_NOPE", "kind"), ("colour=red", "colour")],
)
async def test_bad_query_parameters_are_named(http: Http, query: str, field: str) -> None:
    status, body, _ = await _json(http, "GET", f"/v1/projects/default/events?{query}")
    assert status == 400
    assert body["code"] == 3
    assert field in body["message"]


async def test_unknown_fields_are_rejected_and_each_is_named(http: Http) -> None:
    event = {**ERROR_EVENT, "colour": "red", "error": {"exception": {"type": "E", "flavour": 1}}}
    status, body, _ = await _json(http, "POST", WRITE, json={"events": [event], "extra": True})
    assert status == 400
    [bad] = [d for d in body["details"] if d["@type"].endswith("google.rpc.BadRequest")]
    fields = {v["field"] for v in bad["fieldViolations"]}
    assert {"extra", "events[0].colour", "events[0].error.exception.flavour"} <= fields


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"events": [', "INVALID_JSON"),
        (b"\xff\xfe not utf-8", "INVALID_JSON"),
        (b'{"events": "not a list"}', "INVALID_ARGUMENT"),
        (b'{"events": [{"occurredAt": "yesterday"}]}', "INVALID_ARGUMENT"),
        (b'{"events": [{"level": "LOUD"}]}', "INVALID_ARGUMENT"),
        (b"[" * 100 + b"]" * 100, "JSON_TOO_DEEP"),
    ],
)
async def test_malformed_bodies_get_400_with_a_reason(http: Http, payload: bytes, reason: str) -> None:
    headers = {**http.bearer(), "Content-Type": "application/json"}
    status, body, _ = await _json(http, "POST", WRITE, data=payload, headers=headers)
    assert status == 400, body
    assert body["code"] == 3
    assert _reason(body) == reason


async def test_gzip_bodies_are_inflated_and_bad_gzip_refused(http: Http) -> None:
    headers = {**http.bearer(), "Content-Encoding": "gzip", "Content-Type": "application/json"}
    packed = gzip.compress(orjson.dumps({"events": [ERROR_EVENT]}))
    status, body, _ = await _json(http, "POST", WRITE, data=packed, headers=headers)
    assert (status, body["acceptedCount"]) == (200, 1)

    status, body, _ = await _json(http, "POST", WRITE, data=packed[:-9], headers=headers)
    assert (status, _reason(body)) == (400, "INVALID_GZIP")

    headers["Content-Encoding"] = "br"
    status, body, _ = await _json(http, "POST", WRITE, data=b"{}", headers=headers)
    assert (status, _reason(body)) == (415, "UNSUPPORTED_ENCODING")


async def test_gzip_bomb_is_capped(http_target: tuple[str, str]) -> None:
    url, mode = http_target
    settings = make_settings(url, http_max_decompressed_bytes=64 * 1024)
    async with http_gateway(settings, mode) as http:
        bomb = gzip.compress(b'{"events": [' + b" " * 10_000_000 + b"]}")
        assert len(bomb) < 64 * 1024
        headers = {**http.bearer(), "Content-Encoding": "gzip"}
        status, body, _ = await _json(http, "POST", WRITE, data=bomb, headers=headers)
    assert (status, _reason(body)) == (413, "DECOMPRESSED_TOO_LARGE")


async def test_body_size_is_checked_before_and_while_reading(http_target: tuple[str, str]) -> None:
    url, mode = http_target
    async with http_gateway(make_settings(url, http_max_body_bytes=1024), mode) as http:
        big = orjson.dumps({"events": [{**ERROR_EVENT, "message": "x" * 2000}]})
        status, body, _ = await _json(http, "POST", WRITE, data=big)
        assert (status, _reason(body)) == (413, "PAYLOAD_TOO_LARGE")

        async def chunks() -> Any:
            # No Content-Length: the cap must hold while reading.
            for _ in range(4):
                yield b" " * 512

        status, body, _ = await _json(http, "POST", WRITE, data=chunks())
        assert (status, _reason(body)) == (413, "PAYLOAD_TOO_LARGE")


async def test_a_stalled_body_times_out(http_target: tuple[str, str]) -> None:
    url, mode = http_target
    async with http_gateway(make_settings(url, http_body_timeout_s=0.3), mode) as http:
        reader, writer = await asyncio.open_connection("127.0.0.1", http.port)
        writer.write(
            f"POST {WRITE} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {MASTER_SECRET}\r\n"
            "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{".encode()
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
        writer.close()
    assert head.startswith(b"HTTP/1.1 408")


@pytest.mark.parametrize(
    ("headers", "http_status", "reason"),
    [
        ({}, 401, "MISSING_API_KEY"),
        ({"Authorization": "Bearer pk_wrong"}, 401, "INVALID_API_KEY"),
        ({"x-api-key": "pk_wrong"}, 401, "INVALID_API_KEY"),
    ],
)
async def test_missing_and_wrong_keys_get_401(
    http: Http, headers: dict[str, str], http_status: int, reason: str
) -> None:
    status, body, _ = await _json(http, "POST", WRITE, json={"events": [ERROR_EVENT]}, headers=headers)
    assert (status, body["code"], _reason(body)) == (http_status, 16, reason)


async def test_revoked_keys_and_foreign_projects_are_refused(http: Http) -> None:
    master = http.bearer(MASTER_SECRET)
    status, created, _ = await _json(
        http,
        "POST",
        "/v1/organizations/default/keys",
        json={"kind": "API_KEY_KIND_PROJECT", "project": "default", "name": "ci"},
        headers=master,
    )
    assert status == 200 and created["secret"].startswith("pk_")
    key = http.bearer(created["secret"])
    status, _, _ = await _json(http, "POST", WRITE, json={"events": [ERROR_EVENT]}, headers=key)
    assert status == 200

    path = f"/v1/organizations/default/keys/{created['apiKey']['id']}:revoke"
    status, revoked, _ = await _json(http, "POST", path, json={}, headers=master)
    assert status == 200 and revoked["revokeTime"]
    status, body, _ = await _json(http, "POST", WRITE, json={"events": [ERROR_EVENT]}, headers=key)
    assert (status, _reason(body)) == (401, "KEY_REVOKED")

    status, body, _ = await _json(http, "GET", "/v1/projects/elsewhere/events")
    assert (status, body["code"]) == (403, 7)


async def test_unknown_routes_and_methods(http: Http) -> None:
    status, body, _ = await _json(http, "GET", "/v1/nowhere")
    assert (status, body["code"], _reason(body)) == (404, 5, "ROUTE_NOT_FOUND")
    status, body, headers = await _json(http, "DELETE", "/v1/projects/default/events")
    assert status == 405
    assert headers["Allow"] == "GET"


async def test_request_ids_are_echoed(http: Http) -> None:
    headers = {**http.bearer(), "X-Request-Id": "trace-me-123"}
    status, _, response_headers = await _json(http, "GET", "/v1/projects/default/events", headers=headers)
    assert status == 200
    assert response_headers["X-Request-Id"] == "trace-me-123"


async def test_a_client_streaming_rpc_takes_the_body_as_its_one_message(http: Http) -> None:
    path = "/v1/projects/default/events:stream"
    status, body, _ = await _json(http, "POST", path, json={"events": [ERROR_EVENT, ERROR_EVENT]})
    assert (status, body["acceptedCount"]) == (200, "2")


async def test_the_canonical_api_answers_cors_from_the_allowed_origins_only(database_url: str) -> None:
    app = "https://app.example.com"
    settings = make_settings(database_url, cors_origins=f"{app}, https://admin.example.com")
    async with http_gateway(settings, "inprocess") as http:
        preflight = {"Origin": app, "Access-Control-Request-Method": "POST"}
        async with http.session.options(http.url(WRITE), headers=preflight) as response:
            assert response.status == 204
            assert response.headers["Access-Control-Allow-Origin"] == app
            assert "POST" in response.headers["Access-Control-Allow-Methods"]
            assert "Authorization" in response.headers["Access-Control-Allow-Headers"]
            assert "Access-Control-Allow-Credentials" not in response.headers
        headers = {**http.bearer(), "Origin": app}
        async with http.session.post(
            http.url(WRITE), json={"events": [{"message": "m"}]}, headers=headers
        ) as response:
            assert response.status == 200
            assert response.headers["Access-Control-Allow-Origin"] == app
            assert "X-Request-Id" in response.headers["Access-Control-Expose-Headers"]
        evil = {"Origin": "https://evil.example.net", "Access-Control-Request-Method": "POST"}
        async with http.session.options(http.url(WRITE), headers=evil) as response:
            assert response.status == 405 and "Access-Control-Allow-Origin" not in response.headers
        async with http.session.get(
            http.url("/v1/projects/default/events"),
            headers={**http.bearer(), "Origin": "https://evil.example.net"},
        ) as response:
            assert response.status == 200 and "Access-Control-Allow-Origin" not in response.headers

    async with (
        http_gateway(make_settings(database_url), "inprocess") as http,  # none allowed by default
        http.session.options(http.url(WRITE), headers=preflight) as response,
    ):
        assert response.status == 405


async def test_the_api_documents_event_example_is_accepted(http: Http) -> None:
    async with http.session.get(http.url("/openapi.json")) as response:
        example = (await response.json())["components"]["schemas"]["ingestd.v1.Event"]["example"]
    status, written, _ = await _json(http, "POST", WRITE, json={"events": [example]})
    assert (status, written["acceptedCount"]) == (200, 1), written
