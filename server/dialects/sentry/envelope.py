"""Sentry's envelope framing (https://develop.sentry.dev/sdk/data-model/envelopes/,
docs/vendors/sentry.md §3): a JSON header line, then items, each a JSON header line and a payload.

The framing follows Relay's reader:
- the envelope header may be `{}`; an `event_id` in it must be a UUID;
- an item with `length` takes exactly that many bytes, which may hold newlines (attachments are raw
  bytes), followed by a newline or the end of the body;
- an item without `length` (the JavaScript SDKs send none but for attachments) runs to the next
  newline or the end of the body, so a missing final newline is fine;
- whitespace between items is skipped, and so, unlike Relay, is whitespace after the last one.

Anything else is 400 `invalid event envelope` with Relay's cause. Pure: nothing here reads or
writes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from server.dialects.sentry.answers import bad_envelope

_WHITESPACE = b" \t\r\n"
#: Item lengths are 32-bit in Relay.
_MAX_LENGTH = 2**32 - 1


@dataclass(frozen=True, slots=True)
class Item:
    """One envelope item: its header (`type`, `length`, `content_type`, `filename`, …) and its
    payload bytes."""

    headers: dict[str, Any]
    payload: bytes

    @property
    def type(self) -> str:
        kind: str = self.headers["type"]
        return kind


@dataclass(frozen=True, slots=True)
class Envelope:
    """A parsed envelope: its header (`event_id`, `dsn`, `sent_at`, `sdk`, `trace`, all optional)
    and its items in order."""

    headers: dict[str, Any]
    items: list[Item]

    @property
    def event_id(self) -> str | None:
        """The header's `event_id` as 32 lowercase hex digits, or None."""
        value = self.headers.get("event_id")
        return event_id(value) if value is not None else None


def event_id(value: object) -> str | None:
    """A Sentry event id (a UUID, with or without hyphens) as 32 lowercase hex digits; None for
    anything else."""
    if not isinstance(value, str) or len(value) > 36:
        return None
    try:
        return uuid.UUID(value).hex
    except ValueError:
        return None


def first_line_object(data: bytes) -> dict[str, Any] | None:
    """The envelope header alone, as Relay reads it for the `dsn` of a request without a key:
    the first line's JSON object, or None."""
    return _json_object(data[: _line_end(data, 0)])


def parse(data: bytes) -> Envelope:
    """The envelope in `data` (already inflated, not empty).

    Raises:
        Answer: 400 `invalid event envelope` with Relay's cause: `missing envelope header`,
            `invalid envelope header`, `invalid item header`, `unexpected end of file` (an item
            longer than the body) or `missing newline after header or payload` (a wrong length).
    """
    start = _skip_whitespace(data, 0)
    if start == len(data):
        raise bad_envelope("missing envelope header")
    line_end = _line_end(data, start)
    headers = _json_object(data[start:line_end])
    given_id = headers.get("event_id") if headers is not None else None
    if headers is None or (given_id is not None and event_id(given_id) is None):
        raise bad_envelope("invalid envelope header")
    items: list[Item] = []
    offset = line_end + 1
    while True:
        offset = _skip_whitespace(data, offset)
        if offset >= len(data):
            return Envelope(headers, items)
        item, offset = _item(data, offset, len(items))
        items.append(item)


def _item(data: bytes, start: int, index: int) -> tuple[Item, int]:
    line_end = _line_end(data, start)
    headers = _json_object(data[start:line_end])
    if headers is None or not isinstance(headers.get("type"), str):
        raise bad_envelope("invalid item header", f"item {index}: header is not an object with a type")
    payload_start = min(line_end + 1, len(data))
    length = headers.get("length")
    if length is None:
        payload_end = _line_end(data, payload_start)
    elif type(length) is not int or not 0 <= length <= _MAX_LENGTH:
        raise bad_envelope("invalid item header", f"item {index}: length {length!r}")
    else:
        payload_end = payload_start + length
        if payload_end > len(data):
            raise bad_envelope("unexpected end of file", f"item {index}: length {length} runs past the body")
        if payload_end < len(data) and data[payload_end] != 0x0A:
            raise bad_envelope(
                "missing newline after header or payload", f"item {index}: no newline after {length} bytes"
            )
    return Item(headers, data[payload_start:payload_end]), payload_end + 1


def _line_end(data: bytes, start: int) -> int:
    end = data.find(b"\n", start)
    return len(data) if end < 0 else end


def _skip_whitespace(data: bytes, offset: int) -> int:
    while offset < len(data) and data[offset] in _WHITESPACE:
        offset += 1
    return offset


def _json_object(line: bytes) -> dict[str, Any] | None:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
