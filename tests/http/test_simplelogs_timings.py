"""SimpleLogs timing starts closed by an end that a later request sends (docs/vendors/simplelogs.md
§5): by key and by touchpoint, on another node sharing the database, once when ends race for one
start, not after the start expired, and only together with the events (a refused or over-quota
call changes no open start)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from google.protobuf import json_format

from ingestd.v1 import admin_service_pb2, event_pb2
from server.timings import OPEN_START_TTL_S
from tests.conftest import MASTER_SECRET, Http, http_gateway, make_settings
from tests.helpers import ManualClock
from tests.http.test_simplelogs import QUEUED, T0, SimpleLogs, body, simplelogs_on

E = event_pb2


@pytest.fixture
async def sl(http: Http) -> AsyncIterator[SimpleLogs]:
    async with simplelogs_on(http) as simplelogs:
        yield simplelogs


async def _send(sl: SimpleLogs, *entries: dict[str, Any], key: str = "") -> None:
    reply = await sl.post(body(key or sl.server_key, *entries))
    assert (reply.status, reply.body) == (202, QUEUED)


async def _timings(sl: SimpleLogs) -> list[dict[str, Any]]:
    """The stored timing bodies, oldest first."""
    return [json_format.MessageToDict(e.timing) for e in reversed(await sl.events(kind=E.KIND_TIMING))]


def _closed(timing: dict[str, Any]) -> bool:
    return "startTime" in timing and "endTime" in timing


@contextlib.asynccontextmanager
async def _second_node(sl: SimpleLogs) -> AsyncIterator[SimpleLogs]:
    """Another ingestd on the same database, with its own caches, as a `SimpleLogs` with the same
    keys (its reads go through the first node)."""
    settings = make_settings(sl.http.running.settings.database_url, migrate_on_start=False)
    async with http_gateway(settings, "inprocess") as node:
        yield SimpleLogs(node, sl.grpc, sl.server_key, sl.client_key)


async def test_a_standalone_start_is_closed_by_its_end_in_a_later_request(sl: SimpleLogs) -> None:
    start = {
        "key": "job-7",
        "touchpoint": "jobs/nightly",
        "startTime": T0,
        "standalone": True,
        "metadata": {"from": "start", "run": 7},
    }
    await _send(sl, start)
    await _send(sl, {"message": "meanwhile"})

    await _send(sl, {"key": "job-7", "endTime": T0 + 1500, "metadata": {"from": "end"}})

    sent, measurement = await _timings(sl)
    assert sent == {
        "touchpoint": "jobs/nightly",
        "correlationKey": "job-7",
        "startTime": "2024-06-20T16:13:20Z",
        "standalone": True,
        "metadata": {"from": "start", "run": 7.0},
    }, "the start stays stored as it was sent"
    assert measurement == {
        "touchpoint": "jobs/nightly",
        "correlationKey": "job-7",
        "startTime": "2024-06-20T16:13:20Z",
        "endTime": "2024-06-20T16:13:21.500Z",
        "durationMs": 1500.0,
        "standalone": True,
        "metadata": {"from": "end", "run": 7.0},
    }
    newest = (await sl.events(kind=E.KIND_TIMING))[0]
    assert (newest.occurred_at.seconds, newest.origin) == (T0 // 1000, "server"), "the start's time"


async def test_ends_close_earlier_requests_starts_by_touchpoint_oldest_first(sl: SimpleLogs) -> None:
    await _send(sl, {"touchpoint": "render", "startTime": T0})
    await _send(sl, {"touchpoint": "render", "startTime": T0 + 10})
    await _send(sl, {"key": "a", "touchpoint": "q", "startTime": T0})

    await _send(sl, {"key": "z", "touchpoint": "q", "endTime": T0 + 50})
    await _send(sl, {"touchpoint": "render", "endTime": T0 + 100})
    await _send(
        sl, {"touchpoint": "render", "endTime": T0 + 200}, {"touchpoint": "render", "endTime": T0 + 300}
    )
    await _send(sl, {"touchpoint": "q", "endTime": T0 + 70})

    assert [
        (t.get("touchpoint"), t.get("correlationKey"), t.get("durationMs"), _closed(t))
        for t in await _timings(sl)
    ] == [
        ("render", None, None, False),
        ("render", None, None, False),
        ("q", "a", None, False),
        ("q", "z", None, False),  # another key's start is not its own
        ("render", None, 100.0, True),
        ("render", None, 190.0, True),
        ("render", None, None, False),  # no start left open
        ("q", "a", 70.0, True),  # an end without a key closes a keyed start of its touchpoint
    ]


async def test_an_end_closes_its_own_requests_start_before_an_earlier_one(sl: SimpleLogs) -> None:
    await _send(sl, {"key": "k", "startTime": T0})

    await _send(sl, {"key": "k", "startTime": T0 + 500}, {"key": "k", "endTime": T0 + 600})
    await _send(sl, {"key": "k", "endTime": T0 + 900})

    assert [(t.get("durationMs"), _closed(t)) for t in await _timings(sl)] == [
        (None, False),
        (100.0, True),
        (900.0, True),
    ]


async def test_an_end_sent_to_another_node_closes_the_start(sl: SimpleLogs) -> None:
    await _send(sl, {"key": "req-1", "touchpoint": "db/query", "startTime": T0, "standalone": True})

    async with _second_node(sl) as other:
        await _send(other, {"key": "req-1", "endTime": T0 + 42})

    assert [(t.get("durationMs"), _closed(t)) for t in await _timings(sl)] == [(None, False), (42.0, True)]


async def test_ends_racing_for_one_start_close_it_once(sl: SimpleLogs) -> None:
    await _send(sl, {"key": "race", "touchpoint": "t", "startTime": T0})

    async with _second_node(sl) as other:
        replies = await asyncio.gather(
            *(
                (sl if n % 2 else other).post(body(sl.server_key, {"key": "race", "endTime": T0 + 100 + n}))
                for n in range(10)
            )
        )

    assert {(r.status, str(r.body)) for r in replies} == {(202, str(QUEUED))}
    timings = await _timings(sl)
    assert len(timings) == 11
    assert sum(_closed(t) for t in timings) == 1


async def test_a_refused_call_neither_claims_nor_opens_a_start(sl: SimpleLogs) -> None:
    """A key revoked on another node is refused at commit here, after the open starts were met:
    what the call claimed goes back and what it opened goes."""
    revoked, key_id = await sl.create_key(admin_service_pb2.API_KEY_KIND_SERVER)
    await _send(sl, {"message": "caches the key"}, key=revoked)
    await _send(sl, {"key": "kept", "startTime": T0})
    async with _second_node(sl) as other:
        url = other.http.url(f"/v1/organizations/default/keys/{key_id}:revoke")
        async with other.http.session.post(url, json={}, headers=Http.bearer(MASTER_SECRET)) as response:
            assert response.status == 200, await response.text()

    for entry in ({"key": "kept", "endTime": T0 + 5}, {"key": "dropped", "startTime": T0}):
        reply = await sl.post(body(revoked, entry))
        assert (reply.status, reply.body) == (401, {"message": "Unauthorized"})
    await _send(sl, {"key": "kept", "endTime": T0 + 9}, {"key": "dropped", "endTime": T0 + 9})

    assert [(t["correlationKey"], t.get("durationMs"), _closed(t)) for t in await _timings(sl)] == [
        ("kept", None, False),
        ("kept", 9.0, True),
        ("dropped", None, False),
    ]


async def test_an_over_quota_call_neither_claims_nor_opens_a_start(sl: SimpleLogs) -> None:
    await _limit(sl, 1)
    await _send(sl, {"key": "kept", "startTime": T0})
    await _send(sl, {"key": "kept", "endTime": T0 + 5})  # over the limit: dropped, with 202
    await _send(sl, {"key": "dropped", "startTime": T0})  # likewise
    await _limit(sl, 0)

    await _send(sl, {"key": "kept", "endTime": T0 + 9}, {"key": "dropped", "endTime": T0 + 9})

    assert [(t["correlationKey"], t.get("durationMs"), _closed(t)) for t in await _timings(sl)] == [
        ("kept", None, False),
        ("kept", 9.0, True),
        ("dropped", None, False),
    ]


async def _limit(sl: SimpleLogs, daily: int) -> None:
    async with sl.http.session.patch(
        sl.http.url("/v1/projects/default"),
        params={"updateMask": "limits.dailyEventLimit"},
        json={"limits": {"dailyEventLimit": str(daily)}},
        headers=Http.bearer(MASTER_SECRET),
    ) as response:
        assert response.status == 200, await response.text()


@pytest.fixture
async def clocked(http_target: tuple[str, str]) -> AsyncIterator[tuple[SimpleLogs, ManualClock]]:
    database_url, mode = http_target
    clock = ManualClock(T0 // 1000)
    async with http_gateway(make_settings(database_url), mode, clock) as http, simplelogs_on(http) as sl:
        yield sl, clock


async def test_a_start_waits_a_day_for_its_end_and_no_longer(clocked: tuple[SimpleLogs, ManualClock]) -> None:
    sl, clock = clocked
    await _send(sl, {"key": "in-time", "startTime": T0}, {"key": "too-late", "startTime": T0})

    clock.advance(OPEN_START_TTL_S)
    await _send(sl, {"key": "in-time", "endTime": T0 + 1})
    clock.advance(1)
    await _send(sl, {"key": "too-late", "endTime": T0 + 2})

    assert [(t["correlationKey"], _closed(t)) for t in await _timings(sl)] == [
        ("in-time", False),
        ("too-late", False),
        ("in-time", True),
        ("too-late", False),
    ]
