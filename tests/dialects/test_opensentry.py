"""The Open Sentry translator, pure and table-driven: golden payloads from the seed and from the
real SDK, Open Sentry's Zod schema item by item, and its worker's grouping rule."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format

from ingestd.v1 import event_pb2
from server.dialects.answer import Answer
from server.dialects.opensentry import translate as opensentry
from server.dialects.opensentry.translate import parse, translate

E = event_pb2
PAYLOADS = Path(__file__).resolve().parent.parent / "payloads" / "opensentry"
GOLDEN = sorted(p.stem for p in PAYLOADS.glob("*.json") if not p.name.endswith(".events.json"))

ERROR: dict[str, Any] = {"type": "error", "exception": {"type": "Error", "value": "boom"}}
TRANSACTION: dict[str, Any] = {"type": "transaction", "name": "GET /", "traceId": "t-1", "durationMs": 5}
GENERATION: dict[str, Any] = {
    "type": "ai_generation",
    "provider": "openai",
    "model": "gpt-4o",
    "inputTokens": 3,
}


def _one(item: object) -> event_pb2.Event:
    [event] = translate(item)
    return event


def _with(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    item = copy.deepcopy(base)
    item.update(changes)
    return item


def _frames(*frames: object) -> dict[str, Any]:
    return _with(ERROR, exception={"type": "TypeError", "value": "x", "stacktrace": {"frames": list(frames)}})


@pytest.mark.parametrize("name", GOLDEN)
def test_golden_payloads_translate_to_their_events(name: str) -> None:
    events = translate(parse((PAYLOADS / f"{name}.json").read_bytes()))

    got = [json_format.MessageToDict(e, preserving_proto_field_name=True) for e in events]
    assert got == json.loads((PAYLOADS / f"{name}.events.json").read_text())


def test_the_seed_error_item_maps_every_field() -> None:
    event = _one(parse((PAYLOADS / "error_item.json").read_bytes()))

    assert event.kind == E.KIND_ERROR
    assert event.message == "TypeError: Cannot read property 'x' of undefined"
    [frame] = event.error.exception.frames
    assert (frame.filename, frame.function, frame.lineno, frame.colno, frame.in_app) == (
        "app/page.tsx",
        "loadData",
        42,
        12,
        True,
    )
    [crumb] = event.error.breadcrumbs
    assert crumb.timestamp.ToJsonString() == "2026-05-30T12:00:00Z"
    assert (crumb.category, crumb.message, crumb.level) == ("navigation", "User opened settings", "info")
    assert dict(event.tags) == {"region": "us-east"}
    assert (event.user.id, event.user.email) == ("user_123", "dev@example.com")
    assert (event.environment, event.release) == ("production", "web@2.4.1")
    assert event.occurred_at.ToJsonString() == "2026-05-30T12:00:01Z"
    assert event.context["message"] == "optional fallback message"


def test_frames_keep_source_context_and_paths() -> None:
    frame = {
        "filename": "app.js",
        "function": "f",
        "module": "app",
        "absPath": "/srv/app.js",
        "contextLine": "throw e",
        "preContext": ["a", "b"],
        "postContext": ["c"],
        "inApp": False,
    }
    [out] = _one(_frames(frame)).error.exception.frames

    assert (out.abs_path, out.module, out.context_line) == ("/srv/app.js", "app", "throw e")
    assert (list(out.pre_context), list(out.post_context)) == (["a", "b"], ["c"])
    assert out.HasField("in_app") and out.in_app is False


# Grouping: Open Sentry's worker rule, so the same error is one issue whatever changes around it.


def test_the_fingerprint_ignores_lines_times_and_library_frames() -> None:
    app = {"filename": "app.js", "function": "handler", "lineno": 10, "inApp": True}
    lib = {"filename": "node_modules/x.js", "function": "call", "inApp": False}
    first = _with(_frames(lib, app), timestamp="2026-01-01T00:00:00Z")
    moved = _with(_frames(dict(app, lineno=99)), timestamp="2026-02-01T00:00:00Z")

    assert _one(first).fingerprint == _one(moved).fingerprint


def test_the_fingerprint_uses_the_last_three_in_app_frames() -> None:
    frames = [{"filename": f"f{i}.js", "function": "g"} for i in range(5)]  # no inApp: in-app
    other_start = [{"filename": "other.js", "function": "g"}, *frames[1:]]
    other_end = [*frames[:4], {"filename": "other.js", "function": "g"}]

    assert _one(_frames(*frames)).fingerprint == _one(_frames(*other_start)).fingerprint
    assert _one(_frames(*frames)).fingerprint != _one(_frames(*other_end)).fingerprint


def test_the_fingerprint_falls_back_to_all_frames_when_none_is_in_app() -> None:
    a = _frames({"filename": "a.js", "function": "f", "inApp": False})
    b = _frames({"filename": "b.js", "function": "f", "inApp": False})

    assert _one(a).fingerprint != _one(b).fingerprint


def test_the_fingerprint_is_open_sentrys_sha256() -> None:
    # The digests Open Sentry's `computeFingerprint` gives (node:crypto over the same input).
    item = _frames({"filename": "app.js"})
    assert _one(item).fingerprint == "5a12010cee4eded3adcff49fa00cde8946f74c3d5db43a5370667cafc92a3f7f"
    assert _one({"type": "error", "exception": {}}).fingerprint == (
        "18e4c74240e8180558ae2e16e5002de9b8be3b38aff54d55f9798408cc0c0860"
    )


@pytest.mark.parametrize(
    ("item", "message"),
    [
        pytest.param({"type": "error", "exception": {}}, "Error: Unknown error", id="empty-exception"),
        pytest.param(
            {"type": "error", "exception": {"type": "E"}, "message": "fallback"}, "E: fallback", id="message"
        ),
        pytest.param({"type": "error", "exception": {"value": "v"}}, "Error: v", id="no-type"),
        pytest.param(
            {"type": "error", "exception": {"type": "T", "value": "x" * 600}}, "T: " + "x" * 497, id="cut"
        ),
    ],
)
def test_the_message_is_open_sentrys_issue_title(item: dict[str, Any], message: str) -> None:
    assert _one(item).message == message


@pytest.mark.parametrize(
    ("changes", "level"),
    [
        pytest.param({}, E.LEVEL_ERROR, id="default"),
        pytest.param({"level": "fatal"}, E.LEVEL_FATAL, id="explicit"),
        pytest.param({"level": "debug", "exception": {"type": "warning"}}, E.LEVEL_DEBUG, id="explicit-wins"),
        pytest.param({"exception": {"type": "warning", "value": "m"}}, E.LEVEL_WARNING, id="captureMessage"),
        pytest.param({"exception": {"type": "WARN"}}, E.LEVEL_WARNING, id="warn"),
        pytest.param({"exception": {}, "message": "info"}, E.LEVEL_INFO, id="from-message"),
    ],
)
def test_the_level_follows_open_sentrys_worker(changes: dict[str, Any], level: int) -> None:
    assert _one(_with(ERROR, **changes)).level == level


def test_an_error_user_splits_known_fields_from_attributes() -> None:
    user = {"id": "1", "email": "a@b.c", "username": "jane", "ip_address": "10.0.0.1", "plan": "pro"}
    event = _one(_with(ERROR, user=user))

    assert (event.user.id, event.user.email, event.user.username) == ("1", "a@b.c", "jane")
    assert event.user.ip_address == "10.0.0.1"
    assert dict(event.user.attributes) == {"plan": "pro"}


def test_a_transaction_defaults_its_status_and_drops_what_zod_strips() -> None:
    event = _one(_with(TRANSACTION, release="web@1", tags={"a": "b"}, user={"id": "1"}, extra=1))

    assert event.kind == E.KIND_TRANSACTION
    assert event.trace_id == "t-1"
    assert (event.transaction.name, event.transaction.duration_ms) == ("GET /", 5.0)
    assert event.transaction.status == "ok"
    assert (event.release, dict(event.tags), event.HasField("user")) == ("", {}, False)


def test_an_ai_generation_keeps_every_field() -> None:
    item = _with(
        GENERATION,
        outputTokens=2.0,
        cachedInputTokens=1,
        cacheWriteTokens=4,
        inputCostUsd=0.5,
        outputCostUsd=0.25,
        totalCostUsd=0.75,
        latencyMs=1200,
        timeToFirstTokenMs=300,
        status="error",
        traceId="t-9",
        spanId="s-9",
        tags={"feature": "chat"},
        user={"id": "u"},
        metadata={"nested": {"list": [1, "two", None, True]}},
        release="r1",
    )
    event = _one(item)
    body = event.ai_generation

    assert event.kind == E.KIND_AI_GENERATION
    assert (body.provider, body.model, body.status) == ("openai", "gpt-4o", "error")
    assert (body.input_tokens, body.output_tokens, body.total_tokens) == (3, 2, 5)
    assert (body.cached_input_tokens, body.cache_write_tokens) == (1, 4)
    assert (body.input_cost_usd, body.output_cost_usd, body.total_cost_usd) == (0.5, 0.25, 0.75)
    assert (body.latency_ms, body.time_to_first_token_ms) == (1200.0, 300.0)
    assert (event.trace_id, event.span_id, event.release) == ("t-9", "s-9", "r1")
    assert dict(event.tags) == {"feature": "chat"} and event.user.id == "u"
    assert json_format.MessageToDict(body.metadata) == {"nested": {"list": [1.0, "two", None, True]}}


def test_an_ai_generation_gets_open_sentrys_defaults() -> None:
    body = _one(GENERATION).ai_generation

    assert (body.output_tokens, body.total_tokens, body.status) == (0, 3, "ok")
    assert _one(_with(GENERATION, totalTokens=10)).ai_generation.total_tokens == 10


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("2026-05-30T12:00:01.250Z", "2026-05-30T12:00:01.250Z", id="iso"),
        pytest.param("2026-05-30T14:00:00+02:00", "2026-05-30T12:00:00Z", id="offset"),
        pytest.param("2026-05-30", "2026-05-30T00:00:00Z", id="date-is-utc"),
        pytest.param("yesterday", None, id="unreadable-is-receive-time"),
        pytest.param("", None, id="empty"),
    ],
)
def test_timestamps(text: str, expected: str | None) -> None:
    event = _one(_with(ERROR, timestamp=text))

    assert (event.occurred_at.ToJsonString() if event.HasField("occurred_at") else None) == expected


def test_what_zod_accepts_beyond_the_obvious() -> None:
    # Unknown keys are stripped, integral floats pass `.int()`, and a line number that is not an
    # integer passes the schema (it is dropped, having no home).
    events = translate(
        [_with(GENERATION, inputTokens=12.0, bogus={"x": 1})] * 19 + [_frames({"lineno": 4.5})]
    )

    assert len(events) == 20
    assert events[0].ai_generation.input_tokens == 12
    assert events[19].error.exception.frames[0].lineno == 0


_DEEP: dict[str, Any] = {}
_cursor = _DEEP
for _ in range(opensentry.MAX_OBJECT_DEPTH):
    _cursor["a"] = {}
    _cursor = _cursor["a"]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("error", id="a-string"),
        pytest.param(42, id="a-number"),
        pytest.param(None, id="null"),
        pytest.param([], id="empty-array"),
        pytest.param([ERROR] * 21, id="21-items"),
        pytest.param([ERROR, "x"], id="array-of-non-objects"),
        pytest.param({"exception": {}}, id="no-type"),
        pytest.param(_with(ERROR, type="log"), id="unknown-type"),
        pytest.param({"type": "error"}, id="no-exception"),
        pytest.param(_with(ERROR, exception=None), id="null-exception"),
        pytest.param(_with(ERROR, exception=[]), id="array-exception"),
        pytest.param(_with(ERROR, message=None), id="null-optional"),
        pytest.param(_with(ERROR, message=3), id="number-message"),
        pytest.param(_with(ERROR, tags={"n": 1}), id="number-tag"),
        pytest.param(_with(ERROR, tags=["a"]), id="array-tags"),
        pytest.param(_with(ERROR, user={"id": 123}), id="number-user-id"),
        pytest.param(_with(ERROR, level="critical"), id="unknown-level"),
        pytest.param(_frames(*[{}] * 101), id="101-frames"),
        pytest.param(_with(ERROR, breadcrumbs=[{}] * 101), id="101-breadcrumbs"),
        pytest.param(_frames({"lineno": "42"}), id="string-lineno"),
        pytest.param(_frames({"inApp": "yes"}), id="string-inApp"),
        pytest.param(_frames({"preContext": ["a", 1]}), id="number-in-context"),
        pytest.param(_frames("frame"), id="string-frame"),
        pytest.param(_with(ERROR, breadcrumbs=[{"data": []}]), id="array-breadcrumb-data"),
        pytest.param(_with(ERROR, breadcrumbs=[{"level": 3}]), id="number-breadcrumb-level"),
        pytest.param({"type": "transaction", "traceId": "t", "durationMs": 1}, id="no-name"),
        pytest.param(_with(TRANSACTION, traceId=None), id="null-traceId"),
        pytest.param(_with(TRANSACTION, durationMs="5"), id="string-duration"),
        pytest.param(_with(TRANSACTION, durationMs=True), id="boolean-duration"),
        pytest.param(_with(TRANSACTION, status="timeout"), id="unknown-transaction-status"),
        pytest.param(_with(TRANSACTION, spans=[{"op": "db", "durationMs": 1}]), id="span-without-id"),
        pytest.param(_with(TRANSACTION, spans=[{"spanId": "s", "op": "db"}]), id="span-without-duration"),
        pytest.param(_with(GENERATION, latencyMs=12.5), id="float-latency"),
        pytest.param(_with(GENERATION, inputTokens=-1), id="negative-tokens"),
        pytest.param(_with(GENERATION, inputTokens=2**53), id="unsafe-integer"),
        pytest.param(_with(GENERATION, outputTokens=None), id="null-tokens"),
        pytest.param(_with(GENERATION, provider=""), id="empty-provider"),
        pytest.param(_with(GENERATION, model=""), id="empty-model"),
        pytest.param({k: v for k, v in GENERATION.items() if k != "inputTokens"}, id="no-input-tokens"),
        pytest.param(_with(GENERATION, totalCostUsd=-0.1), id="negative-cost"),
        pytest.param(_with(GENERATION, status="cancelled"), id="unknown-generation-status"),
        pytest.param(_with(GENERATION, metadata="x"), id="string-metadata"),
        pytest.param(_with(GENERATION, metadata={"deep": _DEEP}), id="metadata-too-deep"),
    ],
)
def test_the_schema_refuses(body: object) -> None:
    with pytest.raises(Answer, match="400"):
        translate(body)


def test_one_bad_item_refuses_the_batch_and_names_it() -> None:
    with pytest.raises(Answer) as refused:
        translate([ERROR, _with(GENERATION, latencyMs=1.5)])

    assert (refused.value.status, refused.value.body) == (400, {"error": "Invalid payload"})
    assert refused.value.detail.startswith("[1].latencyMs: ")


def test_infinity_from_a_huge_number_is_refused_by_the_schema_not_the_parser() -> None:
    body = parse(b'{"type":"transaction","name":"n","traceId":"t","durationMs":1e400}')

    with pytest.raises(Answer, match="400"):
        translate(body)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"{", id="truncated"),
        pytest.param(b"{'type': 'error'}", id="single-quotes"),
        pytest.param(b"NaN", id="nan"),
        pytest.param(b"[1,]", id="trailing-comma"),
        pytest.param(b"\x1f\x8b\x08\x00\x00\x00\x00\x00", id="gzip"),
        pytest.param(b"type=error", id="form"),
    ],
)
def test_not_json(data: bytes) -> None:
    with pytest.raises(Answer) as refused:
        parse(data)

    assert (refused.value.status, refused.value.body) == (400, {"error": "Invalid JSON"})


@pytest.mark.parametrize(
    ("data", "value"),
    [
        pytest.param(b"\xef\xbb\xbf[1]", [1], id="bom"),
        pytest.param(b'["a\xffb"]', ["a\ufffdb"], id="invalid-utf8"),
        pytest.param(b'["a\\ud800b"]', ["a\ufffdb"], id="lone-surrogate"),
        pytest.param(b'{"\\udc00":1}', {"\ufffd": 1}, id="lone-surrogate-key"),
        pytest.param(b"[123456789012345678901234567890]", [1.2345678901234568e29], id="big-integer"),
    ],
)
def test_what_json_parse_reads_that_strict_json_does_not(data: bytes, value: object) -> None:
    assert parse(data) == value
