"""LogStitch's anonymous streams over HTTP: write without a key, read only metadata, claim into a
project with a master key. In-process and through a gateway fronting ingestd over gRPC, on SQLite
and PostgreSQL; expiry and the daily limit with the server's clock injected."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sqlalchemy import func, select

from ingestd.v1 import event_service_pb2
from storage.engine import create_engine
from storage.models import StreamEvent
from tests.conftest import MASTER_SECRET, Client, Http, grpc_channel, http_gateway, make_settings
from tests.helpers import ManualClock
from tests.http.test_logstitch import admin, assert_error, call, event

CLAIM = "/api/v1/streams/claim"
DAY_S = 86_400
START_S = 1_795_000_000 - 1_795_000_000 % DAY_S + 3_600  # 01:00 UTC


def events_path(token: str) -> str:
    return f"/api/v1/streams/{token}/events"


def info_path(token: str) -> str:
    return f"/api/v1/streams/{token}/info"


async def send(http: Http, token: str, body: Any) -> tuple[int, Any]:
    """A stream write as the SDK's stream mode makes it: no Authorization header."""
    return await call(http, "POST", events_path(token), body, secret="")


async def info(http: Http, token: str) -> tuple[int, Any]:
    return await call(http, "GET", info_path(token), secret="")


async def claim(
    http: Http, token: str, project: str = "default", secret: str = MASTER_SECRET
) -> tuple[int, Any]:
    return await call(http, "POST", CLAIM, {"token": token, "project_id": project}, secret=secret)


async def project_ids(http: Http, project: str = "default") -> list[str]:
    """Every event id of `project`, in LogStitch's `evt_…` form, read over gRPC."""
    async with grpc_channel(http.running.grpc_port) as channel:
        client = Client.for_channel(http.running, channel)
        listed = await client.events.ListEvents(
            event_service_pb2.ListEventsRequest(project=project, page_size=1000), metadata=client.master
        )
    assert not listed.next_page_token
    return ["evt_" + e.id.replace("-", "") for e in listed.events]


async def stored_in_streams(http: Http) -> int:
    """How many rows `stream_events` holds: what the purge removes is invisible over the API."""
    engine = create_engine(http.running.settings.database_url)
    try:
        async with engine.connect() as connection:
            return int((await connection.execute(select(func.count()).select_from(StreamEvent))).scalar_one())
    finally:
        await engine.dispose()


async def test_a_stream_is_written_anonymously_then_claimed_into_a_project(http: Http) -> None:
    token = str(uuid.uuid4())
    status, first = await send(http, token, event("user.signed_up", "k-1"))
    assert status == 201, first
    assert first["request_id"].startswith("req_") and first["redacted_count"] == 0
    [first_id] = first["ids"]
    status, batch = await send(
        http, token, [event("user.login", "k-2"), event("user.login", "k-1"), event("a.b", "k-2")]
    )
    assert status == 201, batch
    assert batch["ids"][1] == first_id, "a key already in the stream answers the first event's id"
    assert batch["ids"][2] == batch["ids"][0], "a key repeated in one batch answers its first id"

    status, body = await info(http, token)
    assert status == 200, body
    assert (body["token"], body["status"], body["event_count"], body["claimed_at"]) == (
        token,
        "active",
        2,
        None,
    )
    assert body["created_at"].endswith("Z") and body["expires_at"] > body["created_at"]
    assert set(body) == {
        "token",
        "status",
        "event_count",
        "created_at",
        "expires_at",
        "claimed_at",
        "request_id",
    }
    assert await project_ids(http) == [], "stream events are kept apart from every project"

    status, claimed = await claim(http, token)
    assert status == 200, claimed
    assert (claimed["token"], claimed["project_id"], claimed["migrated_count"]) == (token, "default", 2)
    assert claimed["request_id"].startswith("req_")
    # The ids acknowledged to the anonymous writer are the events' ids in the project.
    assert sorted(await project_ids(http)) == sorted([first_id, batch["ids"][0]])
    status, listed = await call(http, "GET", "/api/v1/events")
    assert {e["action"] for e in listed["events"]} == {"user.signed_up", "user.login"}
    assert await stored_in_streams(http) == 0

    status, body = await info(http, token)
    assert (status, body["status"], body["event_count"]) == (200, "claimed", 2)
    assert body["claimed_at"] is not None and body["claimed_at"] >= body["created_at"]
    status, refused = await send(http, token, event("user.logout", "k-3"))
    assert status == 410
    assert assert_error(refused, "stream_already_claimed")["details"] == []
    status, refused = await claim(http, token)
    assert status == 410
    assert_error(refused, "stream_already_claimed")
    assert len(await project_ids(http)) == 2


async def test_a_claim_keeps_events_whose_key_the_project_already_holds_once(http: Http) -> None:
    await call(http, "POST", "/api/v1/events", event("user.login", "shared"))
    token = str(uuid.uuid4())
    status, sent = await send(http, token, [event("user.login", "shared"), event("user.logout", "own")])
    assert status == 201
    status, claimed = await claim(http, token)
    assert (status, claimed["migrated_count"]) == (200, 1)
    assert len(await project_ids(http)) == 2
    assert sent["ids"][1] in await project_ids(http)


async def test_claim_into_another_project_needs_a_master_key_of_its_organization(http: Http) -> None:
    await admin(http, "/v1/organizations/default/projects?projectId=second", {"displayName": "Second"})
    token = str(uuid.uuid4())
    assert (await send(http, token, event()))[0] == 201
    for secret, expected, code in (
        ("", 401, "unauthorized"),
        ("mk_unknown_0000", 401, "invalid_api_key"),
        (None, 403, "forbidden"),  # the project key
    ):
        status, body = await call(
            http, "POST", CLAIM, {"token": token, "project_id": "second"}, secret=secret
        )
        assert status == expected, body
        assert_error(body, code)
    status, body = await claim(http, token, "nope")
    assert status == 403
    assert_error(body, "forbidden")
    status, body = await claim(http, token, "second")
    assert (status, body["project_id"], body["migrated_count"]) == (200, "second", 1)
    assert len(await project_ids(http, "second")) == 1
    assert await project_ids(http) == []


async def test_tokens_must_be_uuid4_and_bodies_valid(http: Http) -> None:
    for bad in ("not-a-uuid", "a1b2c3d4-e5f6-1a7b-8c9d-0e1f2a3b4c5d", "a1b2c3d4e5f64a7b8c9d0e1f2a3b4c5d"):
        for status, body in (await send(http, bad, event()), await info(http, bad), await claim(http, bad)):
            assert status == 400, body
            assert [d["field"] for d in assert_error(body, "validation_error")["details"]] == ["token"]
    status, body = await call(http, "POST", CLAIM, {}, secret=MASTER_SECRET)
    assert status == 400
    assert [d["field"] for d in assert_error(body, "validation_error")["details"]] == ["token", "project_id"]

    token = str(uuid.uuid4())
    status, body = await send(http, token, [event(), {"action": "Bad", "category": "nope"}])
    assert status == 400
    fields = {d["field"] for d in assert_error(body, "validation_error")["details"]}
    assert {"[1].action", "[1].category"} <= fields
    status, body = await send(http, token, b'{"action": ')
    assert (status, body["error"]["code"]) == (400, "validation_error")
    status, body = await info(http, token)
    assert status == 404, "an invalid write creates no stream"
    assert_error(body, "stream_not_found")
    status, body = await claim(http, token)
    assert status == 404
    assert_error(body, "stream_not_found")

    # The token is case-insensitive: the same stream either way.
    assert (await send(http, token.upper(), event()))[0] == 201
    status, body = await info(http, token)
    assert (status, body["event_count"], body["token"]) == (200, 1, token)


async def test_the_daily_limit_resets_at_utc_midnight_and_the_stream_expires(
    http_target: tuple[str, str],
) -> None:
    database_url, mode = http_target
    clock = ManualClock(START_S)
    settings = make_settings(database_url, stream_daily_event_limit=3, stream_ttl_s=3 * DAY_S)
    async with http_gateway(settings, mode, clock) as http:
        token = str(uuid.uuid4())
        status, first = await send(http, token, [event("a.b", "k1"), event("a.c", "k2")])
        assert status == 201
        async with http.session.post(
            http.url(events_path(token)), json=[event("a.d", "k3"), event("a.e", "k4")]
        ) as response:
            assert response.status == 429
            assert_error(await response.json(), "stream_daily_limit_reached")
            assert response.headers["Retry-After"] == str(DAY_S - 3_600), "until the next UTC midnight"
        assert (await send(http, token, event("a.d", "k3")))[0] == 201
        status, again = await send(http, token, event("a.b", "k1"))
        assert (status, again["ids"]) == (201, first["ids"][:1]), "a retry stores nothing, costs nothing"
        assert (await send(http, token, event("a.e", "k4")))[0] == 429
        status, body = await info(http, token)
        assert (body["status"], body["event_count"]) == ("active", 3)

        clock.advance(DAY_S - 3_600)
        assert (await send(http, token, [event("a.e", "k4"), event("a.f", "k5")]))[0] == 201
        status, body = await info(http, token)
        assert body["event_count"] == 5
        assert await stored_in_streams(http) == 5

        clock.advance(2 * DAY_S + 3_600 - 1)  # one second before the expiry
        assert (await info(http, token))[1]["status"] == "active"
        clock.advance(1)
        status, body = await info(http, token)
        assert (status, body["status"], body["event_count"]) == (200, "expired", 5)
        status, body = await send(http, token, event("a.g", "k6"))
        assert status == 410
        assert_error(body, "stream_expired")
        assert await stored_in_streams(http) == 0, "an expired stream's events are purged when met"
        status, body = await claim(http, token)
        assert status == 410
        assert_error(body, "stream_expired")
        assert await project_ids(http) == []


async def test_concurrent_writes_and_a_claim_lose_and_duplicate_nothing(
    http_target: tuple[str, str],
) -> None:
    database_url, mode = http_target
    settings = make_settings(database_url, stream_daily_event_limit=10_000)
    async with http_gateway(settings, mode) as http:
        token = str(uuid.uuid4())
        status, started = await send(http, token, event("a.start", "k-start"))
        assert status == 201

        async def write(n: int) -> tuple[int, Any]:
            return await send(http, token, [event("a.b", f"k{n}-0"), event("a.b", f"k{n}-1")])

        writes = [asyncio.ensure_future(write(n)) for n in range(60)]
        claimed_task = asyncio.ensure_future(claim(http, token))
        writes += [asyncio.ensure_future(write(n)) for n in range(60, 120)]
        results = await asyncio.gather(*writes)
        status, claimed = await claimed_task
        assert status == 200, claimed

        acknowledged = [i for s, b in results if s == 201 for i in b["ids"]]
        refused = [b for s, b in results if s != 201]
        assert all(s in (201, 410) for s, _ in results), {s for s, _ in results}
        assert all(b["error"]["code"] == "stream_already_claimed" for b in refused)
        assert (await send(http, token, event()))[0] == 410

        in_project = await project_ids(http)
        assert len(in_project) == len(set(in_project)), "nothing duplicated"
        assert set(in_project) == {*started["ids"], *acknowledged}, "nothing acknowledged was lost"
        assert len(in_project) == len(acknowledged) + 1 == claimed["migrated_count"]
        status, body = await info(http, token)
        assert body["event_count"] == claimed["migrated_count"]
        assert await stored_in_streams(http) == 0


async def test_the_built_in_redaction_applies_before_anything_is_stored(http: Http) -> None:
    token = str(uuid.uuid4())
    card = "4111 1111 1111 1111"
    status, body = await send(
        http, token, event("billing.charged", "k-card", metadata={"note": f"card {card}"})
    )
    assert status == 201, body
    assert body["redacted_count"] >= 1
    assert (await claim(http, token))[0] == 200
    status, listed = await call(http, "GET", "/api/v1/events")
    [stored] = listed["events"]
    assert stored["id"] == body["ids"][0]
    assert card not in stored["metadata"]["note"]
