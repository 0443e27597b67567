"""LogStitch's `GET /api/v1/events` (docs/vendors/logstitch.md §6): its query parameters checked,
a page of the project's audit events found newest first, and each rendered as the LogStitch event
object the client sent.

The audit filters (tenant, actor, target, action, category, search) are not indexed columns: the
project's `KIND_AUDIT` events are read newest first in chunks, decoded and matched here. Only the
kind, the time range and (as a coarse pre-filter for `action`) the message are filtered in SQL.
One request reads at most `server.queries.MAX_SCANNED` events (an `EventScan`); when it stops
there the page may be short (even empty) and `has_more` is true, with a cursor after the last
event read, so every request costs a bounded amount however rare the matches are.

A cursor is URL-safe base64 (unpadded) of the id of the last event the page covered; events are
immutable and ids increase, so a cursor stays valid and pages never overlap. `start_date` and
`end_date` are both inclusive.

A listed event is the event as sent (unknown keys dropped, `occurred_at` always present, in UTC
with milliseconds (§8), an empty `changes` array omitted) plus `id`, `received_at` and `content_hash`:
the SHA-256 hex of that event as sent, as JSON with sorted keys, no whitespace, UTF-8.
"""

from __future__ import annotations

import hashlib
import re
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

import orjson
from google.protobuf import struct_pb2

from ingestd.compat.logstitch.v1 import logstitch_service_pb2 as pb
from ingestd.v1 import event_pb2
from server.dialects.logstitch.common import INVALID_QUERY, Detail, timestamp, validation_error
from server.dialects.logstitch.pages import Page, encode_cursor, read_cursor
from server.dialects.logstitch.translate import ACTOR_TYPES, CATEGORIES, IDEMPOTENCY_PREFIX, vendor_id
from server.dialects.logstitch.validation import DEFAULT_LIMIT, read_date_us, read_limit
from server.queries import EventFilter, EventQueries

#: What an event id looks like (a UUIDv7), as a cursor must carry one.
EVENT_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass(frozen=True, slots=True)
class EventQuery:
    """The checked parameters of one list request. Empty strings match everything."""

    tenant_id: str = ""
    actor_id: str = ""
    actor_type: str = ""
    action: str = ""
    category: str = ""
    target_id: str = ""
    target_type: str = ""
    #: Lower-cased.
    search: str = ""
    start_us: int | None = None
    #: Inclusive.
    end_us: int | None = None
    before_id: str | None = None
    limit: int = DEFAULT_LIMIT

    def matches(self, event: event_pb2.Event) -> bool:
        """Whether a stored audit event passes the filters the database did not apply."""
        audit = event.audit
        actor, target = audit.actor, audit.target
        if (
            (self.tenant_id and audit.tenant_id != self.tenant_id)
            or (self.action and audit.action != self.action)
            or (self.category and audit.category != self.category)
            or (self.actor_id and actor.id != self.actor_id)
            or (self.actor_type and actor.type != self.actor_type)
            or (self.target_id and target.id != self.target_id)
            or (self.target_type and target.type != self.target_type)
        ):
            return False
        if not self.search:
            return True
        searched = (audit.action, audit.tenant_id, actor.id, actor.name, actor.email)
        return any(self.search in text.lower() for text in (*searched, target.id, target.type, target.name))


def parse_query(request: pb.ListEventsRequest) -> EventQuery:
    """The query of a list request.

    Raises:
        Answer: 400 `validation_error`: a parameter is malformed (`limit`, a date, an enum value,
            `cursor`); all are listed.
    """
    found: list[Detail] = []
    limit = read_limit(request.limit, found)
    start_us = read_date_us(request.start_date, "start_date", found)
    end_us = read_date_us(request.end_date, "end_date", found)
    for name, allowed in (("category", CATEGORIES), ("actor_type", ACTOR_TYPES)):
        value = getattr(request, name)
        if value and value not in allowed:
            expected = " | ".join(f"'{a}'" for a in allowed)
            found.append((name, f"Invalid enum value. Expected {expected}, received '{value}'"))
    before = read_cursor(request.cursor, EVENT_ID, found)
    if found:
        raise validation_error(found, INVALID_QUERY)
    return EventQuery(
        tenant_id=request.tenant_id,
        actor_id=request.actor_id,
        actor_type=request.actor_type,
        action=request.action,
        category=request.category,
        target_id=request.target_id,
        target_type=request.target_type,
        search=request.search.lower(),
        start_us=start_us,
        end_us=end_us,
        before_id=before,
        limit=limit,
    )


async def list_page(queries: EventQueries, project: str, query: EventQuery) -> Page[event_pb2.Event]:
    """The page of `project`'s audit events that `query` asks for, newest first."""
    where = EventFilter(
        kind=event_pb2.KIND_AUDIT,
        start_us=query.start_us,
        end_us=None if query.end_us is None else query.end_us + 1,
        # The message is the action: a substring match in SQL narrows what is decoded.
        text=query.action,
    )
    matched: list[event_pb2.Event] = []
    scan = queries.scan(project, where, query.before_id)
    async with aclosing(scan.events()) as events:
        async for event in events:
            if query.matches(event):
                matched.append(event)
                if len(matched) > query.limit:
                    return Page(matched[: query.limit], encode_cursor(matched[query.limit - 1].id), True)
    if not scan.capped:
        return Page(matched, None, False)
    assert scan.last_id is not None
    return Page(matched, encode_cursor(scan.last_id), True)


def as_sent(event: event_pb2.Event) -> dict[str, Any]:
    """The LogStitch event object of a stored audit event: the fields the client sent (unknown
    keys dropped, `occurred_at` normalized to UTC, always present)."""
    audit = event.audit
    actor = audit.actor
    out: dict[str, Any] = {
        "action": audit.action,
        "category": audit.category,
        "actor": _compact({"id": actor.id, "type": actor.type, "name": actor.name, "email": actor.email}),
    }
    if audit.HasField("target"):
        target = audit.target
        out["target"] = _compact({"id": target.id, "type": target.type, "name": target.name})
    out["tenant_id"] = audit.tenant_id
    if audit.HasField("context"):
        c = audit.context
        out["context"] = _compact(
            {
                "ip_address": c.ip_address,
                "user_agent": c.user_agent,
                "location": c.location,
                "session_id": c.session_id,
            }
        )
    if audit.HasField("metadata"):
        out["metadata"] = _from_struct(audit.metadata)
    if audit.changes:
        changes = []
        for change in audit.changes:
            item: dict[str, Any] = {"field": change.field}
            if change.HasField("before"):
                item["before"] = _from_value(change.before)
            if change.HasField("after"):
                item["after"] = _from_value(change.after)
            changes.append(item)
        out["changes"] = changes
    if event.idempotency_key.startswith(IDEMPOTENCY_PREFIX):
        out["idempotency_key"] = event.idempotency_key[len(IDEMPOTENCY_PREFIX) :]
    out["occurred_at"] = timestamp(event.occurred_at)
    return out


def content_hash(sent: dict[str, Any]) -> str:
    """SHA-256 (hex) of the event as sent in canonical JSON: keys sorted, no whitespace, UTF-8."""
    return hashlib.sha256(orjson.dumps(sent, option=orjson.OPT_SORT_KEYS)).hexdigest()


def listed(event: event_pb2.Event) -> dict[str, Any]:
    """The object `GET /api/v1/events` lists: the event as sent, its id, hash and receive time."""
    sent = as_sent(event)
    return {
        **sent,
        "id": vendor_id(event.id),
        "content_hash": content_hash(sent),
        "received_at": timestamp(event.received_at),
    }


def _from_value(value: struct_pb2.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "struct_value":
        return _from_struct(value.struct_value)
    if kind == "list_value":
        return [_from_value(v) for v in value.list_value.values]
    if kind == "number_value":
        number = value.number_value
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    return None


def _from_struct(struct: struct_pb2.Struct) -> dict[str, Any]:
    fields = struct.fields
    return {key: _from_value(fields[key]) for key in sorted(fields)}


def _compact(values: dict[str, str]) -> dict[str, str]:
    # Proto3 strings cannot tell "absent" from "": an empty optional field was not sent.
    return {k: v for k, v in values.items() if v}
