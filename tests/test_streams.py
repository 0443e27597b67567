"""AdminService's anonymous streams over gRPC (and their canonical HTTP routes), on SQLite and
PostgreSQL: WriteStreamEvents without a key, GetStream, ClaimStream with a master key."""

from __future__ import annotations

import asyncio
import uuid
from typing import cast

import aiohttp
import grpc
import pytest
from google.rpc import error_details_pb2  # type: ignore[attr-defined]

from ingestd.v1 import admin_service_pb2, event_pb2, event_service_pb2, stream_pb2
from server.access import Access
from server.config import Settings
from server.ingest import Ingest
from server.main import running
from server.streams import Streams
from storage.engine import create_engine, session_factory
from tests.conftest import MASTER_SECRET, Client, grpc_channel, make_settings
from tests.helpers import ManualClock, detail, log_event, reason, rich_status, violations

pb = admin_service_pb2
DAY_S = 86_400
START_S = 1_795_000_000 - 1_795_000_000 % DAY_S + 7_200  # 02:00 UTC


async def _failed(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    return caught.value


def _write(token: str, *events: event_pb2.Event) -> pb.WriteStreamEventsRequest:
    return pb.WriteStreamEventsRequest(token=token, events=list(events))


async def _project_events(client: Client, project: str = "default") -> list[event_pb2.Event]:
    listed = await client.events.ListEvents(
        event_service_pb2.ListEventsRequest(project=project, page_size=1000), metadata=client.master
    )
    return list(listed.events)


async def test_write_get_and_claim(client: Client) -> None:
    token = str(uuid.uuid4())
    written = await client.admin.WriteStreamEvents(
        _write(
            token,
            log_event("one", idempotency_key="k1"),
            log_event("two"),
            log_event("x", idempotency_key="k1"),
        )
    )
    assert len(written.event_ids) == 3 and written.event_ids[2] == written.event_ids[0]
    got = await client.admin.GetStream(pb.GetStreamRequest(token=token))
    assert (got.stream.state, got.stream.event_count) == (stream_pb2.STREAM_STATE_ACTIVE, 2)
    assert got.stream.expire_time.seconds - got.stream.create_time.seconds == 7 * 86_400
    assert not got.stream.HasField("claim_time")
    assert await _project_events(client) == []

    claimed = await client.admin.ClaimStream(
        pb.ClaimStreamRequest(token=token, project="default"), metadata=client.master
    )
    assert (claimed.project, claimed.claimed_event_count) == ("default", 2)
    stored = await _project_events(client)
    assert sorted(e.id for e in stored) == sorted(written.event_ids[:2])
    assert {e.project for e in stored} == {"default"}, "the payload names the project"
    assert {e.message for e in stored} == {"one", "two"}

    got = await client.admin.GetStream(pb.GetStreamRequest(token=token))
    assert (got.stream.state, got.stream.event_count) == (stream_pb2.STREAM_STATE_CLAIMED, 2)
    assert got.stream.HasField("claim_time")
    for call in (
        client.admin.WriteStreamEvents(_write(token, log_event())),
        client.admin.ClaimStream(
            pb.ClaimStreamRequest(token=token, project="default"), metadata=client.master
        ),
    ):
        error = await _failed(call)
        assert (error.code(), reason(error)) == (
            grpc.StatusCode.FAILED_PRECONDITION,
            "STREAM_ALREADY_CLAIMED",
        )


async def test_refusals(client: Client) -> None:
    error = await _failed(client.admin.WriteStreamEvents(_write("nope", log_event())))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in violations(error)] == ["token"]
    token = str(uuid.uuid4())
    error = await _failed(client.admin.WriteStreamEvents(_write(token)))
    assert [f for f, _ in violations(error)] == ["events"]
    bad = log_event(service="s" * 201)
    error = await _failed(client.admin.WriteStreamEvents(_write(token, log_event(), bad)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in violations(error)] == ["events[1].service"], "all or nothing"
    error = await _failed(client.admin.GetStream(pb.GetStreamRequest(token=token)))
    assert (error.code(), reason(error)) == (grpc.StatusCode.NOT_FOUND, "STREAM_NOT_FOUND")
    error = await _failed(
        client.admin.ClaimStream(
            pb.ClaimStreamRequest(token=token, project="default"), metadata=client.master
        )
    )
    assert (error.code(), reason(error)) == (grpc.StatusCode.NOT_FOUND, "STREAM_NOT_FOUND")

    await client.admin.WriteStreamEvents(_write(token, log_event()))
    error = await _failed(client.admin.ClaimStream(pb.ClaimStreamRequest(token=token, project="default")))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    error = await _failed(
        client.admin.ClaimStream(
            pb.ClaimStreamRequest(token=token, project="default"), metadata=client.project
        )
    )
    assert (error.code(), reason(error)) == (grpc.StatusCode.PERMISSION_DENIED, "MASTER_KEY_REQUIRED")
    error = await _failed(
        client.admin.ClaimStream(
            pb.ClaimStreamRequest(token=token, project="elsewhere"), metadata=client.master
        )
    )
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    got = await client.admin.GetStream(pb.GetStreamRequest(token=token))
    assert got.stream.state == stream_pb2.STREAM_STATE_ACTIVE


async def test_daily_limit_and_expiry(database_url: str) -> None:
    clock = ManualClock(START_S)
    settings = make_settings(database_url, stream_daily_event_limit=2, stream_ttl_s=2 * DAY_S)
    async with running(settings, clock) as started, grpc_channel(started.grpc_port) as channel:
        client = Client.for_channel(started, channel)
        token = str(uuid.uuid4())
        await client.admin.WriteStreamEvents(_write(token, log_event("a"), log_event("b")))
        error = await _failed(client.admin.WriteStreamEvents(_write(token, log_event("c"))))
        assert (error.code(), reason(error)) == (
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "STREAM_DAILY_LIMIT_REACHED",
        )
        retry = detail(rich_status(error), error_details_pb2.RetryInfo)
        assert retry.retry_delay.seconds == DAY_S - 7_200, "until the next UTC midnight"
        clock.advance(DAY_S - 7_200)
        await client.admin.WriteStreamEvents(_write(token, log_event("c")))

        clock.advance(DAY_S + 7_200)  # exactly created + ttl
        got = await client.admin.GetStream(pb.GetStreamRequest(token=token))
        assert (got.stream.state, got.stream.event_count) == (stream_pb2.STREAM_STATE_EXPIRED, 3)
        for call in (
            client.admin.WriteStreamEvents(_write(token, log_event())),
            client.admin.ClaimStream(
                pb.ClaimStreamRequest(token=token, project="default"), metadata=client.master
            ),
        ):
            error = await _failed(call)
            assert (error.code(), reason(error)) == (grpc.StatusCode.FAILED_PRECONDITION, "STREAM_EXPIRED")
        assert await _project_events(client) == []


async def test_purge_expired_deletes_only_expired_streams_events(database_url: str) -> None:
    clock = ManualClock(START_S)
    settings = make_settings(database_url, stream_ttl_s=DAY_S)
    async with running(settings, clock) as started, grpc_channel(started.grpc_port) as channel:
        client = Client.for_channel(started, channel)
        old, young = str(uuid.uuid4()), str(uuid.uuid4())
        await client.admin.WriteStreamEvents(_write(old, log_event("old"), log_event("older")))
        clock.advance(DAY_S // 2)
        await client.admin.WriteStreamEvents(_write(young, log_event("young")))
        clock.advance(DAY_S // 2)
        engine = create_engine(database_url)
        try:
            sessions = session_factory(engine)
            # The lead's periodic task would call it on the server's own Streams; it needs only
            # the database and the clock.
            streams = Streams(cast(Ingest, None), Access(sessions), sessions, clock, settings)
            assert await streams.purge_expired() == 2
            assert await streams.purge_expired() == 0
        finally:
            await engine.dispose()
        got = await client.admin.GetStream(pb.GetStreamRequest(token=old))
        assert (got.stream.state, got.stream.event_count) == (stream_pb2.STREAM_STATE_EXPIRED, 2)
        claimed = await client.admin.ClaimStream(
            pb.ClaimStreamRequest(token=young, project="default"), metadata=client.master
        )
        assert claimed.claimed_event_count == 1
        assert [e.message for e in await _project_events(client)] == ["young"]


async def _concurrent_appends_and_a_claim(settings: Settings) -> None:
    async with running(settings) as started, grpc_channel(started.grpc_port) as channel:
        client = Client.for_channel(started, channel)
        token = str(uuid.uuid4())
        first = await client.admin.WriteStreamEvents(_write(token, log_event("first", idempotency_key="k")))

        async def write(n: int) -> list[str] | None:
            try:
                written = await client.admin.WriteStreamEvents(
                    _write(token, log_event(f"{n}a", idempotency_key=f"{n}a"), log_event(f"{n}b"))
                )
            except grpc.aio.AioRpcError as exc:
                assert reason(exc) == "STREAM_ALREADY_CLAIMED", exc
                return None
            return list(written.event_ids)

        before = [asyncio.ensure_future(write(n)) for n in range(80)]
        claim = asyncio.ensure_future(
            client.admin.ClaimStream(
                pb.ClaimStreamRequest(token=token, project="default"), metadata=client.master
            )
        )
        after = [asyncio.ensure_future(write(n)) for n in range(80, 160)]
        results = await asyncio.gather(*before, *after)
        claimed = await claim
        acknowledged = {*first.event_ids, *(i for r in results if r is not None for i in r)}
        stored = [e.id for e in await _project_events(client)]
        assert len(stored) == len(set(stored)), "nothing duplicated"
        assert set(stored) == acknowledged, "nothing acknowledged lost, nothing refused stored"
        assert claimed.claimed_event_count == len(stored)
        got = await client.admin.GetStream(pb.GetStreamRequest(token=token))
        assert got.stream.event_count == len(stored)


async def test_concurrent_appends_and_a_claim(database_url: str) -> None:
    await _concurrent_appends_and_a_claim(make_settings(database_url, stream_daily_event_limit=100_000))


async def test_canonical_http_routes(database_url: str) -> None:
    async with running(make_settings(database_url)) as started, aiohttp.ClientSession() as session:
        base = f"http://127.0.0.1:{started.http_port}"
        token = str(uuid.uuid4())
        async with session.post(
            f"{base}/v1/streams/{token}/events", json={"events": [{"message": "hi"}]}
        ) as r:
            assert r.status == 200, await r.text()
            assert len((await r.json())["eventIds"]) == 1
        async with session.get(f"{base}/v1/streams/{token}") as r:
            body = await r.json()
            assert (r.status, body["state"], body["eventCount"]) == (200, "STREAM_STATE_ACTIVE", "1")
        async with session.post(f"{base}/v1/streams/{token}:claim", json={"project": "default"}) as r:
            assert r.status == 401
        headers = {"Authorization": f"Bearer {MASTER_SECRET}"}
        async with session.post(
            f"{base}/v1/streams/{token}:claim", json={"project": "default"}, headers=headers
        ) as r:
            assert r.status == 200, await r.text()
            assert (await r.json()) == {"project": "default", "claimedEventCount": "1"}
        async with session.post(
            f"{base}/v1/streams/{token}/events", json={"events": [{"message": "hi"}]}
        ) as r:
            assert r.status == 400  # FAILED_PRECONDITION
