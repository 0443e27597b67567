"""SimpleLogs' enqueue payload (docs/vendors/simplelogs.md §3-§5) → canonical events. Pure.

Three steps, in the order the servicer runs them around authentication, and a fourth for pairs
that span requests:

1. `parse_json(data)`: the body as JSON, whatever its Content-Type (browser beacons send
   `text/plain;charset=UTF-8`). Bytes are decoded the way Fetch's `Body.json()` does it: a leading
   UTF-8 BOM is dropped and invalid UTF-8 becomes U+FFFD, so only a body that is not JSON fails.
2. `validate(doc, max_entries=…)`: the schema, checked as SimpleLogs' Zod schema would, refused
   with the vendor's 422 body: Zod `flatten()`, in which every issue is filed under the top-level
   field it lies in (`entries[3].level` → `entries`), and problems of the document itself under
   `formErrors`. Unknown keys are ignored (Zod strips them); `null` is not an absent value. `key`
   may be absent or empty here: a missing key is the 401 of the authentication step.
3. `to_events(enqueue)`: log entries → `KIND_LOG`; timing entries → `KIND_TIMING`, with the starts
   and ends of one request paired into one measurement. What the vendor says "may be dropped
   during processing" is dropped here: entries whose times lie outside 0001–9999 or whose metadata
   nests deeper than `MAX_METADATA_DEPTH`. The starts and ends the request leaves open are listed
   (`Translation.starts`, `Translation.ends`) for pairing with other requests.
4. `closing(translation, closed)`: the events once the open ends have met the starts that earlier
   requests left open (`server.timings`): each end that closed one becomes the measurement of
   the pair.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from google.protobuf import timestamp_pb2

from ingestd.v1 import event_pb2
from server.dialects.answer import Answer
from server.dialects.common import fill_struct, nests_deeper, zod_type

E = event_pb2

SOURCES = ("server", "client")
#: The documented levels and their normalized form.
LEVELS: dict[str, int] = {
    "info": E.LEVEL_INFO,
    "warn": E.LEVEL_WARNING,
    "error": E.LEVEL_ERROR,
    "debug": E.LEVEL_DEBUG,
}
#: How deep an entry's metadata may nest (objects and arrays) before the entry is dropped: deeper
#: structures would approach protobuf's recursion limit when the stored event is read back.
MAX_METADATA_DEPTH = 16
#: The 422 body's message (docs/vendors/simplelogs.md §4).
INVALID_MESSAGE = "Invalid enqueue payload"

# The instants a google.protobuf.Timestamp can hold, in ms: 0001-01-01 to 9999-12-31.
_MIN_MS = -62_135_596_800_000
_MAX_MS = 253_402_300_799_999
_BOM = b"\xef\xbb\xbf"

Doc = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Enqueue:
    """A payload that passed the schema. `key` is "" when none was sent; `entries` are the
    validated entry objects as sent."""

    key: str
    source: str
    timestamp: float | None
    entries: list[Doc]


@dataclass(frozen=True, slots=True)
class OpenStart:
    """A timing start that no end of its request closed: an end in a later request may close it
    (`server.timings.OpenStart`). `key` and `touchpoint` are "" when absent; `payload` is what
    that end needs (`closing`)."""

    key: str
    touchpoint: str
    started_us: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class OpenEnd:
    """A timing end (an entry with `endTime`) that closed no start of its request: it may close a
    start that an earlier request left open (`server.timings.OpenEnd`). `index` is its event's
    place in `Translation.events`; `source` and `batch_ms` are its request's."""

    key: str
    touchpoint: str
    index: int
    entry: Doc
    source: str
    batch_ms: float | None


@dataclass(frozen=True, slots=True)
class Translation:
    """The events of a payload, in entry order, and the entries dropped as (index, why). `starts`
    and `ends` are the timing entries the request left open that another request's could close,
    in entry order: starts and ends with a `key` or a `touchpoint`."""

    events: list[event_pb2.Event]
    dropped: list[tuple[int, str]]
    starts: list[OpenStart]
    ends: list[OpenEnd]


def parse_json(data: bytes) -> object:
    """The body as JSON.

    Raises:
        Answer: 400 `{"message":"Invalid JSON"}`, the body is empty or not JSON.
    """
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        pass
    try:
        # Invalid UTF-8 is replaced, not refused, by the vendor's text decoding.
        return orjson.loads(data.decode("utf-8", errors="replace"))
    except orjson.JSONDecodeError:
        raise Answer(400, {"message": "Invalid JSON"}, detail="not JSON") from None


# ---- the schema -------------------------------------------------------------------------------


def _number(value: object) -> str | None:
    return None if _type_name(value) == "number" else f"Expected number, received {_type_name(value)}"


def _string(value: object) -> str | None:
    return None if isinstance(value, str) else f"Expected string, received {_type_name(value)}"


def _boolean(value: object) -> str | None:
    return None if isinstance(value, bool) else f"Expected boolean, received {_type_name(value)}"


def _record(value: object) -> str | None:
    return None if isinstance(value, dict) else f"Expected object, received {_type_name(value)}"


def _enum(*options: str) -> Callable[[object], str | None]:
    expected = " | ".join(f"'{o}'" for o in options)

    def check(value: object) -> str | None:
        if not isinstance(value, str):
            return f"Expected {expected}, received {_type_name(value)}"
        if value not in options:
            return f"Invalid enum value. Expected {expected}, received '{value}'"
        return None

    return check


_SOURCE = _enum(*SOURCES)

#: The entry schema, in the order Zod reports its issues. Every field is optional.
_ENTRY: tuple[tuple[str, Callable[[object], str | None]], ...] = (
    ("touchpoint", _string),
    ("key", _string),
    ("message", _string),
    ("level", _enum(*LEVELS)),
    ("timestamp", _number),
    ("startTime", _number),
    ("endTime", _number),
    ("duration", _number),
    ("metadata", _record),
    ("source", _SOURCE),
    ("standalone", _boolean),
)


def _entry_issues(entry: object) -> list[str]:
    if not isinstance(entry, dict):
        return [f"Expected object, received {_type_name(entry)}"]
    issues = []
    for name, check in _ENTRY:
        if name in entry:
            issue = check(entry[name])
            if issue is not None:
                issues.append(issue)
    return issues


def validate(doc: object, *, max_entries: int) -> Enqueue:
    """Checks `doc` against the enqueue schema: `{key?: string, source: 'server' | 'client',
    timestamp?: number, entries: Entry[]}` with 1 to `max_entries` entries.

    Raises:
        Answer: 422 `{"message":"Invalid enqueue payload","errors":{…}}`, Zod's `flatten()`.
    """
    if not isinstance(doc, dict):
        raise _invalid({}, [f"Expected object, received {_type_name(doc)}"])
    fields: dict[str, list[str]] = {}

    def add(name: str, issue: str | None) -> None:
        if issue is not None:
            fields.setdefault(name, []).append(issue)

    if "key" in doc:
        add("key", _string(doc["key"]))
    add("source", _SOURCE(doc["source"]) if "source" in doc else "Required")
    if "timestamp" in doc:
        add("timestamp", _number(doc["timestamp"]))
    entries = doc.get("entries")
    if "entries" not in doc:
        add("entries", "Required")
    elif not isinstance(entries, list):
        add("entries", f"Expected array, received {_type_name(entries)}")
    else:
        if not entries:
            add("entries", "Array must contain at least 1 element(s)")
        if len(entries) > max_entries:
            add("entries", f"Array must contain at most {max_entries} element(s)")
        for entry in entries:
            for issue in _entry_issues(entry):
                add("entries", issue)
    if fields:
        raise _invalid(fields, [])
    return Enqueue(doc.get("key") or "", doc["source"], doc.get("timestamp"), entries)  # type: ignore[arg-type]


def _invalid(field_errors: dict[str, list[str]], form_errors: list[str]) -> Answer:
    body = {"message": INVALID_MESSAGE, "errors": {"fieldErrors": field_errors, "formErrors": form_errors}}
    # The log names the fields only: the issues may quote the sender's own values.
    return Answer(422, body, detail="schema: " + (", ".join(field_errors) or "the document"))


# ---- the translation --------------------------------------------------------------------------


def to_events(enqueue: Enqueue) -> Translation:
    """The canonical events of a validated payload.

    A timing entry is one with `startTime`, `endTime` or `duration`; any other is a log entry.
    Within the request, an entry with `endTime` closes the oldest pending start (an entry with
    `startTime` only) of the same `key`, else the oldest pending start of the same `touchpoint`
    whose key does not differ from its own; the pair becomes one measurement in the start's place.
    Starts nobody closes are stored as they are, with only their start, and listed in `starts`;
    ends that close none are stored as they are and listed in `ends` (see `closing`).

    When it happened (`occurred_at`): a log entry's `timestamp`, else the batch's; a measurement's
    `timestamp` (the start's, else the end's), else its `startTime`, else its `endTime`, else the
    batch's; and when none is known, ingestd's receive time. A batch `timestamp` outside
    0001–9999 is ignored. `origin` is the entry's `source`, else the request's (for a pair: the
    start's, else the end's).
    """
    dropped: list[tuple[int, str]] = []
    # One slot per event to be: a log entry, or the start and end entries of a measurement.
    slots: list[_Slot] = []
    starts = _PendingStarts()
    loose_ends: list[tuple[int, Doc]] = []  # the slots and entries of ends that closed no start
    for index, entry in enumerate(enqueue.entries):
        problem = _problem(entry)
        if problem is not None:
            dropped.append((index, problem))
        elif not ("startTime" in entry or "endTime" in entry or "duration" in entry):
            slots.append(_Slot(log=entry))
        elif "endTime" not in entry and "duration" not in entry:
            slot = _Slot(start=entry)
            starts.add(slot)
            slots.append(slot)
        elif "endTime" in entry and (opened := starts.close(entry)) is not None:
            opened.end = entry
        else:
            if "endTime" in entry:
                loose_ends.append((len(slots), entry))
            slots.append(_Slot(end=entry))
    source = enqueue.source
    batch_ms = enqueue.timestamp if _in_range(enqueue.timestamp) else None
    events = [
        _log(slot.log, source, batch_ms)
        if slot.log is not None
        else _timing(slot.start, slot.end, source, batch_ms)
        for slot in slots
    ]
    open_starts = [
        _open_start(slot.start, source) for slot in slots if slot.start is not None and slot.end is None
    ]
    open_ends = [_open_end(entry, i, source, batch_ms) for i, entry in loose_ends]
    return Translation(
        events,
        dropped,
        [s for s in open_starts if s.key or s.touchpoint],
        [e for e in open_ends if e.key or e.touchpoint],
    )


def closing(translation: Translation, closed: Sequence[bytes | None]) -> list[event_pb2.Event]:
    """`translation.events`, where each of `translation.ends` that closed a start of an earlier
    request (`closed[i]`, that start's `OpenStart.payload`, or None) is the measurement of the
    pair instead: made as a pair within one request is (`to_events`), the start's values under
    the end's, its duration `endTime - startTime` unless the end sends one."""
    events = list(translation.events)
    for end, payload in zip(translation.ends, closed, strict=True):
        if payload is not None:
            events[end.index] = _timing(orjson.loads(payload), end.entry, end.source, end.batch_ms)
    return events


def _open_start(entry: Doc, source: str) -> OpenStart:
    # Only the schema's fields, with the request's source made explicit: the end, in another
    # request, cannot know it.
    kept = {name: entry[name] for name, _ in _ENTRY if name in entry}
    kept.setdefault("source", source)
    started_us = round(entry["startTime"] * 1000)
    return OpenStart(entry.get("key") or "", entry.get("touchpoint") or "", started_us, orjson.dumps(kept))


def _open_end(entry: Doc, index: int, source: str, batch_ms: float | None) -> OpenEnd:
    return OpenEnd(entry.get("key") or "", entry.get("touchpoint") or "", index, entry, source, batch_ms)


@dataclass(slots=True)
class _Slot:
    log: Doc | None = None
    start: Doc | None = None
    end: Doc | None = None


class _PendingStarts:
    """The unclosed starts of a request, oldest first, indexed so that pairing n entries costs
    O(n): a closed start is skipped when it reaches the front of an index it is still in."""

    def __init__(self) -> None:
        self._by_key: dict[str, deque[_Slot]] = {}
        self._by_touchpoint: dict[str, deque[_Slot]] = {}
        self._unkeyed_by_touchpoint: dict[str, deque[_Slot]] = {}

    def add(self, slot: _Slot) -> None:
        start: Doc = slot.start  # type: ignore[assignment]
        key, touchpoint = start.get("key"), start.get("touchpoint")
        if key:
            self._by_key.setdefault(key, deque()).append(slot)
        if touchpoint:
            self._by_touchpoint.setdefault(touchpoint, deque()).append(slot)
            if not key:
                self._unkeyed_by_touchpoint.setdefault(touchpoint, deque()).append(slot)

    def close(self, end: Doc) -> _Slot | None:
        """The start `end` closes, now closed, or None."""
        key, touchpoint = end.get("key"), end.get("touchpoint")
        found = _first_open(self._by_key.get(key)) if key else None
        if found is None and touchpoint:
            # A keyed end may close only an unkeyed start: a start with another key is not its own.
            index = self._unkeyed_by_touchpoint if key else self._by_touchpoint
            found = _first_open(index.get(touchpoint))
        return found


def _first_open(queue: deque[_Slot] | None) -> _Slot | None:
    while queue:
        slot = queue.popleft()
        if slot.end is None:
            return slot
    return None


def _problem(entry: Doc) -> str | None:
    """Why an entry is dropped during processing, or None."""
    for name in ("timestamp", "startTime", "endTime"):
        if name in entry and not _in_range(entry[name]):
            return f"{name} is outside 0001-01-01 to 9999-12-31"
    metadata = entry.get("metadata")
    if metadata and _depth_exceeds(metadata, MAX_METADATA_DEPTH):
        return f"metadata nests deeper than {MAX_METADATA_DEPTH} levels"
    return None


def _log(entry: Doc, source: str, batch_ms: float | None) -> event_pb2.Event:
    event = E.Event(kind=E.KIND_LOG, origin=entry.get("source", source))
    body = event.log
    if "message" in entry:
        event.message = entry["message"]
    level = entry.get("level")
    if level is not None:
        event.level = LEVELS[level]  # type: ignore[assignment]
        body.level_text = level
    if "touchpoint" in entry:
        body.touchpoint = entry["touchpoint"]
    body.SetInParent()
    if entry.get("metadata"):
        fill_struct(body.metadata, entry["metadata"])
    if entry.get("key"):
        # A log line has no correlation field of its own; the tag keeps it filterable.
        event.tags["correlation_key"] = entry["key"]
    occurred = entry.get("timestamp", batch_ms)
    if occurred is not None:
        event.occurred_at.CopyFrom(_timestamp(occurred))
    return event


def _timing(start: Doc | None, end: Doc | None, source: str, batch_ms: float | None) -> event_pb2.Event:
    """One measurement from its start entry, its end entry, or both; the end's values win."""
    merged: Doc = {**(start or {}), **(end or {})}
    first = start if start is not None else end
    assert first is not None
    event = E.Event(kind=E.KIND_TIMING, origin=first.get("source", merged.get("source", source)))
    body = event.timing
    if "message" in merged:
        event.message = merged["message"]
    level = merged.get("level")
    if level is not None:
        event.level = LEVELS[level]  # type: ignore[assignment]
    if "touchpoint" in merged:
        body.touchpoint = merged["touchpoint"]
    if "key" in merged:
        body.correlation_key = merged["key"]
    start_ms = merged.get("startTime")
    end_ms = merged.get("endTime")
    if start_ms is not None:
        body.start_time.CopyFrom(_timestamp(start_ms))
    if end_ms is not None:
        body.end_time.CopyFrom(_timestamp(end_ms))
    if "duration" in merged:
        body.duration_ms = float(merged["duration"])
    elif start_ms is not None and end_ms is not None:
        body.duration_ms = float(end_ms - start_ms)
    body.standalone = bool(first.get("standalone", merged.get("standalone", False)))
    metadata = {**(start or {}).get("metadata", {}), **(end or {}).get("metadata", {})}
    body.SetInParent()
    if metadata:
        fill_struct(body.metadata, metadata)
    occurred = first.get("timestamp", merged.get("timestamp", start_ms if start_ms is not None else end_ms))
    if occurred is None:
        occurred = batch_ms
    if occurred is not None:
        event.occurred_at.CopyFrom(_timestamp(occurred))
    return event


def _in_range(ms: object) -> bool:
    return isinstance(ms, (int, float)) and not isinstance(ms, bool) and _MIN_MS <= ms <= _MAX_MS


def _timestamp(ms: float) -> timestamp_pb2.Timestamp:
    """A Unix time in ms (an int, or a float with sub-ms digits) as a Timestamp."""
    whole = math.floor(ms)
    # The fraction is split off first: ms * 10**6 as a float would lose the sub-ms digits.
    nanos_total = whole * 1_000_000 + round((ms - whole) * 1_000_000)
    seconds, nanos = divmod(nanos_total, 1_000_000_000)
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos)


# Shared with the other dialects (server/dialects/common.py).
_type_name = zod_type
_depth_exceeds = nests_deeper
