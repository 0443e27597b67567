"""JSON to the well-known types (google/protobuf/*.proto), for `gateway._codec_decode`.

Each function is a plan's `merge(message, value, ignore_unknown, depth)` for one well-known type,
performing ParseDict's operations for it: Struct and ListValue replace their contents, Value sets
one member of its oneof, Timestamp parses on a fast path, Duration and FieldMask use their own
`FromJsonString`, and Any goes to json_format itself. Also here: the violation bookkeeping that
every plan shares.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor

from gateway._codec_scalars import MAX_DEPTH, Invalid, invalid, parse_timestamp, scalar_decoder, show

Merge = Callable[[Any, Any, bool, int], None]
Violations = list[tuple[list[str], str]]

# What upb raises when an assignment is refused; ParseDict turns these into rejections as well.
REFUSALS: Final = (ValueError, TypeError, OverflowError, AttributeError)
TOO_DEEP: Final = f"nested more than {MAX_DEPTH} messages deep"
LIST_LIKE: Final = (list, tuple)


def refusal(exc: Exception) -> str:
    """A violation's description for an assignment upb refused."""
    return str(exc) or type(exc).__name__


def annotate(exc: Invalid, segment: str, into: Violations | None) -> Violations:
    """Adds `exc`'s violations, under the path segment they were found in, to `into`."""
    for segments, _ in exc.violations:
        segments.append(segment)
    if into is None:
        return exc.violations
    into.extend(exc.violations)
    return into


def record(into: Violations | None, segment: str, description: str) -> Violations:
    """Adds one violation at `segment` to `into`."""
    if into is None:
        into = []
    into.append(([segment], description))
    return into


def merge_timestamp(message: Any, value: Any, ignore_unknown: bool, depth: int) -> None:
    """google.protobuf.Timestamp from RFC 3339 text."""
    if depth > MAX_DEPTH:
        raise invalid(TOO_DEEP)
    message.seconds, message.nanos = parse_timestamp(value)


def merge_text(message: Any, value: Any, ignore_unknown: bool, depth: int) -> None:
    """Duration and FieldMask, rare enough in requests for their reference `FromJsonString`."""
    if depth > MAX_DEPTH:
        raise invalid(TOO_DEEP)
    try:
        message.FromJsonString(value)
    except Exception:
        raise invalid(f"{show(value)} is not a valid {message.DESCRIPTOR.name}") from None


def merge_by_reference(message: Any, value: Any, ignore_unknown: bool, depth: int) -> None:
    """Any (and extendable messages): json_format itself, given the depth budget that is left."""
    try:
        json_format.ParseDict(value, message, ignore_unknown, None, MAX_DEPTH + 1 - depth)
    except Exception as exc:
        raise invalid(str(exc) or type(exc).__name__) from None


def _wrapper(descriptor: Descriptor) -> Merge:
    decode = scalar_decoder(descriptor.fields_by_name["value"])

    def merge_wrapper(message: Any, value: Any, ignore_unknown: bool, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise invalid(TOO_DEEP)
        message.value = decode(value)

    return merge_wrapper


def merge_struct(message: Any, value: Any, ignore_unknown: bool, depth: int) -> None:
    """google.protobuf.Struct from a JSON object (replacing what was there, as ParseDict does)."""
    if depth > MAX_DEPTH:
        raise invalid(TOO_DEEP)
    if not isinstance(value, dict):
        raise invalid(f"expected an object, not {show(value)}")
    message.Clear()  # also marks an empty Struct present, as in ParseDict
    if not value:
        return
    inner = depth + 1
    if inner > MAX_DEPTH:
        raise invalid(TOO_DEEP)
    fields = message.fields
    found: Violations | None = None
    for key, item in value.items():
        try:
            # The JSON scalars inline, for speed; null, objects and arrays through merge_value.
            kind = type(item)
            if kind is str:
                fields[key].string_value = item
            elif kind is bool:
                fields[key].bool_value = item
            elif kind is int or kind is float:
                fields[key].number_value = item
            else:
                merge_value(fields[key], item, ignore_unknown, inner)
        except Invalid as exc:
            found = annotate(exc, str(key), found)
        except REFUSALS as exc:
            found = record(found, str(key), refusal(exc))
    if found:
        raise Invalid(found)


def merge_list_value(message: Any, value: Any, ignore_unknown: bool, depth: int) -> None:
    """google.protobuf.ListValue from a JSON array (replacing what was there)."""
    if depth > MAX_DEPTH:
        raise invalid(TOO_DEEP)
    if not isinstance(value, LIST_LIKE):
        raise invalid(f"expected an array, not {show(value)}")
    message.ClearField("values")
    add = message.values.add
    inner = depth + 1
    found: Violations | None = None
    for index, item in enumerate(value):
        try:
            merge_value(add(), item, ignore_unknown, inner)
        except Invalid as exc:
            found = annotate(exc, f"[{index}]", found)
        except REFUSALS as exc:
            found = record(found, f"[{index}]", refusal(exc))
    if found:
        raise Invalid(found)


def merge_value(message: Any, value: Any, ignore_unknown: bool, depth: int) -> None:
    """google.protobuf.Value from any JSON value (null is `null_value`)."""
    if depth > MAX_DEPTH:
        raise invalid(TOO_DEEP)
    if isinstance(value, dict):
        merge_struct(message.struct_value, value, ignore_unknown, depth + 1)
    elif isinstance(value, LIST_LIKE):
        merge_list_value(message.list_value, value, ignore_unknown, depth + 1)
    elif value is None:
        message.null_value = 0
    elif isinstance(value, bool):
        message.bool_value = value
    elif isinstance(value, str):
        message.string_value = value
    elif isinstance(value, (int, float)):
        message.number_value = value
    else:
        raise invalid(f"expected a JSON value, not {show(value)}")


def well_known_merge(descriptor: Descriptor) -> Merge | None:
    """The merge for a well-known type, or None for any other message type."""
    if descriptor.file.name == "google/protobuf/wrappers.proto":
        return _wrapper(descriptor)
    return _WELL_KNOWN.get(descriptor.full_name)


_WELL_KNOWN: Final[dict[str, Merge]] = {
    "google.protobuf.Timestamp": merge_timestamp,
    "google.protobuf.Duration": merge_text,
    "google.protobuf.FieldMask": merge_text,
    "google.protobuf.Struct": merge_struct,
    "google.protobuf.ListValue": merge_list_value,
    "google.protobuf.Value": merge_value,
    "google.protobuf.Any": merge_by_reference,
}
