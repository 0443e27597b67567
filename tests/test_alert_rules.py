"""AlertService's alert rules over real gRPC, on SQLite and PostgreSQL: the built-in catalog, custom
rule CRUD and its validation, the project's rule limit, and who may change rules."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2
from sqlalchemy import func, select

from ingestd.v1 import admin_service_pb2, alert_service_pb2, alerting_pb2, event_pb2
from server.config import Settings
from server.main import running
from storage.engine import create_engine, session_factory
from storage.models import Alert as AlertRow
from storage.models import AlertCounter, AlertDistinct, AlertGroup
from tests.conftest import Client, grpc_channel
from tests.helpers import ManualClock, reason, rich_status, violations

S = alert_service_pb2
A = alerting_pb2
Rule = A.AlertRule
Condition = A.AlertCondition
START_S = 1_780_000_000

BUILTIN_IDS = [
    "auth_brute_force",
    "privilege_escalation_burst",
    "rapid_api_key_creation",
    "bulk_data_export",
    "account_deletion_spike",
    "suspicious_ip_change",
    "security_event",
    "new_issue",
    "error_spike",
    "check_in_failed",
    "check_in_missed",
]


@contextlib.asynccontextmanager
async def serving(settings: Settings, clock: ManualClock) -> AsyncIterator[Client]:
    async with running(settings, clock) as started, grpc_channel(started.grpc_port) as channel:
        yield Client.for_channel(started, channel)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START_S)


@pytest.fixture
async def alerting(settings: Settings, clock: ManualClock) -> AsyncIterator[Client]:
    async with serving(settings, clock) as client:
        yield client


async def refused(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


def custom(**fields: Any) -> A.AlertRule:
    """A valid custom rule, with `fields` replacing its values."""
    values: dict[str, Any] = {
        "name": "Bulk invite spike",
        "condition": Condition(kinds=[event_pb2.KIND_AUDIT], action_pattern="team.member.invited"),
        "threshold": 10,
        "window_seconds": 600,
        "group_by": "tenant_id",
        "severity": A.ALERT_SEVERITY_MEDIUM,
    }
    values.update(fields)
    return Rule(**values)


async def create(client: Client, rule: A.AlertRule) -> A.AlertRule:
    created = await client.alerts.CreateAlertRule(
        S.CreateAlertRuleRequest(project="default", rule=rule), metadata=client.master
    )
    stored: A.AlertRule = created.rule
    return stored


async def listed(client: Client) -> list[A.AlertRule]:
    response = await client.alerts.ListAlertRules(
        S.ListAlertRulesRequest(project="default"), metadata=client.project
    )
    return list(response.rules)


def update_request(rule_id: str, mask: tuple[str, ...] = (), **fields: Any) -> S.UpdateAlertRuleRequest:
    return S.UpdateAlertRuleRequest(
        project="default",
        rule=rule_id,
        update=Rule(**fields),
        update_mask=field_mask_pb2.FieldMask(paths=mask),
    )


async def test_list_shows_builtins_then_custom_rules_oldest_first(
    alerting: Client, clock: ManualClock
) -> None:
    rules = await listed(alerting)
    assert [r.id for r in rules] == BUILTIN_IDS
    assert all(r.type == A.ALERT_RULE_TYPE_BUILTIN for r in rules)
    brute = rules[0]
    assert (brute.name, brute.condition.action_pattern, brute.threshold, brute.window_seconds) == (
        "Auth Brute Force",
        "auth.failed*",
        5,
        300,
    )
    assert (brute.group_by, brute.severity, brute.enabled, brute.cooldown_seconds) == (
        "actor_id",
        A.ALERT_SEVERITY_HIGH,
        True,
        3600,
    )
    assert not brute.HasField("create_time")
    assert [r.id for r in rules if not r.enabled] == ["suspicious_ip_change"]

    first = await create(alerting, custom())
    clock.advance(5)
    second = await create(alerting, custom(name="Errors in billing", enabled=False, cooldown_seconds=0))
    assert first.id.startswith("ar_") and len(first.id) == 39
    assert first.type == A.ALERT_RULE_TYPE_CUSTOM
    assert (first.enabled, first.cooldown_seconds) == (True, 3600), "the documented defaults"
    assert first.create_time.ToMicroseconds() == START_S * 1_000_000
    assert first.condition == custom().condition
    assert (second.enabled, second.cooldown_seconds) == (False, 0)

    rules = await listed(alerting)
    assert [r.id for r in rules] == [*BUILTIN_IDS, first.id, second.id]
    assert rules[-2] == first and rules[-1] == second


BAD_RULES: list[tuple[dict[str, Any], str]] = [
    ({"name": ""}, "rule.name"),
    ({"name": "   "}, "rule.name"),
    ({"name": "x" * 101}, "rule.name"),
    ({"threshold": 0}, "rule.threshold"),
    ({"threshold": 1_000_001}, "rule.threshold"),
    ({"window_seconds": 59}, "rule.window_seconds"),
    ({"window_seconds": 86_401}, "rule.window_seconds"),
    ({"cooldown_seconds": -1}, "rule.cooldown_seconds"),
    ({"cooldown_seconds": 604_801}, "rule.cooldown_seconds"),
    ({"severity": A.ALERT_SEVERITY_UNSPECIFIED}, "rule.severity"),
    ({"group_by": "actor id"}, "rule.group_by"),
    ({"group_by": "context..region"}, "rule.group_by"),
    ({"group_by": "a" * 201}, "rule.group_by"),
    ({"condition": Condition(action_pattern="auth failed")}, "rule.condition.action_pattern"),
    ({"condition": Condition(action_pattern="a" * 201)}, "rule.condition.action_pattern"),
    ({"condition": Condition(kinds=[event_pb2.KIND_AUDIT, 99])}, "rule.condition.kinds[1]"),  # type: ignore[list-item]
    ({"condition": Condition(kinds=[event_pb2.KIND_UNSPECIFIED])}, "rule.condition.kinds[0]"),
    ({"condition": Condition(min_level=42)}, "rule.condition.min_level"),  # type: ignore[arg-type]
    ({"condition": Condition(service="s" * 201)}, "rule.condition.service"),
    (
        {"condition": Condition(field_equals={f"context.k{n}": "v" for n in range(21)})},
        "rule.condition.field_equals",
    ),
    ({"condition": Condition(field_equals={"context..x": "v"})}, "rule.condition.field_equals['context..x']"),
    (
        {"condition": Condition(field_equals={"context.x": "v" * 201})},
        "rule.condition.field_equals['context.x']",
    ),
]


async def test_create_refuses_each_bad_field_by_name(alerting: Client) -> None:
    for fields, field in BAD_RULES:
        error = await refused(alerting.alerts.CreateAlertRule(
            S.CreateAlertRuleRequest(project="default", rule=custom(**fields)), metadata=alerting.master
        ))  # fmt: skip
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, fields
        assert [f for f, _ in violations(error)] == [field], fields

    error = await refused(alerting.alerts.CreateAlertRule(
        S.CreateAlertRuleRequest(project="default", rule=Rule()), metadata=alerting.master
    ))  # fmt: skip
    assert [f for f, _ in violations(error)] == [
        "rule.name",
        "rule.threshold",
        "rule.window_seconds",
        "rule.severity",
    ]
    assert [r.id for r in await listed(alerting)] == BUILTIN_IDS, "nothing was stored"

    # The named group-bys, dot paths and an empty group are all accepted.
    for group_by in ("", "actor_id", "check_in_slug", "context.region", "audit.actor.type"):
        assert (await create(alerting, custom(group_by=group_by))).group_by == group_by
    wide = custom(
        condition=Condition(
            kinds=[event_pb2.KIND_ERROR, event_pb2.KIND_LOG],
            min_level=event_pb2.LEVEL_ERROR,
            service="billing",
            environment="production",
            action_pattern="*.deleted",
            field_equals={f"context.k{n}": "v" for n in range(20)},
        ),
        threshold=1_000_000,
        window_seconds=86_400,
        cooldown_seconds=604_800,
    )
    assert (await create(alerting, wide)).condition == wide.condition


async def test_custom_rules_stop_at_the_projects_limit(alerting: Client) -> None:
    await alerting.admin.UpdateProject(
        admin_service_pb2.UpdateProjectRequest(
            project="default",
            update=admin_service_pb2.Project(limits=admin_service_pb2.ProjectLimits(alert_rule_limit=2)),
            update_mask=field_mask_pb2.FieldMask(paths=["limits.alert_rule_limit"]),
        ),
        metadata=alerting.master,
    )
    # Changes to built-in rules are not custom rules.
    await alerting.alerts.UpdateAlertRule(
        update_request("new_issue", ("enabled",), enabled=False), metadata=alerting.master
    )
    first = await create(alerting, custom(name="one"))
    await create(alerting, custom(name="two"))
    error = await refused(create(alerting, custom(name="three")))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert reason(error) == "ALERT_RULE_LIMIT_REACHED"
    assert "at most 2" in (error.details() or "")

    await alerting.alerts.DeleteAlertRule(
        S.DeleteAlertRuleRequest(project="default", rule=first.id), metadata=alerting.master
    )
    third = await create(alerting, custom(name="three"))
    assert [r.name for r in await listed(alerting)][-2:] == ["two", third.name]


async def test_a_project_key_reads_rules_but_only_a_master_key_changes_them(alerting: Client) -> None:
    made = await create(alerting, custom())
    calls = [
        alerting.alerts.CreateAlertRule(
            S.CreateAlertRuleRequest(project="default", rule=custom()), metadata=alerting.project
        ),
        alerting.alerts.UpdateAlertRule(
            update_request(made.id, ("enabled",), enabled=False), metadata=alerting.project
        ),
        alerting.alerts.UpdateAlertRule(
            update_request("auth_brute_force", ("enabled",), enabled=False), metadata=alerting.project
        ),
        alerting.alerts.DeleteAlertRule(
            S.DeleteAlertRuleRequest(project="default", rule=made.id), metadata=alerting.project
        ),
    ]
    for call in calls:
        error = await refused(call)
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED
        assert reason(error) == "MASTER_KEY_REQUIRED"
    assert [r.id for r in await listed(alerting)] == [*BUILTIN_IDS, made.id]
    assert (await listed(alerting))[-1].enabled

    error = await refused(alerting.alerts.ListAlertRules(
        S.ListAlertRulesRequest(project="another"), metadata=alerting.project
    ))  # fmt: skip
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    error = await refused(alerting.alerts.ListAlertRules(S.ListAlertRulesRequest(project="default")))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_builtin_rules_change_only_enabled_and_cooldown_and_cannot_be_deleted(
    settings: Settings, clock: ManualClock
) -> None:
    async with serving(settings, clock) as client:
        clock.advance(60)
        off = await client.alerts.UpdateAlertRule(
            update_request("auth_brute_force", ("enabled",), enabled=False, cooldown_seconds=5),
            metadata=client.master,
        )
        assert (off.rule.enabled, off.rule.cooldown_seconds, off.rule.threshold) == (False, 3600, 5)
        assert off.rule.update_time.ToMicroseconds() == (START_S + 60) * 1_000_000
        cooled = await client.alerts.UpdateAlertRule(
            update_request("auth_brute_force", ("cooldown_seconds",), cooldown_seconds=0),
            metadata=client.master,
        )
        assert (cooled.rule.enabled, cooled.rule.cooldown_seconds) == (False, 0)

        # An empty mask applies only what a built-in rule lets change.
        both = await client.alerts.UpdateAlertRule(
            update_request("error_spike", enabled=False, cooldown_seconds=120, threshold=7, name="Mine"),
            metadata=client.master,
        )
        assert (both.rule.enabled, both.rule.cooldown_seconds) == (False, 120)
        assert (both.rule.threshold, both.rule.name) == (100, "Error spike")

        changes: list[tuple[str, dict[str, Any]]] = [
            ("threshold", {"threshold": 7}),
            ("name", {"name": "Mine"}),
            ("window_seconds", {"window_seconds": 600}),
            ("group_by", {"group_by": "tenant_id"}),
            ("severity", {"severity": A.ALERT_SEVERITY_LOW}),
            ("condition", {"condition": Condition(action_pattern="auth.*")}),
        ]
        for field, value in changes:
            error = await refused(client.alerts.UpdateAlertRule(
                update_request("auth_brute_force", (field, "enabled"), enabled=True, **value),
                metadata=client.master,
            ))  # fmt: skip
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
            [(name, message)] = violations(error)
            assert name == f"update.{field}"
            assert message == f"a built-in rule's {field} cannot change; only enabled and cooldown_seconds"

        for mask, fields, field in [
            (("cooldown_seconds",), {"cooldown_seconds": 604_801}, "update.cooldown_seconds"),
            (("enabled",), {}, "update.enabled"),
            (("no_such_field",), {}, "update_mask"),
            ((), {}, "update"),
        ]:
            error = await refused(client.alerts.UpdateAlertRule(
                update_request("auth_brute_force", mask, **fields), metadata=client.master
            ))  # fmt: skip
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert [f for f, _ in violations(error)] == [field], mask

        error = await refused(client.alerts.DeleteAlertRule(
            S.DeleteAlertRuleRequest(project="default", rule="auth_brute_force"), metadata=client.master
        ))  # fmt: skip
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert reason(error) == "BUILTIN_RULE"
        assert rich_status(error).message == "built-in rules cannot be deleted; disable them instead"

    # The changes last across a restart.
    async with serving(settings, clock) as client:
        rules = {r.id: r for r in await listed(client)}
        assert list(rules) == BUILTIN_IDS
        assert (rules["auth_brute_force"].enabled, rules["auth_brute_force"].cooldown_seconds) == (False, 0)
        assert (rules["error_spike"].enabled, rules["error_spike"].cooldown_seconds) == (False, 120)
        assert rules["new_issue"].enabled and rules["new_issue"].cooldown_seconds == 0


async def _rows(database_url: str, rule_id: str) -> dict[str, int]:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            counts = {}
            for table in (AlertCounter, AlertGroup, AlertDistinct):
                statement = select(func.count()).select_from(table).where(table.rule_id == rule_id)
                counts[table.__tablename__] = int((await session.execute(statement)).scalar_one())
            return counts
    finally:
        await engine.dispose()


async def _add_state(database_url: str, rule_id: str) -> None:
    """Counters, cooldown state, distinct values and one alert of `rule_id`, as the evaluator
    would leave them."""
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session, session.begin():
            session.add_all([
                AlertCounter(project_id="default", rule_id=rule_id, group_key="t1", bucket_us=1, count=3),
                AlertGroup(project_id="default", rule_id=rule_id, group_key="t1", last_fired_us=1,
                           open_alert_id="al_1"),
                AlertDistinct(project_id="default", rule_id=rule_id, group_key="t1", value="1.2.3.4",
                              last_seen_us=1),
                AlertRow(project_id="default", id="al_1", rule_id=rule_id, rule_name="r", severity=2,
                         state=A.ALERT_STATE_OPEN, group_key="t1", event_count=3, summary="s",
                         event_ids="", created_us=1),
            ])  # fmt: skip
    finally:
        await engine.dispose()


async def test_custom_rules_update_by_mask_and_delete_with_their_state(
    alerting: Client, settings: Settings, clock: ManualClock
) -> None:
    made = await create(alerting, custom())
    clock.advance(30)
    changed = await alerting.alerts.UpdateAlertRule(
        update_request(
            made.id,
            ("threshold", "condition.kinds", "enabled"),
            threshold=20,
            enabled=False,
            name="ignored",
            condition=Condition(kinds=[event_pb2.KIND_ERROR], action_pattern="ignored"),
        ),
        metadata=alerting.master,
    )
    rule = changed.rule
    assert (rule.threshold, rule.enabled, rule.name) == (20, False, "Bulk invite spike")
    assert list(rule.condition.kinds) == [event_pb2.KIND_ERROR]
    assert rule.condition.action_pattern == "team.member.invited"
    assert rule.create_time == made.create_time
    assert rule.update_time.ToMicroseconds() == (START_S + 30) * 1_000_000

    # An empty mask: every writable field the update sets.
    renamed = await alerting.alerts.UpdateAlertRule(
        update_request(made.id, name="Renamed", group_by="context.region", cooldown_seconds=0),
        metadata=alerting.master,
    )
    rule = renamed.rule
    assert (rule.name, rule.group_by, rule.cooldown_seconds, rule.threshold, rule.enabled) == (
        "Renamed",
        "context.region",
        0,
        20,
        False,
    )
    assert (await listed(alerting))[-1] == rule

    error = await refused(alerting.alerts.UpdateAlertRule(
        update_request(made.id, ("window_seconds", "severity"), window_seconds=30), metadata=alerting.master
    ))  # fmt: skip
    assert [f for f, _ in violations(error)] == ["update.window_seconds", "update.severity"]
    error = await refused(alerting.alerts.UpdateAlertRule(
        update_request("ar_unknown", ("enabled",), enabled=True), metadata=alerting.master
    ))  # fmt: skip
    assert (error.code(), reason(error)) == (grpc.StatusCode.NOT_FOUND, "ALERT_RULE_NOT_FOUND")

    await _add_state(settings.database_url, made.id)
    await alerting.alerts.DeleteAlertRule(
        S.DeleteAlertRuleRequest(project="default", rule=made.id), metadata=alerting.master
    )
    assert [r.id for r in await listed(alerting)] == BUILTIN_IDS
    assert await _rows(settings.database_url, made.id) == {
        "alert_counters": 0,
        "alert_groups": 0,
        "alert_distinct": 0,
    }
    got = await alerting.alerts.GetAlert(
        S.GetAlertRequest(project="default", alert="al_1"), metadata=alerting.project
    )
    assert got.alert.rule_id == made.id, "its alerts stay"

    for rule_id in (made.id, "nope", ""):
        error = await refused(alerting.alerts.DeleteAlertRule(
            S.DeleteAlertRuleRequest(project="default", rule=rule_id), metadata=alerting.master
        ))  # fmt: skip
        assert (error.code(), reason(error)) == (grpc.StatusCode.NOT_FOUND, "ALERT_RULE_NOT_FOUND")
