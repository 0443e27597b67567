"""Validation and normalization of canonical events, before anything is stored.

`normalize` checks one event, fills in what the server owns (id, project, times, dialect) and
what it derives (kind from the body, default level, an error's message and fingerprint), and
returns the row to store. It is pure apart from completing the event it is given, and knows
nothing of transports.

This is the ingest hot path: every envelope field is read once, into a local that serves both
the checks and the row, because each attribute read of a protobuf message costs about 0.1 µs.
"""

from __future__ import annotations

import hashlib

from google.protobuf import timestamp_pb2

from ingestd.v1 import event_pb2
from storage.events import EventRow, timestamp_us

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
_BODY_OF = {kind: body for body, kind in BODY_KIND.items()}
_LEVELS = frozenset(E.Level.values())

MAX_MESSAGE_CHARS = 65_536
MAX_SHORT_CHARS = 200
MAX_TAGS = 128
MAX_TAG_VALUE_CHARS = 1_000
MAX_EVENT_BYTES = 1_048_576
#: A check-in's longest expected interval: a yearly job's, in a leap year. Longer ones would put
#: the next due time past what a Timestamp (and an int64 of microseconds) holds.
MAX_CHECK_IN_INTERVAL_S = 366 * 86_400
_CHECK_IN_STATUSES = frozenset(E.CheckInStatus.values())

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
_S = MAX_SHORT_CHARS
# Timestamp bounds: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
_MIN_SECONDS = -62_135_596_800
_MAX_SECONDS = 253_402_300_799


def normalize(
    event: event_pb2.Event,
    *,
    project: str,
    event_id: str,
    received: timestamp_pb2.Timestamp,
    received_us: int,
    dialect: str,
) -> EventRow | list[Violation]:
    """Validates `event`; if it is valid, completes it in place and returns its row.

    Returns the violations otherwise, with field paths relative to the event (`message`,
    `error.exception`). `received` and `received_us` are the same instant, once as a Timestamp.
    """
    violations: list[Violation] = []
    body = event.WhichOneof("body")
    kind: int = event.kind
    if kind == E.KIND_UNSPECIFIED:
        kind = BODY_KIND[body] if body else E.KIND_LOG
    elif kind not in _KINDS:
        violations.append(("kind", f"unknown kind {kind}"))
    elif body and BODY_KIND[body] != kind:
        violations.append(("kind", f"{E.Kind.Name(kind)} does not match the {body} body"))
    level: int = event.level
    if level not in _LEVELS:
        violations.append(("level", f"unknown level {level}"))
    message = event.message
    if len(message) > MAX_MESSAGE_CHARS:
        violations.append(("message", f"longer than {MAX_MESSAGE_CHARS} characters"))
    service, environment, release = event.service, event.environment, event.release
    trace_id, fingerprint, idempotency_key = event.trace_id, event.fingerprint, event.idempotency_key
    if (
        len(service) > _S
        or len(environment) > _S
        or len(release) > _S
        or len(trace_id) > _S
        or len(fingerprint) > _S
        or len(idempotency_key) > _S
        or len(event.span_id) > _S
        or len(event.request_id) > _S
        or len(event.session_id) > _S
        or len(event.origin) > _S
    ):
        violations.extend(
            (name, f"longer than {_S} characters") for name in _SHORT_FIELDS if len(getattr(event, name)) > _S
        )
    if event.tags:
        _check_tags(event, violations)
    has_occurred = event.HasField("occurred_at")
    if has_occurred and not valid_timestamp(event.occurred_at):
        violations.append(("occurred_at", "outside 0001-01-01 to 9999-12-31"))
    if not body and kind in _BODY_OF:
        # A bodyless event is stored with its kind's (empty) body, which must then hold what that
        # kind needs: a plain log line needs its message.
        body = _BODY_OF[kind]
        getattr(event, body).SetInParent()
        if kind == E.KIND_LOG and not message:
            violations.append(("message", "is required of an event without a body"))
    if body:
        _check_body(event, body, violations)
    if violations:
        return violations

    if kind != event.kind:
        event.kind = kind  # type: ignore[assignment]
    event.id = event_id
    event.project = project
    event.dialect = dialect
    event.received_at.CopyFrom(received)
    if has_occurred:
        occurred_us = timestamp_us(event.occurred_at)
    else:
        event.occurred_at.CopyFrom(received)
        occurred_us = received_us
    if level == E.LEVEL_UNSPECIFIED:
        level = E.LEVEL_ERROR if kind == E.KIND_ERROR else E.LEVEL_INFO
        event.level = level
    if kind == E.KIND_ERROR:
        _complete_error(event)
        message, fingerprint = event.message, event.fingerprint
    elif kind == E.KIND_SPAN:
        # The envelope's trace id is what ListEvents filters on.
        span = event.span
        trace_id = event.trace_id = trace_id or span.trace_id
        event.span_id = event.span_id or span.span_id
    stored = (message, service, environment, release, trace_id, fingerprint, idempotency_key)
    if "\x00" in "".join(stored):
        # PostgreSQL text columns cannot hold NUL, so it is refused on every database alike.
        names = ("message", "service", "environment", "release", "trace_id", "fingerprint", "idempotency_key")
        return [
            (name, "must not contain NUL characters")
            for name, value in zip(names, stored, strict=True)
            if "\x00" in value
        ]
    payload = event.SerializeToString()
    if len(payload) > MAX_EVENT_BYTES:
        return [("event", f"larger than {MAX_EVENT_BYTES} bytes")]
    return EventRow(
        project,
        event_id,
        kind,
        level,
        occurred_us,
        received_us,
        service,
        environment,
        release,
        trace_id or None,
        fingerprint or None,
        message,
        idempotency_key or None,
        payload,
    )


def _check_tags(event: event_pb2.Event, violations: list[Violation]) -> None:
    tags = event.tags
    if len(tags) > MAX_TAGS:
        violations.append(("tags", f"more than {MAX_TAGS} entries"))
    for key in tags:  # not .items(): a map's ItemsView iterates in Python, several times slower
        value = tags[key]
        if not key or len(key) > MAX_SHORT_CHARS:
            violations.append((f"tags[{key[:40]!r}]", f"key must be 1 to {MAX_SHORT_CHARS} characters"))
        elif len(value) > MAX_TAG_VALUE_CHARS:
            violations.append((f"tags[{key!r}]", f"value longer than {MAX_TAG_VALUE_CHARS} characters"))


def valid_timestamp(ts: timestamp_pb2.Timestamp) -> bool:
    """Whether `ts` lies within 0001-01-01 and 9999-12-31, as the Timestamp type requires."""
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
        _check_check_in(event.check_in, violations)
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


def _check_check_in(check_in: event_pb2.CheckInBody, violations: list[Violation]) -> None:
    slug = check_in.slug
    if not slug:
        violations.append(("check_in.slug", "is required"))
    elif len(slug) > MAX_SHORT_CHARS or "\x00" in slug:
        # The slug keys the project's monitor, in a text column.
        violations.append(("check_in.slug", f"must be at most {MAX_SHORT_CHARS} characters, without NUL"))
    if not 0 <= check_in.expected_interval_seconds <= MAX_CHECK_IN_INTERVAL_S:
        bound = MAX_CHECK_IN_INTERVAL_S
        violations.append(("check_in.expected_interval_seconds", f"must be 0 (the monitor's own) to {bound}"))
    if check_in.status not in _CHECK_IN_STATUSES:
        violations.append(("check_in.status", f"unknown status {check_in.status}"))


def _complete_error(event: event_pb2.Event) -> None:
    exception = event.error.exception
    if not event.message:
        parts = [p for p in (exception.type, exception.value) if p]
        event.message = ": ".join(parts)
    if not event.fingerprint:
        event.fingerprint = _fingerprints.of(event)


class _FingerprintCache:
    """Error storms repeat one exception many times: remember the fingerprint of each serialized
    exception (bounded), so the hash over its frames is computed once."""

    _LIMIT = 4096

    def __init__(self) -> None:
        self._known: dict[bytes, str] = {}

    def of(self, event: event_pb2.Event) -> str:
        key = event.error.exception.SerializeToString(deterministic=True)
        if not event.error.exception.value:
            key += event.message.encode()
        fingerprint = self._known.get(key)
        if fingerprint is None:
            if len(self._known) >= self._LIMIT:
                self._known.clear()
            fingerprint = self._known[key] = error_fingerprint(event)
        return fingerprint


_fingerprints = _FingerprintCache()


def error_fingerprint(event: event_pb2.Event) -> str:
    """A fingerprint for an error that has none: the SHA-256 (first 32 hex digits) of the
    exception type, its value and the last three in-app frames (all frames if none is marked).

    Without an exception value, the message stands in for it.
    """
    exception = event.error.exception
    frames = list(exception.frames)
    in_app = [f for f in frames if f.in_app]
    chosen = (in_app or frames)[-3:]
    parts = [exception.type, exception.value or event.message]
    parts.extend(f"{f.module or f.filename}:{f.function}" for f in chosen)
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
