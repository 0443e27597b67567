"""Message to JSON, compiled once per message type: the encoding half of `gateway.codec`.

An encoder returns what `json_format.MessageToDict(message)` returns with default options:
lowerCamelCase json names, only populated fields (as `ListFields` reports them), 64-bit integers
as strings, enums by name, bytes as standard base64, the well-known types in their JSON forms.
What is compiled is a table from each field descriptor to its json name and value encoder.

One departure, equal under `==`: a `google.protobuf.Value` number without a fraction is an `int`
(see `encode_value`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Final

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from gateway._codec_decode import is_map
from gateway._codec_scalars import (
    Encoder,
    format_timestamp,
    message_type,
    scalar_encoder,
)

_WRAPPERS_FILE: Final = "google/protobuf/wrappers.proto"
#: Every integer up to 2**53 is exactly one double; past it, a double stands for many integers.
_EXACT_INTEGER: Final = 2**53

_encoders: dict[Descriptor, Encoder] = {}


def encoder_for(descriptor: Descriptor) -> Encoder:
    """The (cached) encoder of a message type; cycles resolve through the cache."""
    encoder = _encoders.get(descriptor)
    if encoder is None:
        encoder = _new_encoder(descriptor)
    return encoder


def _new_encoder(descriptor: Descriptor) -> Encoder:
    full_name = descriptor.full_name
    if descriptor.file.name == _WRAPPERS_FILE:
        encoder = _wrapper_encoder(scalar_encoder(descriptor.fields_by_name["value"]))
    elif full_name in _WELL_KNOWN:
        encoder = _WELL_KNOWN[full_name]
    elif full_name == "google.protobuf.Any" or descriptor.is_extendable:
        encoder = json_format.MessageToDict
    else:
        table: dict[FieldDescriptor, tuple[str, Encoder | None]] = {}

        def encode_message(message: Any) -> dict[str, Any]:
            js: dict[str, Any] = {}
            for field, value in message.ListFields():
                name, encode = table[field]
                js[name] = value if encode is None else encode(value)
            return js

        encoder = encode_message
        # Registered before the fields compile, so a recursive type finds itself.
        _encoders[descriptor] = encoder
        for field in descriptor.fields:
            table[field] = (field.json_name, _field_encoder(field))
    _encoders[descriptor] = encoder
    return encoder


def _wrapper_encoder(inner: Encoder | None) -> Encoder:
    if inner is None:
        return lambda message: message.value
    return lambda message: inner(message.value)


def _field_encoder(field: FieldDescriptor) -> Encoder | None:
    if is_map(field):
        entry = message_type(field)
        return _map_encoder(entry.fields_by_name["key"], entry.fields_by_name["value"])
    if field.cpp_type == FieldDescriptor.CPPTYPE_MESSAGE:
        element = encoder_for(message_type(field))
    else:
        scalar = scalar_encoder(field)
        if scalar is None:
            return list if field.is_repeated else None
        element = scalar
    if field.is_repeated:
        return lambda values: [element(value) for value in values]
    return element


def _map_encoder(key_field: FieldDescriptor, value_field: FieldDescriptor) -> Encoder:
    if value_field.cpp_type == FieldDescriptor.CPPTYPE_MESSAGE:
        encode_value: Encoder | None = encoder_for(message_type(value_field))
    else:
        encode_value = scalar_encoder(value_field)
    # Iterating the keys and indexing is faster than upb maps' (Python-level) items().
    if key_field.type == FieldDescriptor.TYPE_STRING:
        if encode_value is None:
            return lambda entries: {key: entries[key] for key in entries}
        encode = encode_value
        return lambda entries: {key: encode(entries[key]) for key in entries}
    encode_key: Callable[[Any], str] = str
    if key_field.cpp_type == FieldDescriptor.CPPTYPE_BOOL:
        encode_key = _encode_bool_key
    if encode_value is None:
        return lambda entries: {encode_key(key): entries[key] for key in entries}
    encode = encode_value
    return lambda entries: {encode_key(key): encode(entries[key]) for key in entries}


def _encode_bool_key(key: bool) -> str:
    return "true" if key else "false"


# --- well-known types --------------------------------------------------------------------------


def _encode_timestamp(message: Any) -> str:
    return format_timestamp(message.seconds, message.nanos)


def _encode_text(message: Any) -> str:
    # Duration and FieldMask, rare in ingestd's messages: the reference formatter.
    try:
        text: str = message.ToJsonString()
    except ValueError as exc:
        raise json_format.SerializeToJsonError(
            f"Failed to serialize {message.DESCRIPTOR.name}: {exc}."
        ) from exc
    return text


def encode_value(message: Any) -> Any:
    """google.protobuf.Value's JSON; an unset Value is null, as in MessageToDict.

    A number without a fraction, within ±2**53, is an `int`: a Struct holds every JSON number as
    a double, so a sender's `12` would otherwise be printed back as `12.0` (MessageToDict's float).
    Go's protojson and JavaScript print it `12` too.
    """
    kind = message.WhichOneof("kind")
    if kind == "string_value":
        return message.string_value
    if kind == "number_value":
        number = message.number_value
        if not math.isfinite(number):
            raise json_format.SerializeToJsonError(
                f"Fail to serialize {number} for Value.number_value, which would parse as string_value"
            )
        if number.is_integer() and -_EXACT_INTEGER <= number <= _EXACT_INTEGER:
            return int(number)
        return number
    if kind == "bool_value":
        return message.bool_value
    if kind == "struct_value":
        return encode_struct(message.struct_value)
    if kind == "list_value":
        return encode_list_value(message.list_value)
    return None


def encode_struct(message: Any) -> dict[str, Any]:
    """google.protobuf.Struct's JSON object."""
    fields = message.fields
    return {key: encode_value(fields[key]) for key in fields}


def encode_list_value(message: Any) -> list[Any]:
    """google.protobuf.ListValue's JSON array."""
    return [encode_value(value) for value in message.values]


_WELL_KNOWN: Final[dict[str, Callable[[Any], Any]]] = {
    "google.protobuf.Timestamp": _encode_timestamp,
    "google.protobuf.Duration": _encode_text,
    "google.protobuf.FieldMask": _encode_text,
    "google.protobuf.Struct": encode_struct,
    "google.protobuf.ListValue": encode_list_value,
    "google.protobuf.Value": encode_value,
}
