"""The HTTP routes the benchmark drives: the canonical route and one ingest route per vendor, with
their headers, their bodies and how their answers count events.

Contract:

- `ROUTES` names each route: `canonical` (`POST /v1/projects/default/events:write`, proto3 JSON),
  `logister`, `opensentry`, `operyn`, `logstitch`, `simplelogs`, `otlp` (`POST /v1/traces`, binary
  protobuf `ExportTraceServiceRequest`s of spans) and `sentry` (`POST /api/<number>/envelope/`).
  Each has a single-event path and a batch path, the batch size it is driven with (100, or 20 for
  Open Sentry, whose largest body holds 20 items), and the headers its clients send.
- `Route.bodies(batch, keys, expected=, unique=)` returns a `BodySource`: each call returns the
  next body to send. Bodies are built up front from a fixed seed (about 600 bytes an event, like
  `bench.events`). With `unique` (ingestd), the ids a route deduplicates on (Logister's `uuid`,
  LogStitch's `idempotency_key`, Sentry's `event_id`, the trace ids that OTLP spans' keys and
  Sentry log records' payload digests depend on) are filled in per request from a counter, so no
  answer is a duplicate, at a few microseconds of client work an event. Fixed-width ids keep
  protobuf lengths and Sentry item `length`s valid. Logister batches are gzip NDJSON (as its SDKs
  send them), about 0.5 ms a body to compress: the first `expected` are compressed before the load
  starts, once per run (each target has its own database, so targets share them), and only
  requests beyond those are compressed in the loop. Without `unique` (a bare baseline, which
  stores nothing) a few bodies are made up front and cycled.
- `Route.taken(status, body, sent)` reads ingestd's 2xx answer: `(taken, rejected)` events when
  the answer counts them (canonical, Logister batch, Operyn batch, LogStitch, OTLP's partial
  success), else `(sent, 0)`: every other vendor answers 2xx only when it stored the whole body.
  `Route.bare_taken` reads the bare handler's answer (`{"queued":true}`, or OTLP's empty
  `ExportTraceServiceResponse`), parsing it as the client parses ingestd's.
- `Keys` are the secrets a route needs: the project key, a public key (Open Sentry's and Sentry's)
  and a SimpleLogs server key (made over HTTP with the master key by `bench.targets.make_keys`).
"""

from __future__ import annotations

import functools
import gzip
import itertools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as otlp_trace
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from bench.events import proto_events
from server.dsn import project_number

#: How many distinct bodies each route cycles through.
DISTINCT_BODIES = 64
#: Where a per-request id goes in a body template.
_SLOT = b"@@BENCH-ID@@"

#: Each call returns the next body to send.
BodySource = Callable[[], bytes]


@dataclass(frozen=True, slots=True)
class Keys:
    """The secrets the routes send."""

    project: str
    public: str
    server: str


def _uuid_prefix() -> str:
    bits = random.SystemRandom().getrandbits
    return f"{bits(32):08x}-{bits(16):04x}-4{bits(12):03x}-8{bits(12):03x}-"


# One counter for the process: ids are unique across routes, targets and phases, and the random
# prefix keeps them unique across runs on the same database.
_PREFIX = _uuid_prefix().encode()
_COUNTER = itertools.count()
# Times an odd number, modulo 2**48: a one-to-one map that spreads the counter's bits. Real ids
# are random hex; a counter's leading zeros made runs of 13 or more decimal digits, which the
# redaction prefilter must treat as possible card numbers (then it walks the whole event).
_SPREAD = 0x9E3779B97F4B


def _spread(value: int, bits: int = 48) -> int:
    return (value * _SPREAD) % (1 << bits)


def fresh_id() -> bytes:
    """A new UUIDv4-shaped id, unique in this run."""
    return b"%b%012x" % (_PREFIX, _spread(next(_COUNTER)))


#: Random hex digits of this process, that start the fixed-width fresh ids below.
_HEX_PREFIX = b"%032x" % random.SystemRandom().getrandbits(128)


def fresh_hex(digits: int) -> bytes:
    """A new id of `digits` hex digits (24 to 44), unique in this run: random digits, then a counter
    (12 digits)."""
    return b"%b%012x" % (_HEX_PREFIX[: digits - 12], _spread(next(_COUNTER)))


#: A Sentry event id's place (32 characters): filled with `fresh_hex(32)`.
_EVENT_ID_SLOT = b"@@BENCH-EVENT-ID" + b"#" * 16
#: The first 24 hex digits of a Sentry log record's trace id: filled with `fresh_hex(24)`.
_LOG_TRACE_SLOT = b"@@BENCH-LOGTRACE" + b"#" * 8
#: The first 12 bytes of an OTLP trace id (binary protobuf): filled with 12 fresh bytes.
_OTLP_TRACE_SLOT = b"@@BENCH-TID@"


def _fresh_trace_bytes() -> bytes:
    return bytes.fromhex(fresh_hex(24).decode())


#: Gzipped bodies compressed so far, by document set: shared by the targets of a run, each of which
#: has its own database, so a body sent to one is still new to the next.
_GZIP_POOLS: dict[tuple[bytes, ...], list[bytes]] = {}


class _Templates:
    """Bodies with `slot` placeholders (`_SLOT` by default), filled with fresh ids (`fresh`),
    cycling through the documents: each placeholder its own id, or with `per_body` one id for every
    placeholder of a body (a Sentry event id in the envelope header and in the event; the trace id
    prefix every span or log record of a body shares).

    With `unique` every body has ids never sent before in this run's database: gzipped ones are
    taken from a pool compressed up front (`expected` of them, shared across targets), then made
    on demand. Without it (a bare baseline, which stores nothing) a few bodies are made up front
    and cycled, so the client's cost stays that of sending."""

    def __init__(
        self,
        documents: Sequence[bytes],
        *,
        gzipped: bool,
        expected: int,
        unique: bool,
        slot: bytes = _SLOT,
        fresh: Callable[[], bytes] = fresh_id,
        per_body: bool = False,
    ) -> None:
        self._parts = [document.split(slot) for document in documents]
        self._fresh = fresh
        self._per_body = per_body
        self._gzipped = gzipped
        self._made = 0
        self._next = 0
        self._unique = unique
        if not unique:
            self._pool = [self._make() for _ in range(len(documents))]
        elif gzipped:
            self._pool = _GZIP_POOLS.setdefault(tuple(documents), [])
            self._pool += [self._make() for _ in range(expected - len(self._pool))]
        else:
            self._pool = []

    def _make(self) -> bytes:
        parts = self._parts[self._made % len(self._parts)]
        self._made += 1
        if self._per_body:
            body = self._fresh().join(parts)
        else:
            pieces = [parts[0]]
            for part in parts[1:]:
                pieces.append(self._fresh())
                pieces.append(part)
            body = b"".join(pieces)
        return gzip.compress(body, compresslevel=1, mtime=0) if self._gzipped else body

    def __call__(self) -> bytes:
        index = self._next
        self._next += 1
        if index < len(self._pool):
            return self._pool[index]
        if not self._unique:
            return self._pool[index % len(self._pool)]
        return self._make()


def _static(documents: Sequence[bytes]) -> BodySource:
    cycle = itertools.cycle(documents)
    return lambda: next(cycle)


def _hex(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(4 * digits):0{digits}x}"


_SERVICES = ("billing-api", "checkout-web", "search-indexer", "notifications")
_REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")
_ERRORS = (
    ("KeyError", "'customer_id'"),
    ("CardDeclinedError", "card was declined: insufficient_funds"),
    ("TimeoutError", "upstream search cluster did not answer within 2500 ms"),
    ("IntegrityError", 'duplicate key value violates unique constraint "invoices_number_key"'),
)
_FRAMES = (
    ("app/api/routes.py", "handle_request", "response = await handler(request)"),
    ("app/services/payments.py", "capture", "charge = gateway.capture(intent)"),
    ("app/services/customers.py", "lookup", "return self._cache[customer_id]"),
    ("app/db/session.py", "flush", "await self._session.flush()"),
)


# --- the documents, one per vendor ------------------------------------------------------------------


@functools.cache
def _canonical_events(n: int) -> list[dict[str, Any]]:
    return [json_format.MessageToDict(event) for event in proto_events(n)]


def _logister(rng: random.Random) -> dict[str, Any]:
    service = rng.choice(_SERVICES)
    exc_type, value = rng.choice(_ERRORS)
    frames = [
        {"filename": f"/srv/{f}", "lineno": rng.randrange(10, 900), "name": fn, "line": line}
        for f, fn, line in _FRAMES[: rng.randrange(2, 4)]
    ]
    return {
        "event": {
            "uuid": _SLOT.decode(),
            "event_type": "error",
            "level": "error",
            "message": f"{exc_type}: {value}",
            "occurred_at": "2026-05-30T12:00:01.123456Z",
            "context": {
                "environment": "production",
                "release": f"{service}@2.{rng.randrange(20)}.{rng.randrange(10)}",
                "trace_id": _hex(rng, 32),
                "request_id": f"req_{_hex(rng, 16)}",
                "user_id": f"cus_{_hex(rng, 14)}",
                "exception": {"class": exc_type, "message": value, "frames": frames},
                "metadata": {"region": rng.choice(_REGIONS), "attempt": rng.randrange(1, 4)},
            },
        }
    }


def _opensentry(rng: random.Random) -> dict[str, Any]:
    exc_type, value = rng.choice(_ERRORS)
    frames = [
        {
            "filename": f,
            "function": fn,
            "lineno": rng.randrange(10, 900),
            "colno": rng.randrange(1, 80),
            "inApp": True,
        }
        for f, fn, _ in _FRAMES[: rng.randrange(2, 5)]
    ]
    return {
        "type": "error",
        "exception": {"type": exc_type, "value": value, "stacktrace": {"frames": frames}},
        "tags": {
            "region": rng.choice(_REGIONS),
            "host": f"ip-10-0-{rng.randrange(256)}-{rng.randrange(256)}",
        },
        "user": {"id": f"user_{_hex(rng, 8)}", "email": f"dev{rng.randrange(1000)}@example.com"},
        "environment": "production",
        "release": f"web@2.{rng.randrange(20)}.{rng.randrange(10)}",
        "timestamp": "2026-05-30T12:00:01.000Z",
    }


def _operyn(rng: random.Random) -> dict[str, Any]:
    # The services stay among the canonical events' four: without `x-organization-id` Operyn's
    # "default organization" admits at most five distinct services per project.
    service = rng.choice(_SERVICES[:2])
    return {
        "service": service,
        "level": rng.choice(("error", "warn", "info")),
        "message": f"Upstream timeout connecting to auth-service after {rng.randrange(100, 5000)} ms "
        f"(attempt {rng.randrange(1, 4)}, pool {_hex(rng, 6)})",
        "traceId": _hex(rng, 32),
        "timestamp": "2026-05-30T12:00:01.000Z",
        "metadata": {
            "region": rng.choice(_REGIONS),
            "env": "prod",
            "team": "platform",
            "route": "/api/v2/checkout",
            "status": rng.choice((502, 503, 504)),
            "upstream": f"auth-service-{rng.randrange(8)}.internal:8443",
            "request_id": f"req_{_hex(rng, 16)}",
            "customer_id": f"cus_{_hex(rng, 14)}",
            "host": f"ip-10-0-{rng.randrange(256)}-{rng.randrange(256)}.ec2.internal",
            "version": f"v2.{rng.randrange(20)}.{rng.randrange(10)}",
            "error": "ETIMEDOUT: connect timed out while waiting for the TLS handshake",
        },
    }


def _logstitch(rng: random.Random) -> dict[str, Any]:
    user = f"u{rng.randrange(1, 10_000)}"
    return {
        "action": "user.login",
        "category": "auth",
        "actor": {"id": user, "type": "user", "name": "Ada Lovelace", "email": f"{user}@example.com"},
        "target": {"id": f"sess_{_hex(rng, 12)}", "type": "session"},
        "tenant_id": f"t{rng.randrange(1, 50)}",
        "context": {
            "ip_address": f"203.0.113.{rng.randrange(256)}",
            "user_agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Safari/605.1.15",
            "location": "London, GB",
            "session_id": f"sess_{_hex(rng, 12)}",
        },
        "metadata": {"method": "password", "mfa": rng.random() < 0.5, "attempt": rng.randrange(1, 4)},
        "changes": [
            {"field": "last_login_at", "before": "2026-05-29T08:14:03Z", "after": "2026-05-30T12:00:01Z"}
        ],
        "idempotency_key": _SLOT.decode(),
    }


def _simplelogs_entry(rng: random.Random) -> dict[str, Any]:
    return {
        "touchpoint": rng.choice(("api/orders/submit", "api/users/login", "api/cart/update")),
        "message": f"Order ord_{_hex(rng, 10)} submitted by usr_{_hex(rng, 8)}: {rng.randrange(1, 9)} items, "
        f"{rng.randrange(100, 90_000)} cents, payment pending",
        "level": rng.choice(("info", "warn", "error")),
        "timestamp": 1_780_000_000_000 + rng.randrange(3_600_000),
        "metadata": {
            "orderId": f"ord_{_hex(rng, 10)}",
            "userId": f"usr_{_hex(rng, 8)}",
            "region": rng.choice(_REGIONS),
            "items": rng.randrange(1, 9),
            "coupon": rng.choice(("SPRING10", "", "VIP")),
            "request_id": f"req_{_hex(rng, 16)}",
            "session": f"sess_{_hex(rng, 12)}",
            "userAgent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36",
        },
    }


# OTLP: traces as OpenTelemetry's Python SDK exports them (one resource; spans grouped by the
# instrumentation scope that made them).

#: 2026-05-30T12:00:01Z, in unix nanoseconds: the time the vendor documents above carry.
_T0_NS = 1_780_142_401_000_000_000
_MS = 1_000_000
_OTLP_SCOPES = {
    "server": ("opentelemetry.instrumentation.flask", "0.66b2"),
    "db": ("opentelemetry.instrumentation.sqlalchemy", "0.66b2"),
    "client": ("opentelemetry.instrumentation.requests", "0.66b2"),
    "internal": ("app.checkout", ""),
}
#: What follows a trace's root span (a server span), in order: at most 9 children.
_OTLP_CHILDREN = ("db", "internal", "db", "client", "db", "internal", "db", "client", "internal")
_HTTP_ROUTES = (
    ("POST", "/api/v2/checkout/{cart_id}", "/api/v2/checkout/"),
    ("GET", "/api/v2/invoices/{id}", "/api/v2/invoices/"),
    ("POST", "/api/v2/charges", "/api/v2/charges"),
    ("GET", "/api/v2/search", "/api/v2/search"),
)
_QUERIES = (
    ("SELECT", "orders", "SELECT orders.id, orders.total_cents, orders.status FROM orders "
     "WHERE orders.customer_id = %(customer_id)s ORDER BY orders.created_at DESC LIMIT %(limit)s"),
    ("UPDATE", "carts", "UPDATE carts SET status = %(status)s, updated_at = now() WHERE carts.id = %(id)s"),
    ("INSERT", "invoices", "INSERT INTO invoices (number, customer_id, total_cents) VALUES "
     "(%(number)s, %(customer_id)s, %(total_cents)s) RETURNING invoices.id"),
)  # fmt: skip
_FUNCTIONS = (
    ("validate_cart", "app/services/carts.py"),
    ("apply_coupon", "app/services/pricing.py"),
    ("render_receipt", "app/services/receipts.py"),
)
_TIMEOUT = "HTTPSConnectionPool(host='payments.internal', port=443): Read timed out. (read timeout=2.5)"
_TRACEBACK = f"""Traceback (most recent call last):
  File "/srv/app/services/payments.py", line 88, in capture
    charge = gateway.capture(intent)
  File "/srv/app/clients/payments.py", line 41, in post
    resp = self._session.post(url, json=body, timeout=2.5)
  File "/usr/local/lib/python3.12/site-packages/requests/sessions.py", line 637, in post
    return self.request("POST", url, data=data, json=json, **kwargs)
  File "/usr/local/lib/python3.12/site-packages/requests/adapters.py", line 713, in send
    raise ReadTimeout(e, request=request)
requests.exceptions.ReadTimeout: {_TIMEOUT}
"""


def _any_value(value: object) -> common_pb2.AnyValue:
    if isinstance(value, bool):
        return common_pb2.AnyValue(bool_value=value)
    if isinstance(value, int):
        return common_pb2.AnyValue(int_value=value)
    if isinstance(value, float):
        return common_pb2.AnyValue(double_value=value)
    return common_pb2.AnyValue(string_value=str(value))


def _otlp_attributes(values: dict[str, object]) -> list[common_pb2.KeyValue]:
    return [common_pb2.KeyValue(key=key, value=_any_value(value)) for key, value in values.items()]


def _span_id(rng: random.Random) -> bytes:
    return (rng.getrandbits(64) | 1).to_bytes(8, "big")


def _otlp_root(rng: random.Random, trace_id: bytes, start: int) -> trace_pb2.Span:
    method, route, prefix = rng.choice(_HTTP_ROUTES)
    return trace_pb2.Span(
        trace_id=trace_id,
        span_id=_span_id(rng),
        flags=0x101,  # sampled; the parent's remoteness is known (none)
        name=f"{method} {route}",
        kind=trace_pb2.Span.SPAN_KIND_SERVER,
        start_time_unix_nano=start,
        end_time_unix_nano=start + rng.randrange(20, 900) * _MS,
        attributes=_otlp_attributes(
            {
                "http.request.method": method,
                "url.scheme": "https",
                "url.path": f"{prefix}{_hex(rng, 10)}" if prefix.endswith("/") else prefix,
                "http.route": route,
                "http.response.status_code": rng.choice((200, 200, 201, 404)),
                "server.address": "api.example.com",
                "network.protocol.version": "1.1",
                "client.address": f"203.0.113.{rng.randrange(256)}",
                "user_agent.original": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0",
            }
        ),
    )


def _otlp_child(
    rng: random.Random, scope: str, root: trace_pb2.Span, failed: bool, start: int
) -> trace_pb2.Span:
    span = trace_pb2.Span(
        trace_id=root.trace_id,
        span_id=_span_id(rng),
        parent_span_id=root.span_id,
        flags=0x101,
        start_time_unix_nano=start,
        end_time_unix_nano=start + rng.randrange(1, 120) * _MS,
    )
    if scope == "db":
        operation, table, query = rng.choice(_QUERIES)
        span.name = f"{operation} {table}"
        span.kind = trace_pb2.Span.SPAN_KIND_CLIENT
        values: dict[str, object] = {
            "db.system.name": "postgresql",
            "db.namespace": "checkout",
            "db.operation.name": operation,
            "db.collection.name": table,
            "db.query.text": query,
            "server.address": "db-1.internal",
            "server.port": 5432,
        }
    elif scope == "client":
        span.name = "POST"
        span.kind = trace_pb2.Span.SPAN_KIND_CLIENT
        values = {
            "http.request.method": "POST",
            "url.full": f"https://payments.internal/v1/charges/ch_{_hex(rng, 12)}",
            "server.address": "payments.internal",
            "server.port": 443,
        }
        if failed:
            values["error.type"] = "requests.exceptions.ReadTimeout"
            span.status.code = trace_pb2.Status.STATUS_CODE_ERROR
            span.status.message = f"ReadTimeout: {_TIMEOUT}"
            span.events.add(
                name="exception",
                time_unix_nano=span.end_time_unix_nano,
                attributes=_otlp_attributes(
                    {
                        "exception.type": "requests.exceptions.ReadTimeout",
                        "exception.message": _TIMEOUT,
                        "exception.stacktrace": _TRACEBACK,
                        "exception.escaped": "False",
                    }
                ),
            )
        else:
            values["http.response.status_code"] = 200
    else:
        function, path = rng.choice(_FUNCTIONS)
        span.name = function
        span.kind = trace_pb2.Span.SPAN_KIND_INTERNAL
        values = {
            "code.function.name": function,
            "code.file.path": f"/srv/{path}",
            "code.line.number": rng.randrange(10, 400),
            "cart.items": rng.randrange(1, 9),
        }
    span.attributes.extend(_otlp_attributes(values))
    return span


def _otlp_request(rng: random.Random, spans: int) -> bytes:
    """A serialized `ExportTraceServiceRequest` of `spans` spans: traces of up to 10 spans (a server
    span and its children), every other trace with a failed HTTP call that recorded an exception.
    Each trace id is `_OTLP_TRACE_SLOT` and the trace's index in the body, spread (4 bytes)."""
    traces = max(1, spans // 10)
    per_trace = spans // traces
    if traces * per_trace != spans or per_trace > 1 + len(_OTLP_CHILDREN):
        raise ValueError(f"cannot make traces of {spans} spans")
    service = rng.choice(_SERVICES)
    resource = resource_pb2.Resource(
        attributes=_otlp_attributes(
            {
                "telemetry.sdk.language": "python",
                "telemetry.sdk.name": "opentelemetry",
                "telemetry.sdk.version": "1.45.2",
                "service.name": service,
                "service.version": f"2.{rng.randrange(20)}.{rng.randrange(10)}",
                "deployment.environment.name": "production",
                "host.name": f"ip-10-0-{rng.randrange(256)}-{rng.randrange(256)}",
                "process.pid": rng.randrange(100, 60_000),
            }
        )
    )
    by_scope: dict[str, list[trace_pb2.Span]] = {scope: [] for scope in _OTLP_SCOPES}
    for index in range(traces):
        start = _T0_NS + rng.randrange(60_000) * _MS
        root = _otlp_root(rng, _OTLP_TRACE_SLOT + _spread(index, 32).to_bytes(4, "big"), start)
        by_scope["server"].append(root)
        children = _OTLP_CHILDREN[: per_trace - 1]
        last_client = max((k for k, scope in enumerate(children) if scope == "client"), default=-1)
        for k, scope in enumerate(children):
            failed = index % 2 == 1 and k == last_client
            by_scope[scope].append(_otlp_child(rng, scope, root, failed, start + (k + 1) * 3 * _MS))
    request = otlp_trace.ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add(resource=resource)
    for scope, (name, version) in _OTLP_SCOPES.items():
        if by_scope[scope]:
            resource_spans.scope_spans.add(
                scope=common_pb2.InstrumentationScope(name=name, version=version), spans=by_scope[scope]
            )
    return request.SerializeToString()


# Sentry: envelopes as sentry-python 2 sends them (an item header with `length` before each payload).

_SENTRY_SDK = {"name": "sentry.python.flask", "version": "2.35.0"}


def _sentry_item(headers: dict[str, Any], payload: bytes) -> bytes:
    return _dumps({**headers, "length": len(payload)}) + b"\n" + payload + b"\n"


def _sentry_error(rng: random.Random) -> bytes:
    """An envelope with one error event: an exception with 3 or 4 frames, its event id
    `_EVENT_ID_SLOT` in the envelope header and in the event."""
    service = rng.choice(_SERVICES)
    release = f"{service}@2.{rng.randrange(20)}.{rng.randrange(10)}"
    exc_type, value = rng.choice(_ERRORS)
    frames = [
        {
            "filename": f,
            "abs_path": f"/srv/{f}",
            "function": fn,
            "module": f.removesuffix(".py").replace("/", "."),
            "lineno": rng.randrange(10, 900),
            "context_line": f"        {line}",
            "in_app": True,
        }
        for f, fn, line in _FRAMES[: rng.randrange(3, 5)]
    ]
    frames[-1]["vars"] = {"customer_id": f"'cus_{_hex(rng, 14)}'", "attempt": str(rng.randrange(1, 4))}
    trace_id = _hex(rng, 32)
    event_id = _EVENT_ID_SLOT.decode()
    event = {
        "event_id": event_id,
        "level": "error",
        "platform": "python",
        "timestamp": "2026-05-30T12:00:01.123456Z",
        "server_name": f"ip-10-0-{rng.randrange(256)}-{rng.randrange(256)}",
        "release": release,
        "environment": "production",
        "exception": {
            "values": [
                {
                    "type": exc_type,
                    "value": value,
                    "mechanism": {"type": "flask", "handled": False},
                    "stacktrace": {"frames": frames},
                }
            ]
        },
        "contexts": {
            "trace": {"trace_id": trace_id, "span_id": _hex(rng, 16), "op": "http.server", "status": "ok"},
            "runtime": {"name": "CPython", "version": "3.12.3"},
        },
        "tags": {"region": rng.choice(_REGIONS)},
        "user": {"id": f"user_{_hex(rng, 8)}", "email": f"dev{rng.randrange(1000)}@example.com"},
        "request": {
            "url": "https://api.example.com/api/v2/checkout",
            "method": "POST",
            "headers": {"Host": "api.example.com", "User-Agent": "Mozilla/5.0 (X11; Linux x86_64)"},
        },
        "transaction": "/api/v2/checkout/<cart_id>",
        "sdk": _SENTRY_SDK,
    }
    header = {
        "event_id": event_id,
        "sent_at": "2026-05-30T12:00:01.200000Z",
        "trace": {"trace_id": trace_id, "environment": "production", "release": release},
    }
    item = {"type": "event", "content_type": "application/json"}
    return _dumps(header) + b"\n" + _sentry_item(item, _dumps(event))


def _sentry_log(rng: random.Random, trace_ids: Sequence[str]) -> dict[str, Any]:
    def attribute(value: object) -> dict[str, object]:
        kind = "integer" if isinstance(value, int) else "string"
        return {"value": value, "type": kind}

    order, user, items = f"ord_{_hex(rng, 10)}", f"usr_{_hex(rng, 8)}", rng.randrange(1, 9)
    return {
        "timestamp": round(1_780_142_401 + rng.random() * 60, 6),
        "trace_id": rng.choice(trace_ids),
        "span_id": _hex(rng, 16),
        "level": rng.choice(("info", "info", "warn", "error")),
        "body": f"Order {order} submitted by {user}: {items} items, payment pending",
        "attributes": {
            "sentry.release": attribute(f"checkout-web@2.{rng.randrange(20)}.{rng.randrange(10)}"),
            "sentry.environment": attribute("production"),
            "sentry.sdk.name": attribute("sentry.python"),
            "sentry.sdk.version": attribute("2.35.0"),
            "sentry.message.template": attribute("Order %s submitted by %s: %s items, payment pending"),
            "sentry.message.parameter.0": attribute(order),
            "sentry.message.parameter.1": attribute(user),
            "sentry.message.parameter.2": attribute(items),
            "logger.name": attribute("app.checkout"),
            "server.address": attribute(f"ip-10-0-{rng.randrange(256)}-{rng.randrange(256)}"),
            "code.line.number": attribute(rng.randrange(10, 400)),
        },
    }


def _sentry_logs(rng: random.Random, count: int) -> bytes:
    """An envelope with one `log` item of `count` records from 5 traces, whose trace ids start with
    `_LOG_TRACE_SLOT`."""
    trace_ids = [_LOG_TRACE_SLOT.decode() + _hex(rng, 8) for _ in range(5)]
    records = {"items": [_sentry_log(rng, trace_ids) for _ in range(count)]}
    item = {"type": "log", "item_count": count, "content_type": "application/vnd.sentry.items.log+json"}
    header = {"sent_at": "2026-05-30T12:00:02.000000Z", "sdk": _SENTRY_SDK}
    return _dumps(header) + b"\n" + _sentry_item(item, _dumps(records))


# --- the routes --------------------------------------------------------------------------------------


def _dumps(value: object) -> bytes:
    return orjson.dumps(value)


def _rng(route: str, batch: bool) -> random.Random:
    return random.Random(f"{route}-{'batch' if batch else 'single'}")


def _canonical_bodies(batch: int, keys: Keys, expected: int, unique: bool) -> BodySource:
    events = _canonical_events(1000)
    per = batch or 1
    bodies = []
    for k in range(DISTINCT_BODIES):
        chosen = [events[(k * (per + 1) + j) % len(events)] for j in range(per)]
        bodies.append(_dumps({"events": chosen}))
    return _static(bodies)


@functools.cache
def _logister_batches(batch: int) -> tuple[bytes, ...]:
    """The NDJSON batch documents (built once: they key the gzip pool)."""
    rng = _rng("logister", True)
    return tuple(
        b"".join(_dumps(_logister(rng)) + b"\n" for _ in range(batch)) for _ in range(DISTINCT_BODIES)
    )


def _logister_bodies(batch: int, keys: Keys, expected: int, unique: bool) -> BodySource:
    rng = _rng("logister", bool(batch))
    if not batch:
        singles = [_dumps(_logister(rng)) for _ in range(DISTINCT_BODIES)]
        return _Templates(singles, gzipped=False, expected=expected, unique=unique)
    return _Templates(_logister_batches(batch), gzipped=True, expected=expected, unique=unique)


def _opensentry_bodies(batch: int, keys: Keys, expected: int, unique: bool) -> BodySource:
    rng = _rng("opensentry", bool(batch))
    if not batch:
        return _static([_dumps(_opensentry(rng)) for _ in range(DISTINCT_BODIES)])
    return _static([_dumps([_opensentry(rng) for _ in range(batch)]) for _ in range(DISTINCT_BODIES)])


def _operyn_bodies(batch: int, keys: Keys, expected: int, unique: bool) -> BodySource:
    rng = _rng("operyn", bool(batch))
    if not batch:
        return _static([_dumps(_operyn(rng)) for _ in range(DISTINCT_BODIES)])
    return _static([_dumps([_operyn(rng) for _ in range(batch)]) for _ in range(DISTINCT_BODIES)])


def _logstitch_bodies(batch: int, keys: Keys, expected: int, unique: bool) -> BodySource:
    rng = _rng("logstitch", bool(batch))
    documents = [
        _dumps(_logstitch(rng) if not batch else [_logstitch(rng) for _ in range(batch)])
        for _ in range(DISTINCT_BODIES)
    ]
    return _Templates(documents, gzipped=False, expected=expected, unique=unique)


def _simplelogs_bodies(batch: int, keys: Keys, expected: int, unique: bool) -> BodySource:
    rng = _rng("simplelogs", bool(batch))
    bodies = [
        _dumps(
            {
                "key": keys.server,
                "source": "server",
                "entries": [_simplelogs_entry(rng) for _ in range(batch or 1)],
            }
        )
        for _ in range(DISTINCT_BODIES)
    ]
    return _static(bodies)


def _otlp_bodies(batch: int, keys: Keys, expected: int, unique: bool) -> BodySource:
    rng = _rng("otlp", bool(batch))
    documents = [_otlp_request(rng, batch or 1) for _ in range(DISTINCT_BODIES)]
    return _Templates(
        documents,
        gzipped=False,
        expected=expected,
        unique=unique,
        slot=_OTLP_TRACE_SLOT,
        fresh=_fresh_trace_bytes,
        per_body=True,
    )


def _sentry_bodies(batch: int, keys: Keys, expected: int, unique: bool) -> BodySource:
    rng = _rng("sentry", bool(batch))
    if not batch:
        documents = [_sentry_error(rng) for _ in range(DISTINCT_BODIES)]
        slot, digits = _EVENT_ID_SLOT, 32
    else:
        documents = [_sentry_logs(rng, batch) for _ in range(DISTINCT_BODIES)]
        slot, digits = _LOG_TRACE_SLOT, 24
    return _Templates(
        documents,
        gzipped=False,
        expected=expected,
        unique=unique,
        slot=slot,
        fresh=lambda: fresh_hex(digits),
        per_body=True,
    )


# --- reading answers ---------------------------------------------------------------------------------


def _all_taken(status: int, body: bytes, sent: int) -> tuple[int, int]:
    return sent, 0


def _queued_taken(status: int, body: bytes, sent: int) -> tuple[int, int]:
    """How a bare handler's 2xx answer (`{"queued":true}`) counts: everything sent. The answer is
    parsed all the same, so the client does the same work as for ingestd's answers."""
    orjson.loads(body)
    return sent, 0


def otlp_taken(status: int, body: bytes, sent: int) -> tuple[int, int]:
    """An `ExportTraceServiceResponse` (from ingestd, or the bare handlers' empty one): every span
    sent is taken but those its partial success counts as rejected.

    Raises:
        ValueError: the answer is not an `ExportTraceServiceResponse`.
    """
    try:
        answer = otlp_trace.ExportTraceServiceResponse.FromString(body)
    except DecodeError as exc:
        raise ValueError(f"not an ExportTraceServiceResponse: {exc}") from None
    rejected = int(answer.partial_success.rejected_spans)
    return sent - rejected, rejected


def _canonical_taken(status: int, body: bytes, sent: int) -> tuple[int, int]:
    answer = orjson.loads(body)
    taken = int(answer.get("acceptedCount", 0)) + int(answer.get("duplicateCount", 0))
    return taken, int(answer.get("rejectedCount", 0))


def _logister_taken(status: int, body: bytes, sent: int) -> tuple[int, int]:
    return (int(orjson.loads(body).get("accepted", 0)), 0) if sent > 1 else (sent, 0)


def _operyn_taken(status: int, body: bytes, sent: int) -> tuple[int, int]:
    return (int(orjson.loads(body).get("accepted", 0)), 0) if sent > 1 else (sent, 0)


def _logstitch_taken(status: int, body: bytes, sent: int) -> tuple[int, int]:
    return len(orjson.loads(body).get("ids", ())), 0


@dataclass(frozen=True, slots=True)
class Route:
    """One HTTP ingest route: its paths, batch size, headers, bodies and how its answers count."""

    name: str
    title: str
    single_path: str
    batch_path: str
    batch_size: int
    #: The headers every request carries (Content-Type, a key), given the keys.
    headers: Callable[[Keys], dict[str, str]]
    #: Builds the bodies: (events per body, 0 for the single-event shape; keys; requests expected;
    #: whether every body must be new to the server).
    make_bodies: Callable[[int, Keys, int, bool], BodySource]
    taken: Callable[[int, bytes, int], tuple[int, int]] = _all_taken
    #: How the bare aiohttp handler's 2xx answer to this route counts.
    bare_taken: Callable[[int, bytes, int], tuple[int, int]] = _queued_taken
    #: Extra headers of batch requests.
    batch_headers: tuple[tuple[str, str], ...] = ()

    def path(self, batch: bool) -> str:
        return self.batch_path if batch else self.single_path

    def request_headers(self, batch: bool, keys: Keys) -> dict[str, str]:
        headers = self.headers(keys)
        if batch:
            headers.update(self.batch_headers)
        return headers

    def bodies(self, batch: bool, keys: Keys, *, expected: int = 0, unique: bool = True) -> BodySource:
        """The bodies of one target's run of this route; `expected` is how many requests to
        prepare ahead where preparing costs, `unique` whether the target deduplicates (see the
        module's contract)."""
        return self.make_bodies(self.batch_size if batch else 0, keys, expected, unique)


#: Sentry's envelope route for project `default`, by its DSN project number.
SENTRY_PATH = f"/api/{project_number('default')}/envelope/"


def _sentry_headers(keys: Keys) -> dict[str, str]:
    """What sentry-python sends: the public key in `X-Sentry-Auth`, the envelope's media type."""
    auth = f"Sentry sentry_key={keys.public}, sentry_version=7, sentry_client=sentry.python/2.35.0"
    return {"Content-Type": "application/x-sentry-envelope", "X-Sentry-Auth": auth}


def _json(extra: dict[str, str]) -> dict[str, str]:
    return {"Content-Type": "application/json", **extra}


ROUTES: dict[str, Route] = {
    route.name: route
    for route in (
        Route(
            "canonical",
            "ingestd proto3 JSON, events:write",
            "/v1/projects/default/events:write",
            "/v1/projects/default/events:write",
            100,
            lambda k: _json({"Authorization": f"Bearer {k.project}"}),
            _canonical_bodies,
            _canonical_taken,
        ),
        Route(
            "logister",
            "Logister ingest_events (batch: gzip NDJSON)",
            "/api/v1/ingest_events",
            "/api/v1/ingest_events/batch",
            100,
            lambda k: _json({"Authorization": f"Bearer {k.project}"}),
            _logister_bodies,
            _logister_taken,
            batch_headers=(("Content-Type", "application/x-ndjson"), ("Content-Encoding", "gzip")),
        ),
        Route(
            "opensentry",
            "Open Sentry /v1/ingest (batch: 20 items, its largest)",
            "/v1/ingest",
            "/v1/ingest",
            20,
            lambda k: _json({"X-Open-Sentry-Key": k.public}),
            _opensentry_bodies,
        ),
        Route(
            "operyn",
            "Operyn /events/logs",
            "/events/logs",
            "/events/logs/batch",
            100,
            lambda k: _json({"x-api-key": k.project}),
            _operyn_bodies,
            _operyn_taken,
        ),
        Route(
            "logstitch",
            "LogStitch /api/v1/events",
            "/api/v1/events",
            "/api/v1/events",
            100,
            lambda k: _json({"Authorization": f"Bearer {k.project}"}),
            _logstitch_bodies,
            _logstitch_taken,
        ),
        Route(
            "simplelogs",
            "SimpleLogs /api/v1/enqueue (server key in the body)",
            "/api/v1/enqueue",
            "/api/v1/enqueue",
            100,
            lambda k: _json({}),
            _simplelogs_bodies,
        ),
        Route(
            "otlp",
            "OTLP/HTTP /v1/traces, protobuf spans",
            "/v1/traces",
            "/v1/traces",
            100,
            lambda k: {"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {k.project}"},
            _otlp_bodies,
            otlp_taken,
            otlp_taken,
        ),
        Route(
            "sentry",
            "Sentry envelope (batch: one log item of 100 records)",
            SENTRY_PATH,
            SENTRY_PATH,
            100,
            _sentry_headers,
            _sentry_bodies,
        ),
    )
}
