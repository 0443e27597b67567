"""Sentry's event payload (https://develop.sentry.dev/sdk/data-model/event-payloads/,
docs/vendors/sentry.md §5.1, §5.2) as an `error` or a `transaction` event. Pure.

- The exception chain arrives cause first and the raised exception last, each stack outermost frame
  first: the raised one becomes `ErrorBody.exception`, the others `ErrorBody.causes`, nearest
  first. Frames keep Sentry's order, which is ingestd's.
- `message` (a string or an object) or `logentry` is the event's message: the formatted text, else
  the template.
- Values of the wrong type are dropped, as Relay drops them, rather than refusing the event.
"""

from __future__ import annotations

from typing import Any

from ingestd.v1 import event_pb2
from server.dialects.common import fill_struct
from server.dialects.sentry import grouping
from server.dialects.sentry.fields import (
    LEVELS,
    JsonObject,
    add_tags,
    duration_ms,
    message_text,
    number,
    obj,
    rendered,
    span_times,
    storable,
    tags,
    text,
    timestamp,
    user,
    values,
)

E = event_pb2

#: Frames kept per stack: the outermost and the innermost half, as Sentry trims long stacks.
MAX_FRAMES = 250
_INT32_MAX = 2**31 - 1
#: Scalars and interfaces kept in the event's context, by their Sentry names.
_CONTEXT_KEYS = ("platform", "dist", "sdk", "request", "extra", "contexts", "measurements", "fingerprint")
#: Event fields Sentry shows as tags.
_TAG_FIELDS = ("server_name", "logger", "transaction")
_UNLABELED = "<unlabeled transaction>"
_UNLABELED_EVENT = "<unlabeled event>"


def error(payload: JsonObject, event_id: str) -> event_pb2.Event:
    """An `event` item as a `KIND_ERROR` event whose idempotency key is its `event_id`."""
    raw = [obj(v) for v in values(payload.get("exception")) if isinstance(v, dict)]
    chain = [_exception(v) for v in raw]
    if not chain:
        stack = _thread_stack(payload)
        if stack:
            chain = [E.ExceptionInfo(frames=stack)]
    formatted, template = _message(payload)
    body = E.ErrorBody(breadcrumbs=[_breadcrumb(obj(c)) for c in values(payload.get("breadcrumbs"))])
    if chain:
        body.exception.CopyFrom(chain[-1])
        body.causes.extend(reversed(chain[:-1]))
    event = _common(payload, event_id, E.KIND_ERROR)
    event.error.CopyFrom(body)
    # Sentry's title for an event without an exception or a message; ingestd needs one of them.
    event.message = formatted or ("" if chain and (chain[-1].type or chain[-1].value) else _UNLABELED_EVENT)
    event.level = LEVELS.get(text(payload.get("level")).lower(), E.LEVEL_ERROR)  # type: ignore[assignment]
    event.fingerprint = grouping.fingerprint(
        _as_grouped(chain, raw), template or formatted, payload.get("fingerprint")
    )
    return event


def _as_grouped(chain: list[event_pb2.ExceptionInfo], raw: list[JsonObject]) -> list[event_pb2.ExceptionInfo]:
    """The chain as Sentry groups it: a synthetic exception's type and value
    (`mechanism.synthetic`: made up by the SDK, such as a message captured with its stack, or a
    signal's name) do not count, so such events group by their stack or their message template."""
    grouped = list(chain)
    for index, value in enumerate(raw):
        if obj(value.get("mechanism")).get("synthetic") is True:
            grouped[index] = E.ExceptionInfo(frames=chain[index].frames)
    return grouped


def transaction(payload: JsonObject, event_id: str) -> event_pb2.Event:
    """A `transaction` item as a `KIND_TRANSACTION` event with its spans; its idempotency key is
    its `event_id`."""
    trace = obj(obj(payload.get("contexts")).get("trace"))
    event = _common(payload, event_id, E.KIND_TRANSACTION)
    event.level = LEVELS.get(text(payload.get("level")).lower(), E.LEVEL_INFO)  # type: ignore[assignment]
    event.transaction.CopyFrom(
        E.TransactionBody(
            name=text(payload.get("transaction"), 1_000) or _UNLABELED,
            duration_ms=duration_ms(payload.get("start_timestamp"), payload.get("timestamp")),
            status=text(trace.get("status")),
            op=text(trace.get("op")),
            spans=[_span(obj(s), event.trace_id) for s in payload.get("spans") or [] if isinstance(s, dict)],
        )
    )
    return event


def _common(payload: JsonObject, event_id: str, kind: int) -> event_pb2.Event:
    """What errors and transactions share: ids, time, release, environment, tags, user, context."""
    trace = obj(obj(payload.get("contexts")).get("trace"))
    event = E.Event(
        kind=kind,  # type: ignore[arg-type]
        idempotency_key=event_id,
        release=text(payload.get("release")),
        environment=text(payload.get("environment")),
        trace_id=text(trace.get("trace_id")),
        span_id=text(trace.get("span_id")),
        tags=tags(payload.get("tags")),
    )
    add_tags(event, {name: text(payload.get(name)) for name in _TAG_FIELDS})
    user(event, payload.get("user"))
    occurred = timestamp(payload.get("timestamp"))
    if occurred is not None:
        event.occurred_at.CopyFrom(occurred)
    context: dict[str, Any] = {"event_id": event_id}
    context.update({name: text(payload.get(name)) for name in _TAG_FIELDS if text(payload.get(name))})
    context.update({k: storable(payload[k]) for k in _CONTEXT_KEYS if payload.get(k) not in (None, {}, [])})
    fill_struct(event.context, context)
    return event


def _message(payload: JsonObject) -> tuple[str, str]:
    """(the formatted message, its template) of `message` or `logentry`."""
    for key in ("logentry", "message"):
        value = payload.get(key)
        if isinstance(value, str) and value:
            return message_text(value), message_text(value)
        entry = obj(value)
        template = message_text(entry.get("message"))
        formatted = message_text(entry.get("formatted")) or template
        if formatted:
            return formatted, template or formatted
    return "", ""


def _exception(value: JsonObject) -> event_pb2.ExceptionInfo:
    exc_type, module = text(value.get("type")), text(value.get("module"))
    out = E.ExceptionInfo(
        type=exc_type,
        value=message_text(value.get("value")),
        module=module,
        qualified_type=f"{module}.{exc_type}" if module and exc_type else "",
        frames=_frames(obj(value.get("stacktrace"))),
    )
    mechanism = obj(value.get("mechanism"))
    if mechanism:
        out.mechanism.type = text(mechanism.get("type"))
        if isinstance(mechanism.get("handled"), bool):
            out.mechanism.handled = mechanism["handled"]
    return out


def _thread_stack(payload: JsonObject) -> list[event_pb2.StackFrame]:
    """The stack an SDK attached without an exception (`attach_stacktrace`): the current or
    crashed thread's, or a top-level `stacktrace`."""
    for thread in values(payload.get("threads")):
        thread = obj(thread)
        if thread.get("current") or thread.get("crashed"):
            return _frames(obj(thread.get("stacktrace")))
    return _frames(obj(payload.get("stacktrace")))


def _frames(stacktrace: JsonObject) -> list[event_pb2.StackFrame]:
    frames = [f for f in stacktrace.get("frames") or [] if isinstance(f, dict)]
    if len(frames) > MAX_FRAMES:
        frames = frames[: MAX_FRAMES // 2] + frames[-MAX_FRAMES // 2 :]
    return [_frame(f) for f in frames]


def _frame(frame: JsonObject) -> event_pb2.StackFrame:
    out = E.StackFrame(
        filename=text(frame.get("filename"), 1_000),
        abs_path=text(frame.get("abs_path"), 1_000),
        function=text(frame.get("function"), 1_000),
        module=text(frame.get("module"), 1_000),
        lineno=_line(frame.get("lineno")),
        colno=_line(frame.get("colno")),
        context_line=text(frame.get("context_line"), 1_000),
        pre_context=[text(line, 1_000) for line in frame.get("pre_context") or [] if isinstance(line, str)],
        post_context=[text(line, 1_000) for line in frame.get("post_context") or [] if isinstance(line, str)],
        vars={str(k): rendered(v) for k, v in obj(frame.get("vars")).items()},
    )
    if isinstance(frame.get("in_app"), bool):
        out.in_app = frame["in_app"]
    return out


def _line(value: object) -> int:
    line = number(value)
    return int(line) if line is not None and line == int(line) and 0 <= line <= _INT32_MAX else 0


def _breadcrumb(crumb: JsonObject) -> event_pb2.Breadcrumb:
    out = E.Breadcrumb(
        type=text(crumb.get("type")),
        category=text(crumb.get("category")),
        message=message_text(crumb.get("message")),
        level=text(crumb.get("level")),
    )
    occurred = timestamp(crumb.get("timestamp"))
    if occurred is not None:
        out.timestamp.CopyFrom(occurred)
    data = obj(crumb.get("data"))
    if data:
        fill_struct(out.data, {k: storable(v) for k, v in data.items()})
    return out


def _span(span: JsonObject, trace_id: str) -> event_pb2.SpanBody:
    out = E.SpanBody(
        trace_id=text(span.get("trace_id")) or trace_id,
        span_id=text(span.get("span_id")),
        parent_span_id=text(span.get("parent_span_id")),
        op=text(span.get("op")),
        name=text(span.get("name"), 1_000),
        description=message_text(span.get("description")),
        status=text(span.get("status")),
        duration_ms=duration_ms(span.get("start_timestamp"), span.get("timestamp")),
    )
    span_times(out, span.get("start_timestamp"), span.get("timestamp"))
    return out
