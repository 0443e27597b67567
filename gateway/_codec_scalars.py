"""Scalar conversions for the compiled JSON codec (`gateway.codec`), in both directions.

Each decoder takes one value as `orjson.loads` produces it and returns what the field is set to,
or raises `Invalid`. It accepts exactly what `google.protobuf.json_format` accepts, quirks
included (integer-valued floats and strings such as "1e3" for integer fields, `true` for a double,
1.5 for an enum), because json_format is the reference semantics: every branch below that looks
odd mirrors a line of `json_format._ConvertScalarFieldValue` and friends. Each starts with a fast
path for the canonical form, and falls back to the reference algorithm only when that misses.

Each encoder returns what `json_format.MessageToDict` prints for a field value.
"""

from __future__ import annotations

import base64
import datetime
import math
import re
import struct
from collections.abc import Callable
from typing import Any, Final

from google.protobuf import descriptor_pool, json_format
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.protobuf.timestamp_pb2 import Timestamp

Decoder = Callable[[Any], Any]
Encoder = Callable[[Any], Any]

# json_format's own limit, and the depth it counts: every message (well-known types included)
# nested in the document adds one, and a message deeper than this is rejected.
MAX_DEPTH: Final = 100

_SURROGATE: Final = re.compile("[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]")
_FLOAT_MAX: Final = float.fromhex("0x1.fffffep+127")
_INF: Final = math.inf

# (lowest, highest, name) per integer cpp type; enums are int32 on the wire.
INT_RANGES: Final = {
    FieldDescriptor.CPPTYPE_INT32: (-(2**31), 2**31 - 1, "int32"),
    FieldDescriptor.CPPTYPE_UINT32: (0, 2**32 - 1, "uint32"),
    FieldDescriptor.CPPTYPE_INT64: (-(2**63), 2**63 - 1, "int64"),
    FieldDescriptor.CPPTYPE_UINT64: (0, 2**64 - 1, "uint64"),
    FieldDescriptor.CPPTYPE_ENUM: (-(2**31), 2**31 - 1, "int32"),
}


def message_type(field: FieldDescriptor) -> Descriptor:
    """A message field's type (the stubs allow None, which message fields never have)."""
    assert field.message_type is not None, field.full_name
    return field.message_type


def enum_type(field: FieldDescriptor) -> EnumDescriptor:
    """An enum field's type."""
    assert field.enum_type is not None, field.full_name
    return field.enum_type


class Invalid(Exception):
    """Part of a document violates the proto3 JSON mapping.

    `violations` holds (path segments, innermost first, description). Each enclosing object or
    array appends its own segment as the exception passes through it, so a path costs nothing
    until something is wrong.
    """

    def __init__(self, violations: list[tuple[list[str], str]]) -> None:
        super().__init__(violations)
        self.violations = violations


class UnknownEnum(Invalid):
    """An enum value given by a name the enum does not have: ignored under `ignore_unknown`."""


def invalid(description: str) -> Invalid:
    """An `Invalid` with one violation at the point that raises it."""
    return Invalid([([], description)])


def show(value: object) -> str:
    """A short rendering of a JSON value for a violation's description."""
    if value is None or value is True or value is False:
        return {None: "null", True: "true", False: "false"}[value]
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# --- integers ----------------------------------------------------------------------------------


def _integer(value: object) -> int:
    """json_format._ConvertInteger: ints, integral floats, and strings of either (no spaces)."""
    if isinstance(value, float) and not value.is_integer():
        raise invalid(f"{show(value)} is not an integer")
    if isinstance(value, str) and " " in value:
        raise invalid(f"{show(value)} is not an integer")
    if isinstance(value, bool):
        raise invalid(f"expected an integer, not {show(value)}")
    try:
        number: int = int(value)  # type: ignore[call-overload]
        return number
    except ValueError:
        pass
    except TypeError:
        raise invalid(f"expected an integer, not {show(value)}") from None
    try:
        real = float(value)  # type: ignore[arg-type]
    except (ValueError, TypeError):
        raise invalid(f"{show(value)} is not an integer") from None
    if not real.is_integer():
        raise invalid(f"{show(value)} is not an integer")
    return int(real)


def integer_decoder(cpp_type: int) -> Decoder:
    """Decodes a JSON number or string into an integer field of `cpp_type`, range-checked."""
    lowest, highest, name = INT_RANGES[cpp_type]

    def decode(value: Any) -> int:
        number = value if type(value) is int else _integer(value)
        if lowest <= number <= highest:
            return number
        raise invalid(f"{show(value)} is out of range for {name}")

    return decode


# --- floating point ----------------------------------------------------------------------------


def float_decoder(single: bool) -> Decoder:
    """Decodes a JSON number or "NaN"/"Infinity"/"-Infinity" (or numeric text) into a float or double."""

    def decode(value: Any) -> float:
        if isinstance(value, float):
            if math.isnan(value) or math.isinf(value):
                raise invalid(f'{show(value)} is not a JSON number; quote "NaN", "Infinity" or "-Infinity"')
            if single and not -_FLOAT_MAX <= value <= _FLOAT_MAX:
                raise invalid(f"{show(value)} is out of range for float")
            return value
        if value == "nan":
            raise invalid('"nan" is not a number; use "NaN"')
        try:
            return float(value)
        except ValueError:
            if value == "-Infinity":
                return -_INF
            if value == "Infinity":
                return _INF
            if value == "NaN":
                return math.nan
            raise invalid(f"{show(value)} is not a number") from None
        except (TypeError, OverflowError):
            # json_format lets OverflowError (an int beyond a double) escape ParseDict: a rejection too.
            raise invalid(f"expected a number, not {show(value)}") from None

    return decode


def _truncate_to_float32(value: float) -> float:
    unpacked: float = struct.unpack("<f", struct.pack("<f", value))[0]
    return unpacked


def shortest_float32(value: float) -> float:
    """type_checkers.ToShortestFloat: the shortest decimal that is the same float32."""
    precision = 6
    rounded = float(f"{value:.{precision}g}")
    while _truncate_to_float32(rounded) != value:
        precision += 1
        rounded = float(f"{value:.{precision}g}")
    return rounded


def encode_double(value: float) -> float | str:
    """A double's JSON value: itself, or "NaN"/"Infinity"/"-Infinity"."""
    if -_INF < value < _INF:
        return value
    if value != value:
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def encode_float(value: float) -> float | str:
    """A float's JSON value: its shortest round-tripping decimal, or "NaN"/"Infinity"/"-Infinity"."""
    if -_INF < value < _INF:
        return shortest_float32(value)
    return encode_double(value)


# --- bool, string, bytes -----------------------------------------------------------------------


def decode_bool(value: Any) -> bool:
    """A JSON true or false, nothing else."""
    if value is True or value is False:
        return value
    raise invalid(f"expected true or false, not {show(value)}")


def decode_bool_text(value: Any) -> bool:
    """A map key or a query value: the text "true" or "false"."""
    if value == "true":
        return True
    if value == "false":
        return False
    raise invalid(f'expected "true" or "false", not {show(value)}')


def decode_string(value: Any) -> str:
    """A JSON string without unpaired surrogates (which could not be encoded as UTF-8)."""
    if isinstance(value, str):
        if value.isascii() or _SURROGATE.search(value) is None:
            return value
        raise invalid("contains an unpaired surrogate")
    raise invalid(f"expected a string, not {show(value)}")


def decode_bytes(value: Any) -> bytes:
    """Base64, standard or URL-safe alphabet, padding optional (json_format decodes leniently)."""
    try:
        encoded = value.encode("utf-8") if isinstance(value, str) else value
        padded = encoded + b"=" * (4 - len(encoded) % 4)
        return base64.urlsafe_b64decode(padded)
    except (ValueError, TypeError):
        raise invalid(f"expected base64 text, not {show(value)}") from None


def encode_bytes(value: bytes) -> str:
    """Standard base64 with padding."""
    return base64.b64encode(value).decode("ascii")


# --- enums -------------------------------------------------------------------------------------


def _custom_enum_names(enum: EnumDescriptor) -> dict[str, int]:
    """Names from the `pb.enumvalue.json` option, which json_format honours when that extension is loaded."""
    try:
        extension = descriptor_pool.Default().FindExtensionByName("pb.enumvalue.json")
    except KeyError:
        return {}
    names: dict[str, int] = {}
    for value in enum.values:
        options = value.GetOptions()
        if options.HasExtension(extension):  # type: ignore[arg-type]
            option: Any = options.Extensions[extension]  # type: ignore[index]
            if option.HasField("string"):
                names[option.string] = value.number
    return names


def enum_decoder(enum: EnumDescriptor) -> Decoder:
    """Decodes an enum value by name or number (a number as JSON number or string).

    Raises `UnknownEnum` for a name the enum lacks, which `ignore_unknown` skips as json_format does;
    an unknown number is kept for an open enum (proto3) and rejected for a closed one.
    """
    by_name = {value.name: value.number for value in enum.values}
    custom = _custom_enum_names(enum)
    # The slow path asks the descriptor's own mappings, as json_format does: upb's values_by_number
    # reads its key as an int32, so 2**32 + 1 finds the value numbered 1.
    values_by_name, values_by_number = enum.values_by_name, enum.values_by_number
    closed = enum.is_closed
    lowest, highest, _ = INT_RANGES[FieldDescriptor.CPPTYPE_ENUM]

    def decode(value: Any) -> int:
        if type(value) is str:
            number = by_name.get(value)
            if number is not None:
                return number
        try:
            found = values_by_name.get(value, None)
        except Exception:
            raise invalid(f"expected an enum name or number, not {show(value)}") from None
        if found is not None:
            return found.number
        if isinstance(value, str) and value in custom:
            return custom[value]
        try:
            number = int(value)
        except ValueError:
            raise UnknownEnum([([], f"unknown enum value {show(value)} for {enum.full_name}")]) from None
        except (TypeError, OverflowError):
            raise invalid(f"expected an enum name or number, not {show(value)}") from None
        try:
            found = values_by_number.get(number, None)
        except Exception:
            found = None
        if found is not None:
            return found.number
        if closed or not lowest <= number <= highest:
            raise invalid(f"invalid enum number {show(value)} for {enum.full_name}")
        return number

    return decode


def enum_encoder(enum: EnumDescriptor) -> Encoder:
    """An enum value's JSON: its name, its number when the (open) enum has no such value."""
    names = {value.number: value.name for value in enum.values}
    names.update({number: name for name, number in _custom_enum_names(enum).items()})
    closed = enum.is_closed
    if enum.full_name == "google.protobuf.NullValue":
        return lambda value: None

    def encode(value: int) -> str | int:
        name = names.get(value)
        if name is not None:
            return name
        if closed:
            raise json_format.SerializeToJsonError(
                "Enum field contains an integer value which can not mapped to an enum value."
            )
        return value

    return encode


# --- timestamps --------------------------------------------------------------------------------

_TIMESTAMP: Final = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.(\d{1,9}))?(?:Z|([+-])(\d\d):(\d\d))\Z", re.ASCII
)
_TIMESTAMP_MIN: Final = -62135596800  # 0001-01-01T00:00:00Z
_TIMESTAMP_MAX: Final = 253402300799  # 9999-12-31T23:59:59Z
_EPOCH: Final = datetime.datetime(1970, 1, 1)
_EPOCH_ORDINAL: Final = 719163  # _EPOCH.toordinal()


def parse_timestamp(value: Any) -> tuple[int, int]:
    """RFC 3339 text to (seconds, nanos), as `Timestamp.FromJsonString` parses it."""
    if type(value) is str:
        match = _TIMESTAMP.match(value)
        if match is not None:
            fraction, sign, offset_hours, offset_minutes = match.groups()
            try:
                # The regular expression fixed the layout; this checks the ranges (month days too).
                since_epoch = datetime.datetime.fromisoformat(value[:19]) - _EPOCH
            except ValueError:
                pass
            else:
                seconds = since_epoch.days * 86400 + since_epoch.seconds
                if sign is not None:
                    offset = (int(offset_hours) * 60 + int(offset_minutes)) * 60
                    seconds += -offset if sign == "+" else offset
                if _TIMESTAMP_MIN <= seconds <= _TIMESTAMP_MAX:
                    return seconds, int(fraction.ljust(9, "0")) if fraction else 0
    # Anything else gets the reference parser, which accepts a few more spellings (one-digit
    # fields, odd offsets) and explains its refusals.
    scratch = Timestamp()
    try:
        scratch.FromJsonString(value)
    except Exception:
        raise invalid(f"{show(value)} is not an RFC 3339 timestamp") from None
    return scratch.seconds, scratch.nanos


_dates: dict[int, str] = {}  # days since the epoch -> "YYYY-MM-DD", for the days recently seen
_MAX_DATES: Final = 4096


def format_timestamp(seconds: int, nanos: int) -> str:
    """`Timestamp.ToJsonString`: Z-normalized, with 0, 3, 6 or 9 fractional digits."""
    if not _TIMESTAMP_MIN <= seconds <= _TIMESTAMP_MAX or not 0 <= nanos < 1_000_000_000:
        raise json_format.SerializeToJsonError(f"Timestamp is not valid: seconds {seconds}, nanos {nanos}")
    days, rest = divmod(seconds, 86400)
    date = _dates.get(days)
    if date is None:
        date = datetime.date.fromordinal(days + _EPOCH_ORDINAL).isoformat()
        if len(_dates) < _MAX_DATES:
            _dates[days] = date
    hour, rest = divmod(rest, 3600)
    minute, second = divmod(rest, 60)
    text = f"{date}T{hour:02d}:{minute:02d}:{second:02d}"
    if nanos == 0:
        return text + "Z"
    if nanos % 1_000_000 == 0:
        return f"{text}.{nanos // 1_000_000:03d}Z"
    if nanos % 1_000 == 0:
        return f"{text}.{nanos // 1_000:06d}Z"
    return f"{text}.{nanos:09d}Z"


# --- per field ---------------------------------------------------------------------------------


def scalar_decoder(field: FieldDescriptor, *, text: bool = False) -> Decoder:
    """The decoder for a scalar (non-message) field; `text` for map keys and query values."""
    cpp_type = field.cpp_type
    if cpp_type in INT_RANGES and cpp_type != FieldDescriptor.CPPTYPE_ENUM:
        return integer_decoder(cpp_type)
    if cpp_type == FieldDescriptor.CPPTYPE_DOUBLE:
        return float_decoder(single=False)
    if cpp_type == FieldDescriptor.CPPTYPE_FLOAT:
        return float_decoder(single=True)
    if cpp_type == FieldDescriptor.CPPTYPE_BOOL:
        return decode_bool_text if text else decode_bool
    if cpp_type == FieldDescriptor.CPPTYPE_ENUM:
        return enum_decoder(enum_type(field))
    if field.type == FieldDescriptor.TYPE_BYTES:
        return decode_bytes
    return decode_string


def scalar_encoder(field: FieldDescriptor) -> Encoder | None:
    """The encoder for a scalar field's value, or None when the value is its own JSON."""
    cpp_type = field.cpp_type
    if cpp_type in (FieldDescriptor.CPPTYPE_INT64, FieldDescriptor.CPPTYPE_UINT64):
        return str
    if cpp_type == FieldDescriptor.CPPTYPE_DOUBLE:
        return encode_double
    if cpp_type == FieldDescriptor.CPPTYPE_FLOAT:
        return encode_float
    if cpp_type == FieldDescriptor.CPPTYPE_ENUM:
        return enum_encoder(enum_type(field))
    if field.type == FieldDescriptor.TYPE_BYTES:
        return encode_bytes
    return None
