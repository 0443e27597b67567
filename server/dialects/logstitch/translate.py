"""LogStitch's audit events (docs/vendors/logstitch.md §5): the JSON body of `POST /api/v1/events`
translated to canonical `KIND_AUDIT` events. `server.dialects.logstitch.query` renders them back
for the list.

Pure: nothing here logs, reads, writes or counts (see `server.dialects.base`).

Validation follows LogStitch's documented (Zod) schema, all or nothing: one invalid event refuses
the whole request, as a Zod parse of the body would. Choices where the documents are silent:
- A detail's `field` is the Zod path joined the JavaScript way: `action` and `actor.id` for a single
  event, `[2].actor.id` for the third event of an array, `changes[0].field` inside an event, and
  `""` for the body itself (not an object or array, empty, more than 100 events).
- Messages are Zod v3's defaults (`Required`, `Expected string, received number`, `Invalid enum
  value. Expected 'user' | …, received 'x'`), except the action pattern's, which says what it wants.
- Unknown keys are dropped, as Zod strips them. `null` counts as absent for optional fields.
- `occurred_at` is ISO 8601 with a time (`2024-05-01T12:00:00Z`, an offset, or none: UTC).
- `idempotency_key` holds at most 190 characters: it is stored as `logstitch:<key>`, and the
  canonical key holds 200.
- `metadata`, `before` and `after` nest at most 16 levels: protobuf refuses to decode deeper
  `Struct`s than about 32, so a deeper one could be stored but never read back.
- JSON numbers in `metadata`, `before` and `after` are doubles (`google.protobuf.Value`): integers
  beyond 2^53 lose precision. Integral values read back as integers.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from google.protobuf import struct_pb2

from ingestd.v1 import event_pb2
from server.dialects.common import fill_struct, zod_expected
from server.dialects.logstitch.common import Detail, validation_error

E = event_pb2

MAX_EVENTS = 100
#: What a LogStitch idempotency key is prefixed with in `Event.idempotency_key`.
IDEMPOTENCY_PREFIX = "logstitch:"
MAX_IDEMPOTENCY_KEY_CHARS = 200 - len(IDEMPOTENCY_PREFIX)
MAX_DEPTH = 16
CATEGORIES = ("auth", "access", "mutation", "admin", "security", "system")
ACTOR_TYPES = ("user", "api_key", "service", "system")
EVENT_ID_PREFIX = "evt_"

ACTION = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?")
_EMAIL = re.compile(r"[^\s@]+@[^\s@]+\.[^\s@]+")
_UUID_HEX = re.compile(r"[0-9a-f]{32}")
_ACTION_MESSAGE = "Must be dot-separated lowercase segments, such as user.login"


def to_events(body: object) -> list[event_pb2.Event]:
    """The canonical events of a parsed request body: one event object, or an array of 1 to 100.

    Raises:
        Answer: 400 `validation_error`: anything in the body breaks the schema; every problem is
            listed.
    """
    if isinstance(body, dict):
        items, prefixes = [body], [""]
    elif isinstance(body, list):
        if not body:
            raise validation_error([("", "Array must contain at least 1 element(s)")])
        if len(body) > MAX_EVENTS:
            raise validation_error([("", f"Array must contain at most {MAX_EVENTS} element(s)")])
        items, prefixes = body, [f"[{i}]." for i in range(len(body))]
    else:
        raise validation_error([("", _expected("object or array", body))])
    details: list[Detail] = []
    events: list[event_pb2.Event] = []
    for item, prefix in zip(items, prefixes, strict=True):
        found: list[Detail] = []
        event = _event(item, prefix, found)
        details.extend(found)
        if event is not None and not found:
            events.append(event)
    if details:
        raise validation_error(details)
    return events


def vendor_field(index: int | None, canonical_field: str) -> str:
    """The LogStitch path of a canonical field the ingest domain refused (`message` is the action)."""
    name = {"message": "action", "event": ""}.get(canonical_field, canonical_field.removeprefix("audit."))
    prefix = "" if index is None else f"[{index}]"
    return f"{prefix}.{name}" if prefix and name else prefix + name


def vendor_id(event_id: str) -> str:
    """`evt_` and the event's UUIDv7 without dashes: `evt_0190b2c4…`."""
    return EVENT_ID_PREFIX + event_id.replace("-", "")


def event_id_of(vendor: str) -> str | None:
    """The stored event id a LogStitch id names, or None when it is not one of ours."""
    raw = vendor.removeprefix(EVENT_ID_PREFIX)
    if len(vendor) == len(raw) or not _UUID_HEX.fullmatch(raw):
        return None
    return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"


def parse_datetime(text: str) -> datetime | None:
    """An ISO 8601 date and time (`Z`, an offset, or none meaning UTC) in UTC, or None, also when
    it lies outside the years 1 to 9999 in UTC."""
    if not _DATETIME.fullmatch(text):
        return None
    try:
        parsed = datetime.fromisoformat(text)
        return parsed.astimezone(UTC) if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        return None


# --- Validation -------------------------------------------------------------------------------


def _event(item: object, at: str, found: list[Detail]) -> event_pb2.Event | None:
    if not isinstance(item, dict):
        found.append((at.rstrip("."), _expected("object", item)))
        return None
    event = E.Event(kind=E.KIND_AUDIT)
    audit = event.audit
    action = _string(item, "action", at, found, required=True)
    if action is not None:
        if ACTION.fullmatch(action):
            audit.action = event.message = action
        else:
            found.append((at + "action", _ACTION_MESSAGE))
    category = _string(item, "category", at, found, required=True)
    if category is not None and _one_of(category, CATEGORIES, at + "category", found):
        audit.category = category
    actor = _object(item, "actor", at, found, required=True)
    if actor is not None:
        where = at + "actor."
        audit.actor.id = _string(actor, "id", where, found, required=True, min_chars=1) or ""
        actor_type = _string(actor, "type", where, found, required=True)
        if actor_type is not None and _one_of(actor_type, ACTOR_TYPES, where + "type", found):
            audit.actor.type = actor_type
        audit.actor.name = _string(actor, "name", where, found) or ""
        email = _string(actor, "email", where, found)
        if email is not None and not _EMAIL.fullmatch(email):
            found.append((where + "email", "Invalid email"))
        audit.actor.email = email or ""
    audit.tenant_id = _string(item, "tenant_id", at, found, required=True, min_chars=1) or ""
    target = _object(item, "target", at, found)
    if target is not None:
        where = at + "target."
        audit.target.id = _string(target, "id", where, found, required=True, min_chars=1) or ""
        audit.target.type = _string(target, "type", where, found, required=True, min_chars=1) or ""
        audit.target.name = _string(target, "name", where, found) or ""
    context = _object(item, "context", at, found)
    if context is not None:
        where = at + "context."
        c = audit.context
        c.SetInParent()
        c.ip_address = _string(context, "ip_address", where, found) or ""
        c.user_agent = _string(context, "user_agent", where, found) or ""
        c.location = _string(context, "location", where, found) or ""
        c.session_id = _string(context, "session_id", where, found) or ""
    metadata = _object(item, "metadata", at, found)
    if metadata is not None and _shallow(metadata, at + "metadata", found):
        audit.metadata.SetInParent()  # an empty object is kept as sent
        fill_struct(audit.metadata, metadata)
    _changes(item, audit, at, found)
    key = _string(item, "idempotency_key", at, found, min_chars=1)
    if key is not None:
        if len(key) > MAX_IDEMPOTENCY_KEY_CHARS:
            found.append(
                (
                    at + "idempotency_key",
                    f"String must contain at most {MAX_IDEMPOTENCY_KEY_CHARS} character(s)",
                )
            )
        elif "\x00" in key:
            found.append((at + "idempotency_key", "Must not contain NUL characters"))
        else:
            event.idempotency_key = IDEMPOTENCY_PREFIX + key
    occurred = _string(item, "occurred_at", at, found)
    if occurred is not None:
        moment = parse_datetime(occurred)
        if moment is None:
            found.append((at + "occurred_at", "Invalid datetime"))
        else:
            event.occurred_at.FromDatetime(moment)
    return event


def _changes(item: dict[str, Any], audit: event_pb2.AuditBody, at: str, found: list[Detail]) -> None:
    changes = item.get("changes")
    if changes is None:
        return
    if not isinstance(changes, list):
        found.append((at + "changes", _expected("array", changes)))
        return
    for index, change in enumerate(changes):
        where = f"{at}changes[{index}]"
        if not isinstance(change, dict):
            found.append((where, _expected("object", change)))
            continue
        added = audit.changes.add(field=_string(change, "field", where + ".", found, required=True) or "")
        for side in ("before", "after"):
            if side in change and _shallow(change[side], f"{where}.{side}", found):
                _to_value(added.before if side == "before" else added.after, change[side])


def _string(
    obj: dict[str, Any],
    name: str,
    at: str,
    found: list[Detail],
    *,
    required: bool = False,
    min_chars: int = 0,
) -> str | None:
    value = obj.get(name)
    if value is None:
        if required:
            found.append((at + name, "Required"))
        return None
    if not isinstance(value, str):
        found.append((at + name, _expected("string", value)))
        return None
    if len(value) < min_chars:
        found.append((at + name, f"String must contain at least {min_chars} character(s)"))
        return None
    return value


def _object(
    obj: dict[str, Any], name: str, at: str, found: list[Detail], *, required: bool = False
) -> dict[str, Any] | None:
    value = obj.get(name)
    if value is None:
        if required:
            found.append((at + name, "Required"))
        return None
    if not isinstance(value, dict):
        found.append((at + name, _expected("object", value)))
        return None
    return value


def _one_of(value: str, allowed: tuple[str, ...], where: str, found: list[Detail]) -> bool:
    if value in allowed:
        return True
    expected = " | ".join(f"'{a}'" for a in allowed)
    found.append((where, f"Invalid enum value. Expected {expected}, received '{value}'"))
    return False


def _shallow(value: object, where: str, found: list[Detail]) -> bool:
    """Whether `value` nests at most MAX_DEPTH arrays and objects; records a detail if not."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > MAX_DEPTH:
            found.append((where, f"Nested deeper than {MAX_DEPTH} levels"))
            return False
        stack.extend((child, depth + 1) for child in children)
    return True


# --- JSON values to google.protobuf.Value ------------------------------------------------------


def _to_value(target: struct_pb2.Value, value: object) -> None:
    if value is None:
        target.null_value = struct_pb2.NULL_VALUE
    elif isinstance(value, bool):
        target.bool_value = value
    elif isinstance(value, int | float):
        target.number_value = value
    elif isinstance(value, str):
        target.string_value = value
    elif isinstance(value, dict):
        target.struct_value.SetInParent()  # `{}` too is a value
        fill_struct(target.struct_value, value)
    else:
        assert isinstance(value, list)
        target.list_value.SetInParent()
        target.list_value.extend(value)


# Shared with the other dialects (server/dialects/common.py).
_expected = zod_expected
