"""LogStitch's events API over HTTP, shaped as @logstitch/sdk 0.2.0 sends it
(docs/vendors/logstitch.md §5): a single event object when one, an array otherwise,
`idempotency_key` always set, Bearer keys. Each test runs in-process and through a gateway
fronting ingestd over gRPC, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import io
import json
import re
import uuid
from pathlib import Path
from typing import Any

import orjson

from ingestd.v1 import event_pb2, event_service_pb2
from tests.conftest import MASTER_SECRET, Client, Http, grpc_channel

EVENTS = "/api/v1/events"
PAYLOADS = Path(__file__).resolve().parent.parent / "payloads" / "logstitch"


def payload(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text())


def event(action: str = "user.login", key: str = "", **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "action": action,
        "category": "auth",
        "actor": {"id": "u1", "type": "user"},
        "tenant_id": "acme",
        "idempotency_key": key or hashlib.sha256(f"{action}{fields}".encode()).hexdigest()[:32],
    }
    body.update(fields)
    return body


async def call(
    http: Http, method: str, path: str, body: Any = None, *, secret: str | None = None, **kwargs: Any
) -> tuple[int, Any]:
    """One request as the SDK makes it: JSON with `Content-Type: application/json` and a Bearer key."""
    headers = {"Content-Type": "application/json", **kwargs.pop("headers", {})}
    if secret != "":
        headers.update(http.bearer() if secret is None else http.bearer(secret))
    data = body if isinstance(body, bytes | io.BytesIO) or body is None else orjson.dumps(body)
    async with http.session.request(method, http.url(path), data=data, headers=headers, **kwargs) as response:
        assert response.headers["Content-Type"].startswith("application/json")
        return response.status, orjson.loads(await response.read())


def assert_error(body: dict[str, Any], code: str) -> dict[str, Any]:
    """The documented error shape; returns `error`."""
    assert set(body) == {"error", "request_id"}, body
    assert body["request_id"].startswith("req_")
    error = body["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == code, body
    assert error["message"]
    return dict(error)


async def admin(http: Http, path: str, body: Any) -> Any:
    async with http.session.post(http.url(path), json=body, headers=http.bearer(MASTER_SECRET)) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def new_key(http: Http, kind: str, project: str = "default") -> tuple[str, str]:
    created = await admin(http, "/v1/organizations/default/keys", {"kind": kind, "project": project})
    return created["apiKey"]["id"], created["secret"]


async def test_sdk_requests_store_audit_events_readable_through_every_api(http: Http) -> None:
    single = payload("single_event.json")
    status, body = await call(http, "POST", EVENTS, single, headers={"X-Request-Id": "abc123"})
    assert status == 201, body
    assert body["request_id"] == "req_abc123"
    assert body["redacted_count"] == 0
    [first] = body["ids"]
    batch = payload("batch.json")
    status, body = await call(http, "POST", EVENTS, batch)
    assert status == 201, body
    assert body["request_id"].startswith("req_")
    ids = body["ids"]
    assert len(ids) == 3 and all(i.startswith("evt_") and len(i) == 36 for i in [first, *ids])

    status, listed = await call(http, "GET", EVENTS)
    assert status == 200, listed
    assert (listed["cursor"], listed["has_more"]) == (None, False)
    assert listed["request_id"].startswith("req_")
    assert [e["id"] for e in listed["events"]] == [*reversed(ids), first], "newest first"
    newest = listed["events"][-1]
    assert newest["received_at"].endswith("Z")
    sent = {k: v for k, v in newest.items() if k not in ("id", "content_hash", "received_at")}
    assert sent == single
    canonical = orjson.dumps(sent, option=orjson.OPT_SORT_KEYS)
    assert newest["content_hash"] == hashlib.sha256(canonical).hexdigest()
    assert listed["events"][0]["occurred_at"] == "2025-03-14T14:10:00.000Z"

    # The canonical EventService sees the same events, as KIND_AUDIT from the logstitch dialect.
    stored_id = "-".join((first[4:12], first[12:16], first[16:20], first[20:24], first[24:]))
    async with http.session.get(
        http.url("/v1/projects/default/events?kind=KIND_AUDIT"), headers=http.bearer()
    ) as response:
        canonical_list = await response.json()
    assert [e["id"].replace("-", "") for e in canonical_list["events"]] == [i[4:] for i in listed_ids(listed)]
    audit_json = canonical_list["events"][-1]
    assert audit_json["id"] == stored_id
    assert (audit_json["dialect"], audit_json["message"]) == ("logstitch", "invoice.updated")
    assert audit_json["idempotencyKey"] == "logstitch:" + single["idempotency_key"]
    assert audit_json["audit"]["actor"]["email"] == "ada@example.com"
    async with grpc_channel(http.running.grpc_port) as channel:
        client = Client.for_channel(http.running, channel)
        got = await client.events.GetEvent(
            event_service_pb2.GetEventRequest(project="default", event=stored_id), metadata=client.project
        )
    assert got.event.kind == event_pb2.KIND_AUDIT
    assert got.event.audit.changes[1].after.string_value == "paid"
    assert got.event.audit.target.name == "Invoice #1001"


def listed_ids(listed: dict[str, Any]) -> list[str]:
    return [e["id"] for e in listed["events"]]


async def test_a_retried_request_stores_nothing_new_and_answers_the_first_ids(http: Http) -> None:
    batch = [event("user.login", "k-1"), event("user.logout", "k-2")]
    status, first = await call(http, "POST", EVENTS, batch)
    assert status == 201
    status, again = await call(http, "POST", EVENTS, batch)
    assert status == 201
    assert again["ids"] == first["ids"]
    assert again["request_id"] != first["request_id"]
    # A key repeated inside one batch, and a single-object retry, answer the first id too.
    status, mixed = await call(http, "POST", EVENTS, [event("user.login", "k-3"), event("user.login", "k-3")])
    assert status == 201 and mixed["ids"][0] == mixed["ids"][1]
    status, single = await call(http, "POST", EVENTS, event("user.logout", "k-2"))
    assert single["ids"] == [first["ids"][1]]

    status, listed = await call(http, "GET", EVENTS)
    assert listed_ids(listed) == [mixed["ids"][0], *reversed(first["ids"])]


async def test_auth_errors_follow_logstitch(http: Http) -> None:
    key_id, revoked = await new_key(http, "API_KEY_KIND_PROJECT")
    await admin(http, f"/v1/organizations/default/keys/{key_id}:revoke", {})
    _, public = await new_key(http, "API_KEY_KIND_PUBLIC")
    _, server_key = await new_key(http, "API_KEY_KIND_SERVER")
    cases = [
        ("", 401, "unauthorized"),
        ("pk_unknown_0000", 401, "invalid_api_key"),
        (revoked, 401, "key_revoked"),
        (public, 403, "forbidden"),
        (server_key, 403, "forbidden"),
    ]
    for method, body in (("POST", event()), ("GET", None)):
        for secret, expected_status, code in cases:
            status, answer = await call(
                http, method, EVENTS, body, secret=secret, headers={"X-Request-Id": "r-auth"}
            )
            assert status == expected_status, (method, code, answer)
            assert assert_error(answer, code)["details"] == []
            assert answer["request_id"] == "req_r-auth"
    async with http.session.post(
        http.url(EVENTS), json=event(), headers={"Authorization": f"Basic {MASTER_SECRET}"}
    ) as response:
        assert response.status == 401
        assert_error(await response.json(), "unauthorized")
    status, listed = await call(http, "GET", EVENTS)
    assert listed["events"] == [], "nothing refused was stored"


async def test_a_master_key_uses_the_default_project_unless_it_names_one(http: Http) -> None:
    await admin(http, "/v1/organizations/default/projects?projectId=second", {"displayName": "Second"})
    status, body = await call(http, "POST", EVENTS, event("user.login"), secret=MASTER_SECRET)
    assert status == 201, body
    status, body = await call(
        http, "POST", EVENTS + "?project_id=second", event("user.logout"), secret=MASTER_SECRET
    )
    assert status == 201, body
    [second_id] = body["ids"]

    status, listed = await call(http, "GET", EVENTS, secret=MASTER_SECRET)
    assert [e["action"] for e in listed["events"]] == ["user.login"]
    status, listed = await call(http, "GET", EVENTS + "?project_id=second", secret=MASTER_SECRET)
    assert listed_ids(listed) == [second_id]
    status, listed = await call(http, "GET", EVENTS)
    assert [e["action"] for e in listed["events"]] == ["user.login"], "the project key reads its own"

    for path, secret in ((EVENTS + "?project_id=second", None), (EVENTS + "?project_id=nope", MASTER_SECRET)):
        status, answer = await call(http, "POST", path, event("user.deleted"), secret=secret)
        assert status == 403
        assert_error(answer, "forbidden")


async def test_invalid_bodies_are_refused_whole_with_field_paths(http: Http) -> None:
    status, answer = await call(http, "POST", EVENTS, b'{"action": ')
    assert status == 400
    assert_error(answer, "validation_error")
    status, answer = await call(http, "POST", EVENTS, [event(key=f"k{i}") for i in range(101)])
    assert status == 400
    error = assert_error(answer, "validation_error")
    assert error["details"] == [{"field": "", "message": "Array must contain at most 100 element(s)"}]

    broken = event("user.login", "k-x")
    broken["actor"] = {"type": "robot"}
    status, answer = await call(http, "POST", EVENTS, [event("user.login", "k-ok"), event(), broken])
    assert status == 400
    assert assert_error(answer, "validation_error")["details"] == [
        {"field": "[2].actor.id", "message": "Required"},
        {
            "field": "[2].actor.type",
            "message": "Invalid enum value. Expected 'user' | 'api_key' | 'service' | 'system', "
            "received 'robot'",
        },
    ]
    status, answer = await call(http, "POST", EVENTS, {"category": "auth"})
    assert [d["field"] for d in assert_error(answer, "validation_error")["details"]] == [
        "action",
        "actor",
        "tenant_id",
    ]
    status, hundred = await call(http, "POST", EVENTS, [event(key=f"k{i}") for i in range(100)])
    assert status == 201 and len(hundred["ids"]) == 100

    status, listed = await call(http, "GET", EVENTS + "?limit=100")
    assert listed_ids(listed) == list(reversed(hundred["ids"])), "the refused batches stored nothing"


#: LogStitch's one time format: JavaScript's `toISOString`.
MILLISECONDS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


async def test_every_time_in_an_answer_is_iso_8601_with_milliseconds(http: Http) -> None:
    """docs/vendors/logstitch.md §8: events, keys, rules, webhooks and streams all write times as
    JavaScript's `toISOString` does, a finer time cut to its millisecond."""
    sent = event(key="t-1", occurred_at="2025-01-02T03:04:05.123456+01:00")
    status, body = await call(http, "POST", EVENTS, sent)
    assert status == 201, body
    status, body = await call(http, "GET", EVENTS)
    [listed] = body["events"]
    assert listed["occurred_at"] == "2025-01-02T02:04:05.123Z"
    times = [listed["received_at"]]

    status, body = await call(
        http,
        "POST",
        "/api/v1/keys",
        {"project_id": "default", "type": "project", "name": "k"},
        secret=MASTER_SECRET,
    )
    assert status == 201, body
    status, body = await call(http, "GET", EVENTS, secret=body["key"])
    assert status == 200
    status, body = await call(http, "GET", "/api/v1/keys", secret=MASTER_SECRET)
    times += [k[name] for k in body["keys"] for name in ("createdAt", "lastUsedAt") if k[name]]
    for path, created in (
        ("/api/v1/redaction/rules", {"type": "pattern", "name": "p", "pattern": "ACCT-[0-9]+"}),
        ("/api/v1/alerts/webhooks", {"url": "https://93.184.216.34/hook"}),
    ):
        status, body = await call(http, "POST", path, created, secret=MASTER_SECRET)
        assert status == 201, body
        shown = body["rule"] if "rule" in body else body["webhook"]
        times += [shown[name] for name in ("created_at", "updated_at") if name in shown]
    token = str(uuid.uuid4())
    status, body = await call(http, "POST", f"/api/v1/streams/{token}/events", event(key="s-1"), secret="")
    assert status == 201, body
    status, body = await call(http, "GET", f"/api/v1/streams/{token}/info", secret="")
    times += [body["created_at"], body["expires_at"]]

    assert len(times) >= 8
    assert [t for t in times if not MILLISECONDS.fullmatch(t)] == []
