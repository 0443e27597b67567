"""Sentry's envelopes, keys, grouping and items as the pure translator reads them
(docs/vendors/sentry.md), table-driven, without a server."""

from __future__ import annotations

import gzip
import uuid
import zlib
from typing import Any

import brotli
import orjson
import pytest

from ingestd.v1 import event_pb2
from server.dialects.answer import Answer
from server.dialects.sentry import auth, checkin, crontab, envelope, grouping, translate
from server.dialects.sentry.encoding import decode
from server.dsn import project_number, sentry_dsn

E = event_pb2
EVENT_ID = "9ec79c33ec9942ab8353589fcb2e04dc"


def _refusal(error: pytest.ExceptionInfo[Answer]) -> tuple[int, Any]:
    return error.value.status, error.value.body


# Framing (§3)


def test_the_documented_example_envelope() -> None:
    data = (
        b'{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","dsn":"https://e12d836b15bb49d7bbf99e64295d995b:@sentry.io/42"}\n'
        b'{"type":"attachment","length":10,"content_type":"text/plain","filename":"hello.txt"}\n'
        b"\xef\xbb\xbfHello\r\n\n"
        b'{"type":"event","length":41,"content_type":"application/json","filename":"application.log"}\n'
        b'{"message":"hello world","level":"error"}\n'
    )

    parsed = envelope.parse(data)

    assert parsed.event_id == EVENT_ID
    assert [(i.type, i.payload) for i in parsed.items] == [
        ("attachment", b"\xef\xbb\xbfHello\r\n"),
        ("event", b'{"message":"hello world","level":"error"}'),
    ]


@pytest.mark.parametrize(
    ("data", "payloads"),
    [
        (b"{}", []),
        (b"{}\n", []),
        # JavaScript: no lengths, no final newline.
        (b'{}\n{"type":"event"}\n{"message":"a"}', [b'{"message":"a"}']),
        (
            b'{}\n{"type":"event"}\n{"message":"a"}\n{"type":"log"}\n{"items":[]}',
            [b'{"message":"a"}', b'{"items":[]}'],
        ),
        # An empty payload without a length, at the end.
        (b'{}\n{"type":"attachment"}', [b""]),
        (b'{}\n{"type":"attachment","length":0}\n\n{"type":"attachment","length":0}', [b"", b""]),
        # A length takes newlines as payload bytes.
        (b'{}\n{"type":"attachment","length":3}\na\nb\n', [b"a\nb"]),
        # Whitespace after the last item.
        (b'{}\n{"type":"event","length":2}\n{}\n\n', [b"{}"]),
    ],
    ids=[
        "header-only",
        "header-newline",
        "js",
        "js-two",
        "implicit-empty",
        "zero-lengths",
        "newlines",
        "trailing",
    ],
)
def test_framing_with_and_without_lengths(data: bytes, payloads: list[bytes]) -> None:
    assert [i.payload for i in envelope.parse(data).items] == payloads


@pytest.mark.parametrize(
    ("data", "cause"),
    [
        (b" \n", "missing envelope header"),
        (b"[]\n", "invalid envelope header"),
        (b'{"event_id":"not-a-uuid"}\n', "invalid envelope header"),
        (b"{\n", "invalid envelope header"),
        (b'{}\n{"length":2}\n{}', "invalid item header"),
        (b'{}\n{"type":"event","length":-1}\n', "invalid item header"),
        (b'{}\n{"type":"event","length":"2"}\n{}', "invalid item header"),
        (b'{}\n{"type":"event","length":50}\n{"message":"short"}\n', "unexpected end of file"),
        (b'{}\n{"type":"event","length":3}\n{"message":"long"}\n', "missing newline after header or payload"),
    ],
    ids=[
        "blank",
        "array",
        "bad-event-id",
        "broken",
        "no-type",
        "negative",
        "string-length",
        "truncated",
        "too-short",
    ],
)
def test_framing_errors_are_relays_400s(data: bytes, cause: str) -> None:
    with pytest.raises(Answer) as refused:
        envelope.parse(data)

    assert _refusal(refused) == (400, {"detail": "invalid event envelope", "causes": [cause]})


# Encodings (§4)


@pytest.mark.parametrize(
    ("encoding", "compress"), [("gzip", gzip.compress), ("deflate", zlib.compress), ("br", brotli.compress)]
)
def test_encodings_inflate_within_the_cap(encoding: str, compress: Any) -> None:
    assert decode(compress(b"x" * 1000), encoding, 1000) == b"x" * 1000
    with pytest.raises(Answer) as refused:
        decode(compress(b"x" * 1001), encoding, 1000)
    assert _refusal(refused) == (413, {"detail": "request body too large"})
    with pytest.raises(Answer) as refused:
        decode(compress(b"x" * 1000)[:-4], encoding, 1000)
    assert refused.value.status == 400


def test_identity_and_unknown_encodings() -> None:
    assert decode(b"as sent", "", 1) == b"as sent"
    assert decode(b"as sent", "identity", 1) == b"as sent"
    with pytest.raises(Answer) as refused:
        decode(b"x", "zstd", 10)
    assert refused.value.status == 400


# Keys (§2, §4)


@pytest.mark.parametrize(
    ("metadata", "query", "expected"),
    [
        (
            {"x-sentry-auth": "Sentry sentry_key=pub_a, sentry_version=7, sentry_client=sentry.python/2"},
            {},
            ("pub_a", "x-sentry-auth", "sentry.python/2"),
        ),
        ({"authorization": "sentry sentry_key=pub_a"}, {}, ("pub_a", "authorization", "")),
        ({"authorization": "Sentry key=pub_a, version=7"}, {}, ("pub_a", "authorization", "")),
        ({"authorization": "Basic cHViX2E6c2VjcmV0"}, {}, ("pub_a", "authorization", "")),
        (
            {},
            {"key": ["pub_a", "pub_b"], "version": ["7"], "client": ["sentry.javascript.browser/11.12.0"]},
            ("pub_a", "query", "sentry.javascript.browser/11.12.0"),
        ),
        ({"authorization": "Bearer pk_x"}, {}, None),
        ({}, {}, None),
    ],
    ids=["x-sentry-auth", "authorization", "short-names", "basic", "query", "bearer-is-not-sentry", "none"],
)
def test_where_the_key_is(metadata: dict[str, str], query: dict[str, list[str]], expected: Any) -> None:
    found = auth.request_auth(metadata, auth.QueryAuth(**query))

    assert (found and (found.key, found.source, found.client)) == expected


@pytest.mark.parametrize(
    ("metadata", "query", "status", "detail"),
    [
        (
            {"x-sentry-auth": "Sentry sentry_key=a", "authorization": "Sentry sentry_key=a"},
            {},
            401,
            "multiple authorization payloads detected",
        ),
        (
            {"x-sentry-auth": "Sentry sentry_key=a"},
            {"key": ["a"]},
            401,
            "multiple authorization payloads detected",
        ),
        ({}, {"version": ["7"]}, 401, "bad x-sentry-auth header"),
        ({"x-sentry-auth": "Sentry sentry_key=a, sentry_version=x"}, {}, 401, "bad x-sentry-auth header"),
        (
            {"x-sentry-auth": "Sentry sentry_key=a, sentry_version=8"},
            {},
            400,
            "unsupported protocol version (8)",
        ),
    ],
    ids=["two-headers", "header-and-query", "query-without-key", "bad-version", "later-version"],
)
def test_key_refusals(
    metadata: dict[str, str], query: dict[str, list[str]], status: int, detail: str
) -> None:
    with pytest.raises(Answer) as refused:
        auth.request_auth(metadata, auth.QueryAuth(**query))

    assert _refusal(refused) == (status, {"detail": detail})


def test_the_envelope_dsn_is_the_key_of_last_resort() -> None:
    found = auth.dsn_auth({"dsn": "https://pub_a@ingest.example.com/42"})
    assert (found.key, found.source, found.project_id) == ("pub_a", "dsn", "42")
    for headers, detail in (
        ({}, "missing authorization information"),
        ({"dsn": "nope"}, "bad envelope authentication header"),
    ):
        with pytest.raises(Answer) as refused:
            auth.dsn_auth(headers)
        assert _refusal(refused) == (401, {"detail": detail})


@pytest.mark.parametrize(
    ("dsn", "cause"),
    [
        ("https://pub_a@h/43", "project id header mismatch between envelope and request"),
        ("https://pub_b@h/42", "public key header mismatch between envelope and request"),
    ],
)
def test_a_header_dsn_must_agree_with_the_request(dsn: str, cause: str) -> None:
    presented = auth.Auth("pub_a", "x-sentry-auth")
    auth.check_envelope_dsn({"dsn": "https://pub_a@h/42"}, presented, "42")
    with pytest.raises(Answer) as refused:
        auth.check_envelope_dsn({"dsn": dsn}, presented, "42")

    assert _refusal(refused) == (400, {"detail": "invalid event envelope", "causes": [cause]})


@pytest.mark.parametrize("path", ["default", "-1", "4.2", "", "1" * 21, "٤٢"])
def test_a_project_id_is_a_number(path: str) -> None:
    with pytest.raises(Answer) as refused:
        auth.check_project_id(path)

    assert _refusal(refused) == (400, {"detail": "bad project path parameter"})
    assert auth.check_project_id("0042") == "42"


def test_project_numbers_and_dsns() -> None:
    number = project_number("default")
    assert number == int.from_bytes(__import__("hashlib").sha256(b"default").digest()[:6], "big")
    assert 0 <= number < 2**48 and project_number("default") == number != project_number("other")
    assert sentry_dsn("http://127.0.0.1:3001", "pub_k", "default") == f"http://pub_k@127.0.0.1:3001/{number}"
    assert sentry_dsn("https://ingest.example.com/sentry/", "pub_k", "default") == (
        f"https://pub_k@ingest.example.com/sentry/{number}"
    )


# Grouping (§6)


def _exception(exc_type: str, value: str, *frames: tuple[str, str, bool]) -> event_pb2.ExceptionInfo:
    return E.ExceptionInfo(
        type=exc_type,
        value=value,
        frames=[E.StackFrame(module=m, function=f, in_app=a, context_line=f"{f}()") for m, f, a in frames],
    )


def test_grouping_by_in_app_frames_ignores_values_and_library_frames() -> None:
    one = _exception("KeyError", "'a'", ("lib", "call", False), ("app.views", "load", True))
    two = _exception("KeyError", "'b'", ("lib2", "other", False), ("app.views", "load", True))
    elsewhere = _exception("KeyError", "'a'", ("lib", "call", False), ("app.views", "save", True))

    assert grouping.fingerprint([one], "") == grouping.fingerprint([two], "")
    assert grouping.fingerprint([one], "") != grouping.fingerprint([elsewhere], "")
    assert len(grouping.fingerprint([one], "")) == 32


def test_grouping_falls_back_to_all_frames_then_values_then_the_template() -> None:
    no_app = _exception("E", "v", ("lib", "call", False))
    assert grouping.default_components([no_app], "")[-1] == "lib|call|call()"
    assert grouping.default_components([_exception("E", "v")], "") == ["exception", "E: v"]
    assert grouping.default_components([], "user %s") == ["message", "user %s"]


def _browser(exc_type: str, value: str, origin: str, *functions: str) -> event_pb2.ExceptionInfo:
    """An exception as @sentry/browser reports it: each frame's filename is its script's URL."""
    frames = [
        E.StackFrame(filename=f"{origin}/shop.js", function=f, lineno=9, in_app=True) for f in functions
    ]
    return E.ExceptionInfo(type=exc_type, value=value, frames=frames)


def test_browser_frames_group_alike_from_every_origin_by_their_functions() -> None:
    local = _browser("TypeError", "x", "http://localhost:5173", "?", "checkout", "placeOrder")
    deployed = _browser("TypeError", "y", "https://shop.example.com/v2", "?", "checkout", "placeOrder")
    elsewhere = _browser("TypeError", "x", "http://localhost:5173", "?", "checkout", "refund")

    assert grouping.fingerprint([local], "") == grouping.fingerprint([deployed], "")
    assert grouping.fingerprint([local], "") != grouping.fingerprint([elsewhere], "")
    assert grouping.default_components([local], "")[-2:] == ["|checkout|", "|placeOrder|"]


def test_a_browser_stack_of_anonymous_code_falls_back_to_the_values() -> None:
    # Messages, to which the JavaScript SDKs attach the stack where they were captured, from a
    # script's top level: the stack has nothing that counts, so the text tells them apart.
    slow = _browser("", "cart slow", "http://localhost:5173", "?")
    stuck = _browser("", "cart stuck", "http://localhost:5173", "<anonymous>")

    assert grouping.default_components([slow], "cart slow") == ["exception", ": cart slow"]
    assert grouping.fingerprint([slow], "cart slow") != grouping.fingerprint([stuck], "cart stuck")


def test_a_sent_fingerprint_replaces_or_extends_the_default() -> None:
    exc = _exception("E", "v", ("app", "f", True))
    default = grouping.fingerprint([exc], "")

    assert grouping.fingerprint([exc], "", ["checkout"]) == grouping.fingerprint([], "x", ["checkout"])
    assert grouping.fingerprint([exc], "", ["checkout"]) != default
    extended = grouping.fingerprint([exc], "", ["{{ default }}", "eu"])
    assert extended not in (default, grouping.fingerprint([exc], "", ["eu"]))
    assert extended == grouping.fingerprint([exc], "", ["{{default}}", "eu"])


def test_a_synthetic_exception_groups_by_the_message_template_not_its_value() -> None:
    def event(user: str, synthetic: bool) -> dict[str, Any]:
        exception = {"type": "Error", "value": f"user {user} left", "mechanism": {"synthetic": synthetic}}
        return {
            "logentry": {"message": "user %s left", "params": [user]},
            "exception": {"values": [exception]},
        }

    def grouped(user: str, synthetic: bool) -> str:
        [stored] = _translate(("event", event(user, synthetic))).events
        return stored.fingerprint

    assert grouped("ann", True) == grouped("bob", True)
    assert grouped("ann", False) != grouped("bob", False)


# Events (§5.1, §5.2)


def _translate(*items: tuple[str, Any], header: dict[str, Any] | None = None) -> translate.Translated:
    data = orjson.dumps(header or {}) + b"".join(
        b"\n" + orjson.dumps({"type": kind}) + b"\n" + (p if isinstance(p, bytes) else orjson.dumps(p))
        for kind, p in items
    )
    return translate.translate(envelope.parse(data), "f" * 32)


PYTHON_EVENT: dict[str, Any] = {
    "event_id": EVENT_ID,
    "timestamp": "2026-12-02T04:44:31.123456Z",
    "level": "error",
    "platform": "python",
    "logger": "app.checkout",
    "server_name": "web-1",
    "release": "shop@1.2",
    "environment": "prod",
    "transaction": "/checkout",
    "tags": [["region", "eu"], ["null", None]],
    "user": {"id": 42, "email": "a@example.com", "segment": "pro"},
    "contexts": {"trace": {"trace_id": "a" * 32, "span_id": "b" * 16}},
    "breadcrumbs": {"values": [{"timestamp": 1_790_000_000.5, "category": "http", "data": {"status": 500}}]},
    "exception": {
        "values": [
            {
                "type": "ValueError",
                "value": "card declined",
                "module": None,
                "stacktrace": {
                    "frames": [
                        {
                            "function": "charge",
                            "module": "app.pay",
                            "lineno": 3,
                            "in_app": True,
                            "vars": {"amount": 3},
                        }
                    ]
                },
            },
            {
                "type": "CheckoutError",
                "value": "checkout failed",
                "module": "app.errors",
                "mechanism": {"type": "logging", "handled": True},
                "stacktrace": {
                    "frames": [{"function": "main", "in_app": True}, {"function": "checkout", "in_app": True}]
                },
            },
        ]
    },
    "logentry": {"message": "payment for %s failed", "params": ["u1"], "formatted": "payment for u1 failed"},
}


def test_a_python_error_event() -> None:
    [event] = _translate(("event", PYTHON_EVENT)).events

    assert (event.kind, event.level, event.message) == (E.KIND_ERROR, E.LEVEL_ERROR, "payment for u1 failed")
    assert (event.release, event.environment, event.idempotency_key) == ("shop@1.2", "prod", EVENT_ID)
    assert (event.trace_id, event.span_id) == ("a" * 32, "b" * 16)
    assert dict(event.tags) == {
        "region": "eu",
        "server_name": "web-1",
        "logger": "app.checkout",
        "transaction": "/checkout",
    }
    assert (event.user.id, event.user.email, dict(event.user.attributes)) == (
        "42",
        "a@example.com",
        {"segment": "pro"},
    )
    raised = event.error.exception
    assert (raised.type, raised.qualified_type, raised.mechanism.type, raised.mechanism.handled) == (
        "CheckoutError",
        "app.errors.CheckoutError",
        "logging",
        True,
    )
    assert [f.function for f in raised.frames] == ["main", "checkout"]
    [cause] = event.error.causes
    assert (cause.type, cause.frames[0].vars["amount"], cause.frames[0].lineno) == ("ValueError", "3", 3)
    [crumb] = event.error.breadcrumbs
    assert (crumb.category, crumb.timestamp.seconds, crumb.data["status"]) == ("http", 1_790_000_000, 500)
    assert event.occurred_at.ToJsonString() == "2026-12-02T04:44:31.123456Z"
    assert event.context["platform"] == "python" and event.context["event_id"] == EVENT_ID
    # Grouped by the chain's in-app frames, whatever the values and the message say.
    other = {**PYTHON_EVENT, "logentry": {"message": "x"}, "event_id": uuid.uuid4().hex}
    assert _translate(("event", other)).events[0].fingerprint == event.fingerprint


@pytest.mark.parametrize(
    ("payload", "message", "level"),
    [
        ({"message": "plain", "level": "info"}, "plain", E.LEVEL_INFO),
        ({"message": {"message": "t %s", "params": [1]}}, "t %s", E.LEVEL_ERROR),
        ({"logentry": {"message": "t %s", "formatted": "t 1"}, "level": "warning"}, "t 1", E.LEVEL_WARNING),
        ({"level": "fatal"}, "<unlabeled event>", E.LEVEL_FATAL),
        ({"exception": [{"type": "E"}]}, "", E.LEVEL_ERROR),
    ],
)
def test_messages_and_levels(payload: dict[str, Any], message: str, level: int) -> None:
    [event] = _translate(("event", payload)).events

    assert (event.message, event.level) == (message, level)


def test_a_transaction_with_spans() -> None:
    payload = {
        "event_id": EVENT_ID,
        "type": "transaction",
        "transaction": "GET /orders",
        "start_timestamp": 1_790_000_000,
        "timestamp": "2026-09-21T14:13:20.5Z",
        "contexts": {
            "trace": {"trace_id": "a" * 32, "span_id": "b" * 16, "op": "http.server", "status": "ok"}
        },
        "spans": [
            {
                "span_id": "c" * 16,
                "parent_span_id": "b" * 16,
                "op": "db",
                "description": "SELECT",
                "start_timestamp": 1_790_000_000.1,
                "timestamp": 1_790_000_000.3,
            }
        ],
    }

    result = _translate(("transaction", payload))

    [event] = result.events
    body = event.transaction
    assert (body.name, body.op, body.status, body.duration_ms) == ("GET /orders", "http.server", "ok", 500)
    [span] = body.spans
    assert (span.trace_id, span.parent_span_id, span.op, span.description) == (
        "a" * 32,
        "b" * 16,
        "db",
        "SELECT",
    )
    assert span.duration_ms == pytest.approx(200) and span.start_time.nanos == 100_000_000
    assert result.event_id == EVENT_ID == event.idempotency_key


def test_the_answer_id() -> None:
    assert _translate(("event", {"message": "m"}), header={"event_id": EVENT_ID}).event_id == EVENT_ID
    assert _translate(("event", {"message": "m", "event_id": EVENT_ID})).event_id == EVENT_ID
    made = _translate(("event", {"message": "m"}))
    assert made.event_id == "f" * 32 == made.events[0].idempotency_key
    assert _translate(("session", {"sid": "s"})).event_id is None


def test_attachments_are_described_on_the_event_not_stored() -> None:
    data = (
        b'{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc"}\n'
        b'{"type":"attachment","length":4,"filename":"a.bin","attachment_type":"event.minidump"}\n\x00\x01\x02\x03\n'
        b'{"type":"event"}\n{"message":"m"}'
    )

    [event] = translate.translate(envelope.parse(data), "f" * 32).events

    assert [dict(a) for a in event.context["attachments"]] == [
        {"filename": "a.bin", "attachment_type": "event.minidump", "size": 4}
    ]
    assert b"\x00\x01\x02\x03" not in event.SerializeToString()


def test_unknown_and_invalid_items_are_skipped() -> None:
    result = _translate(
        ("profile", {"x": 1}),
        ("statsd", b"a:1|c"),
        ("event", b"not json"),
        ("check_in", {"monitor_slug": "s", "status": "missed"}),
        ("attachment", b"orphan"),
    )

    assert result.events == []
    assert dict(result.skipped) == {
        "profile": 1,
        "statsd": 1,
        "event: not a JSON object": 1,
        "check_in status 'missed'": 1,
        "attachment without an event": 1,
    }


def test_the_store_body() -> None:
    made = translate.store_body(
        orjson.dumps({"type": "transaction", "transaction": "t", "event_id": EVENT_ID}), "f" * 32
    )
    assert (made.event_id, made.events[0].kind) == (EVENT_ID, E.KIND_TRANSACTION)
    with pytest.raises(Answer) as refused:
        translate.store_body(b"[1, 2]", "f" * 32)
    assert _refusal(refused) == (400, {"detail": "invalid JSON data"})


def test_huge_integers_and_deep_values_are_kept_readable() -> None:
    deep: Any = "bottom"
    for _ in range(40):
        deep = {"d": deep}
    payload = (
        b'{"message": "m", "extra": {"big": 123456789012345678901234567890, "deep": '
        + orjson.dumps(deep)
        + b"}}"
    )

    [event] = _translate(("event", payload)).events

    extra = event.context["extra"]
    assert extra["big"] == pytest.approx(1.2345678901234568e29)
    inner = extra["deep"]
    for _ in range(14):
        inner = inner["d"]
    assert isinstance(inner, str) and inner.startswith('{"d":')
    event_pb2.Event.FromString(event.SerializeToString())


# Check-ins (§5.3), logs, sessions and client reports (§5.4, §5.5)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"schedule": {"type": "interval", "value": 10, "unit": "minute"}}, 600),
        ({"schedule": {"type": "interval", "value": 1, "unit": "hour"}, "checkin_margin": 5}, 3_900),
        ({"schedule": {"type": "interval", "value": 1, "unit": "month"}}, 31 * 86_400),
        ({"schedule": {"type": "interval", "value": 5, "unit": "year"}}, 366 * 86_400),
        ({"schedule": {"type": "crontab", "value": "*/15 * * * *"}}, 900),
        ({"schedule": {"type": "crontab", "value": "0 9 * * 1-5"}, "checkin_margin": 1}, 72 * 3_600 + 60),
        ({"schedule": {"type": "crontab", "value": "@daily"}}, 86_400),
        ({"schedule": {"type": "crontab", "value": "not a crontab"}}, 0),
        ({"schedule": {"type": "interval", "value": 1, "unit": "fortnight"}}, 0),
        ({}, 0),
    ],
)
def test_monitor_intervals(config: dict[str, Any], expected: int) -> None:
    assert checkin.expected_interval_s(config) == expected


@pytest.mark.parametrize(
    ("expression", "gap_s"),
    [
        ("* * * * *", 60),
        ("0 * * * *", 3_600),
        ("15,45 */2 * * *", 5_400),
        ("0 0 * * 7", 7 * 86_400),
        ("0 0 1 JAN *", 366 * 86_400),
        ("0 0 13 * 5", 7 * 86_400),
        ("0 0 30 2 *", None),
        ("61 * * * *", None),
        ("* * *", None),
    ],
)
def test_crontab_longest_gaps(expression: str, gap_s: int | None) -> None:
    assert crontab.longest_gap_s(expression) == gap_s


def test_check_ins_open_and_close_under_distinct_keys() -> None:
    check_in_id = uuid.uuid4().hex
    opened, closed = _translate(
        ("check_in", {"check_in_id": check_in_id, "monitor_slug": "nightly", "status": "in_progress"}),
        (
            "check_in",
            {"check_in_id": check_in_id, "monitor_slug": "nightly", "status": "ok", "duration": 1.25},
        ),
    ).events

    assert (opened.check_in.status, closed.check_in.status) == (
        E.CHECK_IN_STATUS_IN_PROGRESS,
        E.CHECK_IN_STATUS_OK,
    )
    assert closed.check_in.duration_ms == 1250 and opened.check_in.duration_ms == 0
    assert (opened.idempotency_key, closed.idempotency_key) == (
        f"check_in:{check_in_id}:in_progress",
        f"check_in:{check_in_id}:ok",
    )


def test_log_records_and_their_keys() -> None:
    log = {
        "items": [
            {
                "timestamp": 1.5,
                "level": "error",
                "body": "b",
                "attributes": {"n": {"value": 1, "type": "integer"}},
            },
            "junk",
        ]
    }
    first = _translate(("log", log)).events
    again = _translate(("log", log)).events

    [record] = first
    assert (record.kind, record.level, record.message, record.log.level_text) == (
        E.KIND_LOG,
        E.LEVEL_ERROR,
        "b",
        "error",
    )
    assert record.log.metadata["n"] == 1
    assert [e.idempotency_key for e in again] == [record.idempotency_key]


def test_streamed_spans() -> None:
    trace_id = "a" * 32
    container = {
        "version": 2,
        "items": [
            {
                "trace_id": trace_id,
                "span_id": "b" * 16,
                "name": "GET /orders",
                "start_timestamp": 10.0,
                "end_timestamp": 10.25,
                "is_segment": True,
                "status": "ok",
                "attributes": {"sentry.op": {"type": "string", "value": "http.server"}},
            },
            {
                "trace_id": trace_id,
                "span_id": "c" * 16,
                "parent_span_id": "b" * 16,
                "name": "SELECT 1",
                "start_timestamp": 10.1,
                "end_timestamp": 10.2,
                "is_segment": False,
                "status": "error",
                "attributes": {"sentry.op": {"type": "string", "value": "db"}},
            },
            {"name": "no ids"},
        ],
    }

    segment, child = _translate(("span", container)).events

    assert (segment.kind, segment.transaction.name, segment.transaction.op) == (
        E.KIND_TRANSACTION,
        "GET /orders",
        "http.server",
    )
    assert segment.transaction.duration_ms == 250 and segment.idempotency_key == f"span:{trace_id}:{'b' * 16}"
    assert (child.kind, child.span.parent_span_id, child.span.op, child.span.status) == (
        E.KIND_SPAN,
        "b" * 16,
        "db",
        "error",
    )
    assert child.span.duration_ms == pytest.approx(100) and child.trace_id == trace_id
