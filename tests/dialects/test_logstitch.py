"""The LogStitch translator: bodies to audit events and back, validation tables, the 100 cap, and
the list query's parameters. Pure: no server runs."""

from __future__ import annotations

import ast
import copy
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import timestamp_pb2

from ingestd.compat.logstitch.v1 import logstitch_service_pb2 as pb
from ingestd.v1 import event_pb2
from server.dialects.answer import Answer
from server.dialects.logstitch import common
from server.dialects.logstitch import query as logstitch_query
from server.dialects.logstitch import translate as logstitch
from server.dialects.logstitch.pages import decode_cursor, encode_cursor
from server.dialects.logstitch.query import EVENT_ID, EventQuery, parse_query

E = event_pb2
PAYLOADS = Path(__file__).resolve().parent.parent / "payloads" / "logstitch"


def payload(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text())


def minimal(**fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "action": "user.login",
        "category": "auth",
        "actor": {"id": "u1", "type": "user"},
        "tenant_id": "acme",
    }
    event.update(fields)
    return event


def refused(caught: pytest.ExceptionInfo[Answer], message: str) -> list[tuple[str, str]]:
    """The details of a 400 `validation_error` with `message`."""
    assert caught.value.status == 400
    error = caught.value.body["error"]  # type: ignore[index]
    assert (error["code"], error["message"]) == ("validation_error", message)
    return [(d["field"], d["message"]) for d in error["details"]]


def details(body: object) -> list[tuple[str, str]]:
    with pytest.raises(Answer) as caught:
        logstitch.to_events(body)
    return refused(caught, "Invalid request body")


def test_a_full_event_becomes_an_audit_event_with_every_field() -> None:
    [event] = logstitch.to_events(payload("single_event.json"))

    assert event.kind == E.KIND_AUDIT
    assert event.message == "invoice.updated"
    assert event.idempotency_key == "logstitch:3f1c6d2e-8a4b-4c1e-9f7a-1b2c3d4e5f60"
    assert event.occurred_at.ToJsonString() == "2025-03-14T15:09:26.535Z"
    audit = event.audit
    assert (audit.action, audit.category, audit.tenant_id) == ("invoice.updated", "mutation", "acme")
    assert audit.actor == E.AuditActor(
        id="user_42", type="user", name="Ada Lovelace", email="ada@example.com"
    )
    assert audit.target == E.AuditTarget(id="inv_1001", type="invoice", name="Invoice #1001")
    assert audit.context == E.AuditContext(
        ip_address="203.0.113.7", user_agent="Mozilla/5.0", location="London, GB", session_id="sess_9"
    )
    assert audit.metadata["plan"] == "pro"
    assert audit.metadata.fields["nested"].struct_value.fields["ok"].bool_value is True
    amount, status, lines = audit.changes
    assert (amount.field, amount.before.number_value, amount.after.number_value) == ("amount", 100, 120.5)
    assert status.before.WhichOneof("kind") == "null_value"
    assert status.after.string_value == "paid"
    assert lines.before.list_value.values[0].struct_value["sku"] == "x"
    assert len(lines.after.list_value.values) == 0 and lines.after.HasField("list_value")


def test_a_stored_event_reads_back_as_sent() -> None:
    sent = payload("single_event.json")
    [event] = logstitch.to_events(sent)

    assert logstitch_query.as_sent(event) == sent
    batch = payload("batch.json")
    back = [logstitch_query.as_sent(e) for e in logstitch.to_events(batch)]
    # Only what the client could not have meant differently changes: the time is rendered in UTC.
    assert back[2].pop("occurred_at") == "2025-03-14T14:10:00.000Z"
    assert batch[2].pop("occurred_at") == "2025-03-14T15:10:00+01:00"
    assert [{k: v for k, v in b.items() if k != "occurred_at"} for b in back] == batch


def test_an_object_is_one_event_and_an_array_keeps_its_order() -> None:
    assert len(logstitch.to_events(minimal())) == 1
    events = logstitch.to_events(payload("batch.json"))
    assert [e.audit.action for e in events] == ["user.login", "api_key.created", "billing.plan.changed"]
    assert [e.idempotency_key[-1] for e in events] == ["1", "2", "3"]


def test_a_batch_holds_one_to_a_hundred_events() -> None:
    assert len(logstitch.to_events([minimal() for _ in range(100)])) == 100
    assert details([minimal() for _ in range(101)]) == [("", "Array must contain at most 100 element(s)")]
    assert details([]) == [("", "Array must contain at least 1 element(s)")]
    assert details("user.login") == [("", "Expected object or array, received string")]
    assert details([minimal(), 7]) == [("[1]", "Expected object, received number")]


def _without(*path: str) -> Callable[[dict[str, Any]], None]:
    def mutate(event: dict[str, Any]) -> None:
        target = event
        for name in path[:-1]:
            target = target[name]
        del target[path[-1]]

    return mutate


def _with(**fields: Any) -> Callable[[dict[str, Any]], None]:
    return lambda event: event.update(fields)


def _nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(levels - 1):
        value = {"next": value}
    return value


INVALID = [
    pytest.param(_without("action"), [("action", "Required")], id="action missing"),
    pytest.param(
        _with(action="User.Login"),
        [("action", "Must be dot-separated lowercase segments, such as user.login")],
        id="action pattern",
    ),
    pytest.param(
        _with(action="login"),
        [("action", "Must be dot-separated lowercase segments, such as user.login")],
        id="action one segment",
    ),
    pytest.param(_with(action=5), [("action", "Expected string, received number")], id="action type"),
    pytest.param(
        _with(category="billing"),
        [
            (
                "category",
                "Invalid enum value. Expected 'auth' | 'access' | 'mutation' | 'admin' | 'security' | "
                "'system', received 'billing'",
            )
        ],
        id="category enum",
    ),
    pytest.param(_without("actor"), [("actor", "Required")], id="actor missing"),
    pytest.param(_with(actor="u1"), [("actor", "Expected object, received string")], id="actor type"),
    pytest.param(_without("actor", "id"), [("actor.id", "Required")], id="actor.id missing"),
    pytest.param(
        _with(actor={"id": "", "type": "user"}),
        [("actor.id", "String must contain at least 1 character(s)")],
        id="actor.id empty",
    ),
    pytest.param(
        _with(actor={"id": "u1", "type": "robot"}),
        [
            (
                "actor.type",
                "Invalid enum value. Expected 'user' | 'api_key' | 'service' | 'system', received 'robot'",
            )
        ],
        id="actor.type enum",
    ),
    pytest.param(
        _with(actor={"id": "u1", "type": "user", "email": "nope"}),
        [("actor.email", "Invalid email")],
        id="actor.email",
    ),
    pytest.param(_without("tenant_id"), [("tenant_id", "Required")], id="tenant missing"),
    pytest.param(_with(target={"id": "t1"}), [("target.type", "Required")], id="target.type missing"),
    pytest.param(
        _with(context={"ip_address": 1}),
        [("context.ip_address", "Expected string, received number")],
        id="context field type",
    ),
    pytest.param(_with(metadata=[1]), [("metadata", "Expected object, received array")], id="metadata array"),
    pytest.param(_with(changes={}), [("changes", "Expected array, received object")], id="changes object"),
    pytest.param(
        _with(changes=[{"before": 1}]), [("changes[0].field", "Required")], id="change without field"
    ),
    pytest.param(
        _with(idempotency_key="k" * 191),
        [("idempotency_key", "String must contain at most 190 character(s)")],
        id="idempotency key too long",
    ),
    pytest.param(
        _with(occurred_at="yesterday"), [("occurred_at", "Invalid datetime")], id="occurred_at text"
    ),
    pytest.param(
        _with(occurred_at="2025-03-14"), [("occurred_at", "Invalid datetime")], id="occurred_at date only"
    ),
    pytest.param(
        _with(occurred_at="2025-02-30T00:00:00Z"), [("occurred_at", "Invalid datetime")], id="no such day"
    ),
    pytest.param(
        _with(occurred_at="0001-01-01T00:00:00+01:00"),
        [("occurred_at", "Invalid datetime")],
        id="before year 1 in UTC",
    ),
    pytest.param(
        _with(metadata=_nested(17)), [("metadata", "Nested deeper than 16 levels")], id="metadata too deep"
    ),
    pytest.param(
        _with(action=None, tenant_id=None),
        [("action", "Required"), ("tenant_id", "Required")],
        id="every problem is listed",
    ),
]


@pytest.mark.parametrize(("mutate", "expected"), INVALID)
def test_invalid_events_are_refused_with_their_field_paths(
    mutate: Callable[[dict[str, Any]], None], expected: list[tuple[str, str]]
) -> None:
    single = minimal()
    mutate(single)
    assert details(single) == expected

    batch = [minimal(), minimal(), copy.deepcopy(single)]
    assert details(batch) == [(f"[2].{field}", message) for field, message in expected]


def test_unknown_keys_are_dropped_and_null_optionals_are_absent() -> None:
    [event] = logstitch.to_events(minimal(colour="red", target=None, metadata=None, occurred_at=None))
    assert not event.audit.HasField("target")
    assert not event.audit.HasField("metadata")
    assert not event.HasField("occurred_at")
    assert "colour" not in logstitch_query.as_sent(event)


def test_sixteen_levels_of_metadata_are_stored_and_read_back() -> None:
    deep = _nested(16)
    [event] = logstitch.to_events(minimal(metadata=deep, occurred_at="2025-01-01T00:00:00Z"))
    again = E.Event.FromString(event.SerializeToString())
    assert logstitch_query.as_sent(again)["metadata"] == deep


def test_ids_map_to_stored_event_ids_and_back() -> None:
    stored = "0195a3b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b"
    vendor = logstitch.vendor_id(stored)
    assert vendor == "evt_0195a3b27c4d7e8f9a0b1c2d3e4f5a6b"
    assert logstitch.event_id_of(vendor) == stored
    assert logstitch.event_id_of("0195a3b27c4d7e8f9a0b1c2d3e4f5a6b") is None
    assert logstitch.event_id_of("evt_xyz") is None


def test_refusals_of_the_ingest_domain_name_the_vendor_fields() -> None:
    assert logstitch.vendor_field(None, "message") == "action"
    assert logstitch.vendor_field(3, "message") == "[3].action"
    assert logstitch.vendor_field(3, "occurred_at") == "[3].occurred_at"
    assert logstitch.vendor_field(None, "event") == ""
    assert logstitch.vendor_field(1, "event") == "[1]"
    assert logstitch.vendor_field(0, "audit.action") == "[0].action"


def test_content_hash_is_sha256_of_sorted_compact_json() -> None:
    sent = {"b": 1, "a": {"y": "é", "x": [1, 2]}}
    reordered = {"a": {"x": [1, 2], "y": "é"}, "b": 1}
    expected = hashlib.sha256('{"a":{"x":[1,2],"y":"é"},"b":1}'.encode()).hexdigest()
    assert logstitch_query.content_hash(sent) == logstitch_query.content_hash(reordered) == expected


def test_timestamps_render_like_javascript_to_iso_string() -> None:
    """docs/vendors/logstitch.md §8: always milliseconds, a finer time cut to its millisecond."""
    assert common.timestamp(timestamp_pb2.Timestamp(seconds=0)) == "1970-01-01T00:00:00.000Z"
    assert common.timestamp(timestamp_pb2.Timestamp(seconds=1, nanos=5_000)) == "1970-01-01T00:00:01.000Z"
    assert common.timestamp(timestamp_pb2.Timestamp(seconds=1, nanos=999_999_999)) == (
        "1970-01-01T00:00:01.999Z"
    )
    assert common.timestamp_us(-1) == "1969-12-31T23:59:59.999Z"
    assert common.timestamp_us(253_402_300_799_999_999) == "9999-12-31T23:59:59.999Z"


# --- The list's query parameters ---------------------------------------------------------------


def query_details(**params: str) -> list[tuple[str, str]]:
    with pytest.raises(Answer) as caught:
        parse_query(pb.ListEventsRequest(**params))
    return refused(caught, "Invalid query parameters")


def test_limit_defaults_to_50_and_must_be_1_to_100() -> None:
    assert parse_query(pb.ListEventsRequest()).limit == 50
    assert parse_query(pb.ListEventsRequest(limit="100")).limit == 100
    assert query_details(limit="0") == [("limit", "Number must be greater than or equal to 1")]
    assert query_details(limit="101") == [("limit", "Number must be less than or equal to 100")]
    assert query_details(limit="ten") == [("limit", "Expected integer, received string")]
    assert query_details(limit="-1") == [("limit", "Expected integer, received string")]


def test_dates_enums_and_cursors_are_checked() -> None:
    query = parse_query(
        pb.ListEventsRequest(start_date="1970-01-01T00:00:01Z", end_date="1970-01-01T01:00:00+01:00")
    )
    assert (query.start_us, query.end_us) == (1_000_000, 0)
    assert query_details(start_date="soon", category="money", actor_type="robot", cursor="!!") == [
        ("start_date", "Invalid datetime"),
        (
            "category",
            "Invalid enum value. Expected 'auth' | 'access' | 'mutation' | 'admin' | 'security' | "
            "'system', received 'money'",
        ),
        (
            "actor_type",
            "Invalid enum value. Expected 'user' | 'api_key' | 'service' | 'system', received 'robot'",
        ),
        ("cursor", "Invalid cursor"),
    ]


def test_a_cursor_is_an_opaque_token_of_an_event_id() -> None:
    event_id = "0195a3b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b"
    cursor = encode_cursor(event_id)
    assert event_id not in cursor and "=" not in cursor
    assert decode_cursor(cursor, EVENT_ID) == event_id
    assert parse_query(pb.ListEventsRequest(cursor=cursor)).before_id == event_id
    assert decode_cursor(encode_cursor("not-an-id"), EVENT_ID) is None


def test_search_matches_action_tenant_actor_and_target_ignoring_case() -> None:
    [event] = logstitch.to_events(payload("single_event.json"))
    for text in ("INVOICE.upd", "acme", "ada@", "lovelace", "user_42", "inv_1001", "#1001"):
        assert EventQuery(search=text.lower()).matches(event), text
    assert not EventQuery(search="london").matches(event), "context is not searched"
    assert EventQuery(tenant_id="acme", actor_type="user", target_type="invoice").matches(event)
    assert not EventQuery(tenant_id="ACME").matches(event), "filters are exact"


# --- The package's shape ---------------------------------------------------------------------


def test_no_servicer_module_imports_another_but_the_one_that_composes_them() -> None:
    """Shared helpers live in `calls`, `common`, `validation`, `pages` and `severity`, so that a
    servicer module reaches no other servicer module; only `service` composes them."""
    package = Path(logstitch.__file__).parent

    def tree(path: Path) -> ast.Module:
        return ast.parse(path.read_text(), filename=str(path))

    servicers = {
        path.stem
        for path in package.glob("*.py")
        if any(isinstance(n, ast.ClassDef) and n.name.endswith("Servicer") for n in tree(path).body)
    }
    assert {"service", "keys", "redaction", "streams", "alerts", "alert_rules", "webhooks"} <= servicers
    reached = {
        stem: {
            name.split(".")[-1]
            for node in ast.walk(tree(package / f"{stem}.py"))
            if isinstance(node, ast.ImportFrom) and node.module
            for name in (node.module, *(f"{node.module}.{a.name}" for a in node.names))
            if name.startswith("server.dialects.logstitch.")
        }
        & servicers
        for stem in servicers - {"service"}
    }
    assert {stem: found for stem, found in reached.items() if found} == {}
