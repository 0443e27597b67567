"""The benchmark's payloads: realistic events of about 600 bytes, built once up front.

Contract:

- `proto_events(n)` returns `n` valid canonical events, log and error events alternating, that
  ingestd accepts as they are (no idempotency keys, so none is a duplicate). The mean serialized
  size is about 600 bytes.
- Everything is deterministic (a seeded generator), so two runs send the same bytes.
"""

from __future__ import annotations

import random
import time

from google.protobuf import struct_pb2

from ingestd.v1 import event_pb2

_SERVICES = ("billing-api", "checkout-web", "search-indexer", "notifications")
_ROUTES = ("/api/v2/charges", "/api/v2/checkout/{cart_id}", "/api/v2/search", "/api/v2/invoices/{id}")
_LOGGERS = ("app.payments", "app.checkout", "app.search", "app.mailer")
_EXCEPTIONS = (
    ("KeyError", "'customer_id'", "builtins"),
    ("CardDeclinedError", "card was declined: insufficient_funds", "app.payments.errors"),
    ("TimeoutError", "upstream search cluster did not answer within 2500 ms", "builtins"),
    ("IntegrityError", 'duplicate key value violates unique constraint "invoices_number_key"', "sqlalchemy"),
)
_FRAMES = (
    ("app/api/routes.py", "handle_request", "app.api.routes", "response = await handler(request)"),
    ("app/services/payments.py", "capture", "app.services.payments", "charge = gateway.capture(intent)"),
    ("app/services/customers.py", "lookup", "app.services.customers", "return self._cache[customer_id]"),
    ("app/db/session.py", "flush", "app.db.session", "await self._session.flush()"),
    ("app/clients/stripe.py", "post", "app.clients.stripe", "resp.raise_for_status()"),
)


def _hex(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(4 * digits):0{digits}x}"


def _envelope(rng: random.Random, event: event_pb2.Event, now_s: int) -> str:
    service = rng.choice(_SERVICES)
    event.occurred_at.FromSeconds(now_s - rng.randrange(3600))
    event.service = service
    event.environment = rng.choice(("production", "staging"))
    event.release = f"{service}@2.{rng.randrange(20)}.{rng.randrange(10)}"
    event.trace_id = _hex(rng, 32)
    event.span_id = _hex(rng, 16)
    event.request_id = f"req_{_hex(rng, 16)}"
    event.origin = "server"
    event.tags.update(
        {
            "region": rng.choice(("us-east-1", "eu-west-1", "ap-southeast-2")),
            "host": f"ip-10-0-{rng.randrange(256)}-{rng.randrange(256)}",
            "http.method": rng.choice(("GET", "POST")),
            "route": rng.choice(_ROUTES),
        }
    )
    return service


def _log_event(rng: random.Random, now_s: int) -> event_pb2.Event:
    event = event_pb2.Event()
    _envelope(rng, event, now_s)
    amount = rng.randrange(100, 500_000)
    customer = f"cus_{_hex(rng, 14)}"
    event.level = rng.choice((event_pb2.LEVEL_INFO, event_pb2.LEVEL_INFO, event_pb2.LEVEL_WARNING))
    event.message = (
        f"charge ch_{_hex(rng, 12)} captured for {customer}: {amount} cents in "
        f"{rng.randrange(5, 900)} ms via gateway stripe (attempt {rng.randrange(1, 4)})"
    )
    event.user.id = customer
    event.user.ip_address = f"203.0.113.{rng.randrange(256)}"
    log = event.log
    log.level_text = "warn" if event.level == event_pb2.LEVEL_WARNING else "info"
    log.logger = rng.choice(_LOGGERS)
    metadata = struct_pb2.Struct()
    metadata.update(
        {
            "customer_id": customer,
            "amount_cents": amount,
            "currency": rng.choice(("usd", "eur", "gbp")),
            "gateway": "stripe",
            "attempt": rng.randrange(1, 4),
            "idempotent_replay": False,
        }
    )
    log.metadata.CopyFrom(metadata)
    return event


def _error_event(rng: random.Random, now_s: int) -> event_pb2.Event:
    event = event_pb2.Event()
    _envelope(rng, event, now_s)
    exc_type, value, module = rng.choice(_EXCEPTIONS)
    exception = event.error.exception
    exception.type = exc_type
    exception.value = value
    exception.module = module
    exception.mechanism.type = "excepthook"
    exception.mechanism.handled = False
    frames = _FRAMES[: rng.randrange(3, 6)]
    for depth, (filename, function, frame_module, line) in enumerate(frames):
        # The raising frame carries its source line, as SDKs send it; the outer frames do not.
        raising = depth == len(frames) - 1
        exception.frames.add(
            filename=filename,
            function=function,
            module=frame_module,
            lineno=rng.randrange(10, 900),
            in_app=True,
            context_line=line if raising else "",
        )
    return event


def proto_events(n: int, *, seed: int = 600) -> list[event_pb2.Event]:
    """`n` events, log and error alternating; see the module's contract."""
    rng = random.Random(seed)
    now_s = int(time.time())
    return [_log_event(rng, now_s) if i % 2 == 0 else _error_event(rng, now_s) for i in range(n)]


def mean_size(events: list[event_pb2.Event]) -> float:
    """The mean serialized size of `events`, in bytes."""
    return sum(e.ByteSize() for e in events) / max(len(events), 1)
