"""Logister's wire limits, its NDJSON batch decoding and its rate-limit windows: pure, table-driven."""

from __future__ import annotations

import gzip
from typing import Any

import orjson
import pytest

from server.dialects.answer import Answer
from server.dialects.logister.limits import check_limits, decode_batch
from server.dialects.logister.ratelimit import FixedWindowLimiter

UUID = "5b0c7a4e-4a4c-4f57-9d0e-0a1b2c3d4e5f"


def _line(event: dict[str, Any]) -> bytes:
    return orjson.dumps({"event": event})


def _event(n: int = 0, **fields: Any) -> dict[str, Any]:
    return {"uuid": f"00000000-0000-4000-8000-{n:012d}", "event_type": "log", "message": "m", **fields}


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"k": value}
    return value


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        pytest.param(_event(), None, id="ok"),
        pytest.param(
            _event(message="é" * 32_769),
            ("message_bytes", "telemetry payload message bytes exceeds 65536", 65536, 65538),
            id="message-bytes",
        ),
        pytest.param(
            _event(context={"s": "x" * (256 * 1024 + 1)}),
            ("string_bytes", "telemetry payload string bytes exceeds 262144", 262144, 262145),
            id="string-bytes",
        ),
        pytest.param(
            _event(context=_nested(16)),
            ("context_depth", "telemetry payload context depth exceeds 16", 16, 17),
            id="context-depth",
        ),
        pytest.param(_event(context=_nested(14)), None, id="depth-16-is-allowed"),
        pytest.param(
            _event(context={f"k{i}": i for i in range(509)}),
            ("context_keys", "telemetry payload context keys exceeds 512", 512, 513),
            id="context-keys",
        ),
        pytest.param(
            _event(context={"a": list(range(1001))}),
            ("array_length", "telemetry payload array length exceeds 1000", 1000, 1001),
            id="array-length",
        ),
        pytest.param(
            _event(context={f"k{i}": "x" * 250_000 for i in range(5)}),
            ("event_bytes", "telemetry payload event bytes exceeds 1048576", 1048576, 1250146),
            id="event-bytes",
        ),
    ],
)
def test_payload_limits(event: dict[str, Any], expected: tuple[str, str, int, int] | None) -> None:
    if expected is None:
        assert check_limits(event) is None  # type: ignore[func-returns-value]
        return
    with pytest.raises(Answer) as refused:
        check_limits(event)
    code, message, limit, actual = expected
    assert refused.value.status == 413
    assert refused.value.body == {"error": message, "code": code, "limit": limit, "actual": actual}


def _refusal(body: bytes, encoding: str) -> tuple[int, str, str]:
    with pytest.raises(Answer) as refused:
        decode_batch(body, encoding)
    answer: dict[str, Any] = refused.value.body  # type: ignore[assignment]
    return refused.value.status, answer["code"], answer["error"]


@pytest.mark.parametrize(
    ("body", "encoding", "expected"),
    [
        pytest.param(
            b"x",
            "br",
            (415, "unsupported_encoding", "unsupported telemetry batch content encoding: br"),
            id="brotli",
        ),
        pytest.param(
            b"x",
            "gzip, gzip",
            (415, "unsupported_encoding", "unsupported telemetry batch content encoding: gzip, gzip"),
            id="gzip-twice",
        ),
        pytest.param(
            b"x" * (2 * 1024 * 1024 + 1),
            "",
            (413, "compressed_bytes", "telemetry batch exceeds 2097152 bytes"),
            id="compressed-bytes",
        ),
        pytest.param(
            b"not gzip",
            "gzip",
            (
                400,
                "invalid_gzip",
                "invalid gzip telemetry batch: Error -3 while decompressing data: incorrect header check",
            ),
            id="invalid-gzip",
        ),
        pytest.param(
            gzip.compress(_line(_event()) + b"\n")[:-12],
            "gzip",
            (400, "invalid_gzip", "invalid gzip telemetry batch: unexpected end of file"),
            id="truncated-gzip",
        ),
        pytest.param(
            gzip.compress(b" " * (8 * 1024 * 1024 + 1)),
            "gzip",
            (413, "decompressed_bytes", "telemetry batch exceeds 8388608 decompressed bytes"),
            id="decompressed-bytes",
        ),
        pytest.param(
            b"\n".join(_line(_event(n)) for n in range(101)),
            "identity",
            (413, "event_count", "telemetry batch exceeds 100 events"),
            id="event-count",
        ),
        pytest.param(
            _line(_event()) + b"\n\n{oops\n",
            "",
            (400, "invalid_json", "telemetry batch line 3 is invalid JSON: "),
            id="invalid-json",
        ),
        pytest.param(
            b"[1]\n",
            "",
            (400, "invalid_envelope", "telemetry batch line 1 must contain an envelope object"),
            id="invalid-envelope",
        ),
        pytest.param(
            b'{"EVENT": {}}\n',
            "",
            (400, "missing_event", "telemetry batch line 1 must contain an event object"),
            id="missing-event",
        ),
        pytest.param(
            _line({"event_type": "log", "message": "m", "uuid": " "}),
            "",
            (400, "missing_identity", "telemetry batch line 1 requires a nonblank uuid or event_id"),
            id="missing-identity",
        ),
        pytest.param(
            _line({"event_type": "log", "message": "m", "eventId": "nope"}),
            "",
            (400, "invalid_identity", "telemetry batch line 1 uuid/event_id must be a valid UUID"),
            id="invalid-identity",
        ),
        pytest.param(
            _line({"uuid": UUID, "event_id": "00000000-0000-4000-8000-000000000000"}),
            "",
            (
                400,
                "conflicting_identity",
                "telemetry batch line 1 uuid and event_id must identify the same envelope",
            ),
            id="conflicting-identity",
        ),
        pytest.param(
            b"\n \n",
            "",
            (400, "empty_batch", "telemetry batch must contain at least one event"),
            id="empty-batch",
        ),
        pytest.param(
            _line(_event(message="x" * 70_000)),
            "",
            (413, "message_bytes", "telemetry payload message bytes exceeds 65536"),
            id="per-event-limit",
        ),
    ],
)
def test_batch_refusals(body: bytes, encoding: str, expected: tuple[int, str, str]) -> None:
    status, code, message = _refusal(body, encoding)
    assert (status, code) == expected[:2]
    assert message.startswith(expected[2])


def test_a_gzip_batch_decodes_to_its_events_skipping_blank_lines() -> None:
    raw = _line(_event(1)) + b"\n\r\n" + _line({"UUID": UUID.upper(), "event_id": UUID}) + b"\n"
    events = decode_batch(gzip.compress(raw, mtime=0), "GZIP")
    assert events == [_event(1), {"UUID": UUID.upper(), "event_id": UUID}]
    assert decode_batch(raw, "identity") == events
    assert decode_batch(raw, "") == events


def test_a_batch_of_exactly_one_hundred_events_is_accepted() -> None:
    events = decode_batch(b"\n".join(_line(_event(n)) for n in range(100)), "")
    assert isinstance(events, list) and len(events) == 100


def test_rate_limit_windows_are_aligned_to_the_epoch() -> None:
    limiter = FixedWindowLimiter()

    def hit(
        now_s: int, identity: str = "key-1", amount: int = 1, endpoint: str = "ingest"
    ) -> tuple[bool, int, int, int]:
        window = limiter.hit(
            kind="accepted",
            endpoint=endpoint,
            identity=identity,
            limit=3,
            period_s=60,
            now_s=now_s,
            amount=amount,
        )
        return window.limited, window.remaining, window.reset_at, window.retry_after

    assert hit(1_000_000_018) == (False, 2, 1_000_000_020, 2)
    assert hit(1_000_000_019) == (False, 1, 1_000_000_020, 1)
    assert hit(1_000_000_019, identity="key-2") == (False, 2, 1_000_000_020, 1)
    assert hit(1_000_000_019, endpoint="check_in") == (False, 2, 1_000_000_020, 1)
    assert hit(1_000_000_019) == (False, 0, 1_000_000_020, 1)
    assert hit(1_000_000_019) == (True, 0, 1_000_000_020, 1)
    # A new window starts at the boundary, not 60 s after the first hit.
    assert hit(1_000_000_020) == (False, 2, 1_000_000_080, 60)
    assert hit(1_000_000_021, amount=3) == (True, 0, 1_000_000_080, 59)


def test_rate_limit_refusals_carry_logisters_headers_and_body() -> None:
    window = FixedWindowLimiter().hit(
        kind="auth_failure",
        endpoint="all",
        identity="10.0.0.1",
        limit=0 + 1,
        period_s=60,
        now_s=118,
        amount=2,
    )
    assert window.limited
    assert window.refusal_headers() == {
        "x-ratelimit-limit": "1",
        "x-ratelimit-remaining": "0",
        "x-ratelimit-reset": "120",
        "retry-after": "2",
    }
    assert window.refusal_body() == {
        "error": "Rate limit exceeded",
        "limit": 1,
        "window_seconds": 60,
        "retry_after": 2,
    }
