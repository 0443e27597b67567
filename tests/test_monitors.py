"""Check-in monitors: made by Logister's `POST /api/v1/check_ins` (and canonical check-in events),
read through AlertService over gRPC and HTTP; a failed check-in opens an alert, an overdue one is
marked missed by the background sweep and opens an alert, and a later `ok` check-in resolves
both. On SQLite and PostgreSQL, with the server's clock injected.

The sweep runs every 0.02 real seconds here; tests poll for its effect, never for time to pass.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
import pytest

from ingestd.v1 import alert_service_pb2 as pb
from ingestd.v1 import alerting_pb2 as A
from ingestd.v1 import event_pb2 as E
from tests.conftest import PROJECT_SECRET, Client, Http, grpc_channel, http_gateway, make_settings
from tests.helpers import ManualClock, reason, write_request
from tests.test_alert_engine import START_S, StoredAlert, store_rule, stored_alerts

T = TypeVar("T")


async def check_in(http: Http, slug: str, status: str, **fields: Any) -> int:
    body = {"check_in": {"slug": slug, "status": status, "environment": "production", **fields}}
    async with http.session.post(
        http.url("/api/v1/check_ins"), json=body, headers=http.bearer(PROJECT_SECRET)
    ) as response:
        return response.status


async def eventually(
    probe: Callable[[], Awaitable[T]], done: Callable[[T], bool], timeout_s: float = 10
) -> T:
    """Polls `probe` until `done` holds for its value: waits for the background loop's effect."""
    async with asyncio.timeout(timeout_s):
        while True:
            value = await probe()
            if done(value):
                return value
            await asyncio.sleep(0.02)


def us(timestamp: Any) -> int:
    return int(timestamp.seconds) * 1_000_000 + int(timestamp.nanos) // 1000


async def test_check_ins_make_a_monitor_whose_failures_and_misses_open_alerts(database_url: str) -> None:
    clock = ManualClock(START_S)
    settings = make_settings(database_url, alert_poll_interval_s=0.02)
    async with (
        http_gateway(settings, "inprocess", clock) as http,
        grpc_channel(http.running.grpc_port) as channel,
    ):
        client = Client.for_channel(http.running, channel)

        async def monitor(slug: str = "nightly") -> A.Monitor:
            request = pb.GetMonitorRequest(project="default", slug=slug)
            return (await client.alerts.GetMonitor(request, metadata=client.project)).monitor

        async def alerts() -> list[StoredAlert]:
            return await stored_alerts(database_url)

        assert await check_in(http, "nightly", "ok", expected_interval_seconds=900) == 201
        first = await monitor()
        assert (first.slug, first.environment, first.expected_interval_seconds) == (
            "nightly",
            "production",
            900,
        )
        assert (first.status, first.last_check_in_status) == (A.MONITOR_STATUS_OK, E.CHECK_IN_STATUS_OK)
        assert us(first.last_check_in_time) == us(first.create_time) == clock.now
        assert us(first.next_due_time) == clock.now + 900 * 1_000_000

        clock.advance(600)
        assert await check_in(http, "nightly", "error", expected_interval_seconds=900) == 201
        failing = await monitor()
        assert (failing.status, failing.last_check_in_status) == (
            A.MONITOR_STATUS_FAILING,
            E.CHECK_IN_STATUS_ERROR,
        )
        assert us(failing.next_due_time) == clock.now + 900 * 1_000_000
        assert us(failing.create_time) == us(first.create_time)
        (failed,) = await alerts()
        assert (failed.rule_id, failed.group_key, failed.state) == (
            "check_in_failed",
            "nightly",
            A.ALERT_STATE_OPEN,
        )
        assert failed.summary == "Check-in nightly reported an error"
        clock.advance(60)
        assert await check_in(http, "nightly", "error", expected_interval_seconds=900) == 201
        assert len(await alerts()) == 1, "one live alert per slug, however often it fails"

        # Due 900 s after the last check-in, missed 60 s (the grace) after that.
        clock.advance(900 + 60)
        assert (await monitor()).status == A.MONITOR_STATUS_FAILING, "not yet past the grace period"
        clock.advance(1)
        missed = await eventually(monitor, lambda m: m.status == A.MONITOR_STATUS_MISSED)
        assert missed.last_check_in_status == E.CHECK_IN_STATUS_ERROR
        _, missed_alert = await eventually(alerts, lambda found: len(found) == 2)
        assert (missed_alert.rule_id, missed_alert.group_key) == ("check_in_missed", "nightly")
        assert (missed_alert.state, missed_alert.severity) == (A.ALERT_STATE_OPEN, A.ALERT_SEVERITY_HIGH)
        assert missed_alert.summary == "Check-in nightly missed: none for 61s past its due time"

        clock.advance(30)
        assert await check_in(http, "nightly", "ok") == 201
        back = await monitor()
        assert (back.status, back.last_check_in_status) == (A.MONITOR_STATUS_OK, E.CHECK_IN_STATUS_OK)
        resolved = await alerts()
        assert [(a.rule_id, a.state, a.resolved_us) for a in resolved] == [
            ("check_in_failed", A.ALERT_STATE_RESOLVED, clock.now),
            ("check_in_missed", A.ALERT_STATE_RESOLVED, clock.now),
        ]

        clock.advance(60)
        assert await check_in(http, "nightly", "error") == 201
        assert [a.rule_id for a in await alerts()] == [
            "check_in_failed",
            "check_in_missed",
            "check_in_failed",
        ], "failing again after the resolution opens a new alert"


async def test_monitors_are_listed_and_read_over_grpc_and_http(database_url: str) -> None:
    clock = ManualClock(START_S)
    settings = make_settings(database_url)
    async with (
        http_gateway(settings, "inprocess", clock) as http,
        grpc_channel(http.running.grpc_port) as channel,
    ):
        client = Client.for_channel(http.running, channel)
        listed = await client.alerts.ListMonitors(
            pb.ListMonitorsRequest(project="default"), metadata=client.master
        )
        assert list(listed.monitors) == []

        assert await check_in(http, "nightly", "ok") == 201
        canonical = E.Event(check_in=E.CheckInBody(slug="hourly", expected_interval_seconds=3600))
        await client.ingest.WriteEvents(write_request(canonical), metadata=client.project)
        clock.advance(10)
        unsaid = E.Event(check_in=E.CheckInBody(slug="hourly"))  # keeps the monitor's interval
        await client.ingest.WriteEvents(write_request(unsaid), metadata=client.project)

        listed = await client.alerts.ListMonitors(
            pb.ListMonitorsRequest(project="default"), metadata=client.master
        )
        assert [(m.slug, m.expected_interval_seconds) for m in listed.monitors] == [
            ("hourly", 3600),
            ("nightly", 300),
        ]
        assert listed.monitors[0].environment == "", "the canonical event named none"

        async with http.session.get(
            http.url("/v1/projects/default/monitors/nightly"), headers=http.bearer()
        ) as response:
            assert response.status == 200
            body = await response.json()
        assert body["slug"] == "nightly" and body["status"] == "MONITOR_STATUS_OK"
        assert (body["expectedIntervalSeconds"], body["nextDueTime"]) == ("300", "2025-11-15T00:05:00Z")
        async with http.session.get(
            http.url("/v1/projects/default/monitors"), headers=http.bearer()
        ) as response:
            assert [m["slug"] for m in (await response.json())["monitors"]] == ["hourly", "nightly"]

        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await client.alerts.GetMonitor(
                pb.GetMonitorRequest(project="default", slug="weekly"), metadata=client.project
            )
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        assert reason(caught.value) == "MONITOR_NOT_FOUND"


async def test_a_missed_check_in_opens_no_alert_while_its_rule_is_disabled(database_url: str) -> None:
    clock = ManualClock(START_S)
    settings = make_settings(database_url, alert_poll_interval_s=0.02)
    async with (
        http_gateway(settings, "inprocess", clock) as http,
        grpc_channel(http.running.grpc_port) as channel,
    ):
        await store_rule(database_url, id="check_in_missed", type=A.ALERT_RULE_TYPE_BUILTIN, enabled=False)
        client = Client.for_channel(http.running, channel)
        assert await check_in(http, "quiet", "ok", expected_interval_seconds=60) == 201
        assert await check_in(http, "loud", "ok", expected_interval_seconds=600) == 201
        clock.advance(60 + 60 + 1)

        async def statuses() -> dict[str, int]:
            listed = await client.alerts.ListMonitors(
                pb.ListMonitorsRequest(project="default"), metadata=client.project
            )
            return {m.slug: m.status for m in listed.monitors}

        assert await eventually(statuses, lambda s: s["quiet"] == A.MONITOR_STATUS_MISSED) == {
            "loud": A.MONITOR_STATUS_OK,
            "quiet": A.MONITOR_STATUS_MISSED,
        }
        assert await stored_alerts(database_url) == []


async def test_a_check_in_out_of_range_is_refused_and_leaves_the_monitors_readable(database_url: str) -> None:
    """Once, a huge interval was stored and every later ListMonitors answered 500."""
    settings = make_settings(database_url)
    async with (
        http_gateway(settings, "inprocess", ManualClock(START_S)) as http,
        grpc_channel(http.running.grpc_port) as channel,
    ):
        client = Client.for_channel(http.running, channel)
        for interval in ("1e12", "9.3e18", '"1e400"', '"1e13"'):
            body = '{"check_in": {"slug": "x", "status": "ok", "expected_interval_seconds": %s}}'.replace(
                "%s", interval
            )
            headers = {**http.bearer(PROJECT_SECRET), "Content-Type": "application/json"}
            url = http.url("/api/v1/check_ins")
            async with http.session.post(url, data=body, headers=headers) as response:
                assert (response.status, await response.json()) == (
                    422,
                    {"errors": ["Expected interval seconds must be less than or equal to 31622400"]},
                ), interval
        bad = [
            {
                "checkIn": {
                    "slug": "x",
                    "status": "CHECK_IN_STATUS_OK",
                    "expectedIntervalSeconds": "9" + "0" * 12,
                }
            },
            {"checkIn": {"slug": "x", "expectedIntervalSeconds": "-5"}},
            {"checkIn": {"slug": "x", "status": 42}},
            {"checkIn": {"slug": "nul\u0000slug"}},
            {"checkIn": {"slug": "s" * 201}},
        ]
        async with http.session.post(
            http.url("/v1/projects/default/events:write"), json={"events": bad}, headers=http.bearer()
        ) as response:
            assert response.status == 200
            answer = await response.json()
        assert answer["rejectedCount"] == len(bad)
        fields = [r["error"]["details"][1]["fieldViolations"][0]["field"] for r in answer["results"]]
        assert fields == [
            "check_in.expected_interval_seconds",
            "check_in.expected_interval_seconds",
            "check_in.status",
            "check_in.slug",
            "check_in.slug",
        ]
        yearly = E.Event(check_in=E.CheckInBody(slug="yearly", expected_interval_seconds=366 * 86_400))
        await client.ingest.WriteEvents(write_request(yearly), metadata=client.project)
        listed = await client.alerts.ListMonitors(
            pb.ListMonitorsRequest(project="default"), metadata=client.master
        )
        assert [(m.slug, m.expected_interval_seconds) for m in listed.monitors] == [("yearly", 366 * 86_400)]
        async with http.session.get(
            http.url("/v1/projects/default/monitors/yearly"), headers=http.bearer()
        ) as response:
            assert response.status == 200
            assert (await response.json())["nextDueTime"] == "2026-11-16T00:00:00Z"
