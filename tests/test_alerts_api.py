"""AlertService's alerts over real gRPC, on SQLite and PostgreSQL: listing newest first with filters
and page tokens, and the state changes open→acknowledged and open|acknowledged→resolved.

Alerts are written straight into the database here, as the evaluator would write them, so these
tests hold the API to its contract whatever opens the alerts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import grpc
import pytest
from google.protobuf import timestamp_pb2
from google.rpc import error_details_pb2  # type: ignore[attr-defined]
from sqlalchemy import select

from ingestd.v1 import alert_service_pb2, alerting_pb2
from server.config import Settings
from server.ids import UuidV7
from storage.engine import create_engine, session_factory
from storage.models import Alert as AlertRow
from storage.models import AlertGroup
from tests.conftest import Client
from tests.helpers import ManualClock, detail, reason, rich_status, violations
from tests.test_alert_rules import refused, serving

S = alert_service_pb2
A = alerting_pb2
OPEN, ACKNOWLEDGED, RESOLVED = A.ALERT_STATE_OPEN, A.ALERT_STATE_ACKNOWLEDGED, A.ALERT_STATE_RESOLVED
START_S = 1_780_000_000
RULES = ("auth_brute_force", "error_spike", "ar_custom")


@dataclass(frozen=True)
class Made:
    id: str
    rule_id: str
    state: int
    created_us: int


async def insert_alerts(
    database_url: str, count: int, *, start_s: int = START_S, project: str = "default"
) -> list[Made]:
    """`count` alerts one second apart, oldest first: rules in turn, every third acknowledged and
    every fifth resolved (others open), each with an open-alert mark in its rule group."""
    ids = UuidV7(ManualClock(start_s))
    made: list[Made] = []
    rows: list[object] = []
    for n in range(count):
        created_us = (start_s + n) * 1_000_000
        state = RESOLVED if n % 5 == 4 else ACKNOWLEDGED if n % 3 == 2 else OPEN
        made.append(Made("al_" + ids.new(), RULES[n % 3], state, created_us))
        alert = made[-1]
        rows.append(AlertRow(
            project_id=project, id=alert.id, rule_id=alert.rule_id, rule_name=f"Rule {alert.rule_id}",
            severity=A.ALERT_SEVERITY_HIGH, state=state, group_key=f"g{n}", event_count=5,
            summary=f"5 events for g{n}", event_ids=f"ev_{n}_a\nev_{n}_b", created_us=created_us,
            acknowledged_us=created_us + 1 if state == ACKNOWLEDGED else None,
            resolved_us=created_us + 2 if state == RESOLVED else None,
        ))  # fmt: skip
        rows.append(AlertGroup(
            project_id=project, rule_id=alert.rule_id, group_key=f"g{n}", last_fired_us=created_us,
            open_alert_id=alert.id,
        ))  # fmt: skip
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session, session.begin():
            session.add_all(rows)
    finally:
        await engine.dispose()
    return made


async def open_alert_ids(database_url: str) -> set[str]:
    """The open alerts the rule groups point at: what the next firing of a group checks."""
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            found = await session.execute(
                select(AlertGroup.open_alert_id).where(AlertGroup.open_alert_id.isnot(None))
            )
            return {alert_id for alert_id in found.scalars() if alert_id is not None}
    finally:
        await engine.dispose()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START_S + 10_000)


@pytest.fixture
async def client(settings: Settings, clock: ManualClock) -> AsyncIterator[Client]:
    async with serving(settings, clock) as started:
        yield started


def stamp(us: int) -> timestamp_pb2.Timestamp:
    out = timestamp_pb2.Timestamp()
    out.FromMicroseconds(us)
    return out


async def page_all(client: Client, request: S.ListAlertsRequest) -> tuple[list[str], list[int]]:
    """Every id the listing yields, following page tokens, and the size of each page."""
    ids: list[str] = []
    sizes: list[int] = []
    while True:
        response = await client.alerts.ListAlerts(request, metadata=client.project)
        ids.extend(a.id for a in response.alerts)
        sizes.append(len(response.alerts))
        if not response.next_page_token:
            return ids, sizes
        request.page_token = response.next_page_token


def newest_first(made: Sequence[Made]) -> list[str]:
    return [m.id for m in reversed(made)]


async def test_pages_through_120_alerts_newest_first(client: Client, settings: Settings) -> None:
    made = await insert_alerts(settings.database_url, 120)
    ids, sizes = await page_all(client, S.ListAlertsRequest(project="default", page_size=50))
    assert sizes == [50, 50, 20]
    assert ids == newest_first(made)

    default = await client.alerts.ListAlerts(S.ListAlertsRequest(project="default"), metadata=client.master)
    assert [a.id for a in default.alerts] == newest_first(made)[:50], "50 by default"
    newest = default.alerts[0]
    assert newest.rule_id == made[-1].rule_id and newest.rule_name == f"Rule {made[-1].rule_id}"
    assert list(newest.event_ids) == ["ev_119_a", "ev_119_b"]
    assert (newest.event_count, newest.summary, newest.group_key) == (5, "5 events for g119", "g119")
    assert newest.create_time == stamp(made[-1].created_us)

    everything = await client.alerts.ListAlerts(
        S.ListAlertsRequest(project="default", page_size=100), metadata=client.project
    )
    assert len(everything.alerts) == 100 and everything.next_page_token

    # A token is bound to the filters it was issued for.
    error = await refused(client.alerts.ListAlerts(
        S.ListAlertsRequest(project="default", state=OPEN, page_token=default.next_page_token),
        metadata=client.project,
    ))  # fmt: skip
    assert [f for f, _ in violations(error)] == ["page_token"]
    for size in (101, -1):
        error = await refused(client.alerts.ListAlerts(
            S.ListAlertsRequest(project="default", page_size=size), metadata=client.project
        ))  # fmt: skip
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert [f for f, _ in violations(error)] == ["page_size"]


async def test_filters_by_state_rule_and_time(client: Client, settings: Settings) -> None:
    made = await insert_alerts(settings.database_url, 120)

    for state in (OPEN, ACKNOWLEDGED, RESOLVED):
        ids, _ = await page_all(client, S.ListAlertsRequest(project="default", state=state, page_size=30))
        assert ids == newest_first([m for m in made if m.state == state]), state
    ids, _ = await page_all(client, S.ListAlertsRequest(project="default", rule="error_spike", page_size=7))
    assert ids == newest_first([m for m in made if m.rule_id == "error_spike"])

    start, end = made[10].created_us, made[70].created_us
    window = S.ListAlertsRequest(
        project="default", start_time=stamp(start), end_time=stamp(end), page_size=25
    )
    ids, sizes = await page_all(client, window)
    assert ids == newest_first(made[10:70]) and sizes == [25, 25, 10], "start inclusive, end exclusive"

    combined = S.ListAlertsRequest(
        project="default", state=OPEN, rule="auth_brute_force", start_time=stamp(made[60].created_us)
    )
    ids, _ = await page_all(client, combined)
    assert ids == newest_first([m for m in made[60:] if m.state == OPEN and m.rule_id == "auth_brute_force"])
    ids, _ = await page_all(client, S.ListAlertsRequest(project="default", rule="no_such_rule"))
    assert ids == []

    error = await refused(client.alerts.ListAlerts(
        S.ListAlertsRequest(project="default", start_time=stamp(end), end_time=stamp(start)),
        metadata=client.project,
    ))  # fmt: skip
    assert [f for f, _ in violations(error)] == ["end_time"]
    error = await refused(client.alerts.ListAlerts(
        S.ListAlertsRequest(project="default", state=9), metadata=client.project  # type: ignore[arg-type]
    ))  # fmt: skip
    assert [f for f, _ in violations(error)] == ["state"]


async def _move(client: Client, alert_id: str, state: int) -> A.Alert:
    response = await client.alerts.UpdateAlertState(
        S.UpdateAlertStateRequest(project="default", alert=alert_id, state=state),  # type: ignore[arg-type]
        metadata=client.project,
    )
    alert: A.Alert = response.alert
    return alert


async def _refused_move(client: Client, alert_id: str, state: int) -> grpc.aio.AioRpcError:
    return await refused(_move(client, alert_id, state))


def _transition_metadata(error: grpc.aio.AioRpcError) -> dict[str, str]:
    info = detail(rich_status(error), error_details_pb2.ErrorInfo)
    assert info.reason == "INVALID_TRANSITION"
    return {k: v for k, v in info.metadata.items() if k != "request_id"}


async def test_state_changes_allowed_and_refused(
    client: Client, settings: Settings, clock: ManualClock
) -> None:
    made = await insert_alerts(settings.database_url, 2)
    first, second = made[0].id, made[1].id
    assert {m.state for m in made} == {OPEN}

    clock.advance(10)
    acked = await _move(client, first, ACKNOWLEDGED)
    assert acked.state == ACKNOWLEDGED
    assert acked.acknowledge_time == stamp(clock.now) and not acked.HasField("resolve_time")

    error = await _refused_move(client, first, ACKNOWLEDGED)
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert _transition_metadata(error) == {"from": "acknowledged", "to": "acknowledged"}

    clock.advance(10)
    resolved = await _move(client, first, RESOLVED)
    assert resolved.state == RESOLVED and resolved.resolve_time == stamp(clock.now)
    assert resolved.acknowledge_time == acked.acknowledge_time
    assert await open_alert_ids(settings.database_url) == {second}, "its group may open a new alert"

    for target, names in [
        (ACKNOWLEDGED, {"from": "resolved", "to": "acknowledged"}),
        (RESOLVED, {"from": "resolved", "to": "resolved"}),
    ]:
        error = await _refused_move(client, first, target)
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert _transition_metadata(error) == names
        assert rich_status(error).message == f"an alert cannot go from resolved to {names['to']}"

    # Open straight to resolved, by a master key this time.
    response = await client.alerts.UpdateAlertState(
        S.UpdateAlertStateRequest(project="default", alert=second, state=RESOLVED), metadata=client.master
    )
    assert response.alert.state == RESOLVED and not response.alert.HasField("acknowledge_time")
    got = await client.alerts.GetAlert(
        S.GetAlertRequest(project="default", alert=second), metadata=client.project
    )
    assert got.alert == response.alert
    assert await open_alert_ids(settings.database_url) == set()

    for target in (A.ALERT_STATE_UNSPECIFIED, OPEN):
        error = await _refused_move(client, second, target)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert [f for f, _ in violations(error)] == ["state"]
    for call in (
        _move(client, "al_missing", RESOLVED),
        client.alerts.GetAlert(
            S.GetAlertRequest(project="default", alert="al_missing"), metadata=client.project
        ),
    ):
        error = await refused(call)
        assert (error.code(), reason(error)) == (grpc.StatusCode.NOT_FOUND, "ALERT_NOT_FOUND")


async def test_concurrent_changes_apply_once(client: Client, settings: Settings) -> None:
    [made] = await insert_alerts(settings.database_url, 1)
    results = await asyncio.gather(
        *(_move(client, made.id, RESOLVED) for _ in range(6)), return_exceptions=True
    )
    resolved = [r for r in results if isinstance(r, A.Alert)]
    refusals = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(resolved) == 1 and len(refusals) == 5
    assert all(reason(e) == "INVALID_TRANSITION" for e in refusals)


async def test_alerts_of_another_project_are_out_of_reach(client: Client) -> None:
    for call in (
        client.alerts.ListAlerts(S.ListAlertsRequest(project="other"), metadata=client.project),
        client.alerts.GetAlert(S.GetAlertRequest(project="other", alert="al_x"), metadata=client.project),
        client.alerts.UpdateAlertState(
            S.UpdateAlertStateRequest(project="other", alert="al_x", state=RESOLVED), metadata=client.project
        ),
    ):
        error = await refused(call)
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    error = await refused(client.alerts.ListAlerts(S.ListAlertsRequest(project="default")))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
