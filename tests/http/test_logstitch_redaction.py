"""LogStitch's redaction API over HTTP (/api/v1/redaction/rules, /api/v1/redaction/test) and its
effect on /api/v1/events, in-process and through a gateway fronting ingestd, on SQLite and
PostgreSQL."""

from __future__ import annotations

from typing import Any

from tests.conftest import MASTER_SECRET, PROJECT_SECRET, Http
from tests.http.test_logstitch import assert_error, call, event, new_key
from tests.test_redaction_admin import event_count, stored_payloads

RULES = "/api/v1/redaction/rules"
TEST = "/api/v1/redaction/test"
EVENTS = "/api/v1/events"
CARD = "4111 1111 1111 1111"


async def master(http: Http, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    return await call(http, method, path, body, secret=MASTER_SECRET)


async def test_list_shows_builtins_in_logstitch_shape(http: Http) -> None:
    status, body = await call(http, "GET", RULES)
    assert status == 200, body
    assert body["request_id"].startswith("req_")
    first = body["rules"][0]
    assert first == {
        "id": "builtin_credit_card",
        "type": "builtin",
        "name": "Credit Card Number",
        "behavior": "replace",
        "enabled": True,
        "builtin_id": "credit_card",
    }
    assert [r["builtin_id"] for r in body["rules"] if r["enabled"]] == [
        "credit_card",
        "ssn",
        "jwt",
        "bearer_token",
        "aws_key",
        "sensitive_fields",
    ]


async def test_crud_of_custom_rules_and_their_effect_on_events(http: Http) -> None:
    status, body = await master(
        http,
        "POST",
        RULES,
        {"type": "pattern", "name": "Internal Account ID", "pattern": "ACCT-[0-9]{8}", "behavior": "replace"},
    )
    assert status == 201, body
    pattern_rule = body["rule"]
    assert set(pattern_rule) == {"id", "type", "name", "pattern", "behavior", "enabled", "created_at"}
    assert (pattern_rule["type"], pattern_rule["enabled"]) == ("pattern", True)
    assert pattern_rule["created_at"].endswith("Z")
    status, body = await master(
        http, "POST", RULES, {"type": "field_redact", "name": "Secrets", "fields": ["metadata.pin"]}
    )
    assert status == 201, body
    field_rule = body["rule"]
    assert (field_rule["fields"], field_rule["behavior"]) == (["metadata.pin"], "replace")

    status, body = await call(http, "GET", RULES)
    assert [r["id"] for r in body["rules"]][-2:] == [pattern_rule["id"], field_rule["id"]]

    sent = event(metadata={"account": "ACCT-12345678", "pin": "1234", "note": CARD}, key="k1")
    status, body = await call(http, "POST", EVENTS, sent)
    assert status == 201, body
    assert body["redacted_count"] == 3
    status, body = await call(http, "GET", EVENTS)
    [stored] = body["events"]
    assert stored["metadata"] == {"account": "[REDACTED]", "pin": "[REDACTED]", "note": "[REDACTED]"}

    status, body = await master(http, "PUT", f"{RULES}/{pattern_rule['id']}", {"behavior": "hash"})
    assert status == 200, body
    assert body["rule"]["behavior"] == "hash" and body["rule"]["pattern"] == "ACCT-[0-9]{8}"
    status, body = await master(http, "PUT", f"{RULES}/{field_rule['id']}", {"enabled": False})
    assert (status, body["rule"]["enabled"]) == (200, False)
    status, body = await call(
        http, "POST", EVENTS, event(metadata={"account": "ACCT-1234567", "pin": "9"}, key="k2")
    )
    assert (status, body["redacted_count"]) == (201, 0)

    status, body = await master(http, "DELETE", f"{RULES}/{pattern_rule['id']}")
    assert status == 200, body
    assert body["deleted"] is True and body["id"] == pattern_rule["id"]
    status, body = await master(http, "DELETE", f"{RULES}/{pattern_rule['id']}")
    assert status == 404
    assert_error(body, "not_found")
    status, body = await call(http, "GET", RULES)
    assert pattern_rule["id"] not in [r["id"] for r in body["rules"]]


async def test_builtin_rules_toggle_and_change_behavior_but_cannot_be_deleted(http: Http) -> None:
    status, body = await master(http, "DELETE", f"{RULES}/builtin_credit_card")
    assert status == 400
    error = assert_error(body, "validation_error")
    assert error["details"][0]["field"] == "id"
    status, body = await master(http, "PUT", f"{RULES}/builtin_credit_card", {"pattern": "x"})
    assert status == 400
    assert_error(body, "validation_error")

    status, body = await master(
        http, "PUT", f"{RULES}/builtin_credit_card", {"id": "builtin_credit_card", "behavior": "mask"}
    )
    assert status == 200, body
    assert body["rule"]["behavior"] == "mask" and body["rule"]["builtin_id"] == "credit_card"
    status, body = await call(http, "POST", EVENTS, event(metadata={"card": CARD}))
    assert (status, body["redacted_count"]) == (201, 1)
    status, body = await call(http, "GET", EVENTS)
    assert body["events"][0]["metadata"]["card"] == "****-****-****-1111"

    status, body = await master(http, "PUT", f"{RULES}/builtin_email", {"enabled": True})
    assert (status, body["rule"]["enabled"]) == (200, True)
    status, body = await call(
        http, "POST", TEST, event(actor={"id": "u", "type": "user", "email": "bob@example.com"})
    )
    assert status == 200, body
    assert body["redacted"]["actor"]["email"] == "[REDACTED]"
    assert body["matches"] == [{"rule_id": "builtin_email", "field": "actor.email"}]


async def test_test_endpoint_shows_matches_and_stores_nothing(http: Http) -> None:
    sample = event(
        metadata={"password": "hunter2", "note": f"card {CARD}"},
        context={"ip_address": "10.0.0.1", "user_agent": "Bearer abcdefgh12345678"},
    )
    for body_in in (sample, {"event": sample}):
        status, body = await call(http, "POST", TEST, body_in, secret=MASTER_SECRET)
        assert status == 200, body
        assert body["redacted_count"] == 3
        assert body["redacted"]["metadata"] == {"password": "[REDACTED]", "note": "card [REDACTED]"}
        assert body["redacted"]["context"]["user_agent"] == "[REDACTED]"
        assert body["redacted"]["context"]["ip_address"] == "10.0.0.1"  # ipv4 is off by default
        assert sorted((m["rule_id"], m["field"]) for m in body["matches"]) == [
            ("builtin_bearer_token", "context.user_agent"),
            ("builtin_credit_card", "metadata.note"),
            ("builtin_sensitive_fields", "metadata.password"),
        ]
    assert await event_count(http.running.settings.database_url) == 0
    status, body = await call(http, "POST", TEST, {"action": "nope"})
    assert status == 400
    assert_error(body, "validation_error")


async def test_keys_and_validation(http: Http) -> None:
    rule = {"type": "pattern", "name": "x", "pattern": "abc"}
    status, body = await call(http, "POST", RULES, rule, secret=PROJECT_SECRET)
    assert status == 403
    assert_error(body, "forbidden")
    status, body = await call(http, "DELETE", f"{RULES}/rr_x", secret=PROJECT_SECRET)
    assert status == 403
    status, body = await call(http, "GET", RULES, secret="")
    assert status == 401
    _, public = await new_key(http, "API_KEY_KIND_PUBLIC")
    status, body = await call(http, "GET", RULES, secret=public)
    assert status == 403

    status, body = await master(http, "POST", RULES, {"type": "pattern", "name": "bad", "pattern": "(oops"})
    assert status == 400
    error = assert_error(body, "validation_error")
    assert [d["field"] for d in error["details"]] == ["pattern"]
    status, body = await master(
        http, "POST", RULES, {"type": "pattern", "name": "long", "pattern": "a" * 1001}
    )
    assert status == 400
    status, body = await master(http, "POST", RULES, {"type": "builtin", "name": "b", "behavior": "shred"})
    assert status == 400
    assert {d["field"] for d in assert_error(body, "validation_error")["details"]} == {"type", "behavior"}
    status, body = await master(http, "POST", RULES, {"type": "field_redact", "name": "f"})
    assert status == 400
    assert [d["field"] for d in assert_error(body, "validation_error")["details"]] == ["fields"]
    status, body = await master(http, "PUT", f"{RULES}/rr_missing", {"name": "n"})
    assert status == 404
    assert_error(body, "not_found")


async def test_stored_payload_holds_no_secret(http: Http) -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLXNpZw"
    sent = event(
        metadata={"session": "s3cr3t-session", "nested_list": [CARD, "fine"]},
        changes=[{"field": "api_key", "before": "old-key-value", "after": jwt}],
        target={"id": jwt, "type": "token"},
    )
    status, body = await call(http, "POST", EVENTS, sent)
    assert status == 201, body
    [payload] = await stored_payloads(http.running.settings.database_url)
    for secret in (b"s3cr3t-session", CARD.encode(), b"old-key-value", jwt.encode()):
        assert secret not in payload
