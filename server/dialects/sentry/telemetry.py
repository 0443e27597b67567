"""Sentry's logs, release-health sessions and client reports as canonical events
(docs/vendors/sentry.md §5.4, §5.5). Pure.

None of these items has an id of its own, so each event's idempotency key is derived from what
was sent: the SHA-256 of the item's payload and the entry's place in it. A retried envelope is
then stored once.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ingestd.v1 import event_pb2
from server.dialects.common import fill_struct
from server.dialects.sentry.fields import (
    LEVELS,
    JsonObject,
    message_text,
    number,
    obj,
    seconds,
    storable,
    text,
    timestamp,
    typed_attributes,
)

E = event_pb2

#: Metric names of the events made here.
SESSION_METRIC = "sentry.session"
SESSIONS_METRIC = "sentry.sessions"
DISCARDED_METRIC = "sentry.client_report.discarded_events"
#: The statuses a `sessions` aggregate counts.
AGGREGATE_STATUSES = ("exited", "errored", "abnormal", "crashed")


def payload_key(kind: str, payload: bytes) -> str:
    """The start of the idempotency keys of an item's entries: its kind and payload digest."""
    return f"{kind}:{hashlib.sha256(payload).hexdigest()[:40]}"


def logs(payload: JsonObject, key: str) -> list[event_pb2.Event]:
    """A `log` container's records (`{"items": [...]}`) as `log` events; records that are not
    objects are skipped."""
    records = payload.get("items")
    if not isinstance(records, list):
        return []
    return [
        _log(record, f"{key}:{index}") for index, record in enumerate(records) if isinstance(record, dict)
    ]


def _log(record: JsonObject, key: str) -> event_pb2.Event:
    level = text(record.get("level")).lower()
    attributes = typed_attributes(record.get("attributes"))
    event = E.Event(
        kind=E.KIND_LOG,
        message=message_text(record.get("body")),
        level=LEVELS.get(level, E.LEVEL_INFO),  # type: ignore[arg-type]
        trace_id=text(record.get("trace_id")),
        span_id=text(record.get("span_id")),
        release=text(attributes.get("sentry.release")),
        environment=text(attributes.get("sentry.environment")),
        idempotency_key=key,
        log=E.LogBody(level_text=text(record.get("level")), logger=text(attributes.get("logger.name"))),
    )
    occurred = timestamp(record.get("timestamp"))
    if occurred is not None:
        event.occurred_at.CopyFrom(occurred)
    if attributes:
        fill_struct(event.log.metadata, attributes)
    return event


def session(payload: JsonObject) -> event_pb2.Event | str:
    """One session update as a `sentry.session` metric of value 1, labelled with its `status` and
    whether it is the session's first update (`init`); or why it is dropped (no `sid`)."""
    sid = text(payload.get("sid"))
    if not sid:
        return "session without a sid"
    status = text(payload.get("status")) or "ok"
    attrs = obj(payload.get("attrs"))
    event = _metric(
        SESSION_METRIC,
        1.0,
        {"status": status, "init": "true" if payload.get("init") is True else "false"},
        attrs,
        payload.get("timestamp"),
    )
    event.user.id = text(payload.get("did"))
    event.session_id = sid
    stamp = seconds(payload.get("timestamp"))
    event.idempotency_key = f"session:{sid}:{status}:{stamp if stamp is not None else ''}"[:200]
    context = {k: payload.get(k) for k in ("sid", "did", "started", "duration", "errors", "seq")}
    fill_struct(event.context, {k: storable(v) for k, v in context.items() if v is not None})
    return event


def sessions(payload: JsonObject, key: str) -> list[event_pb2.Event]:
    """A `sessions` aggregate: per bucket (`started`) and status with a count, a `sentry.sessions`
    metric whose value is that count, labelled with the status."""
    attrs = obj(payload.get("attrs"))
    aggregates = payload.get("aggregates")
    out: list[event_pb2.Event] = []
    for index, bucket in enumerate(aggregates if isinstance(aggregates, list) else []):
        bucket = obj(bucket)
        for status in AGGREGATE_STATUSES:
            count = number(bucket.get(status))
            if count is None or count <= 0:
                continue
            event = _metric(SESSIONS_METRIC, count, {"status": status}, attrs, bucket.get("started"))
            event.user.id = text(bucket.get("did"))
            event.idempotency_key = f"{key}:{index}:{status}"
            out.append(event)
    return out


def client_report(payload: JsonObject, key: str) -> list[event_pb2.Event]:
    """A client report: per `discarded_events` entry, a `sentry.client_report.discarded_events`
    metric whose value is its `quantity`, labelled with its `reason` and `category`."""
    entries = payload.get("discarded_events")
    out: list[event_pb2.Event] = []
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        entry = obj(entry)
        quantity = number(entry.get("quantity"))
        if quantity is None:
            continue
        labels = {"reason": text(entry.get("reason")), "category": text(entry.get("category"))}
        event = _metric(DISCARDED_METRIC, quantity, labels, {}, payload.get("timestamp"))
        event.idempotency_key = f"{key}:{index}"
        out.append(event)
    return out


def _metric(name: str, value: float, labels: dict[str, str], attrs: JsonObject, when: Any) -> event_pb2.Event:
    event = E.Event(
        kind=E.KIND_METRIC,
        release=text(attrs.get("release")),
        environment=text(attrs.get("environment")),
        metric=E.MetricBody(
            name=name, value=value, unit="count", labels={k: v for k, v in labels.items() if v}
        ),
    )
    occurred = timestamp(when)
    if occurred is not None:
        event.occurred_at.CopyFrom(occurred)
    return event
