"""The pure SimpleLogs translator: the seed's bodies and entries, timing pairing, fallback
timestamps, and the 422 bodies Zod's `flatten()` would give."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from google.protobuf import json_format, timestamp_pb2

from ingestd.v1 import event_pb2
from server.dialects.answer import Answer
from server.dialects.simplelogs import translate as simplelogs
from server.normalize import normalize
from storage.events import EventRow

E = event_pb2
PAYLOADS = Path(__file__).resolve().parent.parent / "payloads" / "simplelogs"
T0 = 1_718_900_000_000  # the seed's timestamps, in ms


def _load(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text())


def _events(doc: object, max_entries: int = 1000) -> list[event_pb2.Event]:
    enqueue = simplelogs.validate(doc, max_entries=max_entries)
    assert isinstance(enqueue, simplelogs.Enqueue), enqueue
    translation = simplelogs.to_events(enqueue)
    assert translation.dropped == []
    return translation.events


def _body(*entries: object, **top: object) -> dict[str, object]:
    return {"key": "sk_x", "source": "server", **top, "entries": list(entries)}


def _ms(ts: timestamp_pb2.Timestamp) -> float:
    return ts.seconds * 1000 + ts.nanos / 1e6


def _timing(event: event_pb2.Event) -> dict[str, Any]:
    assert event.kind == E.KIND_TIMING
    return json_format.MessageToDict(event.timing)


def _stored(event: event_pb2.Event) -> EventRow:
    received = timestamp_pb2.Timestamp(seconds=1_800_000_000)
    row = normalize(
        event,
        project="default",
        event_id="id",
        received=received,
        received_us=1_800_000_000_000_000,
        dialect="simplelogs",
    )
    assert isinstance(row, EventRow), row
    return row


def test_seed_request_body_is_one_log_event() -> None:
    (event,) = _events(_load("request_body.json"))

    assert event.kind == E.KIND_LOG
    assert event.message == "Order submitted"
    assert event.level == E.LEVEL_INFO
    assert event.origin == "server"
    assert _ms(event.occurred_at) == T0
    assert event.log.level_text == "info"
    assert event.log.touchpoint == "api/orders/submit"
    assert json_format.MessageToDict(event.log.metadata) == {"orderId": "ord_abc123", "userId": "usr_xyz"}
    assert _stored(event).level == E.LEVEL_INFO


def test_seed_log_entry_keeps_the_level_as_spelled() -> None:
    (event,) = _events(_body(_load("entry_log.json")))

    assert event.message == "Login failed — invalid credentials"
    assert event.level == E.LEVEL_WARNING
    assert event.log.level_text == "warn"
    assert event.log.touchpoint == "api/users/login"
    assert json_format.MessageToDict(event.log.metadata) == {"email": "user@example.com"}


@pytest.mark.parametrize(
    ("level", "normalized"),
    [("info", E.LEVEL_INFO), ("warn", E.LEVEL_WARNING), ("error", E.LEVEL_ERROR), ("debug", E.LEVEL_DEBUG)],
)
def test_every_documented_level_maps(level: str, normalized: int) -> None:
    (event,) = _events(_body({"message": "m", "level": level}))
    assert (event.level, event.log.level_text) == (normalized, level)


def test_seed_start_and_end_pair_by_key_into_one_measurement() -> None:
    start, end = _load("entry_timing_start.json"), _load("entry_timing_end.json")
    events = _events(_body(start, {"message": "between"}, end))

    assert [e.kind for e in events] == [E.KIND_TIMING, E.KIND_LOG]
    event = events[0]
    assert _timing(event) == {
        "touchpoint": "db/query/products",
        "correlationKey": "req-abc123",
        "startTime": "2024-06-20T16:13:20Z",
        "endTime": "2024-06-20T16:13:20.042Z",
        "durationMs": 42.0,
        "metadata": {"rowsReturned": 128.0},
    }
    assert _ms(event.occurred_at) == T0
    _stored(event)


def test_an_end_without_a_start_time_takes_the_start_and_computes_the_duration() -> None:
    events = _events(
        _body(
            {"key": "a", "touchpoint": "t", "startTime": T0, "metadata": {"from": "start", "x": 1}},
            {"key": "a", "endTime": T0 + 250, "metadata": {"from": "end"}},
        )
    )

    (event,) = events
    assert _timing(event) == {
        "touchpoint": "t",
        "correlationKey": "a",
        "startTime": "2024-06-20T16:13:20Z",
        "endTime": "2024-06-20T16:13:20.250Z",
        "durationMs": 250.0,
        "metadata": {"from": "end", "x": 1.0},
    }


def test_ends_without_keys_pair_by_touchpoint_first_in_first_out() -> None:
    events = _events(
        _body(
            {"touchpoint": "render", "startTime": T0},
            {"touchpoint": "render", "startTime": T0 + 10},
            {"touchpoint": "other", "startTime": T0 + 20},
            {"touchpoint": "render", "endTime": T0 + 100},
            {"touchpoint": "render", "endTime": T0 + 200},
        )
    )

    assert [(e.timing.touchpoint, e.timing.duration_ms) for e in events] == [
        ("render", 100.0),
        ("render", 190.0),
        ("other", 0.0),
    ]
    assert not events[2].timing.HasField("end_time"), "the unmatched start keeps only its start"


def test_a_key_wins_over_an_earlier_start_of_the_same_touchpoint() -> None:
    events = _events(
        _body(
            {"key": "a", "touchpoint": "q", "startTime": T0},
            {"key": "b", "touchpoint": "q", "startTime": T0 + 5},
            {"key": "b", "touchpoint": "q", "endTime": T0 + 50},
        )
    )

    assert [(e.timing.correlation_key, e.timing.duration_ms) for e in events] == [("a", 0.0), ("b", 45.0)]


def test_an_end_with_another_key_does_not_close_a_keyed_start_of_its_touchpoint() -> None:
    events = _events(
        _body(
            {"key": "a", "touchpoint": "q", "startTime": T0},
            {"key": "z", "touchpoint": "q", "endTime": T0 + 50},
        )
    )

    assert len(events) == 2
    assert _timing(events[0]) == {
        "touchpoint": "q",
        "correlationKey": "a",
        "startTime": "2024-06-20T16:13:20Z",
    }
    assert _timing(events[1]) == {
        "touchpoint": "q",
        "correlationKey": "z",
        "endTime": "2024-06-20T16:13:20.050Z",
    }


def test_many_interleaved_pairs_close_their_own_starts() -> None:
    n = 500
    starts = [{"key": f"k{i}", "touchpoint": f"t{i % 7}", "startTime": T0 + i} for i in range(n)]
    ends = [{"key": f"k{i}", "endTime": T0 + 2 * i + 1} for i in reversed(range(n))]

    events = _events(_body(*starts, *ends), max_entries=2 * n)

    assert [(e.timing.correlation_key, e.timing.duration_ms) for e in events] == [
        (f"k{i}", float(i + 1)) for i in range(n)
    ]


def test_unmatched_standalone_start_and_duration_alone_are_stored_as_sent() -> None:
    events = _events(
        _body(
            {"key": "k", "touchpoint": "job", "startTime": T0, "standalone": True},
            {"touchpoint": "cache/warm", "duration": 12.5, "timestamp": T0 + 1},
        )
    )

    assert _timing(events[0]) == {
        "touchpoint": "job",
        "correlationKey": "k",
        "startTime": "2024-06-20T16:13:20Z",
        "standalone": True,
    }
    assert _timing(events[1]) == {"touchpoint": "cache/warm", "durationMs": 12.5}
    assert _ms(events[1].occurred_at) == T0 + 1
    for event in events:
        _stored(event)


def test_a_standalone_start_closed_in_the_same_request_stays_standalone() -> None:
    (event,) = _events(
        _body({"key": "k", "startTime": T0, "standalone": True}, {"key": "k", "endTime": T0 + 3})
    )
    assert (event.timing.standalone, event.timing.duration_ms) == (True, 3.0)


def _translation(*entries: object, **top: object) -> simplelogs.Translation:
    return simplelogs.to_events(simplelogs.validate(_body(*entries, **top), max_entries=100))


def test_the_starts_and_ends_a_request_leaves_open_are_listed_for_later_requests() -> None:
    translation = _translation(
        {"key": "a", "touchpoint": "t", "startTime": T0, "standalone": True, "colour": "blue"},
        {"key": "p", "startTime": T0},
        {"key": "p", "endTime": T0 + 1},
        {"message": "a log line"},
        {"touchpoint": "cache/warm", "duration": 3},
        {"startTime": T0},
        {"key": "b", "endTime": T0 + 9},
        {"endTime": T0 + 9},
        source="client",
    )

    (start,) = translation.starts
    assert (start.key, start.touchpoint, start.started_us) == ("a", "t", T0 * 1000)
    assert orjson.loads(start.payload) == {
        "touchpoint": "t",
        "key": "a",
        "startTime": T0,
        "source": "client",
        "standalone": True,
    }, "the schema's fields, with the request's source"
    (end,) = translation.ends
    assert (end.key, end.touchpoint, end.index, end.source) == ("b", "", 5, "client")
    assert translation.events[end.index].timing.correlation_key == "b"


def test_an_end_makes_the_measurement_of_a_start_an_earlier_request_left_open() -> None:
    earlier = _translation(
        {
            "key": "k",
            "touchpoint": "jobs/nightly",
            "message": "nightly",
            "startTime": T0,
            "standalone": True,
            "metadata": {"from": "start", "n": 1},
        },
        source="client",
    )
    later = _translation({"message": "log"}, {"key": "k", "endTime": T0 + 250, "metadata": {"from": "end"}})
    (start,) = earlier.starts

    log, measurement = simplelogs.closing(later, [start.payload])

    assert log == later.events[0]
    assert _timing(measurement) == {
        "touchpoint": "jobs/nightly",
        "correlationKey": "k",
        "startTime": "2024-06-20T16:13:20Z",
        "endTime": "2024-06-20T16:13:20.250Z",
        "durationMs": 250.0,
        "standalone": True,
        "metadata": {"from": "end", "n": 1.0},
    }
    assert (measurement.message, measurement.origin, _ms(measurement.occurred_at)) == (
        "nightly",
        "client",
        T0,
    )
    _stored(measurement)
    assert simplelogs.closing(later, [None]) == later.events, "an end that closed nothing stays as sent"


def test_log_times_fall_back_to_the_batch_timestamp_then_to_receive_time() -> None:
    own, batch = _events(_body({"message": "own", "timestamp": T0 + 7}, {"message": "batch"}, timestamp=T0))
    (received,) = _events(_body({"message": "none"}))

    assert _ms(own.occurred_at) == T0 + 7
    assert _ms(batch.occurred_at) == T0
    assert not received.HasField("occurred_at")
    assert _stored(received).occurred_us == 1_800_000_000_000_000, "normalize fills in receive time"


def test_timing_times_fall_back_to_start_end_then_batch() -> None:
    events = _events(
        _body(
            {"touchpoint": "a", "startTime": T0 + 1},
            {"touchpoint": "b", "endTime": T0 + 2},
            {"touchpoint": "c", "duration": 5},
            timestamp=T0,
        )
    )
    assert [_ms(e.occurred_at) for e in events] == [T0 + 1, T0 + 2, T0]


def test_fractional_milliseconds_are_kept() -> None:
    (event,) = _events(_body({"message": "m", "timestamp": T0 + 0.25}))
    assert (event.occurred_at.seconds, event.occurred_at.nanos) == (T0 // 1000, 250_000)


def test_entry_source_overrides_the_request_source() -> None:
    events = _events(_body({"message": "a"}, {"message": "b", "source": "client"}, source="server"))
    assert [e.origin for e in events] == ["server", "client"]


def test_a_log_entry_key_is_kept_as_a_tag_and_unknown_fields_are_ignored() -> None:
    (event,) = _events(_body({"message": "m", "key": "req-1", "colour": "blue"}, extra=True))
    assert dict(event.tags) == {"correlation_key": "req-1"}
    assert event.kind == E.KIND_LOG


def test_entries_the_server_cannot_store_are_dropped_not_refused() -> None:
    deep: dict[str, object] = {}
    node = deep
    for _ in range(simplelogs.MAX_METADATA_DEPTH):
        node["n"] = {}
        node = node["n"]  # type: ignore[assignment]
    enqueue = simplelogs.validate(
        _body(
            {"message": "too late", "timestamp": 1e20},
            {"message": "too deep", "metadata": deep},
            {"message": "kept", "metadata": {"a": [1, {"b": None}]}},
        ),
        max_entries=10,
    )
    assert isinstance(enqueue, simplelogs.Enqueue)

    translation = simplelogs.to_events(enqueue)

    assert [e.message for e in translation.events] == ["kept"]
    assert translation.dropped == [
        (0, "timestamp is outside 0001-01-01 to 9999-12-31"),
        (1, f"metadata nests deeper than {simplelogs.MAX_METADATA_DEPTH} levels"),
    ]


def test_translation_is_repeatable() -> None:
    doc = _body(_load("entry_timing_start.json"), _load("entry_log.json"), _load("entry_timing_end.json"))
    first, second = _events(doc), _events(doc)
    assert [e.SerializeToString(deterministic=True) for e in first] == [
        e.SerializeToString(deterministic=True) for e in second
    ]


# ---- JSON and the 422 schema ------------------------------------------------------------------


def test_json_is_read_whatever_the_bytes_look_like_to_fetch() -> None:
    assert simplelogs.parse_json(b'\xef\xbb\xbf{"a": 1}') == {"a": 1}, "a BOM is dropped"
    assert simplelogs.parse_json(b'{"a": "caf\xe9"}') == {"a": "caf\ufffd"}, "bad UTF-8 is replaced"
    for garbage in (b"", b"not json", b'{"a": 1', b"{'a': 1}", b"NaN"):
        with pytest.raises(Answer, match="400"):
            simplelogs.parse_json(garbage)


def test_seed_422_example_is_what_a_body_without_entries_gets() -> None:
    with pytest.raises(Answer, match="422") as refused:
        simplelogs.validate({"key": "sk_x", "source": "server"}, max_entries=10)
    invalid = refused.value
    assert invalid.body == _load("response_422.json")


def _errors(field_errors: dict[str, list[str]], form_errors: list[str] | None = None) -> dict[str, object]:
    return {
        "message": "Invalid enqueue payload",
        "errors": {"fieldErrors": field_errors, "formErrors": form_errors or []},
    }


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        pytest.param([], _errors({}, ["Expected object, received array"]), id="array"),
        pytest.param(None, _errors({}, ["Expected object, received null"]), id="null"),
        pytest.param("x", _errors({}, ["Expected object, received string"]), id="string"),
        pytest.param({}, _errors({"source": ["Required"], "entries": ["Required"]}), id="empty-object"),
        pytest.param(
            {"key": 5, "source": "x", "timestamp": "now", "entries": {}},
            _errors(
                {
                    "key": ["Expected string, received number"],
                    "source": ["Invalid enum value. Expected 'server' | 'client', received 'x'"],
                    "timestamp": ["Expected number, received string"],
                    "entries": ["Expected array, received object"],
                }
            ),
            id="top-level-types",
        ),
        pytest.param(
            {"source": True, "entries": []},
            _errors(
                {
                    "source": ["Expected 'server' | 'client', received boolean"],
                    "entries": ["Array must contain at least 1 element(s)"],
                }
            ),
            id="enum-type-and-empty-array",
        ),
        pytest.param(
            _body(
                "line",
                {"message": 1, "level": "fatal", "metadata": [], "standalone": "yes"},
                {"startTime": "t", "endTime": None, "duration": True, "source": "edge", "touchpoint": {}},
            ),
            _errors(
                {
                    "entries": [
                        "Expected object, received string",
                        "Expected string, received number",
                        "Invalid enum value. Expected 'info' | 'warn' | 'error' | 'debug', received 'fatal'",
                        "Expected object, received array",
                        "Expected boolean, received string",
                        "Expected string, received object",
                        "Expected number, received string",
                        "Expected number, received null",
                        "Expected number, received boolean",
                        "Invalid enum value. Expected 'server' | 'client', received 'edge'",
                    ]
                }
            ),
            id="entry-fields",
        ),
        pytest.param(
            _body({"message": "a"}, {"message": "b"}, {"message": "c"}, {"message": "d"}),
            _errors({"entries": ["Array must contain at most 3 element(s)"]}),
            id="too-many-entries",
        ),
    ],
)
def test_schema_errors_are_zod_flatten_bodies(doc: object, expected: dict[str, object]) -> None:
    with pytest.raises(Answer, match="422") as refused:
        simplelogs.validate(doc, max_entries=3)
    invalid = refused.value
    assert invalid.body == expected
    assert list(invalid.body["errors"]["fieldErrors"]) == list(  # type: ignore[index]
        expected["errors"]["fieldErrors"]  # type: ignore[index]
    ), "fields in schema order"


def test_a_missing_or_empty_key_passes_the_schema_for_the_401_to_refuse() -> None:
    for doc in ({"source": "client", "entries": [{}]}, {"key": "", "source": "client", "entries": [{}]}):
        enqueue = simplelogs.validate(doc, max_entries=10)
        assert isinstance(enqueue, simplelogs.Enqueue)
        assert enqueue.key == ""
