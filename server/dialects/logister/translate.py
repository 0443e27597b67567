"""The Logister dialect: Logister's event JSON into canonical `ingestd.v1.Event`s.

Pure (style.md principle 6): it never logs, writes, reads or counts. It follows Logister's own
server (taimoorq/logister `IngestEventPayloadNormalizer`; docs/vendors/logister.md §6):

- Event keys are normalized `underscore.downcase`, so `eventType` and `EVENT_TYPE` are `event_type`.
- `context` is kept as sent, and every key also appears under its snake_case form.
- Top-level convenience fields (`environment`, `release`, `trace_id`, `user_id`, `status`, ...) are
  copied into `context` when it lacks them; `environment` defaults to the server's.
- The envelope (environment, release, trace, request, session, user, service) is read from there.
- The level is free text: its normalized form is `Event.level`, the text itself `tags["level"]`
  (and `LogBody.level_text` for logs).
- Each event's Logister id is its `uuid` (or `event_id`), else one the caller supplies; a span
  without one gets an id derived from its project, trace and span. The idempotency key is
  `logister:<id>`, so a retry stores nothing new.

Check-ins and deployments, which have their own routes, are in `checkin`; the wire limits and
the batch format in `limits`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from google.protobuf import timestamp_pb2

from ingestd.v1 import event_pb2
from server.dialects.answer import Answer
from server.dialects.common import fill_struct
from server.dialects.logister.limits import (
    derived_uuid,
    first_present,
    idempotency_key,
    int64,
    media_type,
    normalize_uuid,
    number,
    parse_time,
    present,
    text,
    underscore,
)

E = event_pb2

EVENT_TYPES: dict[str, int] = {
    "error": E.KIND_ERROR,
    "metric": E.KIND_METRIC,
    "transaction": E.KIND_TRANSACTION,
    "log": E.KIND_LOG,
    "check_in": E.KIND_CHECK_IN,
}
SPAN_KINDS = frozenset(
    {"app", "browser", "cache", "db", "http", "internal", "queue", "render", "resource", "server"}
)
LEVELS: dict[str, int] = {
    "trace": E.LEVEL_TRACE,
    "debug": E.LEVEL_DEBUG,
    "info": E.LEVEL_INFO,
    "information": E.LEVEL_INFO,
    "notice": E.LEVEL_INFO,
    "log": E.LEVEL_INFO,
    "warn": E.LEVEL_WARNING,
    "warning": E.LEVEL_WARNING,
    "error": E.LEVEL_ERROR,
    "err": E.LEVEL_ERROR,
    "fatal": E.LEVEL_FATAL,
    "critical": E.LEVEL_FATAL,
    "crit": E.LEVEL_FATAL,
    "alert": E.LEVEL_FATAL,
    "emergency": E.LEVEL_FATAL,
    "emerg": E.LEVEL_FATAL,
    "panic": E.LEVEL_FATAL,
}
CHECK_IN_STATUSES: dict[str, int] = {
    "ok": E.CHECK_IN_STATUS_OK,
    "error": E.CHECK_IN_STATUS_ERROR,
    "in_progress": E.CHECK_IN_STATUS_IN_PROGRESS,
    "missed": E.CHECK_IN_STATUS_MISSED,
}
_ENVELOPE_MAX = 200  # longer envelope values stay in `context` only (normalize caps these at 200)
_TAG_MAX = 1_000

#: The 400 body's text when the body has no usable envelope (Rails 8's ParameterMissing).
MISSING = "param is missing or the value is empty or invalid: {}"
#: The 400 body's text for a body that is not JSON (Rails' ParseError).
UNPARSABLE = "Error occurred while parsing request parameters"
#: The 422 message for a uuid that names an event of the other signal (span versus event).
CONFLICT = "Uuid has already been used for another telemetry signal"


@dataclass(frozen=True, slots=True)
class Translated:
    """One translated Logister envelope: the canonical event, its Logister id, and whether it is a
    span (Logister keeps spans apart from events: the response's `type`)."""

    event: event_pb2.Event
    uuid: str
    span: bool


def parse(data: bytes, content_type: str, envelope_name: str) -> Any:
    """The parsed JSON body of a request whose envelope is `envelope_name` (`event`, `check_in`,
    `deployment`).

    Raises:
        Answer: 400 for a body that is not JSON: Rails' parse error when the body claims to be JSON
            (or says nothing), else as a missing envelope (Rails would not have parsed it).
    """
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        media = media_type(content_type)
        if data.strip() and (media in ("", "application/json") or media.endswith("+json")):
            raise Answer(400, {"error": UNPARSABLE}, detail="not JSON") from None
        raise missing(envelope_name) from None


def missing(envelope_name: str) -> Answer:
    """Logister's 400 for a body without its `envelope_name` object."""
    return Answer(400, {"error": MISSING.format(envelope_name)}, detail=f"no {envelope_name} envelope")


def invalid(errors: list[str]) -> Answer:
    """Logister's 422 with Rails' full messages (`"Message can't be blank"`...)."""
    return Answer(422, {"errors": errors}, detail="; ".join(errors))


def violation_messages(violations: Sequence[tuple[str, str]]) -> list[str]:
    """ingestd's own refusals of a canonical event (field, problem) as Rails-like full messages,
    such as `Trace id longer than 200 characters`."""
    return [
        f"{field.replace('_', ' ').replace('.', ' ').capitalize()} {description}"
        for field, description in violations
    ]


def level_of(raw: str) -> int:
    """The canonical level of Logister's free-text level (`warn`, `CRITICAL`...); unknown text is
    unspecified, so the kind's default applies."""
    return LEVELS.get(raw.strip().lower(), E.LEVEL_UNSPECIFIED)


# --- the envelope -------------------------------------------------------------------------------


def envelope(body: object, name: str) -> dict[str, Any] | None:
    """The `name` (or upper-case `NAME`) object of a parsed body, if it is a non-empty object."""
    if not isinstance(body, dict):
        return None
    raw = body.get(name)
    if not present(raw):
        raw = body.get(name.upper())
    return raw if isinstance(raw, dict) and raw else None


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def normalized_keys(raw: dict[str, Any]) -> dict[str, Any]:
    """The object's keys normalized; when two keys normalize alike, the later one wins."""
    return {underscore(key): value for key, value in raw.items()}


def normalize_context(value: object) -> Any:
    """A context kept as sent, with each object key also under its snake_case form (unless that
    key is already there), recursively through objects and arrays."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, nested in value.items():
            normalized = normalize_context(nested)
            out[key] = normalized
            snake = underscore(key)
            if snake not in out:
                out[snake] = normalized
        return out
    if isinstance(value, list):
        return [normalize_context(nested) for nested in value]
    return value


def _merge(context: dict[str, Any], key: str, value: object) -> None:
    # Logister's merge_context_value!: a blank value is skipped, a present context value kept.
    # Booleans are copied even when false: `handled: false` means something.
    if not (present(value) or value is False):
        return
    if present(context.get(key)) or context.get(key) is False:
        return
    context[key] = value


def _convenience(context: dict[str, Any], raw: dict[str, Any], event_type: str, environment: str) -> None:
    """Copies the top-level convenience fields into `context` where it lacks them."""
    status = raw.get("status")
    _merge(context, "environment", first_present(raw.get("environment"), environment))
    _merge(context, "release", raw.get("release"))
    for key in ("trace_id", "request_id", "session_id", "user_id", "branch", "transaction_name"):
        _merge(context, key, raw.get(key))
    _merge(context, "duration_ms", raw.get("duration_ms"))
    _merge(context, "commit_sha", first_present(raw.get("commit_sha"), raw.get("sha")))
    _merge(
        context,
        "repository",
        first_present(raw.get("repository"), raw.get("repo"), raw.get("github_repository")),
    )
    _merge(context, "expected_interval_seconds", raw.get("expected_interval_seconds"))
    _merge(context, "check_in_slug", first_present(raw.get("check_in_slug"), raw.get("monitor_slug")))
    _merge(
        context,
        "check_in_status",
        first_present(raw.get("check_in_status"), status if event_type == "check_in" else None),
    )
    if event_type == "transaction":
        _merge(context, "transaction_status", first_present(raw.get("transaction_status"), status))
    for key in ("telemetry_schema_version", "handled", "in_foreground", "installation_id_hash"):
        _merge(context, key, raw.get(key))
    _merge(context, "error_mechanism", first_present(raw.get("error_mechanism"), raw.get("mechanism")))
    if isinstance(raw.get("evidence"), dict):
        _merge(context, "evidence", raw.get("evidence"))


def _fill_envelope(event: event_pb2.Event, context: dict[str, Any]) -> None:
    """The envelope's correlation fields, read from the merged context."""
    for field_name, key in (
        ("environment", "environment"),
        ("release", "release"),
        ("trace_id", "trace_id"),
        ("request_id", "request_id"),
        ("session_id", "session_id"),
        ("service", "service"),
        ("span_id", "span_id"),
    ):
        value = text(context.get(key)).strip()
        if value and len(value) <= _ENVELOPE_MAX and not getattr(event, field_name):
            setattr(event, field_name, value)
    user_id = text(context.get("user_id")).strip()
    if user_id and len(user_id) <= _ENVELOPE_MAX:
        event.user.id = user_id


def _set_level(event: event_pb2.Event, raw_level: object) -> str:
    level_text = text(raw_level).strip()
    if level_text:
        event.level = level_of(level_text)  # type: ignore[assignment]
        event.tags["level"] = level_text[:_TAG_MAX]
    return level_text


# --- events and spans ---------------------------------------------------------------------------


def is_span(raw_event: dict[str, Any]) -> bool:
    """Whether a Logister event object (keys as sent) is a span, which Logister stores apart."""
    return text(normalized_keys(raw_event).get("event_type")) == "span"


def translate_event(
    raw_event: dict[str, Any], *, project: str, default_environment: str, now_us: int, fallback_uuid: str
) -> Translated | list[str]:
    """One Logister event object (as sent: keys not yet normalized) as a canonical event, or
    Logister's 422 messages (`"Message can't be blank"`...).

    `fallback_uuid` is the id of an event that names none; `now_us` is when a span without any
    time started.
    """
    raw = normalized_keys(raw_event)
    event_type = text(raw.get("event_type"))
    given = first_present(raw.get("uuid"), raw.get("event_id"))
    uuid = normalize_uuid(given) if given is not None else None
    if event_type == "span":
        return _span(raw, project, default_environment, now_us, given, uuid)
    errors: list[str] = []
    kind = EVENT_TYPES.get(event_type)
    if kind is None:
        errors.append("Event type is not included in the list")
    message = text(raw.get("message"))
    if not message.strip():
        errors.append("Message can't be blank")
    if given is not None and uuid is None:
        errors.append("Uuid is invalid")
    if errors or kind is None:
        return errors
    uuid = uuid or fallback_uuid
    context = normalize_context(raw.get("context"))
    if not isinstance(context, dict):
        context = {}
    _convenience(context, raw, event_type, default_environment)
    event = E.Event(kind=kind, message=message, idempotency_key=idempotency_key(uuid))  # type: ignore[arg-type]
    level_text = _set_level(event, raw.get("level"))
    fingerprint = text(raw.get("fingerprint")).strip()
    if fingerprint and len(fingerprint) <= _ENVELOPE_MAX:
        event.fingerprint = fingerprint
    occurred = parse_time(raw.get("occurred_at"))
    if occurred is not None:
        event.occurred_at.CopyFrom(occurred)
    _fill_envelope(event, context)
    _body(event, event_type, message, level_text, context)
    fill_struct(event.context, context)
    return Translated(event, uuid, False)


def _body(
    event: event_pb2.Event, event_type: str, message: str, level_text: str, ctx: dict[str, Any]
) -> None:
    if event_type == "error":
        _error_body(event, ctx)
    elif event_type == "transaction":
        body = event.transaction
        body.name = text(first_present(ctx.get("transaction_name"), message))
        body.duration_ms = number(ctx.get("duration_ms")) or 0.0
        body.status = text(first_present(ctx.get("transaction_status"), ctx.get("status")))
    elif event_type == "metric":
        metric = _object(ctx.get("metric"))
        value = first_present(metric.get("value"), ctx.get("value"))
        unit = text(first_present(metric.get("unit"), ctx.get("unit")))
        if value is None and number(ctx.get("duration_ms")) is not None:
            # Logister's Ruby gem sends `db.query` timings as `duration_ms` without a value.
            value, unit = ctx.get("duration_ms"), unit or "ms"
        event.metric.name = text(first_present(metric.get("name"), message))
        event.metric.value = number(value) or 0.0
        event.metric.unit = unit
    elif event_type == "log":
        event.log.level_text = level_text
        logger = text(ctx.get("logger"))
        if logger:
            event.log.logger = logger
    else:  # check_in
        check_in = event.check_in
        check_in.slug = text(first_present(ctx.get("check_in_slug"), message))
        status = text(ctx.get("check_in_status")).strip().lower()
        check_in.status = CHECK_IN_STATUSES.get(status, E.CHECK_IN_STATUS_UNSPECIFIED)  # type: ignore[assignment]
        check_in.expected_interval_seconds = int64(number(ctx.get("expected_interval_seconds")))
        check_in.duration_ms = number(ctx.get("duration_ms")) or 0.0


def _error_body(event: event_pb2.Event, ctx: dict[str, Any]) -> None:
    body = event.error
    exception = ctx.get("exception")
    if isinstance(exception, dict):
        _exception(body.exception, exception)
        nested = exception
        for _ in range(8):  # the SDKs nest causes at most 3 deep
            cause = first_present(nested.get("cause"), nested.get("context"))
            if not isinstance(cause, dict):
                break
            _exception(body.causes.add(), cause)
            nested = cause
    mechanism = text(ctx.get("error_mechanism"))
    if mechanism:
        body.exception.mechanism.type = mechanism
    if isinstance(ctx.get("handled"), bool):
        body.exception.mechanism.handled = ctx["handled"]


def _exception(info: event_pb2.ExceptionInfo, raw: dict[str, Any]) -> None:
    info.type = text(first_present(raw.get("class"), raw.get("type"), raw.get("name")))
    info.value = text(first_present(raw.get("message"), raw.get("value")))
    info.module = text(raw.get("module"))
    info.qualified_type = text(raw.get("qualified_class"))
    frames = raw.get("frames")
    if isinstance(frames, list):
        for frame in frames:
            if isinstance(frame, dict):
                _frame(info.frames.add(), frame)
    elif isinstance(raw.get("backtrace"), list):
        # A Ruby backtrace is innermost first; canonical frames end with the raising one.
        for line in reversed(raw["backtrace"]):
            if isinstance(line, str):
                _backtrace_frame(info.frames.add(), line)


def _frame(out: event_pb2.StackFrame, frame: dict[str, Any]) -> None:
    out.filename = text(first_present(frame.get("filename"), frame.get("file"), frame.get("path")))
    out.function = text(first_present(frame.get("name"), frame.get("function"), frame.get("method")))
    lineno = number(first_present(frame.get("lineno"), frame.get("line_number")))
    if lineno is not None and 0 <= lineno < 2**31:
        out.lineno = int(lineno)
    line = frame.get("line")
    if isinstance(line, str):
        out.context_line = line
    elif isinstance(line, int) and not isinstance(line, bool) and not out.lineno and 0 <= line < 2**31:
        out.lineno = line
    local_vars = frame.get("locals")
    if isinstance(local_vars, dict):
        for key, value in local_vars.items():
            out.vars[key] = text(value) if not isinstance(value, (dict, list)) else str(value)


def _backtrace_frame(out: event_pb2.StackFrame, line: str) -> None:
    # "app/models/order.rb:42:in `total'" (Ruby) or a bare location.
    location, _, function = line.partition(":in ")
    path, _, lineno = location.rpartition(":")
    if path and lineno.isdigit() and len(lineno) < 10:
        out.filename, out.lineno = path, int(lineno)
    else:
        out.filename = location
    out.function = function.strip("`'")


def _span(
    raw: dict[str, Any],
    project: str,
    default_environment: str,
    now_us: int,
    given: object,
    uuid: str | None,
) -> Translated | list[str]:
    context = normalize_context(raw.get("context"))
    if not isinstance(context, dict):
        context = {}
    trace = _object(context.get("trace"))
    trace_id = text(
        first_present(raw.get("trace_id"), context.get("trace_id"), trace.get("trace_id"))
    ).strip()
    span_id = text(first_present(raw.get("span_id"), context.get("span_id"), trace.get("span_id"))).strip()
    errors = []
    if not trace_id:
        errors.append("Trace can't be blank")
    if not span_id:
        errors.append("Span can't be blank")
    if given is not None and uuid is None:
        errors.append("Uuid is invalid")
    if errors:
        return errors
    uuid = uuid or derived_uuid(f"logister:span:{project}:{trace_id}:{span_id}")
    parent = text(
        first_present(raw.get("parent_span_id"), context.get("parent_span_id"), trace.get("parent_span_id"))
    ).strip()
    name = text(
        first_present(raw.get("name"), raw.get("message"), context.get("name"), context.get("span_name"))
    )
    kind = text(
        first_present(raw.get("kind"), raw.get("span_kind"), context.get("kind"), context.get("span_kind"))
    )
    kind = kind if kind in SPAN_KINDS else "internal"
    duration = number(first_present(raw.get("duration_ms"), context.get("duration_ms"))) or 0.0
    duration = duration if duration > 0 else 0.0
    started = parse_time(
        first_present(raw.get("started_at"), raw.get("occurred_at"), context.get("started_at"))
    )
    if started is None:
        started = timestamp_pb2.Timestamp()
        started.FromMicroseconds(now_us)
    ended = parse_time(first_present(raw.get("ended_at"), context.get("ended_at")))
    if ended is None:
        ended = timestamp_pb2.Timestamp()
        ended.FromMicroseconds(started.ToMicroseconds() + round(duration * 1000))
    for key, value in (
        ("trace_id", trace_id),
        ("span_id", span_id),
        ("parent_span_id", parent or None),
        ("span_kind", kind),
        ("duration_ms", duration),
        (
            "environment",
            first_present(raw.get("environment"), context.get("environment"), default_environment),
        ),
        ("release", first_present(raw.get("release"), context.get("release"))),
        ("service", first_present(raw.get("service"), context.get("service"))),
        ("request_id", first_present(raw.get("request_id"), context.get("request_id"))),
        ("transaction_name", first_present(raw.get("transaction_name"), context.get("transaction_name"))),
    ):
        if not present(context.get(key)) and value is not None:
            context[key] = value
    event = E.Event(
        kind=E.KIND_SPAN,
        message=name or "span",
        idempotency_key=idempotency_key(uuid),
        span=E.SpanBody(
            trace_id=trace_id,
            span_id=span_id,
            parent_span_id=parent,
            name=name or "span",
            kind=kind,
            status=text(first_present(raw.get("status"), context.get("status"))),
            duration_ms=duration,
            start_time=started,
            end_time=ended,
        ),
    )
    event.occurred_at.CopyFrom(started)
    _set_level(event, raw.get("level"))
    _fill_envelope(event, context)
    fill_struct(event.context, context)
    return Translated(event, uuid, True)
