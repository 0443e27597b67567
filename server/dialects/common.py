"""Small pure helpers that several dialects share: how Zod names JSON types (three of the five
vendors validate with Zod), ISO 8601 times, and nesting depth."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from google.protobuf import struct_pb2, timestamp_pb2

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def zod_type(value: object) -> str:
    """The name Zod gives the type of a parsed JSON value (`received …`)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def zod_expected(kind: str, value: object) -> str:
    """Zod's invalid-type message, such as `Expected string, received number`."""
    return f"Expected {kind}, received {zod_type(value)}"


def iso_timestamp(text: str | None) -> timestamp_pb2.Timestamp | None:
    """An ISO 8601 date or date-time as a Timestamp; one without an offset is UTC. None when absent
    or unreadable."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - _EPOCH
    return timestamp_pb2.Timestamp(
        seconds=delta.days * 86_400 + delta.seconds, nanos=delta.microseconds * 1000
    )


def nests_deeper(value: object, limit: int) -> bool:
    """Whether a parsed JSON value nests objects and arrays more than `limit` levels deep,
    iteratively, so a hostile body cannot exhaust the stack."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def fill_struct(target: struct_pb2.Struct, values: Mapping[str, Any]) -> None:
    """`target.update(values)` with what JSON parsing yields (str, bool, int, float, None, dict,
    list) dispatched on exact types first: measured 19 against 27 us for a 700-byte Logister
    context, where protobuf's pure-Python helper tries `isinstance` for each value. Any other type
    goes through that helper, with its errors."""
    fields = target.fields
    for key, value in values.items():
        _set_value(fields[key], value)


def _set_value(slot: struct_pb2.Value, value: Any) -> None:
    kind = type(value)
    if kind is str:
        slot.string_value = value
    elif kind is bool:
        slot.bool_value = value
    elif kind is int or kind is float:
        slot.number_value = value
    elif value is None:
        slot.null_value = struct_pb2.NULL_VALUE
    elif kind is dict:
        nested = slot.struct_value
        nested.Clear()
        fill_struct(nested, value)
    elif kind is list:
        items = slot.list_value
        items.Clear()
        for item in value:
            _set_value(items.values.add(), item)
    else:
        holder = struct_pb2.Struct()
        holder.update({"value": value})
        slot.CopyFrom(holder.fields["value"])
