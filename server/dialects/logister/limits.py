"""What Logister accepts on the wire, and how it reads values: pure functions, no I/O.

Its payload limits and its NDJSON batch decoding, its identities (UUIDs, `legacy_id`), and
values read as Ruby reads them (`present?`, `to_s`, lenient times).

The limits and the decoding follow Logister's own server (`TelemetryPayloadLimits`,
`TelemetryBatchDecoder` in taimoorq/logister; docs/vendors/logister.md §5 and §7): the same limits,
the same codes, the same messages, checked in the same order. A failure raises an `Answer` whose
body is `{"error": message, "code": code, ...}`, with its HTTP status.
"""

from __future__ import annotations

import functools
import hashlib
import re
import zlib
from datetime import UTC, datetime
from typing import Any

import orjson
from google.protobuf import timestamp_pb2

from server.dialects.answer import Answer

#: A Logister request body on the wire, single event or compressed batch.
MAX_WIRE_BYTES = 2 * 1024 * 1024
MAX_DECOMPRESSED_BYTES = 8 * 1024 * 1024
MAX_BATCH_EVENTS = 100

MAX_EVENT_BYTES = 1024 * 1024
MAX_CONTEXT_DEPTH = 16
MAX_CONTEXT_KEYS = 512
MAX_ARRAY_LENGTH = 1_000
MAX_STRING_BYTES = 256 * 1024
MAX_MESSAGE_BYTES = 64 * 1024

_BATCH_MEDIA_TYPES = frozenset({"application/x-ndjson", "application/ndjson"})
_UUID = re.compile(r"^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$")
_NEEDS_UNDERSCORE = re.compile(r"[A-Z-]|::")
_WORD_BOUNDARY = re.compile(r"(?<=[A-Z])(?=[A-Z][a-z])|(?<=[a-z0-9])(?=[A-Z])")


def refused(status: int, code: str, message: str, **extra: int) -> Answer:
    """A request Logister refuses as a whole: `{"error": message, "code": code, ...extra}` (extra
    being `limit` and `actual`) with HTTP `status`."""
    return Answer(status, {"error": message, "code": code, **extra}, detail=message)


@functools.lru_cache(maxsize=4096)
def underscore(key: str) -> str:
    """A key as Logister normalizes it, ActiveSupport's `underscore.downcase`: `eventType` and
    `EVENT_TYPE` become `event_type`, `HTTPStatus` becomes `http_status`, `a-b` becomes `a_b`."""
    if not _NEEDS_UNDERSCORE.search(key):
        return key.lower()
    word = _WORD_BOUNDARY.sub("_", key.replace("::", "/"))
    return word.replace("-", "_").lower()


def normalize_uuid(value: object) -> str | None:
    """The lower-cased UUID text of `value`, or None when it is not a UUID in 8-4-4-4-12 form."""
    if not isinstance(value, str):
        value = "" if value is None or isinstance(value, (dict, list)) else str(value)
    text = value.strip().lower()
    return text if _UUID.match(text) else None


def present(value: object) -> bool:
    """Ruby's `present?`: not nil, false, a blank string, or an empty array or hash."""
    if value is None or value is False:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, (list, dict)):
        return bool(value)
    return True


def first_present(*values: object) -> Any:
    return next((v for v in values if present(v)), None)


def text(value: object) -> str:
    """A scalar as Ruby's `to_s` writes it; arrays, hashes and nil are empty."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return ""


def number(value: object) -> float | None:
    """A JSON number, or a string holding one; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


_INT64_MAX = 2**63 - 1


def int64(value: float | None) -> int:
    """`value` truncated to an int64, saturating at its bounds (infinities included); 0 for None
    or NaN. Validation downstream then refuses what is out of its own range, rather than the
    conversion failing."""
    if value is None or value != value:
        return 0
    if value >= _INT64_MAX:
        return _INT64_MAX
    if value <= -_INT64_MAX:
        return -_INT64_MAX
    return int(value)


def parse_time(value: object) -> timestamp_pb2.Timestamp | None:
    """An ISO 8601 time (naive means UTC; `Z` and offsets accepted) or Unix seconds, or None when
    `value` is neither; Logister then uses the time it received the event."""
    seconds: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and value.strip():
        raw = value.strip()
        if raw.endswith(" UTC"):
            raw = raw[:-4] + "Z"
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        seconds = parsed.timestamp()
    if seconds is None or not -62_135_596_800 <= seconds <= 253_402_300_799:
        return None
    micros = round(seconds * 1_000_000)
    stamp = timestamp_pb2.Timestamp()
    stamp.FromMicroseconds(micros)
    return stamp


def legacy_id(uuid: str) -> int:
    """Logister's `legacy_id` (its database's integer id), derived from the Logister id: a stable
    positive integer below 2**53, so JavaScript clients read it exactly."""
    digest = hashlib.sha256(uuid.encode()).digest()
    return int.from_bytes(digest[:8], "big") % (2**53 - 1) + 1


def derived_uuid(name: str) -> str:
    """A UUID (version 5 layout) derived from SHA-256 of `name`, for things Logister identifies by
    their content: a span without a `uuid` by its trace and span, a deployment by its repository,
    environment and release."""
    digest = bytearray(hashlib.sha256(name.encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def idempotency_key(uuid: str) -> str:
    return f"logister:{uuid}"


def _exceeded(code: str, limit: int, actual: int) -> Answer:
    message = f"telemetry payload {code.replace('_', ' ')} exceeds {limit}"
    return refused(413, code, message, limit=limit, actual=actual)


class _Walk:
    """One pass over an event, counting keys and estimated bytes as Logister does: each key and
    scalar costs its text's bytes plus 4, `null` costs 8."""

    __slots__ = ("keys", "size")

    def __init__(self) -> None:
        self.keys = 0
        self.size = 0

    def add(self, size: int) -> None:
        self.size += size + 4
        if self.size > MAX_EVENT_BYTES:
            raise _exceeded("event_bytes", MAX_EVENT_BYTES, self.size)

    def walk(self, value: Any, depth: int) -> None:
        if depth > MAX_CONTEXT_DEPTH:
            raise _exceeded("context_depth", MAX_CONTEXT_DEPTH, depth)
        if isinstance(value, dict):
            self.keys += len(value)
            if self.keys > MAX_CONTEXT_KEYS:
                raise _exceeded("context_keys", MAX_CONTEXT_KEYS, self.keys)
            for key, nested in value.items():
                self.add(len(key.encode()))
                self.walk(nested, depth + 1)
        elif isinstance(value, list):
            if len(value) > MAX_ARRAY_LENGTH:
                raise _exceeded("array_length", MAX_ARRAY_LENGTH, len(value))
            for nested in value:
                self.walk(nested, depth + 1)
        elif isinstance(value, str):
            size = len(value.encode())
            if size > MAX_STRING_BYTES:
                raise _exceeded("string_bytes", MAX_STRING_BYTES, size)
            self.add(size)
        elif value is None:
            self.add(4)
        elif isinstance(value, bool):
            self.add(4 if value else 5)
        else:
            self.add(len(str(value)))


def check_limits(event: dict[str, Any]) -> None:
    """Checks `event` (one event object as sent, keys not yet normalized) against Logister's
    payload limits: message bytes, then depth, keys, array length, string bytes and estimated
    event bytes as the walk meets them.

    Raises:
        Answer: 413 for the first limit exceeded, with its `code`, `limit` and `actual`.
    """
    message = event.get("message")
    if isinstance(message, str):
        size = len(message.encode())
        if size > MAX_MESSAGE_BYTES:
            raise _exceeded("message_bytes", MAX_MESSAGE_BYTES, size)
    _Walk().walk(event, 0)


def check_batch_media_type(content_type: str) -> None:
    """Checks that a batch is NDJSON (`application/x-ndjson` or `application/ndjson`).

    Raises:
        Answer: 415 `unsupported_content_type`.
    """
    if media_type(content_type) not in _BATCH_MEDIA_TYPES:
        raise refused(415, "unsupported_content_type", "Batch ingest requires application/x-ndjson")


def media_type(content_type: str) -> str:
    """The media type of a Content-Type, lower-cased and without parameters."""
    return content_type.split(";", 1)[0].strip().lower()


def _check_content_encoding(header: str) -> None:
    """Refuses a Content-Encoding other than none, `identity` or `gzip` (a comma list must reduce
    to exactly one of them)."""
    encodings = _encodings(header)
    if not encodings or encodings in (["identity"], ["gzip"]):
        return
    unsupported = [e for e in encodings if e not in ("gzip", "identity")]
    label = ", ".join(unsupported or encodings)
    raise refused(415, "unsupported_encoding", f"unsupported telemetry batch content encoding: {label}")


def _encodings(header: str) -> list[str]:
    return [part.strip() for part in header.lower().split(",") if part.strip()]


def decode_batch(data: bytes, content_encoding: str) -> list[dict[str, Any]]:
    """The event objects of a batch body, one per non-blank NDJSON line.

    Raises:
        Answer: in order, the encoding (415), the compressed size (413), gzip inflation within
            8 MiB (400, 413), then line by line the event count (413), JSON (400), the envelope
            and its `event` object (400), its identity (400: a valid `uuid` or `event_id`, the
            same if both are given) and its payload limits (413); an empty batch is 400.
    """
    _check_content_encoding(content_encoding)
    if len(data) > MAX_WIRE_BYTES:
        raise refused(413, "compressed_bytes", f"telemetry batch exceeds {MAX_WIRE_BYTES} bytes")
    if _encodings(content_encoding) == ["gzip"]:
        data = _inflate(data)
    return _parse_lines(data)


def _inflate(data: bytes) -> bytes:
    # Only the first gzip member is read, as Ruby's GzipReader does; inflating stops one byte past
    # the cap, so a small bomb never allocates more than the cap.
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, MAX_DECOMPRESSED_BYTES + 1)
    except zlib.error as exc:
        raise refused(400, "invalid_gzip", f"invalid gzip telemetry batch: {exc}") from None
    if len(out) > MAX_DECOMPRESSED_BYTES:
        raise refused(
            413,
            "decompressed_bytes",
            f"telemetry batch exceeds {MAX_DECOMPRESSED_BYTES} decompressed bytes",
        )
    if not inflater.eof:
        raise refused(400, "invalid_gzip", "invalid gzip telemetry batch: unexpected end of file")
    return out


def _parse_lines(data: bytes) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        if len(events) >= MAX_BATCH_EVENTS:
            raise refused(413, "event_count", f"telemetry batch exceeds {MAX_BATCH_EVENTS} events")
        try:
            envelope = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            message = f"telemetry batch line {number} is invalid JSON: {exc}"
            raise refused(400, "invalid_json", message) from None
        if not isinstance(envelope, dict):
            raise refused(
                400, "invalid_envelope", f"telemetry batch line {number} must contain an envelope object"
            )
        event = envelope.get("event")
        if not isinstance(event, dict):
            raise refused(400, "missing_event", f"telemetry batch line {number} must contain an event object")
        _check_identity(event, number)
        check_limits(event)
        events.append(event)
    if not events:
        raise refused(400, "empty_batch", "telemetry batch must contain at least one event")
    return events


def _check_identity(event: dict[str, Any], number: int) -> None:
    # Keys are compared as Logister normalizes them, so `eventId` and `UUID` count.
    supplied: list[object] = []
    by_key: dict[str, object] = {}
    for key, value in event.items():
        by_key[underscore(key)] = value
    for name in ("uuid", "event_id"):
        value = by_key.get(name)
        if value is not None and not isinstance(value, (dict, list)) and str(value).strip():
            supplied.append(value)
    if not supplied:
        raise refused(
            400, "missing_identity", f"telemetry batch line {number} requires a nonblank uuid or event_id"
        )
    identities = [normalize_uuid(value) for value in supplied]
    if any(identity is None for identity in identities):
        raise refused(
            400, "invalid_identity", f"telemetry batch line {number} uuid/event_id must be a valid UUID"
        )
    if len(set(identities)) > 1:
        raise refused(
            400,
            "conflicting_identity",
            f"telemetry batch line {number} uuid and event_id must identify the same envelope",
        )
