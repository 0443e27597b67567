"""Property: a secret planted anywhere in any kind of event never reaches the database while its
rule is on, whether the event comes through gRPC `WriteEvents` or LogStitch's `POST /api/v1/events`.

Secrets: a Luhn-valid card number (with or without separators), a JWT, an email address (the
`email` built-in enabled for the test) and a password-like value under a sensitive key (a map or
Struct key, or an audit change's field). Each example writes one event to a real ingestd, on
SQLite and PostgreSQL, and reads the stored payload bytes back from the database.

Hypothesis drives synchronous clients, so the server runs on its own event loop in a thread.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import sqlalchemy
from google.protobuf import struct_pb2
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingestd.v1 import (
    admin_service_pb2,
    admin_service_pb2_grpc,
    event_pb2,
    ingest_service_pb2,
    ingest_service_pb2_grpc,
    redaction_pb2,
)
from server.dialects.logstitch import translate as logstitch
from server.main import Running, running
from storage.engine import sync_url
from tests.conftest import MASTER_SECRET, PROJECT_SECRET, make_settings

EXAMPLES = 100
SENSITIVE_KEYS = ["password", "Password", "api_key", "X-Api-Key", "set-cookie", "db_password", "access_token"]
_WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8)
_BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@dataclass(frozen=True)
class Secret:
    """`text` is what must not be stored; `key` the sensitive key it sits under, if it needs one."""

    text: str
    key: str | None = None

    def leaks(self) -> list[bytes]:
        forms = [self.text.encode()]
        digits = "".join(c for c in self.text if c.isdigit())
        if self.key is None and len(digits) >= 13 and not self.text.startswith("eyJ"):
            forms.append(digits.encode())
        return forms


def _luhn_complete(digits: list[int]) -> int:
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10


@st.composite
def cards(draw: st.DrawFn) -> Secret:
    body = draw(st.lists(st.integers(0, 9), min_size=15, max_size=15))
    body[0] = draw(st.sampled_from([3, 4, 5, 6]))
    digits = "".join(map(str, [*body, _luhn_complete(body)]))
    separator = draw(st.sampled_from(["", " ", "-"]))
    return Secret(separator.join(digits[i : i + 4] for i in range(0, 16, 4)))


@st.composite
def jwts(draw: st.DrawFn) -> Secret:
    def part(min_size: int) -> str:
        return draw(st.text(alphabet=_BASE64URL, min_size=min_size, max_size=40))

    header = base64.urlsafe_b64encode(b'{"alg":"HS256"}').decode().rstrip("=")
    return Secret(f"{header}.eyJ{part(4)}.{part(8)}")


@st.composite
def emails(draw: st.DrawFn) -> Secret:
    return Secret(f"{draw(_WORD)}.{draw(_WORD)}@{draw(_WORD)}.com")


@st.composite
def passwords(draw: st.DrawFn) -> Secret:
    value = "pw" + draw(st.text(alphabet="0123456789abcdef", min_size=16, max_size=16))
    return Secret(value, draw(st.sampled_from(SENSITIVE_KEYS)))


SECRETS = st.one_of(cards(), jwts(), emails(), passwords())


# --- Planting a secret anywhere in a canonical event -----------------------------------------


_SKIPPED = {"id", "project", "dialect"}
_WELL_KNOWN = {"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"}


def _spots(descriptor: Any, keyed: bool, seen: tuple[str, ...] = ()) -> list[Any]:
    """The fields of a message under which a secret can be planted (a keyed one needs a map, a
    Struct or an audit change)."""
    out = []
    for field in descriptor.fields:
        if field.type == field.TYPE_STRING:
            if not keyed:
                out.append(field)
        elif field.type == field.TYPE_MESSAGE:
            sub = field.message_type
            if sub.GetOptions().map_entry:
                if sub.fields_by_name["value"].type == field.TYPE_STRING:
                    out.append(field)
            elif (
                sub.full_name in _WELL_KNOWN
                or sub.full_name == "ingestd.v1.AuditChange"
                or (sub.full_name not in seen and _spots(sub, keyed, (*seen, sub.full_name)))
            ):
                out.append(field)
    return out


def _embedded(draw: st.DrawFn, secret: Secret) -> str:
    before, after = draw(_WORD), draw(_WORD)
    return f"{before} {secret.text} {after}"


def _json_with(draw: st.DrawFn, secret: Secret, depth: int) -> Any:
    """A JSON value holding the secret somewhere, nested up to `depth` levels."""
    if depth == 0 or draw(st.booleans()):
        if secret.key is not None:
            return {secret.key: secret.text, draw(_WORD): draw(_WORD)}
        return _embedded(draw, secret)
    inner = _json_with(draw, secret, depth - 1)
    if draw(st.booleans()):
        return [draw(_WORD), inner]
    return {draw(_WORD) + "_x": inner, "n": 1}


def _plant(draw: st.DrawFn, message: Message, secret: Secret, *, top: bool = False) -> None:
    keyed = secret.key is not None
    spots = [f for f in _spots(message.DESCRIPTOR, keyed) if not (top and f.name in _SKIPPED)]
    field = draw(st.sampled_from(spots))
    name = field.name
    if field.type == field.TYPE_STRING:
        text = _embedded(draw, secret)
        if field.is_repeated:
            getattr(message, name).extend([draw(_WORD), text])
        else:
            setattr(message, name, text)
        return
    sub = field.message_type
    if sub.GetOptions().map_entry:
        key = secret.key if keyed else draw(_WORD)
        getattr(message, name)[key] = secret.text if keyed else _embedded(draw, secret)
        return
    target = getattr(message, name).add() if field.is_repeated else getattr(message, name)
    if sub.full_name == "google.protobuf.Struct":
        value = _json_with(draw, secret, 3)
        target.update(value if isinstance(value, dict) else {draw(_WORD) + "_v": value})
    elif sub.full_name == "google.protobuf.Value":
        # A bare Value is keyed only by an audit change's field, which is not this one: embed in
        # a struct so a keyed secret has its key.
        _set_value(target, _json_with(draw, secret, 2) if keyed else _embedded(draw, secret))
    elif sub.full_name == "google.protobuf.ListValue":
        target.extend([_json_with(draw, secret, 2)])
    elif sub.full_name == "ingestd.v1.AuditChange":
        target.field = secret.key if keyed else draw(_WORD)
        side = target.before if draw(st.booleans()) else target.after
        _set_value(side, secret.text if keyed else _embedded(draw, secret))
    else:
        _plant(draw, target, secret)


def _set_value(value: struct_pb2.Value, data: Any) -> None:
    holder = struct_pb2.Struct()
    holder.update({"v": data})
    value.CopyFrom(holder.fields["v"])


def _complete(event: event_pb2.Event) -> None:
    """Fills the fields each kind requires, where the planting left them empty."""
    body = event.WhichOneof("body")
    if body == "error" and not (event.error.exception.type or event.message):
        event.error.exception.type = "Error"
    elif body == "transaction" and not event.transaction.name:
        event.transaction.name = "GET /"
    elif body == "span":
        event.span.trace_id = event.span.trace_id or "4bf92f3577b34da6a3ce929d0e0e4736"
        event.span.span_id = event.span.span_id or "00f067aa0ba902b7"
    elif body == "metric" and not event.metric.name:
        event.metric.name = "m"
    elif body == "check_in" and not event.check_in.slug:
        event.check_in.slug = "nightly"
    elif body == "ai_generation":
        event.ai_generation.provider = event.ai_generation.provider or "p"
        event.ai_generation.model = event.ai_generation.model or "m"
    elif body == "timing" and not (event.timing.touchpoint or event.timing.correlation_key):
        event.timing.touchpoint = "t"
    elif body == "audit" and not event.audit.action:
        event.audit.action = "user.login"


_BODIES = [f.name for f in event_pb2.Event.DESCRIPTOR.oneofs_by_name["body"].fields]


@st.composite
def planted_events(draw: st.DrawFn) -> tuple[event_pb2.Event, Secret]:
    secret = draw(SECRETS)
    event = event_pb2.Event(message=draw(_WORD), service="svc")
    body = draw(st.sampled_from([None, *_BODIES]))
    if body is not None:
        getattr(event, body).SetInParent()
    _plant(draw, event, secret, top=True)
    _complete(event)
    return event, secret


@st.composite
def logstitch_events(draw: st.DrawFn) -> tuple[dict[str, Any], Secret]:
    secret = draw(SECRETS)
    sent: dict[str, Any] = {
        "action": "user.login",
        "category": "auth",
        "actor": {"id": "u1", "type": "user"},
        "tenant_id": "acme",
    }
    keyed = secret.key is not None
    spot = draw(
        st.sampled_from(
            ["metadata", "changes"] if keyed else ["metadata", "changes", "actor", "target", "context"]
        )
    )
    text = secret.text if keyed else _embedded(draw, secret)
    if spot == "metadata":
        value = _json_with(draw, secret, 3)
        sent["metadata"] = value if isinstance(value, dict) else {"v": value}
    elif spot == "changes":
        side = draw(st.sampled_from(["before", "after"]))
        sent["changes"] = [{"field": secret.key if keyed else "name", side: text}]
    elif spot == "actor":
        sent["actor"]["name"] = text
    elif spot == "target":
        sent["target"] = {"id": draw(st.sampled_from([text, "t1"])), "type": "doc", "name": text}
    else:
        field = draw(st.sampled_from(["ip_address", "user_agent", "location", "session_id"]))
        sent["context"] = {field: text}
    return sent, secret


# --- A real ingestd on its own loop --------------------------------------------------------------


@contextlib.contextmanager
def background_ingestd(database_url: str) -> Iterator[Running]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    manager = running(make_settings(database_url))
    try:
        started = asyncio.run_coroutine_threadsafe(manager.__aenter__(), loop).result(60)
        try:
            yield started
        finally:
            asyncio.run_coroutine_threadsafe(manager.__aexit__(None, None, None), loop).result(60)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_planted_secrets_never_reach_the_database(database_url: str) -> None:
    auth = (("authorization", f"Bearer {PROJECT_SECRET}"),)
    master = (("authorization", f"Bearer {MASTER_SECRET}"),)
    engine = sqlalchemy.create_engine(sync_url(database_url))
    with (
        background_ingestd(database_url) as started,
        grpc.insecure_channel(f"127.0.0.1:{started.grpc_port}") as channel,
    ):
        ingest = ingest_service_pb2_grpc.IngestServiceStub(channel)
        admin = admin_service_pb2_grpc.AdminServiceStub(channel)
        admin.UpdateRedactionRule(
            admin_service_pb2.UpdateRedactionRuleRequest(
                project="default", rule="builtin_email", update=redaction_pb2.RedactionRule(enabled=True)
            ),
            metadata=master,
        )

        def stored(event_id: str) -> bytes:
            with engine.connect() as connection:
                row = connection.execute(
                    sqlalchemy.text("SELECT payload FROM events WHERE id = :id"), {"id": event_id}
                ).one()
            return bytes(row[0])

        def check(payload: bytes, secret: Secret) -> None:
            for form in secret.leaks():
                assert form not in payload, (secret, payload)

        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(planted_events())
        def through_grpc(case: tuple[event_pb2.Event, Secret]) -> None:
            event, secret = case
            response = ingest.WriteEvents(
                ingest_service_pb2.WriteEventsRequest(project="default", events=[event]), metadata=auth
            )
            [result] = response.results
            # A duplicate (an example repeated with the same idempotency key) is the earlier event.
            assert result.outcome in (
                ingest_service_pb2.WRITE_OUTCOME_ACCEPTED,
                ingest_service_pb2.WRITE_OUTCOME_DUPLICATE,
            ), (event, result)
            check(stored(result.event_id), secret)

        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(logstitch_events())
        def through_logstitch(case: tuple[dict[str, Any], Secret]) -> None:
            sent, secret = case
            request = urllib.request.Request(
                f"http://127.0.0.1:{started.http_port}/api/v1/events",
                data=json.dumps(sent).encode(),
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {PROJECT_SECRET}"},
            )
            with urllib.request.urlopen(request, timeout=30) as answer:
                body = json.loads(answer.read())
            assert body["redacted_count"] >= 1
            [vendor_id] = body["ids"]
            event_id = logstitch.event_id_of(vendor_id)
            assert event_id is not None
            check(stored(event_id), secret)

        try:
            through_grpc()
            through_logstitch()
        finally:
            engine.dispose()
