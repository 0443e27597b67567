"""OTLP's attribute values (`AnyValue`, `KeyValue`) as plain JSON values and as label strings:
the pure conversions the translator applies to resources, scopes, spans, logs and data points.

An `AnyValue` becomes what its JSON form would hold (docs/vendors/otlp.md §5.1): a string, a bool, a
number, a list, an object, or base64 text for bytes. Integers beyond JavaScript's exact range
become decimal strings, so that no digit is lost in a `google.protobuf.Struct`'s doubles, and
non-finite doubles become `"NaN"`, `"Infinity"` or `"-Infinity"`, as proto3 JSON spells them.
Values nested deeper than `MAX_DEPTH` are cut there (stored as `"…"`), so that a stored event
stays readable.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable
from typing import Any

import orjson
from opentelemetry.proto.common.v1 import common_pb2

#: How deep arrays and key-value lists may nest in a stored value; a `Struct` inside an event
#: cannot be read back much past 30 levels, and the event's own fields take some of them.
MAX_DEPTH = 16
#: JavaScript's largest exact integer: larger ones are kept as decimal strings.
_EXACT = 2**53
_CUT = "…"


def plain(value: common_pb2.AnyValue, depth: int = 0) -> Any:
    """`value` as a JSON value; None for an empty `AnyValue`."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "int_value":
        number = value.int_value
        return number if -_EXACT <= number <= _EXACT else str(number)
    if kind == "double_value":
        return finite(value.double_value)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    if kind is None:
        return None
    if depth >= MAX_DEPTH:
        return _CUT
    if kind == "array_value":
        return [plain(item, depth + 1) for item in value.array_value.values]
    return attributes(value.kvlist_value.values, depth + 1)


def attributes(pairs: Iterable[common_pb2.KeyValue], depth: int = 0) -> dict[str, Any]:
    """Key-value pairs as one object; a repeated key keeps its last value, as a JSON object
    would."""
    return {pair.key: plain(pair.value, depth) for pair in pairs}


def text(value: common_pb2.AnyValue) -> str:
    """`value` as one string: a string as it is, anything else as its JSON text (`true`, `42`,
    `{"a":1}`); empty for an empty `AnyValue`."""
    if value.WhichOneof("value") == "string_value":
        return value.string_value
    converted = plain(value)
    if converted is None:
        return ""
    if isinstance(converted, str):
        return converted
    return orjson.dumps(converted).decode()


def labels(pairs: Iterable[common_pb2.KeyValue]) -> dict[str, str]:
    """Key-value pairs as string labels (a metric's dimensions)."""
    return {pair.key: text(pair.value) for pair in pairs}


def finite(number: float) -> float | str:
    """A double for JSON: itself when finite, else proto3 JSON's spelling of it."""
    if math.isfinite(number):
        return number
    if math.isnan(number):
        return "NaN"
    return "Infinity" if number > 0 else "-Infinity"
