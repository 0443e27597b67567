"""Sentry envelopes and legacy store bodies as canonical events: the pure translator
(style.md principle 6, docs/vendors/sentry.md §5).

Each item type Relay's SDKs send maps to events (`translate`):
- `event` → one `error` event (`server.dialects.sentry.event`), grouped by Sentry's fingerprint
  rules (`server.dialects.sentry.grouping`);
- `transaction` → one `transaction` event with its spans; a `span` container (streamed spans) →
  a `transaction` event per segment span and a `span` event per other span
  (`server.dialects.sentry.spans`);
- `check_in` → one `check_in` event, which feeds the monitors (`server.dialects.sentry.checkin`);
- `log` → one `log` event per record; `session` and `sessions` → `sentry.session(s)` metrics;
  `client_report` → `sentry.client_report.discarded_events` metrics
  (`server.dialects.sentry.telemetry`);
- `attachment` → its filename, type and size in the context of the envelope's error or
  transaction; its content is not stored.

Any other type is skipped, and so is an item Relay would drop (a payload that is not a JSON
object, a check-in without a slug): the envelope is still accepted. Nothing here logs, reads,
writes or counts.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson

from ingestd.v1 import event_pb2
from server.dialects.common import fill_struct
from server.dialects.sentry import checkin, event, spans, telemetry
from server.dialects.sentry.answers import refused
from server.dialects.sentry.envelope import Envelope, Item, event_id
from server.dialects.sentry.fields import JsonObject, text

#: Items that belong to an event: an envelope holding one has an event id.
_EVENT_BOUND = frozenset({"event", "transaction", "attachment"})


@dataclass(slots=True)
class Translated:
    """The events of a body, and what the answer and the log line say about it."""

    events: list[event_pb2.Event] = field(default_factory=list)
    #: The id the answer names (`{"id": …}`); None for an envelope without an event.
    event_id: str | None = None
    #: Items skipped, by type or by why they were dropped.
    skipped: Counter[str] = field(default_factory=Counter)


def translate(envelope: Envelope, fallback_event_id: str) -> Translated:
    """The events of an envelope's items. `fallback_event_id` (32 hex digits) is the event id of
    an error or transaction that names none, where the envelope header names none either."""
    out = Translated()
    header_id = envelope.event_id
    attachments: list[JsonObject] = []
    owner: event_pb2.Event | None = None
    for item in envelope.items:
        kind = item.type
        if kind in _EVENT_BOUND and out.event_id is None:
            out.event_id = header_id or fallback_event_id
        if kind == "attachment":
            attachments.append(_attachment(item))
            continue
        handler = _HANDLERS.get(kind)
        if handler is None:
            out.skipped[kind[:40]] += 1
            continue
        payload = _json_object(item.payload)
        if payload is None:
            out.skipped[f"{kind}: not a JSON object"] += 1
            continue
        made = handler(payload, item, out.event_id or header_id or fallback_event_id)
        if isinstance(made, str):
            out.skipped[made] += 1
            continue
        if kind in ("event", "transaction") and made:
            owner = made[0]
            out.event_id = owner.idempotency_key
        out.events.extend(made)
    if attachments and owner is not None:
        fill_struct(owner.context, {"attachments": attachments})
    elif attachments:
        out.skipped["attachment without an event"] += len(attachments)
    return out


def store_body(data: bytes, fallback_event_id: str) -> Translated:
    """The legacy store endpoint's body: one JSON event, a transaction when its `type` says so.

    Raises:
        Answer: 400 `invalid JSON data` when the body is not a JSON object.
    """
    payload = _json_object(data)
    if payload is None:
        raise refused(400, "invalid JSON data", why="the store body is not a JSON object")
    own_id = event_id(payload.get("event_id")) or fallback_event_id
    if payload.get("type") == "transaction":
        made = event.transaction(payload, own_id)
    else:
        made = event.error(payload, own_id)
    return Translated([made], own_id)


# One handler per item type: (payload, item, event id) → events, or why the item was dropped.


def _event(payload: JsonObject, item: Item, envelope_id: str) -> list[event_pb2.Event]:
    return [event.error(payload, event_id(payload.get("event_id")) or envelope_id)]


def _transaction(payload: JsonObject, item: Item, envelope_id: str) -> list[event_pb2.Event]:
    return [event.transaction(payload, event_id(payload.get("event_id")) or envelope_id)]


def _check_in(payload: JsonObject, item: Item, envelope_id: str) -> list[event_pb2.Event] | str:
    made = checkin.check_in(payload)
    return made if isinstance(made, str) else [made]


def _session(payload: JsonObject, item: Item, envelope_id: str) -> list[event_pb2.Event] | str:
    made = telemetry.session(payload)
    return made if isinstance(made, str) else [made]


def _sessions(payload: JsonObject, item: Item, envelope_id: str) -> list[event_pb2.Event]:
    return telemetry.sessions(payload, telemetry.payload_key("sessions", item.payload))


def _client_report(payload: JsonObject, item: Item, envelope_id: str) -> list[event_pb2.Event]:
    return telemetry.client_report(payload, telemetry.payload_key("client_report", item.payload))


def _log(payload: JsonObject, item: Item, envelope_id: str) -> list[event_pb2.Event]:
    return telemetry.logs(payload, telemetry.payload_key("log", item.payload))


def _span(payload: JsonObject, item: Item, envelope_id: str) -> list[event_pb2.Event]:
    return spans.spans(payload)


_HANDLERS: dict[str, Any] = {
    "event": _event,
    "transaction": _transaction,
    "check_in": _check_in,
    "session": _session,
    "sessions": _sessions,
    "client_report": _client_report,
    "log": _log,
    "span": _span,
}


def _attachment(item: Item) -> JsonObject:
    headers = item.headers
    found = {
        "filename": text(headers.get("filename"), 1_000),
        "attachment_type": text(headers.get("attachment_type")),
        "content_type": text(headers.get("content_type")),
        "size": len(item.payload),
    }
    return {k: v for k, v in found.items() if v != ""}


def _json_object(data: bytes) -> JsonObject | None:
    """A payload's JSON object; None for anything else. Integers past 64 bits, which orjson
    refuses, are read as Python's json reads them."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        try:
            value = json.loads(data, parse_constant=_no_constant, parse_int=_big_int)
        except (ValueError, RecursionError):
            return None
    return value if isinstance(value, dict) else None


def _no_constant(name: str) -> object:
    raise ValueError(name)  # NaN and Infinity are not JSON


def _big_int(digits: str) -> float | str:
    # Only integers orjson refused get here: past 64 bits, a double is what storage holds.
    number = float(digits)
    return number if math.isfinite(number) else digits
