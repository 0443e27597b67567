"""Validation and normalization of canonical events, before anything is stored.

`normalize` checks one event and fills in what the server owns (id, project, times, dialect)
and what it derives (kind from the body, default level, an error's message and fingerprint). It
is pure apart from mutating the event it is given, and knows nothing of transports or storage.
"""

from __future__ import annotations

import hashlib

from google.protobuf import timestamp_pb2

from ingestd.v1 import event_pb2

Violation = tuple[str, str]

E = event_pb2

#: The kind each body implies.
BODY_KIND: dict[str, int] = {
    "error": E.KIND_ERROR,
    "transaction": E.KIND_TRANSACTION,
    "span": E.KIND_SPAN,
    "metric": E.KIND_METRIC,
    "log": E.KIND_LOG,
    "check_in": E.KIND_CHECK_IN,
    "deployment": E.KIND_DEPLOYMENT,
    "ai_generation": E.KIND_AI_GENERATION,
    "timing": E.KIND_TIMING,
    "audit": E.KIND_AUDIT,
}
_KINDS = frozenset(E.Kind.values())
_LEVELS = frozenset(E.Level.values())

MAX_MESSAGE_CHARS = 65_536
MAX_SHORT_CHARS = 200
MAX_TAGS = 128
MAX_TAG_VALUE_CHARS = 1_000
MAX_EVENT_BYTES = 1_048_576

# Envelope strings stored in indexed columns or used as keys: bounded so that every database
# stores them the same way.
_SHORT_FIELDS = (
    "service",
    "environment",
    "release",
    "trace_id",
    "span_id",
    "request_id",
    "session_id",
    "fingerprint",
    "idempotency_key",
    "origin",
)
# Timestamp bounds: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
_MIN_SECONDS = -62_135_596_800
_MAX_SECONDS = 253_402_300_799


def normalize(
    event: event_pb2.Event, *, project: str, event_id: str, received_us: int, dialect: str
) -> list[Violation]:
    """Validates `event` and, if it is valid, completes it in place.

    Returns the violations, with field paths relative to the event (`message`, `error.exception`);
    an empty list means the event is ready to store.
    """
    violations: list[Violation] = []
    body = event.WhichOneof("body")
    implied = BODY_KIND[body] if body else E.KIND_UNSPECIFIED
    kind: int = event.kind
    if kind not in _KINDS:
        violations.append(("kind", f"unknown kind {kind}"))
    elif kind == E.KIND_UNSPECIFIED:
        kind = implied or E.KIND_LOG
    elif implied and kind != implied:
        violations.append(("kind", f"{E.Kind.Name(kind)} does not match the {body} body"))
    if event.level not in _LEVELS:
        violations.append(("level", f"unknown level {event.level}"))

    if len(event.message) > MAX_MESSAGE_CHARS:
        violations.append(("message", f"longer than {MAX_MESSAGE_CHARS} characters"))
    for name in _SHORT_FIELDS:
        if len(getattr(event, name)) > MAX_SHORT_CHARS:
            violations.append((name, f"longer than {MAX_SHORT_CHARS} characters"))
    if event.tags:
        _check_tags(event, violations)
    if event.HasField("occurred_at") and not _valid_timestamp(event.occurred_at):
        violations.append(("occurred_at", "outside 0001-01-01 to 9999-12-31"))
    if body:
        _check_body(event, body, violations)
    if event.ByteSize() > MAX_EVENT_BYTES:
        violations.append(("event", f"larger than {MAX_EVENT_BYTES} bytes"))
    if violations:
        return violations

    event.kind = kind  # type: ignore[assignment]
    event.id = event_id
    event.project = project
    event.dialect = dialect
    event.received_at.FromMicroseconds(received_us)
    if not event.HasField("occurred_at"):
        event.occurred_at.FromMicroseconds(received_us)
    if event.level == E.LEVEL_UNSPECIFIED:
        event.level = E.LEVEL_ERROR if kind == E.KIND_ERROR else E.LEVEL_INFO
    if kind == E.KIND_ERROR:
        _complete_error(event)
    elif kind == E.KIND_SPAN:
        # The envelope's trace id is what ListEvents filters on.
        span = event.span
        event.trace_id = event.trace_id or span.trace_id
        event.span_id = event.span_id or span.span_id
    return violations


def _check_tags(event: event_pb2.Event, violations: list[Violation]) -> None:
    if len(event.tags) > MAX_TAGS:
        violations.append(("tags", f"more than {MAX_TAGS} entries"))
    for key, value in event.tags.items():
        if not key or len(key) > MAX_SHORT_CHARS:
            violations.append((f"tags[{key[:40]!r}]", f"key must be 1 to {MAX_SHORT_CHARS} characters"))
        elif len(value) > MAX_TAG_VALUE_CHARS:
            violations.append((f"tags[{key!r}]", f"value longer than {MAX_TAG_VALUE_CHARS} characters"))


def _valid_timestamp(ts: timestamp_pb2.Timestamp) -> bool:
    return _MIN_SECONDS <= ts.seconds <= _MAX_SECONDS and 0 <= ts.nanos < 1_000_000_000


def _check_body(event: event_pb2.Event, body: str, violations: list[Violation]) -> None:
    """The fields each kind cannot do without."""
    if body == "error":
        exception = event.error.exception
        if not (exception.type or exception.value or event.message):
            violations.append(("error.exception", "needs a type, a value or the event's message"))
    elif body == "transaction":
        if not event.transaction.name:
            violations.append(("transaction.name", "is required"))
    elif body == "span":
        if not (event.span.trace_id or event.trace_id):
            violations.append(("span.trace_id", "is required here or in the envelope"))
        if not (event.span.span_id or event.span_id):
            violations.append(("span.span_id", "is required here or in the envelope"))
    elif body == "metric":
        if not event.metric.name:
            violations.append(("metric.name", "is required"))
    elif body == "check_in":
        if not event.check_in.slug:
            violations.append(("check_in.slug", "is required"))
    elif body == "ai_generation":
        if not event.ai_generation.provider:
            violations.append(("ai_generation.provider", "is required"))
        if not event.ai_generation.model:
            violations.append(("ai_generation.model", "is required"))
    elif body == "timing":
        if not (event.timing.touchpoint or event.timing.correlation_key):
            violations.append(("timing.touchpoint", "a touchpoint or a correlation_key is required"))
    elif body == "audit" and not event.audit.action:
        violations.append(("audit.action", "is required"))


def _complete_error(event: event_pb2.Event) -> None:
    exception = event.error.exception
    if not event.message:
        parts = [p for p in (exception.type, exception.value) if p]
        event.message = ": ".join(parts)
    if not event.fingerprint:
        event.fingerprint = error_fingerprint(event)


def error_fingerprint(event: event_pb2.Event) -> str:
    """A fingerprint for an error that has none: the SHA-256 (first 32 hex digits) of the
    exception type, its value and the last three in-app frames (all frames if none is marked).

    Without an exception, the message stands in for the value.
    """
    exception = event.error.exception
    frames = list(exception.frames)
    in_app = [f for f in frames if f.in_app]
    chosen = (in_app or frames)[-3:]
    parts = [exception.type, exception.value or event.message]
    parts.extend(f"{f.module or f.filename}:{f.function}" for f in chosen)
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
