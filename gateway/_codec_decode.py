"""JSON to message, compiled once per message type: the decoding half of `gateway.codec`.

A plan's `merge(message, value, ignore_unknown, depth)` applies one JSON value to a message in
place, through the same operations `json_format.ParseDict` performs (setattr, `SetInParent`,
`ClearField` before a repeated or map field, `add()`, map item assignment), so the result is
equal to ParseDict's, merging into a populated message included. What is compiled is the
dispatch: per message, one dict from each JSON key (proto name and json name) to a closure that
converts and assigns that field.

Unlike ParseDict, a plan does not stop at the first violation: it records each one with its path,
finishes the object, and raises `Invalid` with all of them. A document is rejected exactly when
ParseDict raises (any exception: ParseDict lets a few TypeErrors, AttributeErrors and
OverflowErrors escape), but the caller learns every unknown field at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from gateway._codec_scalars import (
    INT_RANGES,
    MAX_DEPTH,
    Decoder,
    Invalid,
    UnknownEnum,
    enum_type,
    invalid,
    message_type,
    scalar_decoder,
    show,
)
from gateway._codec_wkt import (
    LIST_LIKE,
    REFUSALS,
    TOO_DEEP,
    Merge,
    Violations,
    annotate,
    merge_by_reference,
    record,
    refusal,
    well_known_merge,
)

# (proto name, kind, apply, null, containing oneof name or None): `apply(message, value,
# ignore_unknown, depth)` assigns a non-null value (for _MESSAGE it is the field type's merge, given
# the submessage); `null(message)` handles null.
_Field = tuple[str, object, Merge, Callable[[Any], None], str | None]
_GENERIC: Final = object()
_STRING: Final = object()
_MESSAGE: Final = object()

_EXTENSION_KEY: Final = re.compile(r"\[[a-zA-Z0-9\._]*\]$")  # json_format._VALID_EXTENSION_NAME
_VALUE: Final = "google.protobuf.Value"
_NULL_VALUE: Final = "google.protobuf.NullValue"

_plans: dict[Descriptor, _Plan] = {}


def plan_for(descriptor: Descriptor) -> _Plan:
    """The plan for a message type, compiled on first use and cached."""
    plan = _plans.get(descriptor)
    if plan is None:
        plan = _new_plan(descriptor)
        # Registered before compiling, so a recursive type's fields find it (and call its merge later).
        _plans[descriptor] = plan
        plan.compile()
    return plan


class _Plan:
    """Applies JSON to one message type; subclasses per well-known type."""

    def __init__(self, descriptor: Descriptor) -> None:
        self.descriptor = descriptor

    def compile(self) -> None:
        """Builds what `merge` needs; runs after the plan is registered, so cycles resolve."""

    def merge(self, message: Any, value: Any, ignore_unknown: bool, depth: int) -> None:
        raise NotImplementedError


class _RegularPlan(_Plan):
    def compile(self) -> None:
        fields: dict[str, _Field] = {}
        for field in self.descriptor.fields:
            fields[field.name] = _compile_field(field)
        for field in self.descriptor.fields:
            fields[field.json_name] = fields[field.name]
        self.fields = fields
        oneofs = {oneof.name for oneof in self.descriptor.oneofs}
        # ParseDict tracks oneof names and keys in one list, so a key spelled like a oneof clashes with it.
        self.oneof_keys = frozenset(key for key in fields if key in oneofs)

    def merge(self, message: Any, value: Any, ignore_unknown: bool, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise invalid(TOO_DEEP)
        if type(value) is not dict and not isinstance(value, dict):
            self._merge_non_object(value, ignore_unknown)
            return
        fields = self.fields
        clashes = self.oneof_keys
        found: Violations | None = None
        seen: dict[str, str] | None = None  # oneof name -> the key that set it
        for key, item in value.items():
            field = fields.get(key)
            if field is None:
                if type(key) is not str or _EXTENSION_KEY.match(key):
                    found = record(found, str(key), f"{self.descriptor.full_name} has no extensions")
                elif not ignore_unknown:
                    found = record(found, key, "unknown field")
                continue
            name, kind, apply, null, oneof = field
            if oneof is not None or clashes:
                if seen is None:
                    seen = {}
                if key in clashes:
                    if key in seen:
                        found = record(found, key, f"{seen[key]} is already set; {key} is a oneof")
                        continue
                    seen[key] = key
                if oneof is not None and item is not None:
                    if oneof in seen:
                        found = record(found, key, f"{seen[oneof]} is already set; {oneof} takes one field")
                        continue
                    seen[oneof] = key
            # The two commonest cases inline (a Python call per field is a good part of the cost).
            if kind is _STRING and type(item) is str and item.isascii():
                setattr(message, name, item)
                continue
            try:
                if item is None:
                    null(message)
                elif kind is _MESSAGE:
                    sub = getattr(message, name)
                    sub.SetInParent()
                    apply(sub, item, ignore_unknown, depth + 1)
                else:
                    apply(message, item, ignore_unknown, depth)
            except Invalid as exc:
                found = annotate(exc, key, found)
            except REFUSALS as exc:
                found = record(found, key, refusal(exc))
        if found:
            raise Invalid(found)

    def _merge_non_object(self, value: Any, ignore_unknown: bool) -> None:
        # ParseDict iterates whatever it is given as if it were an object's keys, so it reads a
        # string or an array as a list of field names: if none is known (or it is empty), the
        # message is set and empty, under ignore_unknown; the names are unknown fields otherwise.
        fields = self.fields
        if isinstance(value, (str, *LIST_LIKE)) and all(
            isinstance(name, str) and name not in fields and not _EXTENSION_KEY.match(name) for name in value
        ):
            if ignore_unknown or not value:
                return
            kind = "a string" if isinstance(value, str) else "an array"
            raise invalid(f"unknown field {show(value[0])} ({kind} for an object is read as field names)")
        raise invalid(f"expected an object, not {show(value)}")


class _WellKnownPlan(_Plan):
    """A well-known type (or an extendable message): a function from `_codec_wkt`."""

    def __init__(self, descriptor: Descriptor, merge: Merge) -> None:
        super().__init__(descriptor)
        self.merge = merge  # type: ignore[method-assign,assignment]


def _new_plan(descriptor: Descriptor) -> _Plan:
    merge = well_known_merge(descriptor)
    if merge is not None:
        return _WellKnownPlan(descriptor, merge)
    if descriptor.is_extendable:
        return _WellKnownPlan(descriptor, merge_by_reference)
    return _RegularPlan(descriptor)


def is_map(field: FieldDescriptor) -> bool:
    """json_format._IsMapEntry."""
    if field.type != FieldDescriptor.TYPE_MESSAGE:
        return False
    entry = message_type(field)
    return entry.has_options and entry.GetOptions().map_entry


# --- per field ---------------------------------------------------------------------------------


def _compile_field(field: FieldDescriptor) -> _Field:
    name = field.name
    oneof = field.containing_oneof.name if field.containing_oneof is not None else None
    if is_map(field):
        return name, _GENERIC, _map_field(field), _clear(name), oneof
    if field.is_repeated:
        if field.cpp_type == FieldDescriptor.CPPTYPE_MESSAGE:
            return name, _GENERIC, _repeated_message_field(field), _null_repeated(field), oneof
        return name, _GENERIC, _repeated_scalar_field(field), _null_repeated(field), oneof
    if field.cpp_type == FieldDescriptor.CPPTYPE_MESSAGE:
        return name, _MESSAGE, plan_for(message_type(field)).merge, _null_message(field), oneof
    kind = _STRING if _is_plain_string(field) else _GENERIC
    return name, kind, _scalar_field(field), _null_scalar(field), oneof


def _is_value(field: FieldDescriptor) -> bool:
    return field.cpp_type == FieldDescriptor.CPPTYPE_MESSAGE and message_type(field).full_name == _VALUE


def _is_null_enum(field: FieldDescriptor) -> bool:
    return field.cpp_type == FieldDescriptor.CPPTYPE_ENUM and enum_type(field).full_name == _NULL_VALUE


def _is_plain_string(field: FieldDescriptor) -> bool:
    return field.type == FieldDescriptor.TYPE_STRING


def _clear(name: str) -> Callable[[Any], None]:
    def clear(message: Any) -> None:
        message.ClearField(name)

    return clear


def _null_scalar(field: FieldDescriptor) -> Callable[[Any], None]:
    name = field.name
    if _is_null_enum(field):

        def null_value(message: Any) -> None:
            setattr(message, name, 0)

        return null_value
    return _clear(name)


def _null_message(field: FieldDescriptor) -> Callable[[Any], None]:
    name = field.name
    if _is_value(field):

        def null_value(message: Any) -> None:
            getattr(message, name).null_value = 0

        return null_value
    return _clear(name)


def _null_repeated(field: FieldDescriptor) -> Callable[[Any], None]:
    # For these ParseDict assigns null_value to the container itself, which fails.
    if not (_is_value(field) or _is_null_enum(field)):
        return _clear(field.name)

    def refuse(message: Any) -> None:
        raise invalid("null is not a valid value for a repeated field")

    return refuse


def _scalar_field(field: FieldDescriptor) -> Callable[[Any, Any, bool, int], None]:
    name = field.name
    decode = scalar_decoder(field)
    if _is_plain_string(field):

        def assign_string(message: Any, item: Any, ignore_unknown: bool, depth: int) -> None:
            if type(item) is str and item.isascii():
                setattr(message, name, item)
            else:
                setattr(message, name, decode(item))

        return assign_string
    if field.cpp_type == FieldDescriptor.CPPTYPE_ENUM:
        by_name = {value.name: value.number for value in enum_type(field).values}

        def assign_enum(message: Any, item: Any, ignore_unknown: bool, depth: int) -> None:
            number = by_name.get(item) if type(item) is str else None
            if number is None:
                try:
                    number = decode(item)
                except UnknownEnum:
                    if ignore_unknown:
                        return
                    raise
            setattr(message, name, number)

        return assign_enum
    if field.cpp_type in INT_RANGES:
        lowest, highest, _ = INT_RANGES[field.cpp_type]

        def assign_integer(message: Any, item: Any, ignore_unknown: bool, depth: int) -> None:
            if type(item) is int and lowest <= item <= highest:
                setattr(message, name, item)
            else:
                setattr(message, name, decode(item))

        return assign_integer
    if field.cpp_type == FieldDescriptor.CPPTYPE_BOOL:

        def assign_bool(message: Any, item: Any, ignore_unknown: bool, depth: int) -> None:
            if item is True or item is False:
                setattr(message, name, item)
            else:
                setattr(message, name, decode(item))

        return assign_bool

    def assign(message: Any, item: Any, ignore_unknown: bool, depth: int) -> None:
        setattr(message, name, decode(item))

    return assign


def _elements(value: Any) -> Any:
    if type(value) is list or isinstance(value, LIST_LIKE):
        return value
    raise invalid(f"expected an array, not {show(value)}")


def _repeated_scalar_field(field: FieldDescriptor) -> Callable[[Any, Any, bool, int], None]:
    name = field.name
    decode = scalar_decoder(field)
    plain_strings = _is_plain_string(field)

    def assign_repeated(message: Any, item: Any, ignore_unknown: bool, depth: int) -> None:
        message.ClearField(name)
        elements = _elements(item)
        if plain_strings and all(type(element) is str and element.isascii() for element in elements):
            getattr(message, name).extend(elements)
            return
        decoded = []
        found: Violations | None = None
        for index, element in enumerate(elements):
            try:
                if element is None:
                    raise invalid("null is not a valid element")
                decoded.append(decode(element))
            except UnknownEnum as exc:
                if not ignore_unknown:
                    found = annotate(exc, f"[{index}]", found)
            except Invalid as exc:
                found = annotate(exc, f"[{index}]", found)
        if found:
            raise Invalid(found)
        getattr(message, name).extend(decoded)

    return assign_repeated


def _repeated_message_field(field: FieldDescriptor) -> Callable[[Any, Any, bool, int], None]:
    name = field.name
    plan = plan_for(message_type(field))
    merge = plan.merge
    nullable = _is_value(field)

    def assign_repeated(message: Any, item: Any, ignore_unknown: bool, depth: int) -> None:
        message.ClearField(name)
        elements = _elements(item)
        add = getattr(message, name).add
        inner = depth + 1
        found: Violations | None = None
        for index, element in enumerate(elements):
            try:
                sub = add()
                if element is None and not nullable:
                    raise invalid("null is not a valid element")
                merge(sub, element, ignore_unknown, inner)
            except Invalid as exc:
                found = annotate(exc, f"[{index}]", found)
            except REFUSALS as exc:
                found = record(found, f"[{index}]", refusal(exc))
        if found:
            raise Invalid(found)

    return assign_repeated


def _map_field(field: FieldDescriptor) -> Callable[[Any, Any, bool, int], None]:
    name = field.name
    entry = message_type(field)
    key_field = entry.fields_by_name["key"]
    value_field = entry.fields_by_name["value"]
    decode_key = scalar_decoder(key_field, text=True)
    message_values = value_field.cpp_type == FieldDescriptor.CPPTYPE_MESSAGE
    merge = plan_for(message_type(value_field)).merge if message_values else None
    decode_value: Decoder | None = None if message_values else scalar_decoder(value_field)
    plain_strings = (
        key_field.type == FieldDescriptor.TYPE_STRING and value_field.type == FieldDescriptor.TYPE_STRING
    )

    def assign_map(message: Any, item: Any, ignore_unknown: bool, depth: int) -> None:
        message.ClearField(name)
        if not isinstance(item, dict):
            raise invalid(f"expected an object, not {show(item)}")
        container = getattr(message, name)
        inner = depth + 1
        found: Violations | None = None
        for key, value in item.items():
            # map<string, string> (tags, labels) skips the converters.
            if (
                plain_strings
                and type(value) is str
                and type(key) is str
                and value.isascii()
                and key.isascii()
            ):
                container[key] = value
                continue
            try:
                converted = decode_key(key)
                if merge is not None:
                    merge(container[converted], value, ignore_unknown, inner)
                else:
                    assert decode_value is not None
                    try:
                        container[converted] = decode_value(value)
                    except UnknownEnum:
                        if not ignore_unknown:
                            raise
            except Invalid as exc:
                found = annotate(exc, str(key), found)
            except REFUSALS as exc:
                found = record(found, str(key), refusal(exc))
        if found:
            raise Invalid(found)

    return assign_map
