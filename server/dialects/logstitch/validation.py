"""LogStitch's Zod-style checks of request bodies and query parameters, shared by its endpoints
(docs/vendors/logstitch.md §3.3). Pure.

A reader returns the value at a key when it passes, None when the key is absent, and otherwise
appends a `(field, message)` detail to `found` and returns None, so that one answer lists every bad
value, as a Zod parse does. Messages are Zod v3's defaults (`Required`, `Expected string, received
number`, `Invalid enum value. Expected 'a' | 'b', received 'c'`, ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from server.dialects.answer import Answer
from server.dialects.common import zod_expected, zod_type
from server.dialects.logstitch.common import INVALID_JSON, Detail, validation_error
from server.dialects.logstitch.translate import parse_datetime
from server.errors import InvalidArgument

DEFAULT_LIMIT = 50
MAX_LIMIT = 100

_MAX_SAFE_INTEGER = 2**53 - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def object_body(data: bytes) -> dict[str, Any]:
    """A request body that must be one JSON object.

    Raises:
        Answer: 400 `validation_error`: not JSON, or not an object.
    """
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise validation_error([], INVALID_JSON) from None
    if not isinstance(body, dict):
        raise validation_error([("", zod_expected("object", body))])
    return body


def invalid(exc: InvalidArgument) -> Answer:
    """The 400 `validation_error` for a domain InvalidArgument, fields named as the body's keys
    (`condition.action_pattern` → `action_pattern`, `update.url` → `url`, `update_mask` → ``)."""
    details = []
    for field, description in exc.violations:
        head, _, rest = field.partition(".")
        if head in ("rule", "update", "webhook") and rest:
            field = rest
        field = field.removeprefix("condition.")
        details.append(("" if field in ("update", "update_mask") else field, description))
    return validation_error(details)


def read_string(
    body: dict[str, Any], name: str, found: list[Detail], *, min_chars: int = 0, max_chars: int | None = None
) -> str | None:
    """The string at `name`, or None when absent or bad."""
    if name not in body:
        return None
    value = body[name]
    if not isinstance(value, str):
        found.append((name, zod_expected("string", value)))
    elif len(value) < min_chars:
        found.append((name, f"String must contain at least {min_chars} character(s)"))
    elif max_chars is not None and len(value) > max_chars:
        found.append((name, f"String must contain at most {max_chars} character(s)"))
    else:
        return value
    return None


def read_integer(
    body: dict[str, Any],
    name: str,
    found: list[Detail],
    *,
    minimum: int,
    maximum: int | None = None,
    positive: bool = False,
) -> int | None:
    """The whole number at `name` within [minimum, maximum], or None when absent or bad.
    `positive` words the lower bound as Zod's `.positive()` does."""
    if name not in body:
        return None
    value = body[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        found.append((name, zod_expected("number", value)))
    elif isinstance(value, float) and not value.is_integer():
        found.append((name, "Expected integer, received float"))
    elif value < minimum:
        bound = "greater than 0" if positive else f"greater than or equal to {minimum}"
        found.append((name, f"Number must be {bound}"))
    elif value > (maximum := _MAX_SAFE_INTEGER if maximum is None else maximum):
        # Unbounded in the document, but a JavaScript integer (Zod's `.int()`) is a safe one.
        found.append((name, f"Number must be less than or equal to {maximum}"))
    else:
        return int(value)
    return None


def read_enum(body: dict[str, Any], name: str, allowed: Sequence[str], found: list[Detail]) -> str | None:
    """The value at `name` if it is one of `allowed`, or None when absent or bad."""
    if name not in body:
        return None
    value = body[name]
    expected = " | ".join(f"'{a}'" for a in allowed)
    if not isinstance(value, str):
        found.append((name, f"Expected {expected}, received {zod_type(value)}"))
        return None
    if value not in allowed:
        found.append((name, f"Invalid enum value. Expected {expected}, received '{value}'"))
        return None
    return value


def read_bool(body: dict[str, Any], name: str, found: list[Detail]) -> bool | None:
    """The boolean at `name`, or None when absent or bad."""
    if name not in body:
        return None
    value = body[name]
    if isinstance(value, bool):
        return value
    found.append((name, zod_expected("boolean", value)))
    return None


def read_limit(text: str, found: list[Detail]) -> int:
    """The `limit` query parameter of every LogStitch list: 1 to 100, default 50."""
    if not text:
        return DEFAULT_LIMIT
    if not text.isascii() or not text.isdigit():
        found.append(("limit", "Expected integer, received string"))
        return DEFAULT_LIMIT
    value = int(text)
    if value < 1:
        found.append(("limit", "Number must be greater than or equal to 1"))
    elif value > MAX_LIMIT:
        found.append(("limit", f"Number must be less than or equal to {MAX_LIMIT}"))
    return value


def read_date_us(text: str, name: str, found: list[Detail]) -> int | None:
    """A date query parameter (`start_date`, `end_date`: ISO 8601 with a time) in Unix
    microseconds, or None when absent or bad."""
    if not text:
        return None
    moment = parse_datetime(text)
    if moment is None:
        found.append((name, "Invalid datetime"))
        return None
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
