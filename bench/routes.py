"""The HTTP routes the benchmark drives: the canonical route and one ingest route per vendor, with
their headers, their bodies and how their answers count events.

Contract:

- `ROUTES` names each route: `canonical` (`POST /v1/projects/default/events:write`, proto3 JSON),
  `logister`, `opensentry`, `operyn`, `logstitch` and `simplelogs`. Each has a single-event path
  and a batch path, the batch size it is driven with (100, or 20 for Open Sentry, whose largest
  body holds 20 items), and the headers its clients send.
- `Route.bodies(batch, keys, expected=, unique=)` returns a `BodySource`: each call returns the
  next body to send. Bodies are built up front from a fixed seed (about 600 bytes an event, like
  `bench.events`). With `unique` (ingestd), the ids a route deduplicates on (Logister's `uuid`,
  LogStitch's `idempotency_key`) are filled in per request from a counter, so no answer is a
  duplicate, at a few microseconds of client work an event. Logister batches are gzip NDJSON (as
  its SDKs send them), about 0.5 ms a body to compress: the first `expected` are compressed before
  the load starts, once per run (each target has its own database, so targets share them), and
  only requests beyond those are compressed in the loop. Without `unique` (a bare baseline, which
  stores nothing) a few bodies are made up front and cycled.
- `Route.taken(status, body, sent)` reads ingestd's 2xx answer: `(taken, rejected)` events when
  the answer counts them (canonical, Logister batch, Operyn batch, LogStitch), else `(sent, 0)`:
  every other vendor answers 2xx only when it stored the whole body. `bare_taken` reads the bare
  handler's.
- `Keys` are the secrets a route needs: the project key, an Open Sentry public key and a SimpleLogs
  server key (made over HTTP with the master key by `bench.targets.make_keys`).
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

from bench.events import proto_events

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


def fresh_id() -> bytes:
    """A new UUIDv4-shaped id, unique in this run."""
    return b"%b%012x" % (_PREFIX, next(_COUNTER))


#: Gzipped bodies compressed so far, by document set: shared by the targets of a run, each of which
#: has its own database, so a body sent to one is still new to the next.
_GZIP_POOLS: dict[tuple[bytes, ...], list[bytes]] = {}


class _Templates:
    """Bodies with `_SLOT` placeholders, each filled with a fresh id, cycling through the documents.

    With `unique` every body has ids never sent before in this run's database: gzipped ones are
    taken from a pool compressed up front (`expected` of them, shared across targets), then made
    on demand. Without it (a bare baseline, which stores nothing) a few bodies are made up front
    and cycled, so the client's cost stays that of sending."""

    def __init__(self, documents: Sequence[bytes], *, gzipped: bool, expected: int, unique: bool) -> None:
        self._parts = [document.split(_SLOT) for document in documents]
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
        pieces = [parts[0]]
        for part in parts[1:]:
            pieces.append(fresh_id())
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


# --- reading answers ---------------------------------------------------------------------------------


def _all_taken(status: int, body: bytes, sent: int) -> tuple[int, int]:
    return sent, 0


def bare_taken(status: int, body: bytes, sent: int) -> tuple[int, int]:
    """How a bare handler's 2xx answer (`{"queued":true}`) counts: everything sent. The answer is
    parsed all the same, so the client does the same work as for ingestd's answers."""
    orjson.loads(body)
    return sent, 0


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
    )
}
