"""AdminService's redaction rules over real gRPC, and redaction at ingest, on SQLite and PostgreSQL."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import field_mask_pb2
from sqlalchemy import func, select

from ingestd.v1 import admin_service_pb2, event_pb2, event_service_pb2, redaction_pb2
from server.config import Settings
from storage.engine import create_engine, session_factory
from storage.models import Event as EventRow
from tests.conftest import Client
from tests.helpers import log_event, reason, violations, write_request

pb = admin_service_pb2
Rule = redaction_pb2.RedactionRule
PATTERN = redaction_pb2.REDACTION_RULE_TYPE_PATTERN
FIELD = redaction_pb2.REDACTION_RULE_TYPE_FIELD
MASK = redaction_pb2.REDACTION_BEHAVIOR_MASK
CARD = "4111 1111 1111 1111"

BUILTIN_IDS = [
    "builtin_credit_card",
    "builtin_ssn",
    "builtin_email",
    "builtin_phone",
    "builtin_ipv4",
    "builtin_ipv6",
    "builtin_jwt",
    "builtin_bearer_token",
    "builtin_aws_key",
    "builtin_sensitive_fields",
]


async def stored_payloads(database_url: str) -> list[bytes]:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            return list((await session.execute(select(EventRow.payload))).scalars())
    finally:
        await engine.dispose()


async def event_count(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            return int((await session.execute(select(func.count()).select_from(EventRow))).scalar_one())
    finally:
        await engine.dispose()


async def _error(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    return caught.value


async def _only_event(client: Client) -> event_pb2.Event:
    listed = await client.events.ListEvents(
        event_service_pb2.ListEventsRequest(project="default"), metadata=client.project
    )
    [event] = listed.events
    return event


async def test_list_shows_builtins_with_defaults_then_custom_rules(client: Client) -> None:
    listed = await client.admin.ListRedactionRules(
        pb.ListRedactionRulesRequest(project="default"), metadata=client.project
    )
    assert [r.id for r in listed.rules] == BUILTIN_IDS
    enabled = {r.builtin_id for r in listed.rules if r.enabled}
    assert enabled == {"credit_card", "ssn", "jwt", "bearer_token", "aws_key", "sensitive_fields"}
    assert all(r.behavior == redaction_pb2.REDACTION_BEHAVIOR_REPLACE for r in listed.rules)

    created = await client.admin.CreateRedactionRule(
        pb.CreateRedactionRuleRequest(
            project="default", rule=Rule(type=PATTERN, name="Account", pattern=r"ACCT-[0-9]{8}")
        ),
        metadata=client.master,
    )
    rule = created.rule
    assert rule.id.startswith("rr_") and rule.enabled and rule.HasField("create_time")
    assert rule.behavior == redaction_pb2.REDACTION_BEHAVIOR_REPLACE
    listed = await client.admin.ListRedactionRules(
        pb.ListRedactionRulesRequest(project="default"), metadata=client.master
    )
    assert [r.id for r in listed.rules] == [*BUILTIN_IDS, rule.id]


async def test_custom_rules_apply_at_ingest_until_disabled_or_deleted(client: Client) -> None:
    created = await client.admin.CreateRedactionRule(
        pb.CreateRedactionRuleRequest(
            project="default",
            rule=Rule(type=FIELD, name="nick", fields=["metadata.nick"], behavior=MASK),
        ),
        metadata=client.master,
    )
    event = log_event("hi")
    event.log.metadata.update({"nick": "bobby-tables-99"})
    await client.ingest.WriteEvents(write_request(event), metadata=client.project)
    stored = await _only_event(client)
    assert stored.log.metadata["nick"] == "***********s-99"

    updated = await client.admin.UpdateRedactionRule(
        pb.UpdateRedactionRuleRequest(
            project="default",
            rule=created.rule.id,
            update=Rule(enabled=False),
            update_mask=field_mask_pb2.FieldMask(paths=["enabled"]),
        ),
        metadata=client.master,
    )
    assert not updated.rule.enabled and updated.rule.fields == ["metadata.nick"]
    assert updated.rule.HasField("update_time")
    await client.admin.DeleteRedactionRule(
        pb.DeleteRedactionRuleRequest(project="default", rule=created.rule.id), metadata=client.master
    )
    error = await _error(
        client.admin.DeleteRedactionRule(
            pb.DeleteRedactionRuleRequest(project="default", rule=created.rule.id), metadata=client.master
        )
    )
    assert (error.code(), reason(error)) == (grpc.StatusCode.NOT_FOUND, "REDACTION_RULE_NOT_FOUND")


async def test_builtins_redact_at_ingest_and_can_be_disabled_but_not_deleted(
    client: Client, settings: Settings
) -> None:
    event = log_event(f"paid with {CARD}")
    event.tags["password"] = "hunter2"
    await client.ingest.WriteEvents(write_request(event), metadata=client.project)
    stored = await _only_event(client)
    assert stored.message == "paid with [REDACTED]"
    assert stored.tags["password"] == "[REDACTED]"
    [payload] = await stored_payloads(settings.database_url)
    assert CARD.encode() not in payload and b"hunter2" not in payload

    error = await _error(
        client.admin.DeleteRedactionRule(
            pb.DeleteRedactionRuleRequest(project="default", rule="builtin_credit_card"),
            metadata=client.master,
        )
    )
    assert (error.code(), reason(error)) == (grpc.StatusCode.FAILED_PRECONDITION, "BUILTIN_RULE")

    updated = await client.admin.UpdateRedactionRule(
        pb.UpdateRedactionRuleRequest(
            project="default", rule="builtin_credit_card", update=Rule(behavior=MASK, enabled=True)
        ),
        metadata=client.master,
    )
    assert (updated.rule.behavior, updated.rule.enabled, updated.rule.name) == (
        MASK,
        True,
        "Credit Card Number",
    )
    tested = await client.admin.TestRedaction(
        pb.TestRedactionRequest(project="default", sample=log_event(f"card {CARD}")), metadata=client.project
    )
    assert tested.redacted.message == "card ****-****-****-1111"
    assert [(m.rule_id, m.field) for m in tested.matches] == [("builtin_credit_card", "message")]

    await client.admin.UpdateRedactionRule(
        pb.UpdateRedactionRuleRequest(
            project="default",
            rule="builtin_credit_card",
            update=Rule(enabled=False),
            update_mask=field_mask_pb2.FieldMask(paths=["enabled"]),
        ),
        metadata=client.master,
    )
    tested = await client.admin.TestRedaction(
        pb.TestRedactionRequest(project="default", sample=log_event(f"card {CARD}")), metadata=client.project
    )
    assert (tested.redacted.message, tested.redacted_count, list(tested.matches)) == (f"card {CARD}", 0, [])
    # This node's change is seen at once by ingest, not after the cache's TTL.
    await client.ingest.WriteEvents(write_request(log_event(f"again {CARD}")), metadata=client.project)
    assert await event_count(settings.database_url) == 2
    assert any(CARD.encode() in p for p in await stored_payloads(settings.database_url))


async def test_test_redaction_stores_nothing(client: Client, settings: Settings) -> None:
    sample = log_event("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl")
    tested = await client.admin.TestRedaction(
        pb.TestRedactionRequest(project="default", sample=sample), metadata=client.master
    )
    assert tested.redacted.message == "jwt [REDACTED]" and tested.redacted_count == 1
    assert await event_count(settings.database_url) == 0


async def test_writes_need_a_master_key_and_reads_a_key_of_the_project(client: Client) -> None:
    create = pb.CreateRedactionRuleRequest(
        project="default", rule=Rule(type=PATTERN, name="x", pattern="x+y")
    )
    error = await _error(client.admin.CreateRedactionRule(create, metadata=client.project))
    assert (error.code(), reason(error)) == (grpc.StatusCode.PERMISSION_DENIED, "MASTER_KEY_REQUIRED")
    error = await _error(
        client.admin.DeleteRedactionRule(
            pb.DeleteRedactionRuleRequest(project="default", rule="rr_x"), metadata=client.project
        )
    )
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    error = await _error(client.admin.ListRedactionRules(pb.ListRedactionRulesRequest(project="default")))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    created = await client.admin.CreateApiKey(
        pb.CreateApiKeyRequest(organization="default", kind=pb.API_KEY_KIND_PUBLIC, project="default"),
        metadata=client.master,
    )
    error = await _error(
        client.admin.ListRedactionRules(
            pb.ListRedactionRulesRequest(project="default"), metadata=client.auth(created.secret)
        )
    )
    assert (error.code(), reason(error)) == (grpc.StatusCode.PERMISSION_DENIED, "WRITE_ONLY_KEY")


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        (Rule(type=PATTERN, name="bad", pattern="(unclosed"), "rule.pattern"),
        (Rule(type=PATTERN, name="slow", pattern="(a+)+$"), "rule.pattern"),
        (Rule(type=PATTERN, name="empty", pattern="a*"), "rule.pattern"),
        (Rule(type=PATTERN, name="long", pattern="a" * 1001), "rule.pattern"),
        (Rule(type=PATTERN, name="", pattern="abc"), "rule.name"),
        (Rule(type=FIELD, name="no fields"), "rule.fields"),
        (Rule(type=redaction_pb2.REDACTION_RULE_TYPE_BUILTIN, name="b"), "rule.type"),
    ],
)
async def test_invalid_rules_are_refused(client: Client, rule: Rule, field: str) -> None:
    error = await _error(
        client.admin.CreateRedactionRule(
            pb.CreateRedactionRuleRequest(project="default", rule=rule), metadata=client.master
        )
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in [f for f, _ in violations(error)]


async def test_builtin_rules_change_only_behavior_and_enabled(client: Client) -> None:
    error = await _error(
        client.admin.UpdateRedactionRule(
            pb.UpdateRedactionRuleRequest(
                project="default",
                rule="builtin_email",
                update=Rule(pattern="x"),
                update_mask=field_mask_pb2.FieldMask(paths=["pattern"]),
            ),
            metadata=client.master,
        )
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    error = await _error(
        client.admin.UpdateRedactionRule(
            pb.UpdateRedactionRuleRequest(project="default", rule="rr_missing", update=Rule(name="n")),
            metadata=client.master,
        )
    )
    assert error.code() == grpc.StatusCode.NOT_FOUND
