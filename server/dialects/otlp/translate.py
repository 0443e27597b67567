"""OTLP export requests as canonical events: the pure translator (style.md principle 6), following
OpenTelemetry's semantic conventions (docs/vendors/otlp.md §5).

- The resource's `service.name`, `service.version` and `deployment.environment.name` (or the older
  `deployment.environment`) are each event's service, release and environment; its other
  attributes and the instrumentation scope go into the event's context.
- A span without a parent is a `KIND_TRANSACTION`, any other a `KIND_SPAN`, with ids in lowercase
  hex; each `exception` span event is also a `KIND_ERROR`, its Python traceback read into frames.
- A log record is a `KIND_LOG` (`translate_logs`); a metric's data points are `KIND_METRIC`s
  (`server.dialects.otlp.metrics`).

Each event remembers the item it came from (a span, a log record, a data point), so that the
servicer can count rejected items the way OTLP's partial success does. Times are unix
nanoseconds; 0 means unknown, and such an event's time is the receive time. Nothing here logs,
reads, writes or counts.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from ingestd.v1 import event_pb2
from server.dialects.common import fill_struct
from server.dialects.otlp import metrics, stacktrace, values
from server.dialects.otlp.envelope import (
    SPAN_ID_BYTES,
    TRACE_ID_BYTES,
    Origin,
    Translation,
    hex_id,
    iso,
    origin,
    pop_text,
    timestamp,
)

__all__ = ["Translation", "translate_logs", "translate_metrics", "translate_traces"]

E = event_pb2
Span = trace_pb2.Span

_EXCEPTION = "exception"
_EXCEPTION_TYPE = "exception.type"
_EXCEPTION_MESSAGE = "exception.message"
_EXCEPTION_STACKTRACE = "exception.stacktrace"
_EXCEPTION_ESCAPED = "exception.escaped"

_SPAN_KINDS = {
    Span.SPAN_KIND_SERVER: "server",
    Span.SPAN_KIND_CLIENT: "client",
    Span.SPAN_KIND_PRODUCER: "producer",
    Span.SPAN_KIND_CONSUMER: "consumer",
}
#: The attribute that names each operation category, in the order they are tried.
_CATEGORIES = (
    ("http", ("http.request.method", "http.method")),
    ("db", ("db.system.name", "db.system")),
    ("rpc", ("rpc.system",)),
    ("messaging", ("messaging.system",)),
)
_STATUS_ERROR = trace_pb2.Status.STATUS_CODE_ERROR

#: Severity numbers 1-24 in groups of four: TRACE, DEBUG, INFO, WARN, ERROR, FATAL.
_SEVERITY_LEVELS = (E.LEVEL_TRACE, E.LEVEL_DEBUG, E.LEVEL_INFO, E.LEVEL_WARNING, E.LEVEL_ERROR, E.LEVEL_FATAL)
_SEVERITY_TEXTS = {
    "trace": E.LEVEL_TRACE,
    "debug": E.LEVEL_DEBUG,
    "info": E.LEVEL_INFO,
    "information": E.LEVEL_INFO,
    "warn": E.LEVEL_WARNING,
    "warning": E.LEVEL_WARNING,
    "error": E.LEVEL_ERROR,
    "fatal": E.LEVEL_FATAL,
    "critical": E.LEVEL_FATAL,
}

_UNKNOWN_NAME = "unknown"


# Traces


def translate_traces(request: trace_service_pb2.ExportTraceServiceRequest) -> Translation:
    """The events of a trace export: a transaction or span per span, and an error per exception
    span event."""
    out = Translation()
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            where = origin(resource_spans.resource, scope_spans.scope)
            for span in scope_spans.spans:
                item = out.items
                out.items += 1
                refusal = _span(span, where, item, out)
                if refusal:
                    out.refused[item] = refusal
    return out


def _span(span: trace_pb2.Span, where: Origin, item: int, out: Translation) -> str:
    """Adds the span's events to `out`; returns why it is refused, or ""."""
    trace_id = hex_id(span.trace_id, TRACE_ID_BYTES)
    span_id = hex_id(span.span_id, SPAN_ID_BYTES)
    parent = hex_id(span.parent_span_id, SPAN_ID_BYTES)
    if not trace_id:
        return "trace_id must be 16 bytes, not all zero"
    if not span_id:
        return "span_id must be 8 bytes, not all zero"
    if parent is None:
        return "parent_span_id must be empty or 8 bytes, not all zero"
    kind = _SPAN_KINDS.get(span.kind, "internal")
    attributes = values.attributes(span.attributes)
    op = _op(kind, attributes)
    start, end = span.start_time_unix_nano, span.end_time_unix_nano
    duration_ms = (end - start) / 1e6 if start and end >= start else 0.0
    status = "error" if span.status.code == _STATUS_ERROR else "ok"
    event = E.Event(
        message=span.name,
        trace_id=trace_id,
        span_id=span_id,
        idempotency_key=f"otlp:{trace_id}:{span_id}",
    )
    if parent:
        event.kind = E.KIND_SPAN
        body = event.span
        body.trace_id, body.span_id, body.parent_span_id = trace_id, span_id, parent
        body.op, body.kind, body.name, body.status = op, kind, span.name, status
        body.duration_ms = duration_ms
        started, ended = timestamp(start), timestamp(end)
        if started is not None:
            body.start_time.CopyFrom(started)
        if ended is not None:
            body.end_time.CopyFrom(ended)
    else:
        event.kind = E.KIND_TRANSACTION
        # An empty name is allowed, and means an unknown one (the specification); a transaction
        # needs one.
        name = span.name or _UNKNOWN_NAME
        event.transaction.CopyFrom(
            E.TransactionBody(name=name, duration_ms=duration_ms, status=status, op=op)
        )
    if status == "error":
        event.level = E.LEVEL_ERROR
    occurred = timestamp(start)
    if occurred is not None:
        event.occurred_at.CopyFrom(occurred)
    exceptions = [e for e in span.events if e.name == _EXCEPTION]
    where.stamp(
        event,
        {
            "attributes": attributes,
            "kind": None if parent else kind,  # a span's is in its body
            "status_message": span.status.message,
            "trace_state": span.trace_state,
            "events": [_span_event(e) for e in span.events if e.name != _EXCEPTION],
            "links": [_link(link) for link in span.links],
        },
    )
    out.add(event, item)
    for index, exception in enumerate(exceptions):
        error = _error(exception, span, trace_id, span_id, where)
        if error is not None:
            error.idempotency_key = f"otlp:{trace_id}:{span_id}:exception:{index}"
            out.add(error, item)
    return ""


def _op(kind: str, attributes: dict[str, Any]) -> str:
    """The operation type: the semantic conventions' category (`http`, `db`, `rpc`,
    `messaging`) with the span kind (`http.server`), else the kind alone (`internal`)."""
    for category, keys in _CATEGORIES:
        if any(key in attributes for key in keys):
            return category if kind == "internal" or category == "db" else f"{category}.{kind}"
    return kind


def _span_event(event: trace_pb2.Span.Event) -> dict[str, Any]:
    described: dict[str, Any] = {"name": event.name, "time": iso(event.time_unix_nano)}
    if event.attributes:
        described["attributes"] = values.attributes(event.attributes)
    return {k: v for k, v in described.items() if v is not None}


def _link(link: trace_pb2.Span.Link) -> dict[str, Any]:
    described: dict[str, Any] = {
        "trace_id": link.trace_id.hex(),
        "span_id": link.span_id.hex(),
        "trace_state": link.trace_state,
        "attributes": values.attributes(link.attributes),
    }
    return {k: v for k, v in described.items() if v not in ("", {})}


def _error(
    exception: trace_pb2.Span.Event, span: trace_pb2.Span, trace_id: str, span_id: str, where: Origin
) -> event_pb2.Event | None:
    """The error an `exception` span event records, in the span's trace and span (`trace_id`,
    `span_id`: its ids in hex); None when it names neither a type nor a message (the semantic
    conventions require one of them)."""
    attributes = values.attributes(exception.attributes)
    qualified = pop_text(attributes, _EXCEPTION_TYPE)
    message = pop_text(attributes, _EXCEPTION_MESSAGE)
    trace = pop_text(attributes, _EXCEPTION_STACKTRACE)
    escaped = attributes.pop(_EXCEPTION_ESCAPED, None)
    if not (qualified or message):
        return None
    chain = stacktrace.parse(trace) if trace else None
    raised = chain[-1] if chain else E.ExceptionInfo()
    module, _, short = qualified.rpartition(".")
    raised.type = short or raised.type
    raised.module = module
    raised.qualified_type = qualified if module else ""
    raised.value = message or raised.value
    if escaped is not None:
        raised.mechanism.handled = str(escaped).lower() != "true"
    body = E.ErrorBody(exception=raised, causes=list(reversed(chain[:-1])) if chain else [])
    event = E.Event(
        kind=E.KIND_ERROR,
        level=E.LEVEL_ERROR,
        trace_id=trace_id,
        span_id=span_id,
        error=body,
    )
    occurred = timestamp(exception.time_unix_nano or span.start_time_unix_nano)
    if occurred is not None:
        event.occurred_at.CopyFrom(occurred)
    context: dict[str, Any] = {"span": {"name": span.name}, "attributes": attributes}
    if trace and chain is None:
        context["stacktrace"] = trace  # not a Python traceback: kept as sent
    where.stamp(event, context)
    return event


# Logs


def translate_logs(request: logs_service_pb2.ExportLogsServiceRequest) -> Translation:
    """The events of a log export: a log per record."""
    out = Translation()
    for resource_logs in request.resource_logs:
        for scope_logs in resource_logs.scope_logs:
            where = origin(resource_logs.resource, scope_logs.scope)
            for record in scope_logs.log_records:
                out.add(_log(record, where, scope_logs.scope.name), out.items)
                out.items += 1
    return out


def _log(record: logs_pb2.LogRecord, where: Origin, logger: str) -> event_pb2.Event:
    body = E.LogBody(level_text=record.severity_text, logger=logger)
    if record.attributes:
        fill_struct(body.metadata, values.attributes(record.attributes))
    event = E.Event(
        kind=E.KIND_LOG,
        level=_level(record.severity_number, record.severity_text),  # type: ignore[arg-type]
        message=values.text(record.body),
        log=body,
    )
    # A log record's ids are optional, and an invalid one means "no trace" (the specification).
    event.trace_id = hex_id(record.trace_id, TRACE_ID_BYTES) or ""
    event.span_id = hex_id(record.span_id, SPAN_ID_BYTES) or ""
    occurred = timestamp(record.time_unix_nano or record.observed_time_unix_nano)
    if occurred is not None:
        event.occurred_at.CopyFrom(occurred)
    where.stamp(
        event,
        {
            "event_name": record.event_name,
            "observed_time": iso(record.observed_time_unix_nano),
            "severity_number": record.severity_number or None,
        },
    )
    return event


def _level(number: int, text: str) -> int:
    """The level of a severity number (1-24), else of a severity text such as `WARN`; else
    unspecified, which the server reads as info."""
    if 1 <= number <= 24:
        return _SEVERITY_LEVELS[(number - 1) // 4]
    return _SEVERITY_TEXTS.get(text.strip().lower(), E.LEVEL_UNSPECIFIED)


# Metrics


def translate_metrics(request: metrics_service_pb2.ExportMetricsServiceRequest) -> Translation:
    """The events of a metric export: a metric per data point (`server.dialects.otlp.metrics`)."""
    return metrics.translate(request)
