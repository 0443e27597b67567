"""AlertService's rules and alerts over canonical HTTP (routes from the annotations, proto3 JSON,
errors as `google.rpc.Status` through the gateway's status table), in-process and through a
gateway fronting ingestd, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import orjson

from tests.conftest import MASTER_SECRET, Http
from tests.test_alerts_api import insert_alerts

RULES = "/v1/projects/default/alertRules"
ALERTS = "/v1/projects/default/alerts"
BULK_INVITES = {
    "name": "Bulk invite spike",
    "condition": {"kinds": ["KIND_AUDIT"], "actionPattern": "team.member.invited"},
    "threshold": "10",
    "windowSeconds": "600",
    "groupBy": "tenant_id",
    "severity": "ALERT_SEVERITY_MEDIUM",
}


async def send(
    http: Http, method: str, path: str, body: Any = None, *, secret: str | None = None, **params: str
) -> tuple[int, Any]:
    headers = http.bearer(secret) if secret else http.bearer()
    async with http.session.request(method, http.url(path), json=body, headers=headers, params=params) as r:
        raw = await r.read()
        return r.status, orjson.loads(raw) if raw else None


async def master(http: Http, method: str, path: str, body: Any = None, **params: str) -> tuple[int, Any]:
    return await send(http, method, path, body, secret=MASTER_SECRET, **params)


def info(body: dict[str, Any]) -> dict[str, Any]:
    [found] = [d for d in body["details"] if d["@type"].endswith("google.rpc.ErrorInfo")]
    return dict(found)


def fields(body: dict[str, Any]) -> list[str]:
    [bad] = [d for d in body["details"] if d["@type"].endswith("google.rpc.BadRequest")]
    return [v["field"] for v in bad["fieldViolations"]]


async def test_rule_crud_and_its_errors(http: Http) -> None:
    status, body = await send(http, "GET", RULES)
    assert status == 200, body
    assert len(body["rules"]) == 11
    assert body["rules"][0] == {
        "id": "auth_brute_force",
        "type": "ALERT_RULE_TYPE_BUILTIN",
        "name": "Auth Brute Force",
        "condition": {"kinds": ["KIND_AUDIT"], "actionPattern": "auth.failed*"},
        "threshold": "5",
        "windowSeconds": "300",
        "groupBy": "actor_id",
        "severity": "ALERT_SEVERITY_HIGH",
        "enabled": True,
        "cooldownSeconds": "3600",
    }

    status, created = await master(http, "POST", RULES, BULK_INVITES)
    assert status == 200, created
    assert created["id"].startswith("ar_") and created["type"] == "ALERT_RULE_TYPE_CUSTOM"
    assert (created["enabled"], created["cooldownSeconds"]) == (True, "3600")
    assert created["createTime"].endswith("Z")
    status, body = await send(http, "GET", RULES)
    assert [r["id"] for r in body["rules"]][11:] == [created["id"]]

    status, body = await master(http, "POST", RULES, {**BULK_INVITES, "windowSeconds": "30"})
    assert status == 400 and body["code"] == 3
    assert fields(body) == ["rule.window_seconds"]
    status, body = await send(http, "POST", RULES, BULK_INVITES)
    assert (status, info(body)["reason"]) == (403, "MASTER_KEY_REQUIRED")

    # PATCH: the body is the update, the mask a query parameter.
    status, body = await master(
        http, "PATCH", f"{RULES}/{created['id']}", {"threshold": "25", "name": "kept"}, updateMask="threshold"
    )
    assert status == 200, body
    assert (body["threshold"], body["name"]) == ("25", "Bulk invite spike")
    status, body = await master(
        http, "PATCH", f"{RULES}/auth_brute_force", {"enabled": False}, updateMask="enabled"
    )
    assert status == 200, body
    assert (body["enabled"], body["threshold"]) == (False, "5")
    status, body = await master(
        http, "PATCH", f"{RULES}/auth_brute_force", {"cooldownSeconds": "60"}, updateMask="cooldownSeconds"
    )
    assert (status, body["cooldownSeconds"], body["enabled"]) == (200, "60", False)
    status, body = await master(
        http, "PATCH", f"{RULES}/auth_brute_force", {"threshold": "9"}, updateMask="threshold"
    )
    assert status == 400 and fields(body) == ["update.threshold"]
    assert "only enabled and cooldown_seconds" in body["message"]

    status, body = await master(http, "DELETE", f"{RULES}/auth_brute_force")
    assert status == 400, "FAILED_PRECONDITION is 400 in the gateway's table, as in grpc-gateway"
    assert (body["code"], info(body)["reason"]) == (9, "BUILTIN_RULE")
    status, body = await master(http, "DELETE", f"{RULES}/{created['id']}")
    assert (status, body) == (200, {})
    status, body = await master(http, "DELETE", f"{RULES}/{created['id']}")
    assert (status, info(body)["reason"]) == (404, "ALERT_RULE_NOT_FOUND")


async def test_rule_limit_is_429_resource_exhausted(http: Http) -> None:
    status, body = await master(
        http,
        "PATCH",
        "/v1/projects/default",
        {"limits": {"alertRuleLimit": 1}},
        updateMask="limits.alertRuleLimit",
    )
    assert status == 200, body
    assert (await master(http, "POST", RULES, BULK_INVITES))[0] == 200
    status, body = await master(http, "POST", RULES, BULK_INVITES)
    assert status == 429 and body["code"] == 8
    assert info(body)["reason"] == "ALERT_RULE_LIMIT_REACHED"
    assert info(body)["metadata"]["limit"] == "1"


async def test_alerts_page_filter_and_change_state(http: Http, http_target: tuple[str, str]) -> None:
    made = await insert_alerts(http_target[0], 7)
    status, body = await send(http, "GET", ALERTS, pageSize="3")
    assert status == 200, body
    assert [a["id"] for a in body["alerts"]] == [m.id for m in reversed(made)][:3]
    status, rest = await send(http, "GET", ALERTS, pageSize="3", pageToken=body["nextPageToken"])
    assert [a["id"] for a in rest["alerts"]] == [m.id for m in reversed(made)][3:6]
    status, body = await send(http, "GET", ALERTS, state="ALERT_STATE_OPEN", rule="auth_brute_force")
    expected = [m.id for m in reversed(made) if m.state == 1 and m.rule_id == "auth_brute_force"]
    assert [a["id"] for a in body["alerts"]] == expected and "nextPageToken" not in body
    status, body = await send(http, "GET", ALERTS, pageSize="500")
    assert status == 400 and fields(body) == ["page_size"]

    first = made[0].id
    status, alert = await send(http, "GET", f"{ALERTS}/{first}")
    assert (
        status == 200 and alert["state"] == "ALERT_STATE_OPEN" and alert["eventIds"] == ["ev_0_a", "ev_0_b"]
    )
    status, alert = await send(
        http, "POST", f"{ALERTS}/{first}:updateState", {"state": "ALERT_STATE_ACKNOWLEDGED"}
    )
    assert status == 200, alert
    assert alert["state"] == "ALERT_STATE_ACKNOWLEDGED" and alert["acknowledgeTime"].endswith("Z")
    status, body = await send(
        http, "POST", f"{ALERTS}/{first}:updateState", {"state": "ALERT_STATE_ACKNOWLEDGED"}
    )
    assert status == 400 and body["code"] == 9
    assert info(body)["reason"] == "INVALID_TRANSITION"
    assert (info(body)["metadata"]["from"], info(body)["metadata"]["to"]) == ("acknowledged", "acknowledged")
    status, alert = await send(
        http, "POST", f"{ALERTS}/{first}:updateState", {"state": "ALERT_STATE_RESOLVED"}
    )
    assert (status, alert["state"]) == (200, "ALERT_STATE_RESOLVED")
    status, body = await send(
        http, "POST", f"{ALERTS}/al_missing:updateState", {"state": "ALERT_STATE_RESOLVED"}
    )
    assert (status, info(body)["reason"]) == (404, "ALERT_NOT_FOUND")
    status, body = await send(http, "POST", f"{ALERTS}/{first}:updateState", {"state": "ALERT_STATE_OPEN"})
    assert status == 400 and fields(body) == ["state"]
