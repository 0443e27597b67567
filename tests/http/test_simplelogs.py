"""SimpleLogs' `POST /api/v1/enqueue` over HTTP (docs/vendors/simplelogs.md): the seed's bodies,
the check order (400 → 422 → 401 → 403 → 202), client-key origins, CORS for browsers, and every
accepted entry read back through EventService over gRPC and HTTP."""

from __future__ import annotations

import contextlib
import io
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from ingestd.v1 import admin_service_pb2, event_pb2, event_service_pb2
from tests.conftest import MASTER_SECRET, PROJECT_SECRET, Client, Http, grpc_channel

ADMIN = admin_service_pb2
E = event_pb2
PAYLOADS = Path(__file__).resolve().parent.parent / "payloads" / "simplelogs"
ENQUEUE = "/api/v1/enqueue"
APP_ORIGIN = "https://app.example.com"
WILDCARD = "https://*.example.org"
BEACON = "text/plain;charset=UTF-8"
T0 = 1_718_900_000_000


@dataclass
class Reply:
    status: int
    body: Any
    headers: Mapping[str, str]


@dataclass
class SimpleLogs:
    """A running ingestd behind its gateway, a gRPC client of it, and a server key and a client key
    (allowing `APP_ORIGIN` and `WILDCARD`) of the default project."""

    http: Http
    grpc: Client
    server_key: str = ""
    client_key: str = ""

    async def create_key(
        self, kind: admin_service_pb2.ApiKeyKind, origins: Sequence[str] = ()
    ) -> tuple[str, str]:
        """(secret, key id) of a new key of the default project, made with the master key."""
        response = await self.grpc.admin.CreateApiKey(
            ADMIN.CreateApiKeyRequest(
                organization="default", kind=kind, project="default", allowed_origins=list(origins)
            ),
            metadata=self.grpc.master,
        )
        return response.secret, response.api_key.id

    async def revoke(self, key_id: str) -> None:
        await self.grpc.admin.RevokeApiKey(
            ADMIN.RevokeApiKeyRequest(organization="default", key=key_id), metadata=self.grpc.master
        )

    async def post(self, body: object, headers: Mapping[str, str] | None = None) -> Reply:
        """Sends `body` (bytes as they are, anything else as compact JSON, as JSON.stringify
        writes it); Content-Type is application/json unless `headers` say otherwise."""
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        sent = {"Content-Type": "application/json", **(headers or {})}
        # aiohttp warns about large raw bytes (the event loop would block while it copies them).
        stream = io.BytesIO(data)
        async with self.http.session.post(self.http.url(ENQUEUE), data=stream, headers=sent) as response:
            raw = await response.read()
            return Reply(response.status, orjson.loads(raw) if raw else None, response.headers)

    async def events(self, **filters: Any) -> list[event_pb2.Event]:
        """The default project's events, newest first, over gRPC."""
        response = await self.grpc.events.ListEvents(
            event_service_pb2.ListEventsRequest(project="default", **filters), metadata=self.grpc.project
        )
        return list(response.events)

    async def events_over_http(self) -> list[dict[str, Any]]:
        """The default project's events, newest first, from `GET /v1/projects/default/events`."""
        url = self.http.url("/v1/projects/default/events")
        async with self.http.session.get(url, headers=Http.bearer(PROJECT_SECRET)) as response:
            assert response.status == 200, await response.text()
            events: list[dict[str, Any]] = (await response.json())["events"]
            return events


@contextlib.asynccontextmanager
async def simplelogs_on(
    http: Http, origins: Sequence[str] = (APP_ORIGIN, WILDCARD)
) -> AsyncIterator[SimpleLogs]:
    """A `SimpleLogs` over `http`, whose client key allows `origins`."""
    async with grpc_channel(http.running.grpc_port) as channel:
        simplelogs = SimpleLogs(http, Client.for_channel(http.running, channel))
        simplelogs.server_key, _ = await simplelogs.create_key(ADMIN.API_KEY_KIND_SERVER)
        simplelogs.client_key, _ = await simplelogs.create_key(ADMIN.API_KEY_KIND_CLIENT, origins)
        yield simplelogs


@pytest.fixture
async def sl(http: Http) -> AsyncIterator[SimpleLogs]:
    async with simplelogs_on(http) as simplelogs:
        yield simplelogs


def payload(name: str) -> str:
    return (PAYLOADS / name).read_text()


def body(key: str, *entries: object, source: str = "server", **top: object) -> dict[str, object]:
    return {"key": key, "source": source, **top, "entries": list(entries)}


QUEUED = {"queued": True}


# ---- accepted -----------------------------------------------------------------------------------


async def test_seed_request_body_is_queued_and_read_back(sl: SimpleLogs) -> None:
    sent = payload("request_body.json").replace("sk_...", sl.server_key).encode()

    reply = await sl.post(sent)

    assert (reply.status, reply.body) == (202, QUEUED)
    assert reply.headers["Content-Type"] == "application/json"
    (event,) = await sl.events()
    assert (event.kind, event.message, event.level, event.origin) == (
        E.KIND_LOG,
        "Order submitted",
        E.LEVEL_INFO,
        "server",
    )
    (listed,) = await sl.events_over_http()
    assert listed["id"] == event.id
    assert listed["dialect"] == "simplelogs"
    assert listed["occurredAt"] == "2024-06-20T16:13:20Z"
    assert listed["log"] == {
        "levelText": "info",
        "touchpoint": "api/orders/submit",
        "metadata": {"orderId": "ord_abc123", "userId": "usr_xyz"},
    }


async def test_timing_entries_pair_within_a_request_and_read_back(sl: SimpleLogs) -> None:
    start = orjson.loads(payload("entry_timing_start.json"))
    end = orjson.loads(payload("entry_timing_end.json"))
    log = orjson.loads(payload("entry_log.json"))
    lone = {"key": "job-7", "touchpoint": "jobs/nightly", "startTime": T0 + 5, "standalone": True}

    reply = await sl.post(body(sl.server_key, start, log, end, lone))

    assert (reply.status, reply.body) == (202, QUEUED)
    timings = await sl.events(kind=E.KIND_TIMING)
    assert [(t.timing.correlation_key, t.timing.duration_ms) for t in timings] == [
        ("job-7", 0.0),
        ("req-abc123", 42.0),
    ]
    listed = {e["id"]: e for e in await sl.events_over_http()}
    assert len(listed) == 3, "the start and its end are one measurement"
    assert listed[timings[1].id]["timing"] == {
        "touchpoint": "db/query/products",
        "correlationKey": "req-abc123",
        "startTime": "2024-06-20T16:13:20Z",
        "endTime": "2024-06-20T16:13:20.042Z",
        "durationMs": 42.0,
        "metadata": {"rowsReturned": 128.0},
    }
    assert listed[timings[0].id]["timing"] == {
        "touchpoint": "jobs/nightly",
        "correlationKey": "job-7",
        "startTime": "2024-06-20T16:13:20.005Z",
        "standalone": True,
    }
    (warning,) = await sl.events(kind=E.KIND_LOG)
    assert (warning.level, warning.log.level_text) == (E.LEVEL_WARNING, "warn")


async def test_a_beacon_from_an_allowed_origin_is_processed_with_cors_headers(sl: SimpleLogs) -> None:
    # navigator.sendBeacon(url, string): text/plain, credentialed, no preflight
    # (docs/vendors/simplelogs.md §7).
    sent = orjson.dumps(body(sl.client_key, {"message": "beacon", "level": "info"}, source="client"))
    headers = {"Content-Type": BEACON, "Origin": APP_ORIGIN, "Cookie": "session=abc"}

    reply = await sl.post(sent, headers)

    assert (reply.status, reply.body) == (202, QUEUED)
    assert reply.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
    assert reply.headers["Access-Control-Allow-Credentials"] == "true"
    assert reply.headers["Vary"] == "Origin"
    (event,) = await sl.events()
    assert (event.message, event.origin) == ("beacon", "client")


async def test_the_fetch_fallback_preflight_is_answered(sl: SimpleLogs) -> None:
    headers = {
        "Origin": "https://shop.example.org",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    async with sl.http.session.options(sl.http.url(ENQUEUE), headers=headers) as response:
        assert response.status == 204
        assert response.headers["Access-Control-Allow-Origin"] == "https://shop.example.org"
        assert response.headers["Access-Control-Allow-Credentials"] == "true"
        assert "POST" in response.headers["Access-Control-Allow-Methods"].split(", ")
        assert response.headers["Access-Control-Allow-Headers"].lower() == "content-type"
        assert response.headers["Vary"] == "Origin"

    reply = await sl.post(
        body(sl.client_key, {"message": "fetch"}, source="client"), {"Origin": "https://shop.example.org"}
    )
    assert (reply.status, reply.body) == (202, QUEUED)
    assert reply.headers["Access-Control-Allow-Origin"] == "https://shop.example.org"


async def test_entries_ingestd_cannot_store_are_dropped_and_the_rest_queued(sl: SimpleLogs) -> None:
    reply = await sl.post(
        body(
            sl.server_key,
            {"message": "kept", "timestamp": T0},
            {"message": "year 5138", "timestamp": 1e17},
            {"message": "x" * 70_000},
            {"message": "NUL\u0000"},
        )
    )

    assert (reply.status, reply.body) == (202, QUEUED)
    assert [e.message for e in await sl.events()] == ["kept"]


# ---- refused ------------------------------------------------------------------------------------


async def test_a_body_that_is_not_json_is_400_before_anything_else(sl: SimpleLogs) -> None:
    for sent, content_type in [
        (b'{"key": "nope", "entries": [', "application/json"),
        (b"", "application/json"),
        (b"key=sk_x&source=server", BEACON),
    ]:
        reply = await sl.post(sent, {"Content-Type": content_type})
        assert (reply.status, reply.body) == (400, {"message": "Invalid JSON"}), sent
    assert await sl.events() == []


async def test_schema_errors_are_422_before_the_key_is_checked(sl: SimpleLogs) -> None:
    seed = await sl.post({"key": "sk_unknown", "source": "server"})
    assert (seed.status, seed.body) == (422, orjson.loads(payload("response_422.json")))

    reply = await sl.post(
        body(sl.server_key, {"message": "ok"}, {"level": "fatal", "timestamp": "now"}, source="browser")
    )
    assert reply.status == 422
    assert reply.body == {
        "message": "Invalid enqueue payload",
        "errors": {
            "fieldErrors": {
                "source": ["Invalid enum value. Expected 'server' | 'client', received 'browser'"],
                "entries": [
                    "Invalid enum value. Expected 'info' | 'warn' | 'error' | 'debug', received 'fatal'",
                    "Expected number, received string",
                ],
            },
            "formErrors": [],
        },
    }
    empty = await sl.post(body(sl.server_key))
    assert empty.body["errors"]["fieldErrors"] == {"entries": ["Array must contain at least 1 element(s)"]}
    assert await sl.events() == [], "nothing of a refused request is stored"


async def test_keys_that_are_missing_unknown_or_of_the_wrong_kind_are_401(sl: SimpleLogs) -> None:
    public_key, _ = await sl.create_key(ADMIN.API_KEY_KIND_PUBLIC)
    entries = [{"message": "m"}]
    origin = {"Origin": APP_ORIGIN}
    cases: list[tuple[str, dict[str, object], dict[str, str]]] = [
        ("missing key", {"source": "server", "entries": entries}, {}),
        ("empty key", {"key": "", "source": "server", "entries": entries}, {}),
        ("unknown key", body("sk_" + "0" * 48, *entries), {}),
        ("server key, client source", body(sl.server_key, *entries, source="client"), origin),
        ("client key, server source, no Origin", body(sl.client_key, *entries, source="server"), {}),
        ("project key", body(PROJECT_SECRET, *entries), {}),
        ("master key", body(MASTER_SECRET, *entries), {}),
        ("public key", body(public_key, *entries, source="client"), origin),
    ]
    for name, sent, headers in cases:
        reply = await sl.post(sent, headers)
        assert (reply.status, reply.body) == (401, {"message": "Unauthorized"}), name
    assert await sl.events() == []


async def test_a_revoked_key_is_401_even_while_cached(sl: SimpleLogs) -> None:
    secret, key_id = await sl.create_key(ADMIN.API_KEY_KIND_SERVER)
    first = await sl.post(body(secret, {"message": "before"}))
    assert (first.status, first.body) == (202, QUEUED)

    await sl.revoke(key_id)
    reply = await sl.post(body(secret, {"message": "after"}))

    assert (reply.status, reply.body) == (401, {"message": "Unauthorized"})
    assert [e.message for e in await sl.events()] == ["before"]


async def test_client_keys_need_an_allowed_origin(sl: SimpleLogs) -> None:
    closed_key, _ = await sl.create_key(ADMIN.API_KEY_KIND_CLIENT)
    cases: list[tuple[str, str, dict[str, str], int]] = [
        ("exact origin", sl.client_key, {"Origin": APP_ORIGIN}, 202),
        ("one label under the wildcard", sl.client_key, {"Origin": "https://shop.example.org"}, 202),
        ("no Origin", sl.client_key, {}, 403),
        ("another origin", sl.client_key, {"Origin": "https://evil.example.net"}, 403),
        ("another scheme", sl.client_key, {"Origin": "http://app.example.com"}, 403),
        ("another port", sl.client_key, {"Origin": "https://app.example.com:8443"}, 403),
        ("two labels under the wildcard", sl.client_key, {"Origin": "https://a.shop.example.org"}, 403),
        ("the wildcard's bare domain", sl.client_key, {"Origin": "https://example.org"}, 403),
        ("opaque origin", sl.client_key, {"Origin": "null"}, 403),
        ("empty allowlist", closed_key, {"Origin": APP_ORIGIN}, 403),
    ]
    for name, key, headers, status in cases:
        reply = await sl.post(body(key, {"message": name}, source="client"), headers)
        expected = QUEUED if status == 202 else {"message": "Forbidden"}
        assert (reply.status, reply.body) == (status, expected), name
    assert sorted(e.message for e in await sl.events()) == ["exact origin", "one label under the wildcard"]


async def test_edge_errors_are_in_the_vendor_shape(sl: SimpleLogs) -> None:
    big = orjson.dumps(body(sl.server_key, {"message": "x" * (1024 * 1024)}))
    reply = await sl.post(big)
    assert (reply.status, reply.body) == (413, {"message": "Payload Too Large"})

    async with sl.http.session.get(sl.http.url(ENQUEUE)) as response:
        assert response.status == 404
        assert await response.json() == {"message": "Not Found"}
    assert await sl.events() == []
