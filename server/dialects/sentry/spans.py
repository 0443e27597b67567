"""Sentry's streamed spans (`span` items, `application/vnd.sentry.items.span.v2+json`), which the
JavaScript SDKs from version 11 send instead of transactions (docs/vendors/sentry.md §5.2). Pure.

A container holds `{"version": 2, "items": [...]}`, each span with `trace_id`, `span_id`,
`parent_span_id`, `name`, `start_timestamp`, `end_timestamp` (Unix seconds), `is_segment`, `status`
(`ok` or `error`) and typed `attributes`. A segment span (the root of its service's part of the
trace) becomes a `transaction` event, any other span a `span` event; they are tied together by their
trace and parent ids, not nested. Each span's idempotency key is `span:<trace id>:<span id>`.
"""

from __future__ import annotations

from ingestd.v1 import event_pb2
from server.dialects.common import fill_struct
from server.dialects.sentry.fields import (
    JsonObject,
    duration_ms,
    message_text,
    obj,
    span_times,
    text,
    timestamp,
    typed_attributes,
)

E = event_pb2


def spans(payload: JsonObject) -> list[event_pb2.Event]:
    """The events of a `span` container; entries without a trace and a span id are skipped."""
    records = payload.get("items")
    return [
        made
        for record in (records if isinstance(records, list) else [])
        if (made := _span(obj(record))) is not None
    ]


def _span(record: JsonObject) -> event_pb2.Event | None:
    trace_id, span_id = text(record.get("trace_id")), text(record.get("span_id"))
    if not trace_id or not span_id:
        return None
    attributes = typed_attributes(record.get("attributes"))
    name = message_text(record.get("name"))
    began, ended = record.get("start_timestamp"), record.get("end_timestamp")
    duration = duration_ms(began, ended)
    status = text(record.get("status"))
    op = text(attributes.get("sentry.op"))
    event = E.Event(
        trace_id=trace_id,
        span_id=span_id,
        release=text(attributes.get("sentry.release")),
        environment=text(attributes.get("sentry.environment")),
        idempotency_key=f"span:{trace_id}:{span_id}"[:200],
    )
    if record.get("is_segment") is True:
        event.kind = E.KIND_TRANSACTION
        event.transaction.CopyFrom(
            E.TransactionBody(
                name=name[:1_000] or "<unlabeled transaction>", duration_ms=duration, status=status, op=op
            )
        )
    else:
        event.kind = E.KIND_SPAN
        event.span.CopyFrom(
            E.SpanBody(
                trace_id=trace_id,
                span_id=span_id,
                parent_span_id=text(record.get("parent_span_id")),
                op=op,
                name=name[:1_000],
                status=status,
                duration_ms=duration,
            )
        )
        span_times(event.span, began, ended)
    occurred = timestamp(ended)
    if occurred is not None:
        event.occurred_at.CopyFrom(occurred)
    if attributes:
        fill_struct(event.context, {"attributes": attributes})
    return event
