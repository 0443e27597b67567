"""JSON <-> protobuf converters for the gateway, compiled once per message type from its descriptor.

`json_format.ParseDict` walks descriptors and dispatches on field types for every value of every
request, which costs several times what the conversions themselves do (for a typical event, a few
hundred microseconds against some tens). `codec_for(descriptor)` does that walk once and keeps,
per message type, a dict from JSON key to a closure that converts and assigns that field (and,
for encoding, a table from field to json name and value encoder). json_format remains the
reference: decoding gives what ParseDict gives and rejects what it rejects, and encoding gives
what MessageToDict gives with default options. The property tests in tests/test_codec.py hold
them equal.

Where the two differ is in what a rejection says: ParseDict stops at the first problem, while a
`DecodeError` lists every violation with its path (`events[0].occurredAt`, `events[1].colour`),
so a client learns about all its unknown fields in one round trip.

Also here: `assign_text`, grpc-gateway's binding of path variables and query parameters.

Modules: `_codec_scalars` (scalar values both ways), `_codec_decode` (JSON to message),
`_codec_wkt` (JSON to the well-known types), `_codec_encode` (message to JSON).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Sequence
from typing import Any, Final, cast

from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from gateway._codec_decode import is_map, plan_for
from gateway._codec_encode import encoder_for
from gateway._codec_scalars import Invalid, message_type, parse_timestamp, scalar_decoder, show
from gateway._codec_wkt import REFUSALS, refusal

__all__ = ["DecodeError", "MessageCodec", "assign_text", "codec_for"]


class DecodeError(ValueError):
    """A JSON document, path variable or query parameter that does not fit the message.

    `violations` is a list of (field path, description), for example
    `("events[0].occurredAt", "'yesterday' is not an RFC 3339 timestamp")` or
    `("events[1].colour", "unknown field")`. A path is written with the keys as the client wrote
    them, `[i]` for array elements, and map or Struct keys that are not identifiers in backticks
    (`tags.`http.method``); it is empty for the document as a whole.
    """

    def __init__(self, violations: list[tuple[str, str]]) -> None:
        super().__init__(
            "; ".join(f"{path}: {description}" if path else description for path, description in violations)
        )
        self.violations = violations


class MessageCodec:
    """JSON conversions for one message type; get one from `codec_for`."""

    __slots__ = ("_encode", "_merge", "descriptor", "message_class")

    def __init__(self, descriptor: Descriptor) -> None:
        self.descriptor = descriptor
        self.message_class: type[Message] = message_factory.GetMessageClass(descriptor)
        self._merge = plan_for(descriptor).merge
        self._encode = encoder_for(descriptor)

    def decode(self, value: object, *, ignore_unknown: bool = False) -> Message:
        """A new message from `value`, the output of `orjson.loads`.

        Equal to `json_format.ParseDict(value, cls(), ignore_unknown_fields=ignore_unknown)` when
        that succeeds. With `ignore_unknown`, unknown fields and unknown enum names are skipped.

        Raises:
            DecodeError: whenever ParseDict would raise; it names every violation, not the first.
        """
        message = self.message_class()
        self.merge(message, value, ignore_unknown=ignore_unknown)
        return message

    def merge(self, message: Message, value: object, *, ignore_unknown: bool = False) -> None:
        """Decodes `value` into `message` (of this codec's type), as `json_format.ParseDict` merges.

        Fields present in `value` are set; a repeated or map field present in `value` is replaced;
        a message field is merged into; null clears a field. On DecodeError, `message` may be
        partly merged, as with ParseDict.
        """
        try:
            self._merge(message, value, ignore_unknown, 1)
        except Invalid as exc:
            raise DecodeError(_violations(exc)) from None
        except REFUSALS as exc:
            raise DecodeError([("", refusal(exc))]) from None

    def encode(self, message: Message) -> dict[str, Any]:
        """`json_format.MessageToDict(message)` with default options, except that a
        `google.protobuf.Value` number without a fraction is an `int` (equal under `==`).

        For the well-known types whose JSON is not an object (Timestamp, Duration, FieldMask,
        wrappers, Value, ListValue) the result is that JSON value, as MessageToDict returns it;
        the annotation describes the messages the gateway renders.

        Raises:
            json_format.SerializeToJsonError: where MessageToDict raises (a NaN or infinite
                `Value.number_value`, a Timestamp out of range).
        """
        encoded: dict[str, Any] = self._encode(message)
        return encoded


@functools.cache
def codec_for(descriptor: Descriptor) -> MessageCodec:
    """The codec for a message type, compiled on first use and cached."""
    return MessageCodec(descriptor)


# --- violation paths ---------------------------------------------------------------------------

_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _violations(exc: Invalid) -> list[tuple[str, str]]:
    return [(_path(reversed(segments)), description) for segments, description in exc.violations]


def _path(segments: Any) -> str:
    path = ""
    for segment in segments:
        if segment.startswith("[") and segment.endswith("]") and segment[1:-1].isdigit():
            path += segment
        else:
            if not _IDENTIFIER.match(segment):
                segment = "`" + segment.replace("`", "\\`") + "`"
            path = f"{path}.{segment}" if path else segment
    return path


# --- path variables and query parameters -------------------------------------------------------

_Binding = Callable[[Message, Sequence[str]], None]
_bindings: dict[tuple[Descriptor, str], _Binding] = {}
# Query parameter names come from clients; only this many distinct (valid) paths are remembered.
_MAX_BINDINGS: Final = 4096


def assign_text(message: Message, field_path: str, values: Sequence[str]) -> None:
    """Sets the field at `field_path` from text, as grpc-gateway binds path variables and query parameters.

    `field_path` is dotted (`filter.kind`); each segment is a proto name or a json name, and every
    segment but the last names a singular message field. The text is read as the proto3 JSON
    string form of the field's type: integers (also 64-bit), floats (with "NaN", "Infinity",
    "-Infinity"), "true"/"false", enums by name or number, base64 bytes, RFC 3339 Timestamps,
    Durations ("1.5s"), FieldMasks ("a,b.c"), wrappers as their value, and Struct, Value and
    ListValue as JSON text. A repeated field is replaced by all `values`; a singular field takes the
    last one. No `values` leaves the message as it is.

    Raises:
        DecodeError: naming `field_path`, for an unknown path, a map or message field, or a value
            that does not parse.
    """
    # The stubs type DESCRIPTOR as a union with upb's own class, which is the same object.
    descriptor = cast(Descriptor, message.DESCRIPTOR)
    key = (descriptor, field_path)
    binding = _bindings.get(key)
    if binding is None:
        binding = _bind(descriptor, field_path)
        if len(_bindings) < _MAX_BINDINGS:
            _bindings[key] = binding
    if values:
        binding(message, values)


def _bind(descriptor: Descriptor, field_path: str) -> _Binding:
    def refuse(description: str) -> DecodeError:
        return DecodeError([(field_path, description)])

    *parents, last = field_path.split(".")
    names: list[str] = []
    for segment in parents:
        field = _field_named(descriptor, segment)
        if field is None:
            raise refuse(f"unknown field {segment!r} in {descriptor.full_name}")
        if field.cpp_type != FieldDescriptor.CPPTYPE_MESSAGE or field.is_repeated:
            raise refuse(f"{segment!r} is not a singular message field")
        names.append(field.name)
        descriptor = message_type(field)
    leaf = _field_named(descriptor, last)
    if leaf is None:
        raise refuse(f"unknown field {last!r} in {descriptor.full_name}")
    if is_map(leaf):
        raise refuse("a map field cannot be set from text")
    parse = _text_parser(leaf)
    if parse is None:
        raise refuse(f"a {message_type(leaf).full_name} field cannot be set from text")
    name = leaf.name
    is_message = leaf.cpp_type == FieldDescriptor.CPPTYPE_MESSAGE

    def bind(message: Message, values: Sequence[str]) -> None:
        target: Any = message
        for parent in names:
            target = getattr(target, parent)
            target.SetInParent()
        try:
            if leaf.is_repeated:
                if is_message:
                    target.ClearField(name)
                    container = getattr(target, name)
                    for text in values:
                        parse(container.add(), text)
                else:
                    converted = [parse(None, text) for text in values]
                    target.ClearField(name)
                    getattr(target, name).extend(converted)
            elif is_message:
                sub = getattr(target, name)
                sub.SetInParent()
                parse(sub, values[-1])
            else:
                setattr(target, name, parse(None, values[-1]))
        except Invalid as exc:
            raise refuse("; ".join(description for _, description in exc.violations)) from None
        except REFUSALS as exc:
            raise refuse(refusal(exc)) from None

    return bind


def _field_named(descriptor: Descriptor, segment: str) -> FieldDescriptor | None:
    # As in JSON, the json name wins over a proto name spelled the same.
    for field in descriptor.fields:
        if field.json_name == segment:
            return field
    return descriptor.fields_by_name.get(segment)


def _text_parser(field: FieldDescriptor) -> Callable[[Any, str], Any] | None:
    """(message or None, text) -> the scalar value, or None after filling the message in place."""
    if field.cpp_type != FieldDescriptor.CPPTYPE_MESSAGE:
        decode = scalar_decoder(field, text=True)
        return lambda _, text: decode(text)
    descriptor = message_type(field)
    full_name = descriptor.full_name
    if descriptor.file.name == "google/protobuf/wrappers.proto":
        decode_value = scalar_decoder(descriptor.fields_by_name["value"], text=True)

        def wrapper(message: Any, text: str) -> None:
            message.value = decode_value(text)

        return wrapper
    if full_name == "google.protobuf.Timestamp":

        def timestamp(message: Any, text: str) -> None:
            message.seconds, message.nanos = parse_timestamp(text)

        return timestamp
    if full_name in ("google.protobuf.Duration", "google.protobuf.FieldMask"):
        merge_text = plan_for(descriptor).merge
        return lambda message, text: merge_text(message, text, False, 1)
    if full_name in ("google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"):
        merge_json = plan_for(descriptor).merge

        def json_text(message: Any, text: str) -> None:
            try:
                value = json.loads(text)
            except ValueError:
                raise Invalid([([], f"{show(text)} is not JSON")]) from None
            merge_json(message, value, False, 1)

        return json_text
    return None
