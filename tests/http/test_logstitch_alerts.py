"""LogStitch's alert rules and alerts over HTTP (/api/v1/alerts/rules, /api/v1/alerts) in
LogStitch's shapes: built-in and custom rule CRUD and its refusals, the project's rule limit, and
alerts opened by events sent to /api/v1/events, filtered, paged and moved through their states,
in-process and through a gateway fronting ingestd, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import MASTER_SECRET, PROJECT_SECRET, Http
from tests.http.test_logstitch import assert_error, call, event

RULES = "/api/v1/alerts/rules"
ALERTS = "/api/v1/alerts"
EVENTS = "/api/v1/events"

#: auth_brute_force exactly as LogStitch documents it.
AUTH_BRUTE_FORCE = {
    "id": "auth_brute_force",
    "type": "builtin",
    "name": "Auth Brute Force",
    "action_pattern": "auth.failed*",
    "threshold": 5,
    "window_seconds": 300,
    "group_by": "actor_id",
    "severity": "high",
    "enabled": True,
    "cooldown_seconds": 3600,
}
#: LogStitch's documented custom rule body.
BULK_INVITES = {
    "name": "Bulk invite spike",
    "action_pattern": "team.member.invited",
    "threshold": 10,
    "window_seconds": 600,
    "group_by": "tenant_id",
    "severity": "medium",
}
RULE_KEYS = {*AUTH_BRUTE_FORCE, "created_at"}
ALERT_KEYS = {
    "id",
    "rule_id",
    "rule_name",
    "severity",
    "status",
    "group_key",
    "event_count",
    "summary",
    "event_ids",
    "created_at",
    "acknowledged_at",
    "resolved_at",
}


async def master(http: Http, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    return await call(http, method, path, body, secret=MASTER_SECRET)


async def fail_logins(http: Http, actor: str, count: int = 5, tenant: str = "acme") -> list[str]:
    """`count` `auth.failed` events of one actor, sent one request each; their LogStitch ids."""
    ids = []
    for n in range(count):
        sent = event("auth.failed", key=f"{actor}-{n}", actor={"id": actor, "type": "user"}, tenant_id=tenant)
        status, body = await call(http, "POST", EVENTS, sent)
        assert status == 201, body
        ids.extend(body["ids"])
    return ids


async def test_list_shows_logstitch_builtins_as_documented_then_ingestd_builtins(http: Http) -> None:
    status, body = await call(http, "GET", RULES)
    assert status == 200, body
    assert body["request_id"].startswith("req_")
    rules = {r["id"]: r for r in body["rules"]}
    assert body["rules"][0] == AUTH_BRUTE_FORCE
    assert [r["id"] for r in body["rules"]] == [
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
    assert all(r["type"] == "builtin" and "created_at" not in r for r in body["rules"])
    assert rules["suspicious_ip_change"]["enabled"] is False
    assert rules["new_issue"]["action_pattern"] is None
    assert rules["new_issue"]["kinds"] == ["error"]
    assert rules["new_issue"]["detector"] == "new_fingerprint"
    assert (rules["security_event"]["category"], rules["security_event"]["group_by"]) == ("security", None)
    status, same = await master(http, "GET", RULES)
    assert (status, same["rules"]) == (200, body["rules"])


async def test_custom_rule_crud(http: Http) -> None:
    status, body = await master(http, "POST", RULES, BULK_INVITES)
    assert status == 201, body
    assert body["request_id"].startswith("req_")
    rule = body["rule"]
    assert set(rule) == RULE_KEYS
    assert rule["id"].startswith("ar_")
    assert rule["type"] == "custom"
    assert rule["created_at"].endswith("Z")
    assert {k: rule[k] for k in BULK_INVITES} == BULK_INVITES
    assert (rule["enabled"], rule["cooldown_seconds"]) == (True, 3600), "documented defaults"

    status, body = await call(http, "GET", RULES)
    assert body["rules"][-1] == rule

    change = {"threshold": 20, "action_pattern": "team.member.*", "enabled": False, "cooldown_seconds": 60}
    status, body = await master(http, "PATCH", f"{RULES}/{rule['id']}", {**rule, **change})
    assert status == 200, body
    assert body["rule"] == {**rule, **change}
    status, body = await master(http, "PATCH", f"{RULES}/{rule['id']}", {"nope": 1})
    assert status == 400
    assert assert_error(body, "validation_error")["details"] == [
        {"field": "nope", "message": "Unrecognized key"}
    ]

    status, body = await master(http, "DELETE", f"{RULES}/{rule['id']}")
    assert status == 200, body
    assert (body["id"], body["deleted"]) == (rule["id"], True)
    assert body["request_id"].startswith("req_")
    status, body = await master(http, "DELETE", f"{RULES}/{rule['id']}")
    assert status == 404
    assert_error(body, "not_found")
    status, body = await master(http, "PATCH", f"{RULES}/{rule['id']}", {"enabled": True})
    assert status == 404
    assert_error(body, "not_found")
    status, body = await call(http, "GET", RULES)
    assert rule["id"] not in [r["id"] for r in body["rules"]]


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        pytest.param({"name": ""}, "name", "String must contain at least 1 character(s)", id="name-empty"),
        pytest.param(
            {"name": "x" * 101}, "name", "String must contain at most 100 character(s)", id="name-long"
        ),
        pytest.param({"name": 7}, "name", "Expected string, received number", id="name-type"),
        pytest.param({"action_pattern": ""}, "action_pattern", "String must contain at least 1 character(s)"),
        pytest.param({"threshold": 0}, "threshold", "Number must be greater than 0", id="threshold-zero"),
        pytest.param(
            {"threshold": 1.5}, "threshold", "Expected integer, received float", id="threshold-float"
        ),
        pytest.param(
            {"threshold": 1e19},
            "threshold",
            "Number must be less than or equal to 9007199254740991",
            id="threshold-beyond-int64",
        ),
        pytest.param(
            {"threshold": "5"}, "threshold", "Expected number, received string", id="threshold-type"
        ),
        pytest.param({"window_seconds": 59}, "window_seconds", "Number must be greater than or equal to 60"),
        pytest.param({"window_seconds": 3601}, "window_seconds", "Number must be less than or equal to 3600"),
        pytest.param(
            {"group_by": "x"},
            "group_by",
            "Invalid enum value. Expected 'actor_id' | 'tenant_id', received 'x'",
        ),
        pytest.param(
            {"severity": "urgent"},
            "severity",
            "Invalid enum value. Expected 'low' | 'medium' | 'high' | 'critical', received 'urgent'",
        ),
        pytest.param({"enabled": "yes"}, "enabled", "Expected boolean, received string", id="enabled-type"),
        pytest.param(
            {"cooldown_seconds": -1}, "cooldown_seconds", "Number must be greater than or equal to 0"
        ),
    ],
)
async def test_create_refuses_each_bad_field(
    http: Http, change: dict[str, Any], field: str, message: str
) -> None:
    status, body = await master(http, "POST", RULES, {**BULK_INVITES, **change})
    assert status == 400, body
    assert assert_error(body, "validation_error")["details"] == [{"field": field, "message": message}]


async def test_create_requires_the_documented_fields_and_a_json_object(http: Http) -> None:
    status, body = await master(http, "POST", RULES, {"cooldown_seconds": 60})
    assert status == 400
    details = assert_error(body, "validation_error")["details"]
    required = ["name", "action_pattern", "threshold", "window_seconds", "group_by", "severity"]
    assert details == [{"field": f, "message": "Required"} for f in required]
    for bad in (b"{", b"[]"):
        status, body = await master(http, "POST", RULES, bad)
        assert status == 400
        assert_error(body, "validation_error")
    status, body = await call(http, "GET", RULES)
    assert all(r["type"] == "builtin" for r in body["rules"])


async def test_rule_changes_take_a_master_key(http: Http) -> None:
    for method, path, rule in (
        ("POST", RULES, BULK_INVITES),
        ("PATCH", f"{RULES}/auth_brute_force", {"enabled": False}),
        ("DELETE", f"{RULES}/auth_brute_force", None),
    ):
        status, body = await call(http, method, path, rule, secret=PROJECT_SECRET)
        assert status == 403, (method, body)
        assert_error(body, "forbidden")
    status, body = await call(http, "GET", RULES, secret="")
    assert status == 401
    assert_error(body, "unauthorized")
    status, body = await call(http, "GET", RULES)
    assert body["rules"][0] == AUTH_BRUTE_FORCE, "nothing changed"


async def test_builtin_rules_change_only_enabled_and_cooldown_and_cannot_be_deleted(http: Http) -> None:
    status, body = await master(http, "PATCH", f"{RULES}/auth_brute_force", {"enabled": False})
    assert status == 200, body
    assert body["rule"] == {**AUTH_BRUTE_FORCE, "enabled": False}
    status, body = await master(http, "PATCH", f"{RULES}/auth_brute_force", {"cooldown_seconds": 600})
    assert body["rule"] == {**AUTH_BRUTE_FORCE, "enabled": False, "cooldown_seconds": 600}

    for change in ({"threshold": 3}, {"action_pattern": "auth.*", "enabled": True}):
        status, body = await master(http, "PATCH", f"{RULES}/auth_brute_force", change)
        assert status == 400, body
        [detail] = assert_error(body, "validation_error")["details"]
        assert detail["field"] == next(iter(change))

    status, body = await master(http, "DELETE", f"{RULES}/auth_brute_force")
    assert status == 400, body
    assert assert_error(body, "validation_error")["details"] == [
        {"field": "id", "message": "Built-in rules cannot be deleted; disable them with PATCH instead"}
    ]
    status, body = await call(http, "GET", RULES)
    assert body["rules"][0] == {**AUTH_BRUTE_FORCE, "enabled": False, "cooldown_seconds": 600}


async def test_custom_rules_beyond_the_project_limit_are_refused(http: Http) -> None:
    async with http.session.patch(
        http.url("/v1/projects/default"),
        params={"updateMask": "limits.alertRuleLimit"},
        json={"limits": {"alertRuleLimit": 1}},
        headers=http.bearer(MASTER_SECRET),
    ) as response:
        assert response.status == 200, await response.text()
    status, body = await master(http, "POST", RULES, BULK_INVITES)
    assert status == 201, body
    status, body = await master(http, "POST", RULES, {**BULK_INVITES, "name": "Second"})
    assert status == 403, body
    error = assert_error(body, "alert_rule_limit_reached")
    assert "plan" in error["message"] and "1" in error["message"]
    status, body = await call(http, "GET", RULES)
    assert [r["name"] for r in body["rules"] if r["type"] == "custom"] == ["Bulk invite spike"]


async def test_failed_logins_open_an_alert_that_moves_open_acknowledged_resolved(http: Http) -> None:
    sent = await fail_logins(http, "user_42")
    status, body = await call(http, "GET", ALERTS)
    assert status == 200, body
    assert (body["cursor"], body["has_more"]) == (None, False)
    assert body["request_id"].startswith("req_")
    [alert] = body["alerts"]
    assert set(alert) == ALERT_KEYS
    assert alert["id"].startswith("al_")
    assert (alert["rule_id"], alert["rule_name"], alert["severity"]) == (
        "auth_brute_force",
        "Auth Brute Force",
        "high",
    )
    assert (alert["status"], alert["group_key"], alert["event_count"]) == ("open", "user_42", 5)
    assert alert["summary"]
    assert alert["event_ids"] and set(alert["event_ids"]) <= set(sent)
    assert alert["created_at"].endswith("Z")
    assert (alert["acknowledged_at"], alert["resolved_at"]) == (None, None)

    path = f"{ALERTS}/{alert['id']}"
    status, body = await call(http, "PATCH", path, {"status": "acknowledged"})
    assert status == 200, body
    acknowledged = body["alert"]
    assert (acknowledged["status"], acknowledged["resolved_at"]) == ("acknowledged", None)
    assert acknowledged["acknowledged_at"].endswith("Z")
    status, body = await call(http, "PATCH", path, {"state": "resolved"}, secret=MASTER_SECRET)
    assert status == 200, body
    resolved = body["alert"]
    assert resolved["status"] == "resolved" and resolved["resolved_at"].endswith("Z")
    assert resolved["acknowledged_at"] == acknowledged["acknowledged_at"]

    status, body = await call(http, "PATCH", path, {"status": "acknowledged"})
    assert status == 409, body
    error = assert_error(body, "conflict")
    assert error["message"] == "Cannot transition alert from resolved to acknowledged"
    status, body = await call(http, "PATCH", path, {"status": "open"})
    assert status == 409, body
    assert assert_error(body, "conflict")["message"] == "Cannot transition alert from resolved to open"
    status, body = await call(http, "PATCH", path, {"status": "closed"})
    assert status == 400
    assert assert_error(body, "validation_error")["details"] == [
        {
            "field": "status",
            "message": "Invalid enum value. Expected 'open' | 'acknowledged' | 'resolved', received 'closed'",
        }
    ]
    status, body = await call(http, "PATCH", path, {})
    assert status == 400
    assert assert_error(body, "validation_error")["details"] == [{"field": "status", "message": "Required"}]
    status, body = await call(http, "PATCH", f"{ALERTS}/al_unknown", {"status": "resolved"})
    assert status == 404
    assert_error(body, "not_found")

    status, body = await call(http, "GET", f"{ALERTS}?status=resolved")
    assert [a["id"] for a in body["alerts"]] == [alert["id"]]
    status, body = await call(http, "GET", f"{ALERTS}?state=open")
    assert body["alerts"] == []


async def test_an_acknowledged_alert_cannot_go_back_to_open_409_conflict(http: Http) -> None:
    """docs/vendors/logstitch.md §13: only open→acknowledged and open|acknowledged→resolved; a move
    back to `open` clashes with the alert's state, so it is 409 `conflict`, not a bad value."""
    await fail_logins(http, "user_9")
    status, body = await call(http, "GET", ALERTS)
    [alert] = body["alerts"]
    path = f"{ALERTS}/{alert['id']}"
    status, body = await call(http, "PATCH", path, {"status": "open"})
    assert status == 409, body
    assert assert_error(body, "conflict")["message"] == "Cannot transition alert from open to open"
    status, body = await call(http, "PATCH", path, {"status": "acknowledged"})
    assert status == 200, body
    acknowledged = body["alert"]

    for change in ({"status": "open"}, {"state": "open"}):
        status, body = await call(http, "PATCH", path, change)
        assert status == 409, (change, body)
        error = assert_error(body, "conflict")
        assert error["message"] == "Cannot transition alert from acknowledged to open"
        assert error["details"] == []
    status, body = await call(http, "GET", ALERTS)
    assert body["alerts"] == [acknowledged], "unchanged"
    status, body = await call(http, "PATCH", f"{ALERTS}/al_unknown", {"status": "open"})
    assert status == 404, body
    assert_error(body, "not_found")


async def test_a_disabled_rule_opens_nothing_and_a_custom_rule_fires(http: Http) -> None:
    status, body = await master(http, "PATCH", f"{RULES}/auth_brute_force", {"enabled": False})
    assert status == 200, body
    await fail_logins(http, "user_1")
    status, body = await master(
        http, "POST", RULES, {**BULK_INVITES, "threshold": 2, "window_seconds": 60, "severity": "low"}
    )
    assert status == 201, body
    rule = body["rule"]
    for n in range(2):
        status, body = await call(
            http, "POST", EVENTS, event("team.member.invited", key=f"i{n}", tenant_id="t9")
        )
        assert status == 201, body
    status, body = await call(http, "GET", ALERTS)
    [alert] = body["alerts"]
    assert (alert["rule_id"], alert["rule_name"], alert["group_key"]) == (rule["id"], rule["name"], "t9")
    assert (alert["severity"], alert["event_count"]) == ("low", 2)


async def test_alerts_filter_and_page_with_a_cursor(http: Http) -> None:
    for actor in ("a1", "a2", "a3"):
        await fail_logins(http, actor)
    status, body = await call(http, "GET", f"{ALERTS}?limit=2")
    assert status == 200, body
    assert body["has_more"] is True and body["cursor"]
    first = body["alerts"]
    status, body = await call(http, "GET", f"{ALERTS}?limit=2&cursor={body['cursor']}")
    assert status == 200, body
    assert (body["has_more"], body["cursor"]) == (False, None)
    assert [a["group_key"] for a in first + body["alerts"]] == ["a3", "a2", "a1"], "newest first"

    for query, count in (
        ("rule_id=auth_brute_force", 3),
        ("rule_id=new_issue", 0),
        ("severity=high&status=open", 3),
        ("severity=low", 0),
        ("start_date=2000-01-01T00:00:00Z&end_date=2999-01-01T00:00:00Z", 3),
        ("start_date=2999-01-01T00:00:00Z", 0),
        ("end_date=2000-01-01T00:00:00.000Z", 0),
    ):
        status, body = await call(http, "GET", f"{ALERTS}?{query}", secret=MASTER_SECRET)
        assert (status, len(body["alerts"])) == (200, count), query

    for query, field in (
        ("status=closed", "status"),
        ("severity=urgent", "severity"),
        ("start_date=yesterday", "start_date"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("cursor=%21%21", "cursor"),
    ):
        status, body = await call(http, "GET", f"{ALERTS}?{query}")
        assert status == 400, query
        assert [d["field"] for d in assert_error(body, "validation_error")["details"]] == [field], query
