"""Logister's HTTP API end to end (docs/vendors/logister.md): every documented status and body, the
two examples of Logister's API page sent verbatim, and what was stored, read back through
EventService."""

from __future__ import annotations

import gzip
import io
from typing import Any

import orjson
from google.protobuf import json_format

from ingestd.v1 import event_pb2, event_service_pb2
from server.dialects.logister.limits import legacy_id
from tests.conftest import MASTER_SECRET, PROJECT_SECRET, Client, Http, grpc_channel

E = event_pb2
JSON = "application/json"

# The two request bodies of Logister's API page, byte for byte as it prints them (§6, §8).
SEED_EVENT = """{
  "event": {
    "event_type": "error",
    "level": "error",
    "message": "NoMethodError in CheckoutService",
    "fingerprint": "checkout-nomethoderror",
    "occurred_at": "2026-02-14T12:00:00Z",
    "context": {
      "environment": "production",
      "request_id": "abc123",
      "metadata": {
        "user_id": 42
      }
    }
  }
}"""
SEED_CHECK_IN = """{
  "check_in": {
    "slug": "nightly-reconcile",
    "status": "ok",
    "expected_interval_seconds": 900,
    "environment": "production",
    "release": "2026.03.02"
  }
}"""
UUID_A = "5b0c7a4e-4a4c-4f57-9d0e-0a1b2c3d4e5f"
UUID_B = "6c1d8b5f-5b5d-4068-8e1f-1b2c3d4e5f60"
UUID_C = "7d2e9c60-6c6e-4179-9f20-2c3d4e5f6071"


async def post(
    http: Http,
    path: str,
    body: object,
    *,
    headers: dict[str, str] | None = None,
    secret: str | None = PROJECT_SECRET,
) -> tuple[int, Any, dict[str, str]]:
    """POSTs `body` (bytes or str as is, anything else as JSON); returns status, parsed body, headers."""
    sent = {"Content-Type": JSON, **(http.bearer(secret) if secret else {}), **(headers or {})}
    data = body if isinstance(body, bytes) else body.encode() if isinstance(body, str) else orjson.dumps(body)
    # aiohttp warns about large raw bytes bodies (filterwarnings=error); a stream is the same request.
    payload: bytes | io.BytesIO = io.BytesIO(data) if len(data) > 1024 * 1024 else data
    async with http.session.post(http.url(path), data=payload, headers=sent) as response:
        raw = await response.read()
        return response.status, orjson.loads(raw) if raw else None, dict(response.headers)


async def stored(http: Http) -> list[event_pb2.Event]:
    """The default project's events, newest first, read through EventService over gRPC."""
    async with grpc_channel(http.running.grpc_port) as channel:
        client = Client.for_channel(http.running, channel)
        request = event_service_pb2.ListEventsRequest(project="default")
        return list((await client.events.ListEvents(request, metadata=client.project)).events)


def event(uuid: str | None = UUID_A, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"event_type": "log", "level": "info", "message": "hello", **fields}
    if uuid:
        body["uuid"] = uuid
    return body


async def test_the_seed_examples_are_accepted_and_read_back(http: Http) -> None:
    status, body, headers = await post(http, "/api/v1/ingest_events", SEED_EVENT)
    assert status == 201
    assert set(body) == {"id", "legacy_id", "status"} and body["status"] == "accepted"
    assert body["legacy_id"] == legacy_id(body["id"])
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert (headers["X-RateLimit-Limit"], headers["X-RateLimit-Remaining"]) == ("1200", "1199")
    assert int(headers["X-RateLimit-Reset"]) % 60 == 0
    status, check_in, _ = await post(http, "/api/v1/check_ins", SEED_CHECK_IN)
    assert status == 201
    assert set(check_in) == {"id", "status"} and check_in["status"] == "accepted"

    newest, error = await stored(http)
    assert (error.kind, error.level, error.message) == (
        E.KIND_ERROR,
        E.LEVEL_ERROR,
        "NoMethodError in CheckoutService",
    )
    assert (error.fingerprint, error.environment, error.request_id) == (
        "checkout-nomethoderror",
        "production",
        "abc123",
    )
    assert error.occurred_at.ToJsonString() == "2026-02-14T12:00:00Z"
    assert json_format.MessageToDict(error.context)["metadata"] == {"user_id": 42}
    assert (error.idempotency_key, error.dialect) == (f"logister:{body['id']}", "logister")
    assert (newest.kind, newest.message, newest.level) == (E.KIND_CHECK_IN, "nightly-reconcile", E.LEVEL_INFO)
    assert (newest.check_in.slug, newest.check_in.status) == ("nightly-reconcile", E.CHECK_IN_STATUS_OK)
    assert (newest.check_in.expected_interval_seconds, newest.release) == (900, "2026.03.02")

    async with http.session.get(
        http.url("/v1/projects/default/events"), headers=http.bearer(PROJECT_SECRET)
    ) as response:
        listed = await response.json()
    assert response.status == 200
    assert [e["message"] for e in listed["events"]] == [
        "nightly-reconcile",
        "NoMethodError in CheckoutService",
    ]


async def test_a_repeated_uuid_answers_200_and_is_stored_once(http: Http) -> None:
    first = await post(http, "/api/v1/ingest_events", {"event": event(UUID_A.upper())})
    again = await post(
        http,
        "/api/v1/ingest_events.json",
        {"event": event()},
        headers={"X-Api-Key": PROJECT_SECRET},
        secret=None,
    )
    assert first[:2] == (201, {"id": UUID_A, "legacy_id": legacy_id(UUID_A), "status": "accepted"})
    assert again[:2] == (
        200,
        {"id": UUID_A, "legacy_id": legacy_id(UUID_A), "status": "accepted", "duplicate": True},
    )
    assert [e.idempotency_key for e in await stored(http)] == [f"logister:{UUID_A}"]


async def test_keys_are_checked_before_anything_else(http: Http) -> None:
    good = {"event": event(None)}
    unauthorized = (401, {"error": "Unauthorized"})
    assert (await post(http, "/api/v1/ingest_events", good, secret=None))[:2] == unauthorized
    assert (await post(http, "/api/v1/ingest_events", b"{not json", secret="pk_unknown"))[:2] == unauthorized
    # A present Bearer token wins: no fallback to a good X-Api-Key.
    assert (
        await post(
            http, "/api/v1/ingest_events", good, secret="pk_unknown", headers={"X-Api-Key": PROJECT_SECRET}
        )
    )[:2] == unauthorized
    # Only exactly "Bearer " is a bearer token.
    lower = {"Authorization": f"bearer {PROJECT_SECRET}"}
    assert (await post(http, "/api/v1/ingest_events", good, secret=None, headers=lower))[:2] == unauthorized
    assert (await post(http, "/api/v1/ingest_events", good, secret=MASTER_SECRET))[:2] == unauthorized
    status, _, headers = await post(http, "/api/v1/check_ins", {"check_in": {"slug": "x"}}, secret=None)
    assert status == 401
    assert (headers["X-RateLimit-Limit"], headers["X-RateLimit-Remaining"]) == ("120", "114")

    server_key = await _create_key(http, "API_KEY_KIND_SERVER")
    assert (await post(http, "/api/v1/ingest_events", good, secret=server_key["secret"]))[0] == 201
    project_key = await _create_key(http, "API_KEY_KIND_PROJECT")
    assert (await post(http, "/api/v1/ingest_events", good, secret=project_key["secret"]))[0] == 201
    async with http.session.post(
        http.url(f"/v1/organizations/default/keys/{project_key['apiKey']['id']}:revoke"),
        json={},
        headers=http.bearer(MASTER_SECRET),
    ) as response:
        assert response.status == 200
    assert (await post(http, "/api/v1/ingest_events", good, secret=project_key["secret"]))[:2] == unauthorized
    assert len(await stored(http)) == 2


async def _create_key(http: Http, kind: str) -> dict[str, Any]:
    async with http.session.post(
        http.url("/v1/organizations/default/keys"),
        json={"kind": kind, "project": "default"},
        headers=http.bearer(MASTER_SECRET),
    ) as response:
        assert response.status == 200
        created: dict[str, Any] = await response.json()
        return created


async def test_bad_bodies_get_logisters_answers(http: Http) -> None:
    path = "/api/v1/ingest_events"
    assert (await post(http, path, b'{"event": '))[:2] == (
        400,
        {"error": "Error occurred while parsing request parameters"},
    )
    missing = (400, {"error": "param is missing or the value is empty or invalid: event"})
    assert (await post(http, path, {}))[:2] == missing
    assert (await post(http, path, {"event": {}}))[:2] == missing
    assert (await post(http, path, [{"event": event()}]))[:2] == missing
    assert (await post(http, path, {"event": event(None, message="x" * 70_000)}))[:2] == (
        413,
        {
            "error": "telemetry payload message bytes exceeds 65536",
            "code": "message_bytes",
            "limit": 65536,
            "actual": 70000,
        },
    )
    assert (await post(http, path, b'{"event": {"message": "' + b"x" * (2 * 1024 * 1024) + b'"}}'))[:2] == (
        413,
        {"error": "telemetry request exceeds 2097152 bytes", "code": "request_bytes", "limit": 2097152},
    )
    status, body, headers = await post(http, path, {"event": {"event_type": "exception", "uuid": "nope"}})
    assert (status, body) == (
        422,
        {"errors": ["Event type is not included in the list", "Message can't be blank", "Uuid is invalid"]},
    )
    assert headers["X-RateLimit-Remaining"] == "1194", "the 413 over the body cap came before authentication"
    for route in (path, "/api/v1/ingest_events/batch", "/api/v1/check_ins", "/api/v1/deployments"):
        async with http.session.get(http.url(route), headers=http.bearer()) as response:
            assert (response.status, await response.json()) == (404, {"error": f"no route for GET {route}"})
    assert await stored(http) == []


async def test_spans_are_stored_and_keep_their_identity(http: Http) -> None:
    span = {
        "uuid": UUID_B,
        "eventType": "span",
        "name": "SELECT orders",
        "traceId": "0af7651916cd43dd8448eb211c80319c",
        "spanId": "b7ad6b7169203331",
        "kind": "db",
        "durationMs": 12.5,
        "startedAt": "2026-11-22T07:42:45Z",
    }
    expected = {"id": UUID_B, "legacy_id": legacy_id(UUID_B), "status": "accepted", "type": "span"}
    assert (await post(http, "/api/v1/ingest_events", {"EVENT": span}))[:2] == (201, expected)
    assert (await post(http, "/api/v1/ingest_events", {"event": span}))[:2] == (
        200,
        {**expected, "duplicate": True},
    )
    assert (await post(http, "/api/v1/ingest_events", {"event": event(UUID_B)}))[:2] == (
        422,
        {"errors": ["Uuid has already been used for another telemetry signal"]},
    )
    assert (await post(http, "/api/v1/ingest_events", {"event": {"event_type": "span", "name": "x"}}))[
        :2
    ] == (
        422,
        {"errors": ["Trace can't be blank", "Span can't be blank"]},
    )
    (stored_span,) = await stored(http)
    assert (stored_span.kind, stored_span.message, stored_span.trace_id) == (
        E.KIND_SPAN,
        "SELECT orders",
        "0af7651916cd43dd8448eb211c80319c",
    )
    assert (stored_span.span.kind, stored_span.span.duration_ms) == ("db", 12.5)
    assert stored_span.span.end_time.ToJsonString() == "2026-11-22T07:42:45.012500Z"


def _ndjson(*events: dict[str, Any]) -> bytes:
    return b"".join(orjson.dumps({"event": e}) + b"\n" for e in events)


def _batch_headers(encoding: str = "gzip", batch_id: str | None = "batch-1") -> dict[str, str]:
    headers = {"Content-Type": "application/x-ndjson", "Content-Encoding": encoding}
    if batch_id is not None:
        headers["X-Logister-Batch-Id"] = batch_id
    return headers


async def test_a_gzip_ndjson_batch_is_accepted_and_counted_per_event(http: Http) -> None:
    raw = _ndjson(
        event(UUID_A),
        {"uuid": UUID_B, "event_type": "error", "level": "error", "message": "boom"},
        {"uuid": UUID_C, "event_type": "span", "trace_id": "t-1", "span_id": "s-1", "name": "GET /"},
    )
    status, body, headers = await post(
        http, "/api/v1/ingest_events/batch", gzip.compress(raw, mtime=0), headers=_batch_headers()
    )
    results = [
        {"index": 0, "status": "accepted", "type": "event", "id": UUID_A, "legacy_id": legacy_id(UUID_A)},
        {"index": 1, "status": "accepted", "type": "event", "id": UUID_B, "legacy_id": legacy_id(UUID_B)},
        {"index": 2, "status": "accepted", "type": "span", "id": UUID_C, "legacy_id": legacy_id(UUID_C)},
    ]
    assert (status, body) == (
        202,
        {
            "schema_version": 1,
            "batch_id": "batch-1",
            "status": "accepted",
            "accepted": 3,
            "duplicates": 0,
            "results": [{**r, "duplicate": False} for r in results],
        },
    )
    assert headers["X-RateLimit-Remaining"] == "1197"
    status, body, _ = await post(
        http, "/api/v1/ingest_events/batch", raw, headers=_batch_headers("identity", None)
    )
    assert (status, body) == (
        202,
        {
            "schema_version": 1,
            "status": "accepted",
            "accepted": 3,
            "duplicates": 3,
            "results": [{**r, "duplicate": True} for r in results],
        },
    )
    kinds = sorted((e.kind, e.message) for e in await stored(http))
    assert kinds == [(E.KIND_ERROR, "boom"), (E.KIND_SPAN, "GET /"), (E.KIND_LOG, "hello")]


async def test_batch_refusals_have_logisters_codes(http: Http) -> None:
    path = "/api/v1/ingest_events/batch"
    raw = _ndjson(event())
    cases: list[tuple[bytes, dict[str, str], int, dict[str, Any]]] = [
        (
            raw,
            {"Content-Type": JSON},
            415,
            {"error": "Batch ingest requires application/x-ndjson", "code": "unsupported_content_type"},
        ),
        (
            raw,
            _batch_headers("br"),
            415,
            {"error": "unsupported telemetry batch content encoding: br", "code": "unsupported_encoding"},
        ),
        (b"not gzip", _batch_headers(), 400, {"code": "invalid_gzip"}),
        (raw + b"{oops\n", _batch_headers("identity"), 400, {"code": "invalid_json"}),
        (
            _ndjson(*(event(f"00000000-0000-4000-8000-{n:012d}") for n in range(101))),
            _batch_headers("identity"),
            413,
            {"error": "telemetry batch exceeds 100 events", "code": "event_count"},
        ),
        (
            _ndjson(event(None)),
            _batch_headers("identity"),
            400,
            {
                "error": "telemetry batch line 1 requires a nonblank uuid or event_id",
                "code": "missing_identity",
            },
        ),
    ]
    for data, headers, expected_status, expected in cases:
        status, body, _ = await post(http, path, data, headers=headers)
        assert status == expected_status, body
        assert {k: body[k] for k in expected} == expected
    assert (await post(http, path, raw, headers=_batch_headers(), secret="pk_unknown"))[:2] == (
        401,
        {"error": "Unauthorized"},
    )
    assert await stored(http) == []


async def test_a_batch_with_an_invalid_envelope_stores_nothing(http: Http) -> None:
    assert (await post(http, "/api/v1/ingest_events", {"event": event(UUID_A)}))[0] == 201
    raw = _ndjson(event(UUID_A), event(UUID_B), {"uuid": UUID_C, "event_type": "exception", "message": "m"})
    status, body, _ = await post(
        http, "/api/v1/ingest_events/batch", gzip.compress(raw), headers=_batch_headers()
    )
    assert (status, body) == (
        422,
        {
            "schema_version": 1,
            "batch_id": "batch-1",
            "status": "rejected",
            "results": [
                {
                    "index": 0,
                    "status": "accepted",
                    "type": "event",
                    "id": UUID_A,
                    "legacy_id": legacy_id(UUID_A),
                    "duplicate": True,
                },
                {
                    "index": 1,
                    "status": "rolled_back",
                    "type": "event",
                    "errors": ["Batch was rolled back because another envelope was invalid"],
                },
                {
                    "index": 2,
                    "status": "rejected",
                    "type": "event",
                    "errors": ["Event type is not included in the list"],
                },
            ],
        },
    )
    assert [e.idempotency_key for e in await stored(http)] == [f"logister:{UUID_A}"]


async def test_check_ins(http: Http) -> None:
    check_in = {"CHECK_IN": {"slug": "backup", "status": "error", "uuid": UUID_C, "durationMs": 1500}}
    assert (await post(http, "/api/v1/check_ins", check_in))[:2] == (
        201,
        {"id": UUID_C, "status": "accepted"},
    )
    assert (await post(http, "/api/v1/check_ins", check_in))[:2] == (
        200,
        {"id": UUID_C, "status": "accepted", "duplicate": True},
    )
    assert (await post(http, "/api/v1/check_ins", {"check_in": {"checked_at": "now"}}))[:2] == (
        400,
        {"error": "param is missing or the value is empty or invalid: check_in"},
    )
    assert (await post(http, "/api/v1/check_ins", {"check_in": {"status": "ok"}}))[:2] == (
        422,
        {"errors": ["Message can't be blank"]},
    )
    (stored_check_in,) = await stored(http)
    assert (stored_check_in.kind, stored_check_in.level, stored_check_in.environment) == (
        E.KIND_CHECK_IN,
        E.LEVEL_ERROR,
        "production",
    )
    assert (stored_check_in.check_in.status, stored_check_in.check_in.expected_interval_seconds) == (
        E.CHECK_IN_STATUS_ERROR,
        300,
    )
    assert stored_check_in.check_in.duration_ms == 1500


async def test_deployments_are_upserted_on_repository_environment_and_release(http: Http) -> None:
    deployment = {
        "release": "2026.03.02",
        "environment": "production",
        "repository": "acme/shop",
        "commit_sha": "0123456789abcdef0123456789abcdef01234567",
        "branch": "refs/heads/main",
        "deployed_at": "2026-03-02T10:00:00Z",
    }
    status, first, _ = await post(http, "/api/v1/deployments", {"deployment": deployment})
    assert status == 201
    assert first == {"id": first["id"], "legacy_id": legacy_id(first["id"]), "status": "accepted"}
    again = await post(
        http, "/api/v1/deployments", {"DEPLOYMENT": {**deployment, "deployedAt": "2026-03-03T00:00:00Z"}}
    )
    assert again[:2] == (201, first)
    assert (await post(http, "/api/v1/deployments", {"deployment": {"environment": "qa", "sha": "xyz"}}))[
        :2
    ] == (
        422,
        {
            "errors": [
                "Release can't be blank",
                "Repository can't be blank",
                "Commit sha must be a 7 to 40 character commit SHA",
            ]
        },
    )
    assert (await post(http, "/api/v1/deployments", {"deployment": {"url": "x"}}))[:2] == (
        400,
        {"error": "param is missing or the value is empty or invalid: deployment"},
    )
    (stored_deployment,) = await stored(http)
    assert (stored_deployment.kind, stored_deployment.release, stored_deployment.environment) == (
        E.KIND_DEPLOYMENT,
        "2026.03.02",
        "production",
    )
    assert (stored_deployment.deployment.repository, stored_deployment.deployment.branch) == (
        "acme/shop",
        "main",
    )
    assert stored_deployment.occurred_at.ToJsonString() == "2026-03-02T10:00:00Z"


async def test_every_route_also_answers_with_a_trailing_slash(http: Http) -> None:
    """Rails ignores a trailing slash on every route (docs/vendors/logister.md §1)."""
    accepted = {"id": UUID_A, "legacy_id": legacy_id(UUID_A), "status": "accepted"}
    assert (await post(http, "/api/v1/ingest_events/", {"event": event(UUID_A)}))[:2] == (201, accepted)
    assert (await post(http, "/api/v1/ingest_events.json/", {"event": event(UUID_A)}))[:2] == (
        200,
        {**accepted, "duplicate": True},
    )
    status, body, _ = await post(
        http, "/api/v1/ingest_events/batch/", _ndjson(event(UUID_B)), headers=_batch_headers("identity")
    )
    assert (status, body["status"], body["accepted"]) == (202, "accepted", 1)
    assert (await post(http, "/api/v1/check_ins/", {"check_in": {"slug": "s", "uuid": UUID_C}}))[:2] == (
        201,
        {"id": UUID_C, "status": "accepted"},
    )
    deployment = {"release": "r1", "repository": "acme/shop", "commit_sha": "0123456"}
    assert (await post(http, "/api/v1/deployments/", {"deployment": deployment}))[0] == 201
    for route in ("/api/v1/ingest_events/", "/api/v1/check_ins/"):
        async with http.session.get(http.url(route), headers=http.bearer()) as response:
            assert (response.status, await response.json()) == (404, {"error": f"no route for GET {route}"})
    assert len(await stored(http)) == 4


async def test_context_integers_read_back_as_integers(http: Http) -> None:
    """JSON numbers in a context keep their form where a reader sees them: `12` is not `12.0`
    (docs/vendors/logister.md §10)."""
    context = {
        "count": 12,
        "ratio": 1.5,
        "negative": -3,
        "large": 2**53,
        "huge": 1e300,
        "metadata": {"user_id": 42, "scores": [1, 2.5, {"n": 0}]},
    }
    event_body = event(UUID_A, context=context)
    assert (await post(http, "/api/v1/ingest_events", {"event": event_body}))[0] == 201
    assert (await post(http, "/api/v1/check_ins", SEED_CHECK_IN))[0] == 201
    async with http.session.get(
        http.url("/v1/projects/default/events"), headers=http.bearer(PROJECT_SECRET)
    ) as response:
        assert response.status == 200
        listed = orjson.loads(await response.read())
    check_in, logged = listed["events"]
    # Compared as JSON text: in Python 12 == 12.0, on the wire they differ. A Struct keeps no order.
    read_back = {key: logged["context"][key] for key in context}
    assert orjson.dumps(read_back, option=orjson.OPT_SORT_KEYS) == orjson.dumps(
        context, option=orjson.OPT_SORT_KEYS
    )
    assert orjson.dumps(check_in["context"]["expected_interval_seconds"]) == b"900"
