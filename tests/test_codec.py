"""The compiled JSON codec (gateway.codec) against its reference, google.protobuf.json_format.

Random messages come from strategies derived from descriptors: ingestd's Event and the messages
of its services, and `Everything`, a test-only message (built below, in the default pool) with
every scalar type singular, optional and repeated, maps of every key type, a oneof, nesting,
recursion and all the well-known types. The properties: the codec decodes what MessageToDict
prints (in any of its spellings) to the same message as ParseDict; it encodes like MessageToDict;
and on mutated or fuzzed documents it accepts exactly what ParseDict accepts, with equal results,
and merges like ParseDict. Tables then pin down violation paths and `assign_text`.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable
from typing import Any, cast

import orjson
import pytest
from google.protobuf import (
    any_pb2,
    descriptor_pb2,
    descriptor_pool,
    duration_pb2,
    empty_pb2,
    field_mask_pb2,
    json_format,
    message_factory,
    struct_pb2,
    timestamp_pb2,
    wrappers_pb2,
)
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.codec import DecodeError, MessageCodec, assign_text, codec_for
from ingestd.v1 import admin_service_pb2, event_pb2, event_service_pb2, ingest_service_pb2

PROPERTIES = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# --- Everything: a test-only message with every kind of field -------------------------------------

_P = descriptor_pb2.FieldDescriptorProto
_SCALARS = {
    "double": _P.TYPE_DOUBLE,
    "float": _P.TYPE_FLOAT,
    "int64": _P.TYPE_INT64,
    "uint64": _P.TYPE_UINT64,
    "int32": _P.TYPE_INT32,
    "fixed64": _P.TYPE_FIXED64,
    "fixed32": _P.TYPE_FIXED32,
    "bool": _P.TYPE_BOOL,
    "string": _P.TYPE_STRING,
    "bytes": _P.TYPE_BYTES,
    "uint32": _P.TYPE_UINT32,
    "sfixed32": _P.TYPE_SFIXED32,
    "sfixed64": _P.TYPE_SFIXED64,
    "sint32": _P.TYPE_SINT32,
    "sint64": _P.TYPE_SINT64,
}
_WKT = {
    "timestamp": ".google.protobuf.Timestamp",
    "duration": ".google.protobuf.Duration",
    "struct": ".google.protobuf.Struct",
    "value": ".google.protobuf.Value",
    "list_value": ".google.protobuf.ListValue",
    "field_mask": ".google.protobuf.FieldMask",
    "empty": ".google.protobuf.Empty",
    "any": ".google.protobuf.Any",
    **{
        f"w_{kind}": f".google.protobuf.{name}Value"
        for kind, name in [
            ("double", "Double"),
            ("float", "Float"),
            ("int64", "Int64"),
            ("uint64", "UInt64"),
            ("int32", "Int32"),
            ("uint32", "UInt32"),
            ("bool", "Bool"),
            ("string", "String"),
            ("bytes", "Bytes"),
        ]
    },
}
_MESSAGE, _ENUM = _P.TYPE_MESSAGE, _P.TYPE_ENUM
_COLOUR, _NESTED, _NULL = (
    ".codec_testing.v1.Colour",
    ".codec_testing.v1.Nested",
    ".google.protobuf.NullValue",
)


def _everything_file() -> descriptor_pb2.FileDescriptorProto:
    file = descriptor_pb2.FileDescriptorProto(
        name="codec_testing/v1/everything.proto",
        package="codec_testing.v1",
        syntax="proto3",
        dependency=[
            f"google/protobuf/{name}.proto"
            for name in ("any", "duration", "empty", "field_mask", "struct", "timestamp", "wrappers")
        ],
    )
    colour = file.enum_type.add(name="Colour")
    for number, name in enumerate(["COLOUR_UNSPECIFIED", "COLOUR_RED", "COLOUR_GREEN"]):
        colour.value.add(name=name, number=number)
    nested = file.message_type.add(name="Nested")
    nested.field.add(name="a", number=1, type=_P.TYPE_INT32)
    nested.field.add(name="b_text", number=2, type=_P.TYPE_STRING)
    nested.field.add(name="child", number=3, type=_MESSAGE, type_name=_NESTED)
    nested.field.add(name="children", number=4, type=_MESSAGE, type_name=_NESTED, label=_P.LABEL_REPEATED)
    nested.field.add(name="colour", number=5, type=_ENUM, type_name=_COLOUR)

    message = file.message_type.add(name="Everything")
    numbers = iter(range(1, 1000))

    def add(name: str, type_: int, type_name: str = "", *, repeated: bool = False, **extra: Any) -> None:
        label = _P.LABEL_REPEATED if repeated else _P.LABEL_OPTIONAL
        if type_name:
            extra["type_name"] = type_name
        message.field.add(name=name, number=next(numbers), type=type_, label=label, **extra)

    message.oneof_decl.add(name="choice")
    for name, type_ in [*_SCALARS.items(), ("colour", _ENUM)]:
        type_name = _COLOUR if type_ == _ENUM else ""
        add(f"f_{name}", type_, type_name)
        add(f"r_{name}", type_, type_name, repeated=True)
    for name, type_name in _WKT.items():
        add(name, _MESSAGE, type_name)
    for name in ("timestamp", "value", "struct", "duration", "w_int64"):
        add(f"r_{name}", _MESSAGE, _WKT[name], repeated=True)
    add("f_nested", _MESSAGE, _NESTED)
    add("r_nested", _MESSAGE, _NESTED, repeated=True)
    add("null", _ENUM, _NULL)
    add("custom", _P.TYPE_STRING, json_name="jsonCustom")
    for name, type_, type_name in [
        ("c_string", _P.TYPE_STRING, ""),
        ("c_int64", _P.TYPE_INT64, ""),
        ("c_bool", _P.TYPE_BOOL, ""),
        ("c_colour", _ENUM, _COLOUR),
        ("c_null", _ENUM, _NULL),
        ("c_nested", _MESSAGE, _NESTED),
        ("c_value", _MESSAGE, _WKT["value"]),
        ("c_timestamp", _MESSAGE, _WKT["timestamp"]),
    ]:
        add(name, type_, type_name, oneof_index=0)
    for name in ("int32", "string", "double", "bool", "bytes", "colour", "uint64"):
        type_ = _SCALARS.get(name, _ENUM)
        message.oneof_decl.add(name=f"_o_{name}")
        add(
            f"o_{name}",
            type_,
            _COLOUR if type_ == _ENUM else "",
            proto3_optional=True,
            oneof_index=len(message.oneof_decl) - 1,
        )
    maps = [
        ("string", "string"), ("int32", "int64"), ("int64", "colour"), ("uint32", "double"),
        ("uint64", "bytes"), ("sint32", "bool"), ("sint64", "float"), ("fixed32", "nested"),
        ("fixed64", "string"), ("sfixed32", "uint32"), ("sfixed64", "int32"), ("bool", "string"),
        ("string", "value"), ("string", "timestamp"), ("string", "nested"), ("string", "w_int64"),
        ("string", "struct"),
    ]  # fmt: skip
    for key, value in maps:
        name = f"m_{key}_{value}"
        entry = message.nested_type.add(name="".join(part.capitalize() for part in name.split("_")) + "Entry")
        entry.options.map_entry = True
        entry.field.add(name="key", number=1, type=_SCALARS[key])
        if value in _SCALARS:
            entry.field.add(name="value", number=2, type=_SCALARS[value])
        elif value == "colour":
            entry.field.add(name="value", number=2, type=_ENUM, type_name=_COLOUR)
        else:
            entry.field.add(name="value", number=2, type=_MESSAGE, type_name=_WKT.get(value, _NESTED))
        add(name, _MESSAGE, f".codec_testing.v1.Everything.{entry.name}", repeated=True)
    return file


def _load_everything() -> type[Message]:
    # The default pool, so that Any can pack these types; added once per process.
    pool = descriptor_pool.Default()
    try:
        pool.FindFileByName("codec_testing/v1/everything.proto")
    except KeyError:
        pool.Add(_everything_file())
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("codec_testing.v1.Everything"))


Everything: Any = _load_everything()
Nested: Any = message_factory.GetMessageClass(
    descriptor_pool.Default().FindMessageTypeByName("codec_testing.v1.Nested")
)

REQUESTS: list[Descriptor] = [
    method.input_type
    for module in (ingest_service_pb2, event_service_pb2, admin_service_pb2)
    for service in module.DESCRIPTOR.services_by_name.values()
    for method in service.methods
]
RESPONSES: list[Descriptor] = [
    method.output_type
    for module in (ingest_service_pb2, event_service_pb2, admin_service_pb2)
    for service in module.DESCRIPTOR.services_by_name.values()
    for method in service.methods
]
EVENT = cast(Descriptor, event_pb2.Event.DESCRIPTOR)
DESCRIPTORS: list[Descriptor] = [Everything.DESCRIPTOR, EVENT, *REQUESTS]

# --- strategies from descriptors ---------------------------------------------------------------

_F = FieldDescriptor
_INT_BOUNDS = {
    **dict.fromkeys((_F.TYPE_INT32, _F.TYPE_SINT32, _F.TYPE_SFIXED32), (-(2**31), 2**31 - 1)),
    **dict.fromkeys((_F.TYPE_UINT32, _F.TYPE_FIXED32), (0, 2**32 - 1)),
    **dict.fromkeys((_F.TYPE_INT64, _F.TYPE_SINT64, _F.TYPE_SFIXED64), (-(2**63), 2**63 - 1)),
    **dict.fromkeys((_F.TYPE_UINT64, _F.TYPE_FIXED64), (0, 2**64 - 1)),
}
_TIMESTAMP_MIN, _TIMESTAMP_MAX = -62135596800, 253402300799
_FLOAT_MAX = float.fromhex("0x1.fffffep+127")
_MAX_NESTING = 2

json_values: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)
_nanos = st.one_of(
    st.just(0),
    st.integers(0, 999).map(lambda n: n * 1_000_000),
    st.integers(0, 999_999).map(lambda n: n * 1_000),
    st.integers(0, 999_999_999),
)


def _duration(seconds: int, nanos: int) -> duration_pb2.Duration:
    # A Duration's nanos take the sign of its seconds.
    if seconds < 0 or (seconds == 0 and nanos % 2):
        nanos = -nanos
    return duration_pb2.Duration(seconds=seconds, nanos=nanos)


def _parsed(cls: type[Message]) -> Callable[[Any], Message]:
    return lambda value: json_format.ParseDict(value, cls())


def _packed(message: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def _scalars(field: FieldDescriptor, *, nan: bool) -> st.SearchStrategy[Any]:
    if field.type in _INT_BOUNDS:
        low, high = _INT_BOUNDS[field.type]
        return st.sampled_from([low, high, 0, 1]) | st.integers(low, high)
    if field.type == _F.TYPE_DOUBLE:
        return st.floats(allow_nan=nan)
    if field.type == _F.TYPE_FLOAT:
        # MessageToDict prints the largest float as 3.4028235e38, which ParseDict then refuses.
        return st.floats(width=32, allow_nan=nan).filter(lambda value: abs(value) != _FLOAT_MAX)
    if field.type == _F.TYPE_BOOL:
        return st.booleans()
    if field.type == _F.TYPE_STRING:
        return st.text(max_size=6)
    if field.type == _F.TYPE_BYTES:
        return st.binary(max_size=6)
    assert field.enum_type is not None
    if field.enum_type.full_name == "google.protobuf.NullValue":
        return st.just(0)
    # Open enums keep unknown numbers, which JSON spells as numbers.
    return st.sampled_from([value.number for value in field.enum_type.values]) | st.integers(-2, 12)


_strategies: dict[tuple[Descriptor, int, bool], st.SearchStrategy[Message]] = {}


def messages(descriptor: Descriptor, depth: int = 0, *, nan: bool = False) -> st.SearchStrategy[Message]:
    """Random messages of `descriptor`'s type; NaN floats only when `nan`."""
    key = (descriptor, depth, nan)
    if key not in _strategies:
        _strategies[key] = _messages(descriptor, depth, nan)
    return _strategies[key]


def _messages(descriptor: Descriptor, depth: int, nan: bool) -> st.SearchStrategy[Message]:
    cls = message_factory.GetMessageClass(descriptor)
    name = descriptor.full_name
    if descriptor.file.name == "google/protobuf/wrappers.proto":
        return _scalars(descriptor.fields_by_name["value"], nan=nan).map(lambda value: cls(value=value))
    special: dict[str, Callable[[], st.SearchStrategy[Any]]] = {
        "google.protobuf.Timestamp": lambda: st.builds(
            timestamp_pb2.Timestamp, seconds=st.integers(_TIMESTAMP_MIN, _TIMESTAMP_MAX), nanos=_nanos
        ),
        "google.protobuf.Duration": lambda: st.builds(
            _duration, st.integers(-315576000000, 315576000000), _nanos
        ),
        "google.protobuf.FieldMask": lambda: st.lists(
            st.from_regex(r"[a-z]{1,4}(_[a-z]{1,4}){0,2}(\.[a-z]{1,4}){0,2}", fullmatch=True), max_size=3
        ).map(lambda paths: field_mask_pb2.FieldMask(paths=paths)),
        "google.protobuf.Struct": lambda: st.dictionaries(st.text(max_size=4), json_values, max_size=3).map(
            _parsed(struct_pb2.Struct)
        ),
        "google.protobuf.Value": lambda: json_values.map(_parsed(struct_pb2.Value)),
        "google.protobuf.ListValue": lambda: st.lists(json_values, max_size=3).map(
            _parsed(struct_pb2.ListValue)
        ),
        "google.protobuf.Empty": lambda: st.just(empty_pb2.Empty()),
        "google.protobuf.Any": lambda: st.one_of(
            st.builds(Nested, a=st.integers(-5, 5), b_text=st.text(max_size=3)), messages(_TIMESTAMP)
        ).map(_packed),
    }
    if name in special:
        return special[name]()
    # Each example sets a few fields (every field, over many examples): generating stays cheap and
    # a failing example stays small.
    units: list[st.SearchStrategy[tuple[str, Any]]] = []
    for field in descriptor.fields:
        if field.containing_oneof is None or len(field.containing_oneof.fields) == 1:
            units.append(st.tuples(st.just(field.name), _field_values(field, depth, nan)))
    for oneof in descriptor.oneofs:
        if len(oneof.fields) > 1:
            units.append(
                st.one_of([st.tuples(st.just(f.name), _field_values(f, depth, nan)) for f in oneof.fields])
            )
    if not units:
        return st.builds(cls)
    picks = st.lists(st.sampled_from(range(len(units))), unique=True, max_size=8)
    return st.builds(
        _build, st.just(cls), picks.flatmap(lambda chosen: st.tuples(*(units[i] for i in chosen)))
    )


_TIMESTAMP = timestamp_pb2.Timestamp.DESCRIPTOR


def _field_values(field: FieldDescriptor, depth: int, nan: bool) -> st.SearchStrategy[Any]:
    entry = field.message_type
    if entry is not None and entry.GetOptions().map_entry:
        keys = _scalars(entry.fields_by_name["key"], nan=nan)
        return st.dictionaries(keys, _field_values(entry.fields_by_name["value"], depth, nan), max_size=3)
    if entry is None:
        element = _scalars(field, nan=nan)
    elif entry.file.name.startswith("google/protobuf/"):
        element = messages(entry, depth, nan=nan)
    elif depth >= _MAX_NESTING:
        return st.nothing() if field.containing_oneof is not None else st.just(None)
    else:
        element = st.deferred(lambda: messages(entry, depth + 1, nan=nan))
    return st.lists(element, max_size=3) if field.is_repeated else element


def _build(cls: type[Message], chosen: tuple[tuple[str, Any], ...]) -> Any:
    message: Any = cls()
    fields = message.DESCRIPTOR.fields_by_name
    for name, value in chosen:
        if value is None:
            continue
        field = fields[name]
        container: Any = getattr(message, name) if field.is_repeated else None
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            for key, item in value.items():
                if isinstance(item, Message):
                    container[key].CopyFrom(item)
                else:
                    container[key] = item
        elif field.is_repeated:
            for item in value:
                container.add().CopyFrom(item) if isinstance(item, Message) else container.append(item)
        elif isinstance(value, Message):
            getattr(message, name).CopyFrom(value)
        else:
            setattr(message, name, value)
    return message


# --- reference comparison ----------------------------------------------------------------------


def _reference(
    descriptor: Descriptor, document: Any, ignore: bool, into: Message | None = None
) -> bytes | None:
    """ParseDict's result (serialized deterministically, so NaNs compare), or None if it raises."""
    message = into if into is not None else message_factory.GetMessageClass(descriptor)()
    try:
        json_format.ParseDict(copy.deepcopy(document), message, ignore_unknown_fields=ignore)
    except Exception:  # ParseDict lets some TypeErrors, AttributeErrors, OverflowErrors out: rejections too
        return None
    return message.SerializeToString(deterministic=True)


def _ours(
    descriptor: Descriptor, document: Any, ignore: bool, into: Message | None = None
) -> bytes | DecodeError:
    codec = codec_for(descriptor)
    try:
        if into is None:
            message = codec.decode(document, ignore_unknown=ignore)
        else:
            codec.merge(into, document, ignore_unknown=ignore)
            message = into
    except DecodeError as exc:
        assert exc.violations, "a DecodeError names at least one violation"
        return exc
    return message.SerializeToString(deterministic=True)


def assert_parity(descriptor: Descriptor, document: Any) -> None:
    """The codec accepts `document` exactly when ParseDict does, with an equal message."""
    strict = _ours(descriptor, document, False)
    for ignore in (False, True):
        expected = _reference(descriptor, document, ignore)
        got = _ours(descriptor, document, ignore) if ignore else strict
        if expected is None:
            assert isinstance(got, DecodeError), f"ParseDict rejects, codec accepts (ignore_unknown={ignore})"
        else:
            assert got == expected, f"ParseDict accepts, codec differs (ignore_unknown={ignore}): {got!r}"
    lenient = _ours(descriptor, document, True)
    if isinstance(strict, DecodeError) and not isinstance(lenient, DecodeError):
        # What ignore_unknown forgives is unknown fields and unknown enum names, nothing else.
        for _, description in strict.violations:
            assert description.startswith(("unknown field", "unknown enum value")), description


# --- properties --------------------------------------------------------------------------------


@PROPERTIES
@given(data=st.data(), descriptor=st.sampled_from(DESCRIPTORS))
def test_decodes_and_encodes_what_message_to_dict_prints(data: st.DataObject, descriptor: Descriptor) -> None:
    message = data.draw(messages(descriptor))
    codec = codec_for(descriptor)
    document = json_format.MessageToDict(message)
    assert codec.encode(message) == document
    assert json_format.ParseDict(document, message_factory.GetMessageClass(descriptor)()) == message
    assert codec.decode(orjson.loads(orjson.dumps(document))) == message


@PROPERTIES
@given(
    data=st.data(),
    descriptor=st.sampled_from(DESCRIPTORS),
    proto_names=st.booleans(),
    int64_numbers=st.booleans(),
    enum_numbers=st.booleans(),
)
def test_decodes_every_spelling(
    data: st.DataObject, descriptor: Descriptor, proto_names: bool, int64_numbers: bool, enum_numbers: bool
) -> None:
    message = data.draw(messages(descriptor))
    document = json_format.MessageToDict(
        message,
        preserving_proto_field_name=proto_names,
        use_integers_for_enums=enum_numbers,
        unquote_int64_if_possible=int64_numbers,
    )
    assert codec_for(descriptor).decode(document) == message


@PROPERTIES
@given(data=st.data(), descriptor=st.sampled_from([Everything.DESCRIPTOR, *REQUESTS, *RESPONSES]))
def test_encodes_like_message_to_dict_nan_included(data: st.DataObject, descriptor: Descriptor) -> None:
    message = data.draw(messages(descriptor, nan=True))
    assert codec_for(descriptor).encode(message) == json_format.MessageToDict(message)


_ODD_VALUES: list[Any] = [
    None, True, False, 0, 1, -1, 2**31 - 1, 2**31, -(2**31) - 1, 2**32, 2**53 + 1, 2**63 - 1, 2**63,
    -(2**63) - 1, 2**64, 1.0, 1.5, -0.0, 1e39, 3.4028235e38, 1e300, 5e-324,
    "", "0", "1", "-1", "+1", "1.0", "1.5", "1e3", "1e400", " 1", "1 ", "\t1", "0x10", "1_000", "\u0661",
    "NaN", "nan", "Infinity", "-Infinity", "inf", "true", "false", "True", "null",
    "AA==", "AA", "_-8", "+/8=", "a", "abc", "@type",
    "COLOUR_RED", "COLOUR_PURPLE", "KIND_ERROR", "LEVEL_INFO", "NULL_VALUE", "WRITE_OUTCOME_ACCEPTED",
    "1970-01-01T00:00:00Z", "2025-11-22T16:37:00.123456Z", "2025-11-22T16:37:00.123456789+05:30",
    "2025-11-22T16:37:00-08:00", "2025-02-30T00:00:00Z", "2025-11-22t16:37:00Z", "2025-11-22T16:37:00",
    "2025-1-2T3:4:5Z", "0001-01-01T00:00:00Z", "0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z",
    "2025-11-22T16:37:60Z", "2025-11-22T16:37:00.Z", "2025-11-22T16:37:00+99:99", "2025-11-22 16:37:00Z",
    "1.5s", "-1.5s", "1s", "s", "1.0000000001s", "fooBar,baz", "foo_bar",
    [], [None], [1, "a"], ["fDouble"], ["unknownName"], ["a", "b"], {}, {"a": 1}, {"a": None},
    {"@type": "type.googleapis.com/codec_testing.v1.Nested", "a": 1}, {"@type": "nope"},
]  # fmt: skip
_NASTY: st.SearchStrategy[Any] = (
    st.sampled_from(_ODD_VALUES)
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=4)
    | json_values
)

_unknown_keys = st.sampled_from(
    ["colour", "unknownField", "[ext.name]", "[x]\n", "@type", "", "choice", "_o_int32"]
)


def _positions(document: Any) -> list[tuple[Any, Any]]:
    found: list[tuple[Any, Any]] = []

    def walk(node: Any) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            found.append((node, key))
            walk(value)

    walk(document)
    return found


def _objects(document: Any) -> list[dict[str, Any]]:
    return [document, *(c[k] for c, k in _positions(document) if isinstance(c[k], dict))]


def _alias(key: str) -> str:
    if "_" in key:
        return re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), key)
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), key)


def _mutate(data: st.DataObject, descriptor: Descriptor, document: Any) -> None:
    """One random change: a nasty value, an unknown key, an alias of a key, or another top-level field."""
    kind = data.draw(st.sampled_from(["replace", "replace", "unknown", "alias", "sibling", "wrap"]))
    positions = _positions(document)
    if kind in ("replace", "wrap") and positions:
        container, key = data.draw(st.sampled_from(positions))
        if kind == "replace":
            container[key] = copy.deepcopy(data.draw(_NASTY))  # sampled values are shared: never mutate them
        else:
            container[key] = data.draw(st.sampled_from([[container[key]], {"value": container[key]}]))
            container[key] = copy.deepcopy(container[key])
    elif kind == "unknown":
        data.draw(st.sampled_from(_objects(document)))[data.draw(_unknown_keys)] = copy.deepcopy(
            data.draw(_NASTY)
        )
    elif kind == "alias":
        keyed = [(obj, key) for obj in _objects(document) for key in obj]
        if keyed:
            obj, key = data.draw(st.sampled_from(keyed))
            obj[_alias(key)] = copy.deepcopy(data.draw(st.sampled_from([obj[key], None]) | _NASTY))
    else:
        # Another message's field at the top: a second oneof member, often.
        other = json_format.MessageToDict(data.draw(messages(descriptor)))
        for key in data.draw(st.lists(st.sampled_from(sorted(other)), max_size=2)) if other else []:
            document[key] = other[key]


@PROPERTIES
@given(data=st.data(), descriptor=st.sampled_from(DESCRIPTORS), proto_names=st.booleans())
def test_accepts_and_rejects_mutated_documents_like_parse_dict(
    data: st.DataObject, descriptor: Descriptor, proto_names: bool
) -> None:
    message = data.draw(messages(descriptor))
    document: Any = json_format.MessageToDict(message, preserving_proto_field_name=proto_names)
    for _ in range(data.draw(st.integers(1, 3))):
        _mutate(data, descriptor, document)
    assert_parity(descriptor, document)


def _fuzzed(descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[Any]:
    """Objects keyed by the message's field names (either spelling) and strangers, valued by anything."""
    keys = sorted({key for field in descriptor.fields for key in (field.name, field.json_name)})
    nested = [
        (field.json_name, field.message_type)
        for field in descriptor.fields
        if field.message_type is not None and not field.message_type.GetOptions().map_entry
    ]
    values: st.SearchStrategy[Any] = _NASTY
    if nested and depth < 2:
        values = _NASTY | st.sampled_from(nested).flatmap(lambda pair: _fuzzed(pair[1], depth + 1))
    return st.dictionaries(
        (st.sampled_from(keys) | _unknown_keys) if keys else _unknown_keys, values, max_size=4
    )


@PROPERTIES
@given(data=st.data(), descriptor=st.sampled_from(DESCRIPTORS))
def test_accepts_and_rejects_fuzzed_documents_like_parse_dict(
    data: st.DataObject, descriptor: Descriptor
) -> None:
    assert_parity(descriptor, data.draw(_fuzzed(descriptor) | _NASTY))


@PROPERTIES
@given(data=st.data(), descriptor=st.sampled_from(DESCRIPTORS), mutate=st.booleans())
def test_merges_like_parse_dict(data: st.DataObject, descriptor: Descriptor, mutate: bool) -> None:
    before = data.draw(messages(descriptor))
    document = json_format.MessageToDict(data.draw(messages(descriptor)))
    if mutate:
        _mutate(data, descriptor, document)
    for ignore in (False, True):
        expected = _reference(descriptor, document, ignore, into=copy.deepcopy(before))
        got = _ours(descriptor, document, ignore, into=copy.deepcopy(before))
        assert got == expected if expected is not None else isinstance(got, DecodeError)


# --- tables: scalars and well-known types ---------------------------------------------------------

_EDGES = [
    ("fInt32", 1), ("fInt32", "1e3"), ("fInt32", 1.0), ("fInt32", 1.5), ("fInt32", True), ("fInt32", 2**31),
    ("fInt32", "0x10"), ("fInt32", " 1"), ("fInt32", "\t1"), ("fInt32", "1_000"), ("fInt32", "\u0661"),
    ("fUint32", -1), ("fUint32", 2**32 - 1), ("fInt64", "9223372036854775807"), ("fInt64", 2**63),
    ("fUint64", "18446744073709551615"), ("fUint64", 1.8446744073709552e19), ("fSint64", "-1"),
    ("fDouble", "NaN"), ("fDouble", "nan"), ("fDouble", "Infinity"), ("fDouble", "-Infinity"),
    ("fDouble", 1), ("fDouble", True), ("fDouble", "1e400"), ("fDouble", 2**1100), ("fFloat", 1e39),
    ("fFloat", "1e39"), ("fFloat", 3.4028235e38), ("fBool", "true"), ("fBool", 1), ("fString", 1),
    ("fString", "\ud800"), ("fBytes", "AA=="), ("fBytes", "_-8"), ("fBytes", "+/8="), ("fBytes", "AAA"),
    ("fBytes", "A"), ("fBytes", 5), ("fColour", "COLOUR_RED"), ("fColour", 1), ("fColour", "1"),
    ("fColour", 7), ("fColour", 1.5), ("fColour", True), ("fColour", "COLOUR_PURPLE"), ("fColour", 2**31),
    ("fColour", 2**32 + 1), ("fColour", "-4294967295"),
    ("fColour", []), ("fColour", None), ("null", None), ("null", "NULL_VALUE"), ("null", 0),
    ("value", None), ("cValue", None), ("rValue", None), ("rValue", [None, 1, "a", [], {}]),
    ("rInt32", [1, None]), ("rNested", [None]), ("rColour", ["COLOUR_PURPLE", 1]),
    ("mStringValue", {"a": None}), ("mInt32Int64", {"1": "2", "01": 3}), ("mInt32Int64", {"x": 1}),
    ("mBoolString", {"true": "a", "false": "b"}), ("mBoolString", {"True": "a"}),
    ("mInt64Colour", {"1": "NOPE"}), ("mStringNested", {"k": None}),
    ("mStringTimestamp", {"k": "1970-01-01T00:00:00Z"}), ("mFixed32Nested", {"-1": {}}),
    ("timestamp", "2025-11-22T16:37:00.123456789+05:30"), ("timestamp", "2025-1-2T3:4:5Z"),
    ("timestamp", 0), ("timestamp", "2025-11-22T16:37:00.Z"), ("timestamp", "0001-01-01T00:00:00+00:01"),
    ("duration", "-0.5s"), ("duration", "1.0000000001s"), ("duration", 1),
    ("fieldMask", "fooBar,baz.quxQuux"), ("fieldMask", "foo_bar"), ("struct", []),
    ("struct", {"a": [1, {"b": None}]}), ("listValue", {}), ("empty", {}), ("empty", ""), ("empty", ["x"]),
    ("empty", ["choice"]), ("fNested", "fa"), ("fNested", ["bText"]), ("fNested", [1]), ("fNested", 1),
    ("any", {}), ("any", {"@type": "type.googleapis.com/codec_testing.v1.Nested", "a": 1}),
    ("any", {"@type": "type.googleapis.com/google.protobuf.Timestamp", "value": "1970-01-01T00:00:00Z"}),
    ("any", {"a": 1}), ("wInt64", "5"), ("wInt64", None), ("wBool", "true"), ("wBytes", "AA"),
    ("wFloat", "NaN"), ("cNull", None), ("cString", None), ("oInt32", 0), ("jsonCustom", "x"),
    ("custom", "x"),
]  # fmt: skip


@pytest.mark.parametrize(("key", "value"), _EDGES, ids=[f"{k}={v!r}" for k, v in _EDGES])
def test_scalar_and_well_known_edges_match_parse_dict(key: str, value: Any) -> None:
    assert_parity(Everything.DESCRIPTOR, {key: value})


def test_documented_conversions() -> None:
    codec = codec_for(Everything.DESCRIPTOR)
    message: Any = codec.decode(
        {
            "fInt32": "1e3",
            "fInt64": 7,
            "fDouble": "-Infinity",
            "fFloat": 0.1,
            "fBytes": "__8",
            "fColour": 2,
            "value": None,
            "mBoolString": {"true": "t"},
            "timestamp": "1970-01-01T01:00:00.5+01:00",
            "oBool": False,
        }
    )
    assert (message.f_int32, message.f_int64, message.f_double) == (1000, 7, -math.inf)
    assert (message.f_bytes, message.f_colour, message.WhichOneof("_o_bool")) == (b"\xff\xff", 2, "o_bool")
    assert message.value.WhichOneof("kind") == "null_value"
    assert dict(message.m_bool_string) == {True: "t"}
    assert (message.timestamp.seconds, message.timestamp.nanos) == (0, 500_000_000)
    nan: Any = codec.decode({"fDouble": "NaN"})
    assert math.isnan(nan.f_double)
    encoded = codec.encode(message)
    assert encoded["fInt64"] == "7" and encoded["fFloat"] == 0.1 and encoded["fDouble"] == "-Infinity"


@pytest.mark.parametrize(
    "message",
    [
        pytest.param(Everything(value=struct_pb2.Value(number_value=math.nan)), id="nan-value"),
        pytest.param(Everything(r_value=[struct_pb2.Value(number_value=math.inf)]), id="infinite-value"),
        pytest.param(
            Everything(timestamp=timestamp_pb2.Timestamp(seconds=_TIMESTAMP_MAX + 1)), id="timestamp"
        ),
        pytest.param(Everything(duration=duration_pb2.Duration(seconds=1, nanos=-1)), id="duration"),
    ],
)
def test_encode_refuses_what_message_to_dict_refuses(message: Message) -> None:
    with pytest.raises(json_format.Error):
        json_format.MessageToDict(message)
    with pytest.raises(json_format.SerializeToJsonError):
        codec_for(message.DESCRIPTOR).encode(message)


def test_encode_keeps_what_message_to_dict_keeps() -> None:
    message: Any = Everything(
        f_colour=9, value=struct_pb2.Value(), null=0, f_float=0.1, w_uint64=wrappers_pb2.UInt64Value()
    )
    message.m_bool_string[False] = ""
    assert codec_for(Everything.DESCRIPTOR).encode(message) == json_format.MessageToDict(message)


# --- tables: violations ------------------------------------------------------------------------

WRITE = cast(Descriptor, ingest_service_pb2.WriteEventsRequest.DESCRIPTOR)


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        pytest.param(
            {"events": [{"kind": "KIND_ERROR"}, {"colour": "red", "size": 3}], "extra": 1},
            [
                ("events[1].colour", "unknown field"),
                ("events[1].size", "unknown field"),
                ("extra", "unknown field"),
            ],
            id="every-unknown-field",
        ),
        pytest.param(
            {"events": [{"occurredAt": "yesterday"}, {"occurred_at": "2025-13-01T00:00:00Z"}]},
            [("events[0].occurredAt", "timestamp"), ("events[1].occurred_at", "timestamp")],
            id="timestamps-by-either-name",
        ),
        pytest.param(
            {"events": [{"error": {}, "log": {}}]}, [("events[0].log", "error is already set")], id="oneof"
        ),
        pytest.param(
            {"events": [{"tags": {"http.method": 5, "ok": "x", "n": None}}]},
            [
                ("events[0].tags.`http.method`", "expected a string"),
                ("events[0].tags.n", "expected a string"),
            ],
            id="map-values",
        ),
        pytest.param(
            {"events": [{"error": {"exception": {"frames": [{}, {"lineno": 2**31, "inApp": "yes"}]}}}]},
            [
                ("events[0].error.exception.frames[1].lineno", "out of range for int32"),
                ("events[0].error.exception.frames[1].inApp", "expected true or false"),
            ],
            id="deep",
        ),
        pytest.param({"events": "x"}, [("events", "expected an array")], id="not-an-array"),
        pytest.param({"events": [None]}, [("events[0]", "null")], id="null-element"),
        pytest.param(
            {"events": [{"kind": "KIND_NOPE"}]}, [("events[0].kind", "unknown enum value")], id="enum"
        ),
        pytest.param(
            {"events": [{"context": [1]}]}, [("events[0].context", "expected an object")], id="struct"
        ),
        pytest.param(
            {"events": [{"audit": {"changes": [{"before": {"a": [1, {"b": 10**400}]}}]}}]},
            [("events[0].audit.changes[0].before.a[1].b", "")],
            id="value-number",
        ),
        pytest.param({"atomic": "yes"}, [("atomic", "expected true or false")], id="bool"),
        pytest.param({"[ingestd.ext]": 1}, [("`[ingestd.ext]`", "has no extensions")], id="extension"),
        pytest.param(5, [("", "expected an object")], id="not-an-object"),
    ],
)
def test_violations_name_every_path(document: Any, expected: list[tuple[str, str]]) -> None:
    with pytest.raises(DecodeError) as raised:
        codec_for(WRITE).decode(document)
    assert [path for path, _ in raised.value.violations] == [path for path, _ in expected]
    for (_, description), (_, fragment) in zip(raised.value.violations, expected, strict=True):
        assert fragment in description
    assert _reference(WRITE, document, False) is None


def test_too_deep_is_refused_as_parse_dict_refuses() -> None:
    # Each level of a Struct is two messages (Struct, Value); find where ParseDict starts refusing.
    context: Any = "leaf"
    while _reference(WRITE, {"events": [{"context": {"a": context}}]}, False) is not None:
        context = {"a": context}
    assert_parity(WRITE, {"events": [{"context": context}]})
    assert_parity(WRITE, {"events": [{"context": {"a": context}}]})
    with pytest.raises(DecodeError, match="nested more than 100"):
        codec_for(WRITE).decode({"events": [{"context": {"a": context}}]})


def test_ignore_unknown_skips_unknown_fields_and_enum_names() -> None:
    request: Any = codec_for(WRITE).decode(
        {"events": [{"colour": 1, "kind": "KIND_NOPE", "level": "LEVEL_INFO"}], "extra": {}},
        ignore_unknown=True,
    )
    assert list(request.events) == [event_pb2.Event(level=event_pb2.LEVEL_INFO)]


def test_merge_applies_a_body_over_path_variables() -> None:
    request: Any = ingest_service_pb2.WriteEventsRequest(project="from-path", atomic=True)
    codec_for(WRITE).merge(request, {"events": [{"message": "m"}], "atomic": None})
    assert request == ingest_service_pb2.WriteEventsRequest(
        project="from-path", events=[event_pb2.Event(message="m")]
    )


def test_codecs_are_cached() -> None:
    assert codec_for(WRITE) is codec_for(WRITE)
    assert isinstance(codec_for(WRITE), MessageCodec)
    assert str(DecodeError([("a.b", "bad"), ("", "worse")])) == "a.b: bad; worse"


# --- tables: assign_text -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "values", "expected"),
    [
        ("page_size", ["20"], event_service_pb2.ListEventsRequest(page_size=20)),
        ("pageSize", ["1", "2"], event_service_pb2.ListEventsRequest(page_size=2)),
        ("kind", ["KIND_LOG"], event_service_pb2.ListEventsRequest(kind=event_pb2.KIND_LOG)),
        ("level", ["3"], event_service_pb2.ListEventsRequest(level=event_pb2.LEVEL_INFO)),
        ("project", ["p/1"], event_service_pb2.ListEventsRequest(project="p/1")),
        ("project", [], event_service_pb2.ListEventsRequest()),
        (
            "start_time",
            ["2025-11-22T16:37:00.5Z"],
            event_service_pb2.ListEventsRequest(
                start_time=timestamp_pb2.Timestamp(seconds=1763829420, nanos=500_000_000)
            ),
        ),
        (
            "endTime",
            ["1970-01-01T00:00:00Z"],
            event_service_pb2.ListEventsRequest(end_time=timestamp_pb2.Timestamp()),
        ),
    ],
)
def test_assign_text_binds_request_fields(path: str, values: list[str], expected: Message) -> None:
    message = event_service_pb2.ListEventsRequest()
    assign_text(message, path, values)
    assert message == expected
    assert message.ListFields() == expected.ListFields()


def test_assign_text_reads_every_type_from_text() -> None:
    message: Any = Everything()
    for path, values in [
        ("f_int64", ["-9223372036854775808"]), ("fUint64", ["18446744073709551615"]), ("f_double", ["NaN"]),
        ("f_float", ["-Infinity"]), ("f_bool", ["true"]), ("f_bytes", ["__8"]),
        ("f_colour", ["COLOUR_GREEN"]), ("r_int32", ["1", "2", "3"]), ("r_colour", ["1", "COLOUR_GREEN"]),
        ("f_nested.a", ["4"]), ("fNested.child.bText", ["x"]), ("duration", ["1.5s"]),
        ("field_mask", ["fooBar,baz"]), ("w_bool", ["false"]), ("w_int64", ["12"]),
        ("value", ['{"a": [1, null]}']), ("struct", ['{"b": true}']),
        ("r_timestamp", ["1970-01-01T00:00:01Z"]), ("o_int32", ["0"]), ("c_string", ["chosen"]),
    ]:  # fmt: skip
        assign_text(message, path, values)
    assert message.f_int64 == -(2**63) and message.f_uint64 == 2**64 - 1 and math.isnan(message.f_double)
    assert message.f_float == -math.inf and message.f_bool and message.f_bytes == b"\xff\xff"
    assert list(message.r_int32) == [1, 2, 3] and list(message.r_colour) == [1, 2] and message.f_colour == 2
    assert message.f_nested.a == 4 and message.f_nested.child.b_text == "x"
    assert (message.duration.seconds, message.duration.nanos) == (1, 500_000_000)
    assert list(message.field_mask.paths) == ["foo_bar", "baz"]
    assert message.HasField("w_bool") and not message.w_bool.value and message.w_int64.value == 12
    assert json_format.MessageToDict(message.value) == {"a": [1.0, None]} and message.struct["b"] is True
    assert [t.seconds for t in message.r_timestamp] == [1]
    assert message.HasField("o_int32") and message.WhichOneof("choice") == "c_string"


@pytest.mark.parametrize(
    ("path", "values", "fragment"),
    [
        ("nope", ["1"], "unknown field 'nope'"),
        ("f_nested.nope", ["1"], "unknown field 'nope'"),
        ("f_int32.a", ["1"], "not a singular message field"),
        ("r_nested.a", ["1"], "not a singular message field"),
        ("f_nested", ["1"], "cannot be set from text"),
        ("m_string_string", ["1"], "map field"),
        ("f_int32", ["1.5"], "not an integer"),
        ("f_int32", ["2147483648"], "out of range"),
        ("f_bool", ["1"], '"true" or "false"'),
        ("f_colour", ["COLOUR_PURPLE"], "unknown enum value"),
        ("timestamp", ["yesterday"], "RFC 3339"),
        ("duration", ["1h"], "Duration"),
        ("value", ["{"], "not JSON"),
        ("r_int32", ["1", "x"], "not an integer"),
    ],
)
def test_assign_text_refuses_with_the_path(path: str, values: list[str], fragment: str) -> None:
    with pytest.raises(DecodeError) as raised:
        assign_text(Everything(), path, values)
    [(violation_path, description)] = raised.value.violations
    assert violation_path == path
    assert fragment in description
