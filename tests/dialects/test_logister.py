"""The Logister translators, table-driven from golden payloads (tests/payloads/logister/*.json):
each holds a request body as a Logister client sends it and the canonical event it becomes (as
proto3 JSON), or the 422 messages Logister answers with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format

from ingestd.v1 import event_pb2
from server.dialects.logister import checkin as logister_checkin
from server.dialects.logister import translate as logister
from server.dialects.logister.limits import derived_uuid, legacy_id, normalize_uuid, parse_time, underscore

PAYLOADS = Path(__file__).parent.parent / "payloads" / "logister"
NOW_US = 1_771_070_400_000_000  # 2026-02-14T12:00:00Z
FALLBACK_UUID = "00000000-0000-4000-8000-000000000000"
E = event_pb2


def _golden() -> list[Any]:
    return [
        pytest.param(json.loads(path.read_text()), id=path.stem) for path in sorted(PAYLOADS.glob("*.json"))
    ]


def translate(route: str, body: Any) -> logister.Translated | list[str] | None:
    """What the servicer does with a parsed body of `route`, short of writing it."""
    if route == "event":
        raw = logister.envelope(body, "event")
        if raw is None:
            return None
        return logister.translate_event(
            raw,
            project="default",
            default_environment="production",
            now_us=NOW_US,
            fallback_uuid=FALLBACK_UUID,
        )
    if route == "check_in":
        raw = logister_checkin.check_in_envelope(body)
        if raw is None:
            return None
        return logister_checkin.translate_check_in(
            raw, default_environment="production", fallback_uuid=FALLBACK_UUID
        )
    raw = logister_checkin.deployment_envelope(body)
    if raw is None:
        return None
    return logister_checkin.translate_deployment(raw, project="default", default_environment="production")


@pytest.mark.parametrize("golden", _golden())
def test_golden_payload_translates_as_recorded(golden: dict[str, Any]) -> None:
    result = translate(golden["route"], golden["request"])
    if "errors" in golden:
        assert result == golden["errors"]
        return
    assert isinstance(result, logister.Translated)
    assert result.uuid == golden["uuid"]
    assert result.span is golden["span"]
    assert json_format.MessageToDict(result.event) == golden["event"]
    assert result.event.idempotency_key == f"logister:{golden['uuid']}"


def test_golden_payloads_cover_every_route_and_kind() -> None:
    goldens = [json.loads(path.read_text()) for path in PAYLOADS.glob("*.json")]
    kinds = {g["event"]["kind"] for g in goldens if "event" in g}
    assert {g["route"] for g in goldens} == {"event", "check_in", "deployment"}
    assert kinds == {
        "KIND_ERROR",
        "KIND_LOG",
        "KIND_METRIC",
        "KIND_TRANSACTION",
        "KIND_SPAN",
        "KIND_CHECK_IN",
        "KIND_DEPLOYMENT",
    }


def test_the_seed_error_example_keeps_what_logister_shows() -> None:
    golden = json.loads((PAYLOADS / "seed_error.json").read_text())
    result = translate("event", golden["request"])
    assert isinstance(result, logister.Translated)
    event = result.event
    assert (event.kind, event.level, event.message) == (
        E.KIND_ERROR,
        E.LEVEL_ERROR,
        "NoMethodError in CheckoutService",
    )
    assert (event.fingerprint, event.environment, event.request_id) == (
        "checkout-nomethoderror",
        "production",
        "abc123",
    )
    assert event.occurred_at.ToJsonString() == "2026-02-14T12:00:00Z"
    assert json_format.MessageToDict(event.context)["metadata"] == {"user_id": 42}


@pytest.mark.parametrize(
    ("body", "route"),
    [
        pytest.param({}, "event", id="no-event"),
        pytest.param({"event": {}}, "event", id="empty-event"),
        pytest.param({"event": "text"}, "event", id="event-not-an-object"),
        pytest.param([{"event": {"message": "x"}}], "event", id="array-body"),
        pytest.param({"check_in": {"checked_at": "x"}}, "check_in", id="check-in-without-known-keys"),
        pytest.param({"deployment": {"url": "x"}}, "deployment", id="deployment-without-known-keys"),
    ],
)
def test_a_body_without_its_envelope_is_none(body: Any, route: str) -> None:
    assert translate(route, body) is None


@pytest.mark.parametrize(
    ("key", "normalized"),
    [
        ("event_type", "event_type"),
        ("eventType", "event_type"),
        ("EVENT_TYPE", "event_type"),
        ("EventType", "event_type"),
        ("HTTPStatus", "http_status"),
        ("userID", "user_id"),
        ("trace-id", "trace_id"),
        ("Foo::Bar", "foo/bar"),
        ("UUID", "uuid"),
    ],
)
def test_keys_are_normalized_like_activesupport_underscore(key: str, normalized: str) -> None:
    assert underscore(key) == normalized


def test_context_keeps_keys_as_sent_and_adds_snake_case_unless_present() -> None:
    context = logister.normalize_context(
        {"traceId": "a", "trace_id": "b", "userId": 1, "list": [{"innerKey": True}], "plain": None}
    )
    assert context == {
        "traceId": "a",
        "trace_id": "b",  # the key as sent wins over the duplicate made from `traceId`
        "userId": 1,
        "user_id": 1,
        "list": [{"innerKey": True, "inner_key": True}],
        "plain": None,
    }


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("debug", E.LEVEL_DEBUG),
        ("info", E.LEVEL_INFO),
        ("warn", E.LEVEL_WARNING),
        ("WARNING", E.LEVEL_WARNING),
        ("error", E.LEVEL_ERROR),
        ("critical", E.LEVEL_FATAL),
        ("fatal", E.LEVEL_FATAL),
        ("verbose-ish", E.LEVEL_UNSPECIFIED),
    ],
)
def test_free_text_levels_map_to_canonical_levels(text: str, level: int) -> None:
    assert logister.level_of(text) == level


def test_the_raw_level_text_is_kept() -> None:
    result = translate("event", {"event": {"event_type": "log", "level": "Critical", "message": "m"}})
    assert isinstance(result, logister.Translated)
    assert result.event.level == E.LEVEL_FATAL
    assert result.event.log.level_text == "Critical"
    assert result.event.tags["level"] == "Critical"


def test_a_context_value_wins_over_the_top_level_convenience_field() -> None:
    result = translate(
        "event",
        {"event": {"event_type": "log", "message": "m", "release": "top", "context": {"release": "ctx"}}},
    )
    assert isinstance(result, logister.Translated)
    assert result.event.release == "ctx"
    assert result.event.context["release"] == "ctx"


def test_an_unparsable_occurred_at_is_left_for_the_receive_time() -> None:
    result = translate("event", {"event": {"event_type": "log", "message": "m", "occurred_at": "yesterday"}})
    assert isinstance(result, logister.Translated)
    assert not result.event.HasField("occurred_at")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-02-14T12:00:00Z", "2026-02-14T12:00:00Z"),
        ("2026-02-14T13:00:00+01:00", "2026-02-14T12:00:00Z"),
        ("2026-02-14 12:00:00", "2026-02-14T12:00:00Z"),
        ("2026-02-14 12:00:00 UTC", "2026-02-14T12:00:00Z"),
        ("2026-11-22T07:42:45.568910Z", "2026-11-22T07:42:45.568910Z"),
        (1_771_070_400, "2026-02-14T12:00:00Z"),
        ("not a time", None),
        (True, None),
        (None, None),
    ],
)
def test_times_parse_leniently(value: object, expected: str | None) -> None:
    parsed = parse_time(value)
    assert (parsed.ToJsonString() if parsed is not None else None) == expected


def test_uuids_are_lower_cased_and_validated() -> None:
    assert normalize_uuid(" 5B0C7A4E-4A4C-4F57-9D0E-0A1B2C3D4E5F ") == "5b0c7a4e-4a4c-4f57-9d0e-0a1b2c3d4e5f"
    assert normalize_uuid("5b0c7a4e4a4c4f579d0e0a1b2c3d4e5f") is None
    assert normalize_uuid(12) is None


def test_event_id_is_an_alias_of_uuid() -> None:
    result = translate(
        "event",
        {"event": {"event_type": "log", "message": "m", "eventId": "5B0C7A4E-4A4C-4F57-9D0E-0A1B2C3D4E5F"}},
    )
    assert isinstance(result, logister.Translated)
    assert result.uuid == "5b0c7a4e-4a4c-4f57-9d0e-0a1b2c3d4e5f"


def test_legacy_ids_are_stable_positive_and_safe_for_javascript() -> None:
    ids = {legacy_id(f"00000000-0000-4000-8000-{n:012d}") for n in range(1000)}
    assert len(ids) == 1000
    assert all(0 < i < 2**53 for i in ids)
    assert legacy_id("5b0c7a4e-4a4c-4f57-9d0e-0a1b2c3d4e5f") == legacy_id(
        "5b0c7a4e-4a4c-4f57-9d0e-0a1b2c3d4e5f"
    )


def test_derived_uuids_are_valid_version_5_layout_uuids() -> None:
    derived = derived_uuid("logister:span:default:t:s")
    assert normalize_uuid(derived) == derived
    assert derived[14] == "5" and derived[19] in "89ab"
    assert derived_uuid("logister:span:other:t:s") != derived


def test_a_span_id_depends_on_its_project_trace_and_span() -> None:
    body = {"event": {"event_type": "span", "trace_id": "t", "span_id": "s"}}
    first = translate("event", body)
    again = translate("event", body)
    assert isinstance(first, logister.Translated) and isinstance(again, logister.Translated)
    assert first.uuid == again.uuid == derived_uuid("logister:span:default:t:s")


def test_a_repeated_deployment_has_the_same_id_whatever_its_commit() -> None:
    def deployed(sha: str) -> logister.Translated:
        result = translate(
            "deployment", {"deployment": {"release": "1.0", "repository": "acme/api", "commit_sha": sha}}
        )
        assert isinstance(result, logister.Translated)
        return result

    assert deployed("abcdef1").uuid == deployed("1234567").uuid
    other = translate(
        "deployment",
        {
            "deployment": {
                "release": "1.0",
                "repository": "acme/api",
                "commit_sha": "abcdef1",
                "environment": "qa",
            }
        },
    )
    assert isinstance(other, logister.Translated) and other.uuid != deployed("abcdef1").uuid


def test_deployment_errors_come_in_logisters_order() -> None:
    assert translate("deployment", {"deployment": {"environment": "production"}}) == [
        "Release can't be blank",
        "Repository can't be blank",
        "Commit sha can't be blank",
    ]
