"""Open Sentry's ingest payload as canonical events: the pure translator (style.md principle 6).

`parse` reads a body the way Open Sentry's server does (`JSON.parse` of the UTF-8 text, whatever
the Content-Type), and `translate` applies its Zod schema (`packages/db/src/ingest-types.ts`,
docs/vendors/opensentry.md §4) and maps each item to an `ingestd.v1.Event`:

- `error` → `KIND_ERROR`, with the fingerprint, title and level of Open Sentry's worker
  (`packages/db/src/grouping.ts`), so identical errors group as one issue;
- `transaction` → `KIND_TRANSACTION` with its spans, the trace id in the envelope;
- `ai_generation` → `KIND_AI_GENERATION` with the worker's defaults (status `ok`, output tokens 0,
  total tokens = input + output).

Zod semantics kept: unknown keys are dropped; an optional field may be absent but not `null`; a
record of strings refuses any other value; `.int()` accepts integral floats such as `12.0`; one
invalid item refuses the whole body. Nothing here logs, reads, writes or counts.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import orjson

from ingestd.v1 import event_pb2
from server.dialects.answer import Answer
from server.dialects.common import fill_struct, iso_timestamp, nests_deeper

E = event_pb2

#: A body holds one item or an array of 1 to 20.
MAX_ITEMS = 20
#: Zod's caps on `exception.stacktrace.frames` and `breadcrumbs`.
MAX_FRAMES = 100
MAX_BREADCRUMBS = 100
#: How deep a free-form object (`metadata`, a breadcrumb's `data`) may nest. Open Sentry has no
#: limit; ingestd stores these as `google.protobuf.Struct`, which protobuf cannot read back past
#: about 30 levels.
MAX_OBJECT_DEPTH = 16
#: The worker's issue title is cut at 500 characters.
TITLE_CHARS = 500

#: JavaScript's largest exact integer (`Number.MAX_SAFE_INTEGER`): the largest count accepted, so
#: that sums of counts still fit in 64 bits.
MAX_SAFE_INTEGER = 2**53 - 1
_INT32_MAX = 2**31 - 1

_LEVELS: dict[str, int] = {
    "fatal": E.LEVEL_FATAL,
    "error": E.LEVEL_ERROR,
    "warning": E.LEVEL_WARNING,
    "warn": E.LEVEL_WARNING,
    "info": E.LEVEL_INFO,
    "debug": E.LEVEL_DEBUG,
}
_ITEM_LEVELS = frozenset({"fatal", "error", "warning", "info", "debug"})
_TRANSACTION_STATUSES = frozenset({"ok", "error", "cancelled"})
_GENERATION_STATUSES = frozenset({"ok", "error"})
_USER_FIELDS = frozenset({"id", "email", "username", "ip_address"})

#: A JSON object; `Any` values, as `google.protobuf.Struct.update` takes them.
JsonObject = dict[str, Any]


def invalid_payload(path: str, problem: str) -> Answer:
    """The body fails Open Sentry's schema: it answers 400 `Invalid payload`. The detail names
    the first offending value (`[2].exception.stacktrace.frames[0].lineno: …`), for the log."""
    return Answer(400, {"error": "Invalid payload"}, detail=f"{path or 'body'}: {problem}")


def parse(data: bytes) -> object:
    """The JSON value of a body, as `JSON.parse(new TextDecoder().decode(body))` reads it.

    Beyond strict UTF-8 JSON that means: a leading byte order mark is skipped, invalid UTF-8 and
    lone surrogate escapes become U+FFFD, and integers too large for 64 bits become floats.

    Raises:
        Answer: 400 `Invalid JSON`, not a JSON text.
    """
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        pass
    # The rare bodies orjson refuses but a browser's JSON.parse accepts.
    text = data.decode("utf-8", "replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise Answer(400, {"error": "Invalid JSON"}, detail="not JSON") from None
    return _well_formed(value)


def _no_constant(name: str) -> object:
    # NaN and Infinity are Python's extensions, not JSON.
    raise ValueError(name)


def _well_formed(value: object) -> object:
    """`value` with lone surrogates replaced, as encoding them to UTF-8 later would."""
    if isinstance(value, str):
        if any("\ud800" <= c <= "\udfff" for c in value):
            return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        return value
    if isinstance(value, list):
        return [_well_formed(v) for v in value]
    if isinstance(value, dict):
        return {_well_formed(k): _well_formed(v) for k, v in value.items()}
    return value


def translate(body: object) -> list[event_pb2.Event]:
    """The events of a parsed body: one per item, in order. Times the sender left out stay unset,
    so they default to the receive time.

    Raises:
        Answer: 400 `Invalid payload`, the body or one of its items fails Open Sentry's schema.
    """
    if isinstance(body, list):
        if not body:
            raise invalid_payload("", "an array needs at least one item")
        if len(body) > MAX_ITEMS:
            raise invalid_payload("", f"an array holds at most {MAX_ITEMS} items")
        return [_item(item, f"[{index}]") for index, item in enumerate(body)]
    return [_item(body, "")]


def _item(item: object, path: str) -> event_pb2.Event:
    if not isinstance(item, dict):
        raise invalid_payload(path, "an item must be an object")
    kind = item.get("type")
    if kind == "error":
        return _error(item, path)
    if kind == "transaction":
        return _transaction(item, path)
    if kind == "ai_generation":
        return _generation(item, path)
    raise invalid_payload(f"{path}.type", "must be error, transaction or ai_generation")


# Field readers: each returns None for an absent key and refuses any other type, null included.


def _get(obj: JsonObject, key: str, path: str, kinds: tuple[type, ...], what: str, required: bool) -> Any:
    value = obj.get(key)
    # JSON's true and false are not numbers, though Python's bool is an int.
    if isinstance(value, kinds) and (bool in kinds or not isinstance(value, bool)):
        return value
    if key not in obj and not required:
        return None
    raise invalid_payload(f"{path}.{key}", f"must be {what}")


def _str(obj: JsonObject, key: str, path: str, *, required: bool = False) -> str | None:
    text: str | None = _get(obj, key, path, (str,), "a string", required)
    return text


def _number(obj: JsonObject, key: str, path: str, *, required: bool = False) -> float | int | None:
    value: float | int | None = _get(obj, key, path, (int, float), "a number", required)
    # Zod v3 takes Infinity (JSON.parse gives it for 1e400), but no storage can hold it.
    if isinstance(value, float) and not math.isfinite(value):
        raise invalid_payload(f"{path}.{key}", "must be a finite number")
    return value


def _count(obj: JsonObject, key: str, path: str, *, required: bool = False) -> int | None:
    """A `z.number().int().nonnegative()` field."""
    value = _number(obj, key, path, required=required)
    if value is None:
        return None
    if value != int(value) or not 0 <= value <= MAX_SAFE_INTEGER:
        raise invalid_payload(f"{path}.{key}", "must be a non-negative integer")
    return int(value)


def _amount(obj: JsonObject, key: str, path: str) -> float | None:
    """A `z.number().nonnegative()` field."""
    value = _number(obj, key, path)
    if value is not None and value < 0:
        raise invalid_payload(f"{path}.{key}", "must not be negative")
    return value


def _bool(obj: JsonObject, key: str, path: str) -> bool | None:
    flag: bool | None = _get(obj, key, path, (bool,), "a boolean", False)
    return flag


def _object(obj: JsonObject, key: str, path: str, *, required: bool = False) -> JsonObject | None:
    record: JsonObject | None = _get(obj, key, path, (dict,), "an object", required)
    return record


def _array(obj: JsonObject, key: str, path: str, limit: int | None = None) -> list[Any] | None:
    values: list[Any] | None = _get(obj, key, path, (list,), "an array", False)
    if values is not None and limit is not None and len(values) > limit:
        raise invalid_payload(f"{path}.{key}", f"holds at most {limit} entries")
    return values


def _enum(obj: JsonObject, key: str, path: str, allowed: frozenset[str]) -> str | None:
    value = _str(obj, key, path)
    if value is not None and value not in allowed:
        raise invalid_payload(f"{path}.{key}", "must be one of " + ", ".join(sorted(allowed)))
    return value


def _strings(obj: JsonObject, key: str, path: str) -> dict[str, str] | None:
    """A `z.record(z.string())` field such as `tags` or `user`."""
    record = _object(obj, key, path)
    if record is not None:
        for name, value in record.items():
            if not isinstance(value, str):
                raise invalid_payload(f"{path}.{key}.{name}", "must be a string")
    return record


def _free_object(obj: JsonObject, key: str, path: str) -> JsonObject | None:
    """A `z.record(z.unknown())` field, bounded in depth so that it can be stored."""
    record = _object(obj, key, path)
    if record is not None and _nests_deeper(record, MAX_OBJECT_DEPTH):
        raise invalid_payload(f"{path}.{key}", f"nests deeper than {MAX_OBJECT_DEPTH} levels")
    return record


def _envelope(event: event_pb2.Event, item: JsonObject, path: str, *, tags_and_user: bool = True) -> None:
    """What items share: environment, timestamp, and tags and user (release is per kind)."""
    environment = _str(item, "environment", path)
    if environment is not None:
        event.environment = environment
    occurred = _timestamp(_str(item, "timestamp", path))
    if occurred is not None:
        event.occurred_at.CopyFrom(occurred)
    if not tags_and_user:
        return
    tags = _strings(item, "tags", path)
    if tags:
        event.tags.update(tags)
    for name, value in (_strings(item, "user", path) or {}).items():
        if name in _USER_FIELDS:
            setattr(event.user, name, value)
        else:
            event.user.attributes[name] = value


def _error(item: JsonObject, path: str) -> event_pb2.Event:
    exception = _object(item, "exception", path, required=True)
    assert exception is not None
    where = f"{path}.exception"
    exc_type = _str(exception, "type", where)
    value = _str(exception, "value", where)
    stacktrace = _object(exception, "stacktrace", where) or {}
    frames: list[JsonObject] = _array(stacktrace, "frames", f"{where}.stacktrace", MAX_FRAMES) or []
    message = _str(item, "message", path)
    level = _enum(item, "level", path, _ITEM_LEVELS)
    crumbs = _array(item, "breadcrumbs", path, MAX_BREADCRUMBS) or []
    body = E.ErrorBody(
        exception=E.ExceptionInfo(
            type=exc_type,
            value=value,
            frames=[_frame(f, f"{where}.stacktrace.frames[{i}]") for i, f in enumerate(frames)],
        ),
        breadcrumbs=[_breadcrumb(c, f"{path}.breadcrumbs[{i}]") for i, c in enumerate(crumbs)],
    )
    event = E.Event(kind=E.KIND_ERROR, release=_str(item, "release", path), error=body)
    _envelope(event, item, path)

    # Open Sentry's worker: the issue title and fingerprint use "Error" for a missing type and the
    # message, then "Unknown error", for a missing value.
    shown_type = exc_type if exc_type is not None else "Error"
    shown_value = value if value is not None else message if message is not None else "Unknown error"
    event.message = f"{shown_type}: {shown_value}"[:TITLE_CHARS]
    event.fingerprint = fingerprint(shown_type, shown_value, frames)
    # An explicit level, else one named by the type (as `captureMessage` sends it), else error.
    named = level or (exc_type if exc_type is not None else message if message is not None else "error")
    event.level = _LEVELS.get(named.lower(), E.LEVEL_ERROR)  # type: ignore[assignment]
    if message is not None and value is not None:
        # The fallback message is not part of the title when there is a value: keep it anyway.
        fill_struct(event.context, {"message": message})
    return event


def fingerprint(exc_type: str, value: str, frames: list[JsonObject]) -> str:
    """Open Sentry's grouping: the hex SHA-256 of `type|value|f1|f2|f3`, where the frames are the
    last three in-app ones (`inApp` not false), or the last three of all when none is in-app,
    each as `filename:function` with `?` for a missing part."""
    in_app = [f for f in frames if f.get("inApp") is not False]
    chosen = (in_app or frames)[-3:]
    relevant = "|".join(f"{_or_unknown(f.get('filename'))}:{_or_unknown(f.get('function'))}" for f in chosen)
    return hashlib.sha256(f"{exc_type}|{value}|{relevant}".encode()).hexdigest()


def _or_unknown(value: object) -> str:
    return value if isinstance(value, str) else "?"


def _line(frame: JsonObject, key: str, path: str) -> int | None:
    number = _number(frame, key, path)
    # Any number passes Open Sentry's schema; only a line or column that is one is kept.
    if number is not None and number == int(number) and 0 <= number <= _INT32_MAX:
        return int(number)
    return None


def _frame(frame: object, path: str) -> event_pb2.StackFrame:
    if not isinstance(frame, dict):
        raise invalid_payload(path, "a frame must be an object")
    context = {key: _array(frame, key, path) or [] for key in ("preContext", "postContext")}
    for key, lines in context.items():
        if not all(isinstance(line, str) for line in lines):
            raise invalid_payload(f"{path}.{key}", "must hold strings")
    return E.StackFrame(
        filename=_str(frame, "filename", path),
        function=_str(frame, "function", path),
        module=_str(frame, "module", path),
        abs_path=_str(frame, "absPath", path),
        context_line=_str(frame, "contextLine", path),
        lineno=_line(frame, "lineno", path),
        colno=_line(frame, "colno", path),
        in_app=_bool(frame, "inApp", path),
        pre_context=context["preContext"],
        post_context=context["postContext"],
    )


def _breadcrumb(crumb: object, path: str) -> event_pb2.Breadcrumb:
    if not isinstance(crumb, dict):
        raise invalid_payload(path, "a breadcrumb must be an object")
    out = E.Breadcrumb(
        timestamp=_timestamp(_str(crumb, "timestamp", path)),
        type=_str(crumb, "type", path),
        category=_str(crumb, "category", path),
        message=_str(crumb, "message", path),
        level=_str(crumb, "level", path),
    )
    data = _free_object(crumb, "data", path)
    if data is not None:
        fill_struct(out.data, data)
    return out


def _transaction(item: JsonObject, path: str) -> event_pb2.Event:
    spans = _array(item, "spans", path) or []
    body = E.TransactionBody(
        name=_str(item, "name", path, required=True),
        duration_ms=_number(item, "durationMs", path, required=True),
        status=_enum(item, "status", path, _TRANSACTION_STATUSES) or "ok",
        spans=[_span(span, f"{path}.spans[{index}]") for index, span in enumerate(spans)],
    )
    trace_id = _str(item, "traceId", path, required=True)
    event = E.Event(kind=E.KIND_TRANSACTION, trace_id=trace_id, transaction=body)
    # The schema has no release, tags or user for transactions: Zod drops them.
    _envelope(event, item, path, tags_and_user=False)
    return event


def _span(span: object, path: str) -> event_pb2.SpanBody:
    if not isinstance(span, dict):
        raise invalid_payload(path, "a span must be an object")
    return E.SpanBody(
        span_id=_str(span, "spanId", path, required=True),
        op=_str(span, "op", path, required=True),
        duration_ms=_number(span, "durationMs", path, required=True),
        description=_str(span, "description", path),
        parent_span_id=_str(span, "parentSpanId", path),
    )


def _generation(item: JsonObject, path: str) -> event_pb2.Event:
    provider = _str(item, "provider", path, required=True)
    model = _str(item, "model", path, required=True)
    if not provider or not model:
        raise invalid_payload(f"{path}.{'model' if provider else 'provider'}", "must not be empty")
    input_tokens = _count(item, "inputTokens", path, required=True) or 0
    output_tokens = _count(item, "outputTokens", path) or 0
    total_tokens = _count(item, "totalTokens", path)
    body = E.AiGenerationBody(
        provider=provider,
        model=model,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=total_tokens if total_tokens is not None else input_tokens + output_tokens,
        cached_input_tokens=_count(item, "cachedInputTokens", path),
        cache_write_tokens=_count(item, "cacheWriteTokens", path),
        input_cost_usd=_amount(item, "inputCostUsd", path),
        output_cost_usd=_amount(item, "outputCostUsd", path),
        total_cost_usd=_amount(item, "totalCostUsd", path),
        latency_ms=_count(item, "latencyMs", path),
        time_to_first_token_ms=_count(item, "timeToFirstTokenMs", path),
        status=_enum(item, "status", path, _GENERATION_STATUSES) or "ok",
    )
    metadata = _free_object(item, "metadata", path)
    if metadata is not None:
        fill_struct(body.metadata, metadata)
    event = E.Event(
        kind=E.KIND_AI_GENERATION,
        trace_id=_str(item, "traceId", path),
        span_id=_str(item, "spanId", path),
        release=_str(item, "release", path),
        ai_generation=body,
    )
    _envelope(event, item, path)
    return event


# Shared with the other dialects (server/dialects/common.py).
_nests_deeper = nests_deeper
_timestamp = iso_timestamp
