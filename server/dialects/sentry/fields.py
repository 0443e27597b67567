"""Reading Sentry's loosely typed JSON leniently, as Relay does: a value of the wrong type is
dropped, not refused, and what ingestd cannot store whole is cut to fit (docs/vendors/sentry.md §5).
Pure helpers of the translator."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
from google.protobuf import timestamp_pb2

from ingestd.v1 import event_pb2
from server.dialects.common import nests_deeper
from server.normalize import (
    MAX_MESSAGE_CHARS,
    MAX_SHORT_CHARS,
    MAX_TAG_VALUE_CHARS,
    MAX_TAGS,
    valid_timestamp,
)

E = event_pb2

#: A JSON object as orjson parses it.
JsonObject = dict[str, Any]

#: How deep a free-form value may nest once stored (a Struct past ~30 levels cannot be read back);
#: a deeper one is kept as its JSON text.
MAX_DEPTH = 16
#: The longest free-form string kept in a frame's `vars` or a user attribute.
MAX_VALUE_CHARS = 1_024

LEVELS: dict[str, int] = {
    "fatal": E.LEVEL_FATAL,
    "critical": E.LEVEL_FATAL,
    "error": E.LEVEL_ERROR,
    "warning": E.LEVEL_WARNING,
    "warn": E.LEVEL_WARNING,
    "info": E.LEVEL_INFO,
    "log": E.LEVEL_INFO,
    "debug": E.LEVEL_DEBUG,
    "trace": E.LEVEL_TRACE,
}


def obj(value: object) -> JsonObject:
    """`value` if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def values(value: object) -> list[Any]:
    """The entries of a Sentry list interface: `{"values": [...]}` or a bare array."""
    if isinstance(value, dict):
        value = value.get("values")
    return value if isinstance(value, list) else []


def text(value: object, limit: int = MAX_SHORT_CHARS) -> str:
    """A string (numbers and booleans rendered as JSON does) cut to `limit` characters; "" for
    anything else."""
    if isinstance(value, str):
        out = value
    elif isinstance(value, bool):
        out = "true" if value else "false"
    elif isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
        out = str(value)
    else:
        return ""
    return out[:limit]


def message_text(value: object) -> str:
    return text(value, MAX_MESSAGE_CHARS)


def rendered(value: object, limit: int = MAX_VALUE_CHARS) -> str:
    """Any JSON value as a string: strings as they are, anything else as its JSON text."""
    if isinstance(value, str):
        return value[:limit]
    return _json_text(value)[:limit]


def number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def timestamp(value: object) -> timestamp_pb2.Timestamp | None:
    """A Sentry timestamp: Unix seconds as a number (JavaScript) or an RFC 3339 string (Python);
    None when absent, unreadable or out of range."""
    moment = seconds(value)
    if moment is None:
        return None
    out = timestamp_pb2.Timestamp()
    whole = math.floor(moment)
    out.seconds = whole
    out.nanos = min(int(round((moment - whole) * 1e6)) * 1000, 999_999_000)
    return out if valid_timestamp(out) else None


def seconds(value: object) -> float | None:
    """A Sentry timestamp as Unix seconds."""
    given = number(value)
    if given is not None:
        return given
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def duration_ms(start: object, end: object) -> float:
    """The milliseconds between two Sentry timestamps; 0 when either is unreadable or the end
    precedes the start."""
    began, ended = seconds(start), seconds(end)
    if began is None or ended is None or ended < began:
        return 0.0
    return (ended - began) * 1000


def span_times(span: event_pb2.SpanBody, start: object, end: object) -> None:
    """Sets a span's `start_time` and `end_time` from Sentry timestamps that are readable."""
    for field, moment in (("start_time", start), ("end_time", end)):
        stamp = timestamp(moment)
        if stamp is not None:
            getattr(span, field).CopyFrom(stamp)


def typed_attributes(value: object) -> JsonObject:
    """Sentry's typed attributes (`{"name": {"value": …, "type": …}}`, logs and streamed spans) as
    plain values ingestd can store; a bare value is taken as it is."""
    return {
        name: storable(obj(given).get("value")) if isinstance(given, dict) else storable(given)
        for name, given in obj(value).items()
    }


def tags(value: object) -> dict[str, str]:
    """Sentry tags, an object or `[[key, value], …]`, as strings; entries ingestd could not store
    (an empty or overlong key, a null value, past 128) are left out, overlong values cut."""
    pairs: Iterable[Any]
    if isinstance(value, dict):
        pairs = value.items()
    elif isinstance(value, list):
        pairs = (p for p in value if isinstance(p, list) and len(p) == 2)
    else:
        return {}
    out: dict[str, str] = {}
    for key, raw in pairs:
        shown = text(raw, MAX_TAG_VALUE_CHARS)
        if isinstance(key, str) and 0 < len(key) <= MAX_SHORT_CHARS and (shown or raw == ""):
            out[key] = shown
            if len(out) == MAX_TAGS:
                break
    return out


def add_tags(event: event_pb2.Event, more: Mapping[str, str]) -> None:
    """Adds tags the event lacks, up to the 128 ingestd stores."""
    for key, value in more.items():
        if len(event.tags) >= MAX_TAGS:
            return
        if value and key not in event.tags:
            event.tags[key] = value[:MAX_TAG_VALUE_CHARS]


def storable(value: Any, depth: int = MAX_DEPTH) -> Any:
    """A free-form JSON value as ingestd can store it in a Struct: as it is where it nests at most
    `depth` levels, else with what lies deeper kept as its JSON text."""
    if not isinstance(value, dict | list) or not nests_deeper(value, depth):
        return value
    if depth <= 1:
        return _json_text(value)[:MAX_MESSAGE_CHARS]
    if isinstance(value, dict):
        return {k: storable(v, depth - 1) for k, v in value.items()}
    return [storable(v, depth - 1) for v in value]


def _json_text(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:  # nested past orjson's 254 levels, or an integer past 64 bits
        return "<not representable>"


def user(event: event_pb2.Event, value: object) -> None:
    """Sentry's `user` interface: `id`, `email`, `username` and `ip_address`, anything else as an
    attribute (rendered as text)."""
    for key, raw in obj(value).items():
        if raw is None:
            continue
        if key in ("id", "email", "username", "ip_address"):
            setattr(event.user, key, text(raw))
        elif isinstance(key, str) and key:
            event.user.attributes[key[:MAX_SHORT_CHARS]] = rendered(raw)
