"""Operyn's ingestion API (docs/vendors/operyn.md) as a pure translator.

Operyn's server is NestJS with Zod schemas; its source is not public, so its schemas are rebuilt
from its docs (docs/vendors/operyn.md §4). This module turns a request body (bytes as sent) into
canonical `ingestd.v1.Event`s, or raises the `Answer` Operyn gives. It never logs, writes, reads
or counts.

- `decode` undoes a gzip or deflate Content-Encoding (as Express' body-parser does) within a cap.
- `parse` reads JSON the way body-parser does: an empty body is `{}`.
- `log`, `log_batch`, `metric`, `deployment` validate a parsed body and build the events. Like
  Zod, they report every issue, as `path: text` in Zod's own wording (`service: Required`,
  `level: Invalid enum value. ...`), joined by `; `. A batch item's path starts with its index
  (`[1].level: Required`), and one bad item rejects the whole batch.

Where Operyn's docs are silent this module is lenient rather than strict: `null` counts as absent
for optional fields, `timestamp` takes any ISO 8601 form Python reads (a zone-less time is UTC),
and unknown fields are dropped, as Zod does.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import orjson
from google.protobuf import struct_pb2, timestamp_pb2

from ingestd.v1 import event_pb2
from server.dialects.answer import Answer
from server.dialects.common import fill_struct, iso_timestamp, nests_deeper, zod_expected, zod_type
from server.normalize import MAX_MESSAGE_CHARS, MAX_SHORT_CHARS

E = event_pb2

#: Operyn's log levels and the canonical level of each.
LEVELS: dict[str, int] = {
    "debug": E.LEVEL_DEBUG,
    "info": E.LEVEL_INFO,
    "warn": E.LEVEL_WARNING,
    "error": E.LEVEL_ERROR,
    "fatal": E.LEVEL_FATAL,
}
_LEVEL_CHOICES = " | ".join(f"'{level}'" for level in LEVELS)

#: The prefix of each kind's validation message, as Operyn's docs spell the log one.
LOG, METRIC, DEPLOYMENT = "log", "metric", "deployment"

#: Canonical field names (in `Ingest.prepare`'s rejections) as Operyn's clients know them.
_VENDOR_FIELD = {
    "trace_id": "traceId",
    "span_id": "spanId",
    "release": "version",
    "occurred_at": "timestamp",
    "metric.name": "name",
}

#: The reason phrase Express puts in `error` for each status it answers itself.
_EXPRESS_ERRORS = {400: "Bad Request", 413: "Payload Too Large", 415: "Unsupported Media Type"}


def body_refused(status: int, message: str) -> Answer:
    """The body cannot be read at all (400, 413 or 415): Express answers before any Operyn code
    runs, in its own shape `{"message", "error", "statusCode"}` (docs/vendors/operyn.md §6)."""
    body = {"message": message, "error": _EXPRESS_ERRORS[status], "statusCode": status}
    return Answer(status, body, detail=message)


def invalid(kind: str, issues: Sequence[str]) -> Answer:
    """The body fails Operyn's `kind` schema: 400 `{"statusCode": 400, "message": "Invalid <kind>
    event: <issues>"}` (docs/vendors/operyn.md §4)."""
    message = f"Invalid {kind} event: " + "; ".join(issues)
    return Answer(400, {"statusCode": 400, "message": message}, detail=message)


def decode(data: bytes, content_encoding: str, limit: int) -> bytes:
    """The body with its Content-Encoding undone, at most `limit` bytes once inflated.

    Raises:
        Answer: 413 past `limit`, 415 for an encoding other than identity, gzip or deflate, 400 for
            a corrupt stream, each in Express' shape.
    """
    encoding = content_encoding.strip().lower() or "identity"
    if encoding == "identity":
        return data
    if encoding not in ("gzip", "deflate"):
        raise body_refused(415, f'unsupported content encoding "{encoding}"')
    inflater = zlib.decompressobj(wbits=(16 if encoding == "gzip" else 0) + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error:
        raise body_refused(400, "invalid compressed body") from None
    if len(out) > limit:
        raise body_refused(413, "request entity too large")
    if not inflater.eof:
        raise body_refused(400, "unexpected end of compressed body")
    return out


def parse(data: bytes) -> object:
    """The parsed JSON body; an empty body is `{}`, as body-parser makes it.

    Raises:
        Answer: 400 in Express' shape and body-parser's wording, when the body is not JSON.
    """
    if not data.strip():
        return {}
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if exc.pos >= len(data.rstrip()):
            raise body_refused(400, "Unexpected end of JSON input") from None
        raise body_refused(400, f"Unexpected token in JSON at position {exc.pos}") from None


def log(value: object, *, max_depth: int) -> E.Event:
    """One log event (`POST /events/logs`).

    Raises:
        Answer: 400, the body fails the log schema.
    """
    issues: list[str] = []
    event = _log(value, "", issues, max_depth)
    if issues:
        raise invalid(LOG, issues)
    assert event is not None
    return event


def log_batch(value: object, *, max_depth: int, max_events: int) -> list[E.Event]:
    """An array of log events (`POST /events/logs/batch`): 1 to `max_events` of them.

    Raises:
        Answer: 400, the body is not such an array, or any item fails the log schema.
    """
    if not isinstance(value, list):
        raise invalid(LOG, [f"Expected array, received {_type(value)}"])
    if not value:
        raise invalid(LOG, ["Array must contain at least 1 element(s)"])
    if len(value) > max_events:
        raise invalid(LOG, [f"Array must contain at most {max_events} element(s)"])
    issues: list[str] = []
    events = [_log(item, f"[{index}].", issues, max_depth) for index, item in enumerate(value)]
    if issues:
        raise invalid(LOG, issues)
    return [e for e in events if e is not None]


def metric(value: object) -> E.Event:
    """One metric data point (`POST /events/metrics`).

    Raises:
        Answer: 400, the body fails the metric schema.
    """
    issues: list[str] = []
    fields = _object(value, "", issues)
    if fields is None:
        raise invalid(METRIC, issues)
    check = _Checker(fields, "", issues)
    service = check.service()
    name = check.string("name", required=True)
    number = check.number("value")
    unit = check.string("unit", required=True)
    occurred = check.timestamp()
    labels = check.labels("labels")
    if issues:
        raise invalid(METRIC, issues)
    event = E.Event(
        kind=E.KIND_METRIC,
        service=service,
        metric=E.MetricBody(name=name, value=number, unit=unit, labels=labels),
    )
    env = labels.get("env")
    if env and len(env) <= MAX_SHORT_CHARS:
        # Operyn recommends `env` in labels; as the envelope's environment it can be filtered on.
        event.environment = env
    if occurred is not None:
        event.occurred_at.CopyFrom(occurred)
    return event


def deployment(value: object, *, max_depth: int) -> E.Event:
    """One deployment (`POST /events/deployments`).

    Raises:
        Answer: 400, the body fails the deployment schema.
    """
    issues: list[str] = []
    fields = _object(value, "", issues)
    if fields is None:
        raise invalid(DEPLOYMENT, issues)
    check = _Checker(fields, "", issues)
    service = check.service()
    version = check.string("version", required=True, max_chars=MAX_SHORT_CHARS)
    environment = check.string("environment", required=True, max_chars=MAX_SHORT_CHARS)
    git_hash = check.string("gitHash")
    occurred = check.timestamp()
    metadata = check.metadata(max_depth)
    if issues:
        raise invalid(DEPLOYMENT, issues)
    event = E.Event(
        kind=E.KIND_DEPLOYMENT,
        service=service,
        release=version,
        environment=environment,
        deployment=E.DeploymentBody(commit_sha=git_hash, metadata=metadata),
    )
    if occurred is not None:
        event.occurred_at.CopyFrom(occurred)
    return event


def rejection(kind: str, rejected: Mapping[int, Sequence[tuple[str, str]]], *, batch: bool) -> Answer:
    """`Ingest.prepare`'s rejections (canonical field names) as Operyn's validation error."""
    issues = []
    for index, violations in sorted(rejected.items()):
        prefix = f"[{index}]." if batch else ""
        for field, description in violations:
            name = _VENDOR_FIELD.get(field, field.rsplit(".", 1)[-1])
            issues.append(f"{prefix}{name}: {description}")
    return invalid(kind, issues)


def services(events: Sequence[E.Event]) -> set[str]:
    """The distinct services the events name."""
    return {event.service for event in events}


def _log(value: object, prefix: str, issues: list[str], max_depth: int) -> E.Event | None:
    fields = _object(value, prefix, issues)
    if fields is None:
        return None
    before = len(issues)
    check = _Checker(fields, prefix, issues)
    service = check.service()
    level = check.level()
    message = check.string("message", required=True, max_chars=MAX_MESSAGE_CHARS)
    occurred = check.timestamp()
    trace_id = check.string("traceId", max_chars=MAX_SHORT_CHARS)
    span_id = check.string("spanId", max_chars=MAX_SHORT_CHARS)
    metadata = check.metadata(max_depth)
    if len(issues) > before:
        return None
    event = E.Event(
        kind=E.KIND_LOG,
        level=LEVELS[level],  # type: ignore[arg-type]
        message=message,
        service=service,
        trace_id=trace_id,
        span_id=span_id,
        log=E.LogBody(level_text=level, metadata=metadata),
    )
    _environment_from(event, metadata.fields.get("env") if metadata is not None else None)
    if occurred is not None:
        event.occurred_at.CopyFrom(occurred)
    return event


def _environment_from(event: E.Event, env: struct_pb2.Value | None) -> None:
    # Operyn recommends an `env` key in a log's metadata; as the envelope's environment it can be
    # filtered on, and the metadata keeps it as sent.
    if env is not None and env.WhichOneof("kind") == "string_value":
        text = env.string_value
        if text and len(text) <= MAX_SHORT_CHARS:
            event.environment = text


def _object(value: object, prefix: str, issues: list[str]) -> dict[str, object] | None:
    if isinstance(value, dict):
        return value
    # A batch item's own path is its index: `[2]: Expected object, received string`.
    issues.append(f"{prefix[:-1]}: " + _expected("object", value) if prefix else _expected("object", value))
    return None


@dataclass(slots=True)
class _Checker:
    """Reads the fields of one body object, appending Zod-worded issues for the bad ones."""

    fields: dict[str, object]
    prefix: str
    issues: list[str]

    def _issue(self, name: str, text: str) -> None:
        self.issues.append(f"{self.prefix}{name}: {text}")

    def _get(self, name: str, kind: str, test: Callable[[object], bool], required: bool) -> object | None:
        value = self.fields.get(name)
        if value is None:
            if required:
                self._issue(name, "Required")
            return None
        if not test(value):
            self._issue(name, _expected(kind, value))
            return None
        return value

    def string(self, name: str, *, required: bool = False, max_chars: int | None = None) -> str:
        value = self._get(name, "string", _is_string, required)
        if not isinstance(value, str):
            return ""
        if max_chars is not None and len(value) > max_chars:
            self._issue(name, f"String must contain at most {max_chars} character(s)")
        return value

    def service(self) -> str:
        """`service`, trimmed (Operyn trims it and leaves its casing alone)."""
        value = self._get("service", "string", _is_string, required=True)
        if not isinstance(value, str):
            return ""
        value = value.strip()
        if not value:
            self._issue("service", "String must contain at least 1 character(s)")
        elif len(value) > MAX_SHORT_CHARS:
            self._issue("service", f"String must contain at most {MAX_SHORT_CHARS} character(s)")
        return value

    def level(self) -> str:
        value = self._get("level", "string", _is_string, required=True)
        if not isinstance(value, str):
            return ""
        if value not in LEVELS:
            self._issue("level", f"Invalid enum value. Expected {_LEVEL_CHOICES}, received '{value}'")
        return value

    def number(self, name: str) -> float:
        value = self._get(name, "number", _is_number, required=True)
        return float(value) if isinstance(value, int | float) else 0.0

    def timestamp(self) -> timestamp_pb2.Timestamp | None:
        value = self._get("timestamp", "string", _is_string, required=False)
        if not isinstance(value, str):
            return None
        parsed = _parse_time(value)
        if parsed is None:
            self._issue("timestamp", "Invalid datetime")
        return parsed

    def metadata(self, max_depth: int) -> struct_pb2.Struct | None:
        value = self._get("metadata", "object", lambda v: isinstance(v, dict), required=False)
        if not isinstance(value, dict):
            return None
        if _deeper_than(value, max_depth):
            self._issue("metadata", f"Nested deeper than {max_depth} levels")
            return None
        struct = struct_pb2.Struct()
        fill_struct(struct, value)
        return struct

    def labels(self, name: str) -> dict[str, str]:
        value = self._get(name, "object", lambda v: isinstance(v, dict), required=False)
        if not isinstance(value, dict):
            return {}
        for key, item in value.items():
            if not isinstance(item, str):
                self._issue(f"{name}.{key}", _expected("string", item))
        return value


def _is_string(value: object) -> bool:
    return isinstance(value, str)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# Shared with the other dialects (server/dialects/common.py).
_type = zod_type
_expected = zod_expected
_parse_time = iso_timestamp
_deeper_than = nests_deeper
