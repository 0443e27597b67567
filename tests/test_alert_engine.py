"""Alert rules evaluated as events are ingested, over real gRPC on SQLite and PostgreSQL: the
built-in rules (LogStitch's brute-force rule, security events, new issues, error spikes), custom
rules' conditions, cooldowns, disabled rules, and counts that outlast a restart. Time moves only
through the server's injected clock.

Alerts are read from the database as stored, so these tests stand on the engine alone."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from google.protobuf import timestamp_pb2
from sqlalchemy import insert, select

from ingestd.v1 import alert_service_pb2 as pb
from ingestd.v1 import alerting_pb2 as A
from ingestd.v1 import event_pb2 as E
from server.alerting.evaluator import AlertEvaluator
from server.alerting.matching import compile_glob, resolve
from server.config import Settings
from server.ids import UuidV7
from server.main import running
from server.normalize import normalize
from storage import alert_state, monitors
from storage.engine import create_engine
from storage.events import EventRow
from storage.models import Alert, AlertRule
from tests.conftest import Client, grpc_channel
from tests.helpers import ManualClock, error_event, log_event, write_request

#: 2025-11-15 00:00:00 UTC.
START_S = 1_763_164_800


@dataclass(frozen=True)
class StoredAlert:
    id: str
    rule_id: str
    rule_name: str
    severity: int
    state: int
    group_key: str
    event_count: int
    summary: str
    event_ids: list[str]
    created_us: int
    resolved_us: int | None


async def stored_alerts(database_url: str, rule_id: str | None = None) -> list[StoredAlert]:
    """The default project's alerts, oldest first, as stored."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            statement = select(Alert).where(Alert.project_id == "default").order_by(Alert.id)
            if rule_id is not None:
                statement = statement.where(Alert.rule_id == rule_id)
            rows = (await connection.execute(statement)).all()
    finally:
        await engine.dispose()
    return [
        StoredAlert(
            r.id,
            r.rule_id,
            r.rule_name,
            r.severity,
            r.state,
            r.group_key,
            r.event_count,
            r.summary,
            r.event_ids.split("\n") if r.event_ids else [],
            r.created_us,
            r.resolved_us,
        )
        for r in rows
    ]


async def store_rule(database_url: str, **row: Any) -> None:
    """Writes an `alert_rules` row of project `default` directly."""
    values: dict[str, Any] = {
        "project_id": "default",
        "type": A.ALERT_RULE_TYPE_CUSTOM,
        "name": "",
        "condition": b"",
        "threshold": 1,
        "window_s": 60,
        "group_by": "",
        "severity": A.ALERT_SEVERITY_LOW,
        "enabled": True,
        "cooldown_s": 3600,
        "created_us": START_S * 1_000_000,
        "updated_us": None,
        **row,
    }
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(insert(AlertRule), [values])
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def serving(settings: Settings, clock: ManualClock) -> AsyncIterator[Client]:
    async with running(settings, clock) as started, grpc_channel(started.grpc_port) as channel:
        yield Client.for_channel(started, channel)


def audit(action: str = "auth.failed", actor: str = "u_1", **fields: Any) -> E.Event:
    return E.Event(audit=E.AuditBody(action=action, actor=E.AuditActor(id=actor), **fields))


async def send(client: Client, *events: E.Event) -> list[str]:
    response = await client.ingest.WriteEvents(write_request(*events), metadata=client.project)
    return [r.event_id for r in response.results]


async def test_auth_brute_force_fires_at_five_failed_logins_of_one_actor(settings: Settings) -> None:
    clock = ManualClock(START_S)
    async with serving(settings, clock) as client:
        ids = await send(client, audit(), audit("auth.failed_mfa"), audit())
        await send(client, audit(actor="u_2"), audit("auth.login"), log_event("auth.failed"))
        clock.advance(60)
        ids += await send(client, audit())
        assert await stored_alerts(settings.database_url) == [], "4 failures of u_1: below the threshold"

        clock.advance(200)
        ids += await send(client, audit("auth.failed_password"))
        (alert,) = await stored_alerts(settings.database_url)
    assert (alert.rule_id, alert.rule_name, alert.group_key) == (
        "auth_brute_force",
        "Auth Brute Force",
        "u_1",
    )
    assert (alert.state, alert.severity, alert.event_count) == (A.ALERT_STATE_OPEN, A.ALERT_SEVERITY_HIGH, 5)
    assert alert.event_ids == [ids[-1]], "the ids of the events that were matched when it fired"
    assert alert.id.startswith("al_") and alert.created_us == clock.now
    assert alert.summary == "5 events matching auth.failed* for actor_id u_1 in 300s"


async def test_failures_spread_over_more_than_the_window_do_not_fire(settings: Settings) -> None:
    clock = ManualClock(START_S)
    async with serving(settings, clock) as client:
        await send(client, audit())
        clock.advance(301)
        for _ in range(4):
            await send(client, audit())
            clock.advance(10)
        assert await stored_alerts(settings.database_url) == [], "the first failure left the window"
        await send(client, audit())
        (alert,) = await stored_alerts(settings.database_url)
    assert alert.event_count == 5


async def test_a_group_fires_once_per_cooldown(settings: Settings) -> None:
    clock = ManualClock(START_S)
    async with serving(settings, clock) as client:
        await send(client, *(audit() for _ in range(5)))
        for _ in range(10):
            clock.advance(60)
            await send(client, audit())
        assert len(await stored_alerts(settings.database_url)) == 1, "within the 3600 s cooldown"

        clock.advance(3600 - 600)
        await send(client, *(audit() for _ in range(5)))
        first, second = await stored_alerts(settings.database_url)
    assert second.created_us - first.created_us == 3600 * 1_000_000
    assert (second.group_key, second.event_count) == ("u_1", 5), "counted over the window only"


async def test_a_disabled_rule_does_not_fire(settings: Settings) -> None:
    clock = ManualClock(START_S)
    async with serving(settings, clock) as client:
        await store_rule(
            settings.database_url, id="auth_brute_force", type=A.ALERT_RULE_TYPE_BUILTIN, enabled=False
        )
        await send(client, *(audit() for _ in range(6)))
        await send(client, audit("user.deleted", tenant_id="acme", category="security"))
        alerts = await stored_alerts(settings.database_url)
    assert [a.rule_id for a in alerts] == ["security_event"], "the other built-in rules still run"


async def test_new_issue_fires_once_per_new_fingerprint(settings: Settings) -> None:
    clock = ManualClock(START_S)
    async with serving(settings, clock) as client:
        first = await send(client, error_event(), error_event(), error_event("KeyError", "'id'"))
        clock.advance(5)
        await send(client, error_event(), error_event("KeyError", "'id'"))
        clock.advance(3600)
        again = await send(client, error_event("ValueError"), error_event())
        alerts = await stored_alerts(settings.database_url, "new_issue")
    assert len(alerts) == 3, [a.summary for a in alerts]
    assert [a.event_ids for a in alerts[:2]] == [first[:2], first[2:]] or [
        a.event_ids for a in alerts[:2]
    ] == [first[2:], first[:2]]
    assert alerts[2].event_ids == again[:1]
    assert len({a.group_key for a in alerts}) == 3 and all(a.summary.startswith("New issue") for a in alerts)
    assert {a.severity for a in alerts} == {A.ALERT_SEVERITY_MEDIUM}


async def test_error_spike_fires_when_a_service_reaches_the_threshold(settings: Settings) -> None:
    clock = ManualClock(START_S)
    async with serving(settings, clock) as client:
        await send(client, *(error_event(service="billing") for _ in range(60)))
        clock.advance(100)
        await send(client, *(error_event(service="search") for _ in range(60)))
        await send(client, *(error_event(service="billing") for _ in range(39)))
        assert await stored_alerts(settings.database_url, "error_spike") == []
        clock.advance(100)
        ids = await send(client, error_event(service="billing"), log_event(service="billing"))
        (alert,) = await stored_alerts(settings.database_url, "error_spike")
    assert (alert.group_key, alert.event_count, alert.event_ids) == ("billing", 100, ids[:1])
    assert alert.summary == "100 events matching Error spike for service billing in 300s"


async def test_a_security_event_fires_project_wide(settings: Settings) -> None:
    clock = ManualClock(START_S)
    async with serving(settings, clock) as client:
        (event_id,) = await send(client, audit("api_key.revoked", actor="u_9", category="security"))
        await send(client, audit("api_key.revoked", actor="u_8", category="admin"))
        (alert,) = await stored_alerts(settings.database_url)
    assert (alert.rule_id, alert.group_key, alert.event_ids) == ("security_event", "", [event_id])
    assert alert.summary == "1 event matching security in 60s"


async def test_a_custom_rule_counts_only_events_meeting_every_condition(settings: Settings) -> None:
    condition = A.AlertCondition(
        kinds=[E.KIND_LOG],
        min_level=E.LEVEL_WARNING,
        service="api",
        environment="production",
        field_equals={"context.region": "eu", "tags.team": "pay", "context.retries": "3"},
    )
    clock = ManualClock(START_S)
    async with serving(settings, clock) as client:
        await store_rule(
            settings.database_url,
            id="ar_0001",
            name="Payment warnings",
            condition=condition.SerializeToString(),
            threshold=3,
            window_s=600,
            group_by="context.shard",
            severity=A.ALERT_SEVERITY_CRITICAL,
        )

        def event(**changes: Any) -> E.Event:
            fields: dict[str, Any] = {
                "level": E.LEVEL_ERROR,
                "service": "api",
                "environment": "production",
                "tags": {"team": "pay"},
            }
            context = {"region": "eu", "retries": 3, "shard": "s1"}
            context.update(changes.pop("context", {}))
            fields.update(changes)
            made = log_event("payment retry", **fields)
            made.context.update(context)
            return made

        misses = [
            event(level=E.LEVEL_INFO),
            event(service="web"),
            event(environment="staging"),
            event(context={"region": "us"}),
            event(context={"retries": 2}),
            event(tags={"team": "ops"}),
            event(context={"shard": None}),
            error_event(service="api", environment="production", level=E.LEVEL_ERROR),
        ]
        await send(client, *misses, event(), event(level=E.LEVEL_WARNING), event(context={"shard": "s2"}))
        assert await stored_alerts(settings.database_url, "ar_0001") == []
        clock.advance(599)
        (third,) = await send(client, event(level=E.LEVEL_FATAL))
        (alert,) = await stored_alerts(settings.database_url, "ar_0001")
    assert (alert.rule_name, alert.severity, alert.group_key) == (
        "Payment warnings",
        A.ALERT_SEVERITY_CRITICAL,
        "s1",
    )
    assert (alert.event_count, alert.event_ids) == (3, [third])


async def test_counts_survive_a_restart(settings: Settings) -> None:
    clock = ManualClock(START_S)
    async with serving(settings, clock) as client:
        await send(client, *(audit() for _ in range(4)))
    clock.advance(30)
    async with serving(settings, clock) as client:
        assert await stored_alerts(settings.database_url) == []
        await send(client, audit())
        (alert,) = await stored_alerts(settings.database_url)
    assert (alert.rule_id, alert.event_count) == ("auth_brute_force", 5)


def test_globs_and_dot_paths() -> None:
    glob = compile_glob("auth.failed*")
    assert [bool(glob.match(a)) for a in ("auth.failed", "auth.failed_mfa", "xauth.failed", "auth.fail")] == [
        True,
        True,
        False,
        False,
    ]
    assert compile_glob("*.deleted").match("user.deleted") and not compile_glob("*.deleted").match(
        "deleted.x"
    )
    assert compile_glob("a?b[c]").match("a?b[c]"), "only * is special"
    event = E.Event(
        audit=E.AuditBody(
            action="x", actor=E.AuditActor(id="u"), context=E.AuditContext(ip_address="10.0.0.1")
        ),
        tags={"region": "eu"},
    )
    event.context.update({"n": 3, "f": 1.5, "ok": True, "nested": {"k": "v"}, "none": None})
    got = {
        path: resolve(event, path.split("."))
        for path in (
            "audit.actor.id",
            "audit.context.ip_address",
            "audit.target.id",
            "tags.region",
            "tags.missing",
            "context.n",
            "context.f",
            "context.ok",
            "context.nested.k",
            "context.nested",
            "context.none",
            "kind",
            "nope",
        )
    }
    assert got == {
        "audit.actor.id": "u",
        "audit.context.ip_address": "10.0.0.1",
        "audit.target.id": None,
        "tags.region": "eu",
        "tags.missing": None,
        "context.n": "3",
        "context.f": "1.5",
        "context.ok": "true",
        "context.nested.k": "v",
        "context.nested": None,
        "context.none": None,
        "kind": "KIND_UNSPECIFIED",
        "nope": None,
    }


async def test_a_monitor_that_fails_to_record_costs_no_other_evaluation(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One check-in's failure (forced here) used to roll back the whole group's alerts."""
    real = monitors.record_check_in

    async def poisoned(connection: Any, project: str, slug: str, **fields: Any) -> None:
        if slug == "poison":
            raise RuntimeError("forced failure")
        await real(connection, project, slug, **fields)

    monkeypatch.setattr(monitors, "record_check_in", poisoned)
    clock = ManualClock(START_S)
    async with serving(settings, clock) as client:
        check_in = E.Event(check_in=E.CheckInBody(slug="poison"))
        await send(client, error_event(), check_in, E.Event(check_in=E.CheckInBody(slug="fine")))
        listed = await client.alerts.ListMonitors(
            pb.ListMonitorsRequest(project="default"), metadata=client.master
        )
    assert [m.slug for m in listed.monitors] == ["fine"]
    assert [a.rule_id for a in await stored_alerts(settings.database_url)] == ["new_issue"]


async def test_one_projects_failed_evaluation_costs_no_other_project_its_alerts(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer group mixes projects; the first project's failure (forced here) used to end
    the evaluation of every project after it."""
    real = alert_state.new_fingerprints

    async def poisoned(connection: Any, project: str, *args: Any) -> Any:
        if project == "aaa":
            raise RuntimeError("forced failure")
        return await real(connection, project, *args)

    monkeypatch.setattr(alert_state, "new_fingerprints", poisoned)
    async with serving(settings, ManualClock(START_S)):
        pass  # bootstraps the database
    clock = ManualClock(START_S)
    evaluator = AlertEvaluator(clock, UuidV7(clock), settings)
    now = timestamp_pb2.Timestamp(seconds=START_S)
    rows = []
    for project in ("aaa", "default"):
        event = error_event(f"{project}Error")
        row = normalize(
            event,
            project=project,
            event_id=f"ev_{project}",
            received=now,
            received_us=clock.now,
            dialect="ingestd",
        )
        assert isinstance(row, EventRow)
        rows.append(row)
    engine = create_engine(settings.database_url)
    try:
        async with engine.begin() as connection:
            await evaluator.on_commit(connection, rows, clock.now)
    finally:
        await engine.dispose()
    (alert,) = await stored_alerts(settings.database_url)
    assert (alert.rule_id, alert.event_ids) == ("new_issue", ["ev_default"])
