"""The Operyn translator, from the seed's own examples and Zod-worded validation errors."""

from __future__ import annotations

import gzip
import shlex
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from google.protobuf import json_format

from ingestd.v1 import event_pb2
from server.dialects.answer import Answer
from server.dialects.operyn import translate as operyn

E = event_pb2
PAYLOADS = Path(__file__).resolve().parent.parent / "payloads" / "operyn"


@dataclass(frozen=True)
class CurlRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes


def curl_request(name: str) -> CurlRequest:
    """The request of the seed's curl example `tests/payloads/operyn/curl/<name>.sh`, read as a
    POSIX shell reads it (backslash-newline continues the line)."""
    words = shlex.split((PAYLOADS / "curl" / f"{name}.sh").read_text().replace("\\\n", " "))
    assert words[0] == "curl"
    method, url, headers, body = "GET", "", {}, b""
    args = iter(words[1:])
    for word in args:
        if word == "-X":
            method = next(args)
        elif word == "-H":
            key, _, value = next(args).partition(":")
            headers[key.strip()] = value.strip()
        elif word == "-d":
            body = next(args).encode()
        else:
            url = word
    return CurlRequest(method, url, headers, body)


def _translate(route: str) -> Callable[[object], list[E.Event]]:
    return {
        "/events/logs": lambda v: [operyn.log(v, max_depth=64)],
        "/events/logs/batch": lambda v: operyn.log_batch(v, max_depth=64, max_events=1000),
        "/events/metrics": lambda v: [operyn.metric(v)],
        "/events/deployments": lambda v: [operyn.deployment(v, max_depth=64)],
    }[route]


def _route(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


@pytest.mark.parametrize("name", ["logs", "logs_batch", "metrics", "deployments"])
def test_every_seed_example_translates_to_its_golden_events(name: str) -> None:
    request = curl_request(name)
    events = _translate(_route(request.url))(operyn.parse(request.body))
    expected = orjson.loads((PAYLOADS / f"{name}.expected.json").read_bytes())
    assert [json_format.MessageToDict(e) for e in events] == expected


def test_the_seed_placeholder_body_is_not_json() -> None:
    with pytest.raises(Answer) as refused:
        operyn.parse(curl_request("auth").body)
    assert (refused.value.status, refused.value.body["message"]) == (
        400,
        "Unexpected token in JSON at position 2",
    )


def _log_error(body: object) -> str:
    with pytest.raises(Answer) as invalid:
        operyn.log(body, max_depth=4)
    return invalid.value.body["message"]


_OK: dict[str, Any] = {"service": "api", "level": "info", "message": "hi"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "Invalid log event: service: Required; level: Required; message: Required"),
        ([], "Invalid log event: Expected object, received array"),
        (
            {**_OK, "level": "WARN"},
            "Invalid log event: level: Invalid enum value. Expected 'debug' | 'info' | "
            "'warn' | 'error' | 'fatal', received 'WARN'",
        ),
        ({**_OK, "level": None}, "Invalid log event: level: Required"),
        ({**_OK, "service": 7}, "Invalid log event: service: Expected string, received number"),
        (
            {**_OK, "service": " \t"},
            "Invalid log event: service: String must contain at least 1 character(s)",
        ),
        ({**_OK, "message": True}, "Invalid log event: message: Expected string, received boolean"),
        ({**_OK, "timestamp": "yesterday"}, "Invalid log event: timestamp: Invalid datetime"),
        (
            {**_OK, "timestamp": 1700000000000},
            "Invalid log event: timestamp: Expected string, received number",
        ),
        ({**_OK, "metadata": ["a"]}, "Invalid log event: metadata: Expected object, received array"),
        (
            {**_OK, "metadata": {"a": {"b": {"c": {"d": {}}}}}},
            "Invalid log event: metadata: Nested deeper than 4 levels",
        ),
        (
            {**_OK, "traceId": "t" * 201},
            "Invalid log event: traceId: String must contain at most 200 character(s)",
        ),
        ({**_OK, "spanId": {}}, "Invalid log event: spanId: Expected string, received object"),
    ],
)
def test_log_validation_speaks_zod(body: object, message: str) -> None:
    assert _log_error(body) == message


def test_every_level_maps_to_its_canonical_level() -> None:
    levels = {level: operyn.log({**_OK, "level": level}, max_depth=4).level for level in operyn.LEVELS}
    assert levels == {
        "debug": E.LEVEL_DEBUG,
        "info": E.LEVEL_INFO,
        "warn": E.LEVEL_WARNING,
        "error": E.LEVEL_ERROR,
        "fatal": E.LEVEL_FATAL,
    }


def test_service_is_trimmed_and_keeps_its_casing() -> None:
    assert operyn.log({**_OK, "service": "  Billing-Service \n"}, max_depth=4).service == "Billing-Service"


def test_optional_fields_may_be_null_and_unknown_fields_are_dropped() -> None:
    event = operyn.log(
        {**_OK, "traceId": None, "spanId": None, "timestamp": None, "metadata": None, "extra": 1}, max_depth=4
    )
    assert json_format.MessageToDict(event) == {
        "kind": "KIND_LOG",
        "level": "LEVEL_INFO",
        "message": "hi",
        "service": "api",
        "log": {"levelText": "info"},
    }


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("2024-03-01T10:20:30.123Z", "2024-03-01T10:20:30.123Z"),
        ("2024-03-01T12:20:30+02:00", "2024-03-01T10:20:30Z"),
        ("2024-03-01T10:20:30", "2024-03-01T10:20:30Z"),
        ("2024-03-01", "2024-03-01T00:00:00Z"),
    ],
)
def test_timestamps_are_iso_8601_and_utc_without_a_zone(text: str, iso: str) -> None:
    event = operyn.log({**_OK, "timestamp": text, "spanId": "s1"}, max_depth=4)
    assert event.occurred_at.ToJsonString() == iso
    assert event.span_id == "s1"


def test_a_log_without_timestamp_leaves_the_time_to_the_server() -> None:
    assert not operyn.log(_OK, max_depth=4).HasField("occurred_at")


def _batch_error(body: object, max_events: int = 3) -> str:
    with pytest.raises(Answer) as invalid:
        operyn.log_batch(body, max_depth=4, max_events=max_events)
    return invalid.value.body["message"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (_OK, "Invalid log event: Expected array, received object"),
        ([], "Invalid log event: Array must contain at least 1 element(s)"),
        ([_OK] * 4, "Invalid log event: Array must contain at most 3 element(s)"),
        ([_OK, {**_OK, "level": None}], "Invalid log event: [1].level: Required"),
        (
            ["x", _OK, {"level": "info"}],
            "Invalid log event: [0]: Expected object, received string; "
            "[2].service: Required; [2].message: Required",
        ),
    ],
)
def test_one_bad_batch_item_rejects_the_batch_and_is_named_by_index(body: object, message: str) -> None:
    assert _batch_error(body) == message


def test_metric_validation_speaks_zod() -> None:
    with pytest.raises(Answer) as invalid:
        operyn.metric({"service": "api", "name": "x", "value": "1", "labels": {"env": 1, "ok": "y"}})
    assert invalid.value.body["message"] == (
        "Invalid metric event: value: Expected number, received string; unit: Required; "
        "labels.env: Expected string, received number"
    )
    with pytest.raises(Answer) as invalid:
        operyn.metric({"service": "api", "name": "x", "value": True, "unit": "s"})
    assert invalid.value.body["message"] == "Invalid metric event: value: Expected number, received boolean"


def test_a_metric_value_may_be_an_integer() -> None:
    event = operyn.metric(
        {"service": "api", "name": "x", "value": 3, "unit": "count", "timestamp": "2024-01-01"}
    )
    assert (event.metric.value, event.occurred_at.seconds) == (3.0, 1_704_067_200)


def test_deployment_validation_speaks_zod() -> None:
    with pytest.raises(Answer) as invalid:
        operyn.deployment({"service": "api", "gitHash": 1234, "metadata": "x"}, max_depth=4)
    assert invalid.value.body["message"] == (
        "Invalid deployment event: version: Required; environment: Required; "
        "gitHash: Expected string, received number; metadata: Expected object, received string"
    )


def test_prepare_rejections_use_operyn_field_names() -> None:
    invalid = operyn.rejection(operyn.LOG, {1: [("trace_id", "must not contain NUL characters")]}, batch=True)
    assert invalid.body["message"] == "Invalid log event: [1].traceId: must not contain NUL characters"
    invalid = operyn.rejection(
        operyn.DEPLOYMENT, {0: [("release", "longer than 200 characters")]}, batch=False
    )
    assert invalid.body["message"] == "Invalid deployment event: version: longer than 200 characters"


def test_parse_reads_json_as_body_parser_does() -> None:
    assert operyn.parse(b"  \n") == {}
    with pytest.raises(Answer) as refused:
        operyn.parse(b'{"service": "a",')
    assert refused.value.body["message"] == "Unexpected end of JSON input"


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("gzip", gzip.compress), ("deflate", zlib.compress), ("", lambda b: b), ("identity", lambda b: b)],
)
def test_decode_inflates_what_body_parser_inflates(encoding: str, compress: Callable[[bytes], bytes]) -> None:
    assert operyn.decode(compress(b'{"a": 1}'), encoding, 100) == b'{"a": 1}'


def test_decode_refuses_what_body_parser_refuses() -> None:
    refusals = []
    for data, encoding in [(b"x", "br"), (gzip.compress(b"x" * 101), "gzip"), (b"not gzip", "gzip")]:
        with pytest.raises(Answer) as refused:
            operyn.decode(data, encoding, 100)
        refusals.append((refused.value.status, refused.value.body["message"]))
    assert refusals == [
        (415, 'unsupported content encoding "br"'),
        (413, "request entity too large"),
        (400, "invalid compressed body"),
    ]


def test_services_are_the_distinct_services_named() -> None:
    events = operyn.log_batch([_OK, {**_OK, "service": " web "}, _OK], max_depth=4, max_events=10)
    assert operyn.services(events) == {"api", "web"}
