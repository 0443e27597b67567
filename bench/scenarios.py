"""The scenarios: which RPC or HTTP route, how many events per request, and their payloads.

Contract:

- IngestService's gRPC scenarios (`single`, `batch100`, `stream`): `request_payloads` serializes,
  once up front, a few distinct requests of a scenario (each naming `project` and carrying
  `events_per_message` events taken round-robin from the prepared events), so the load generator
  only sends bytes and never builds messages in the loop.
- `otlp-batch100`: OTLP's `TraceService/Export` over gRPC with 100 spans a call. Its requests are
  the `otlp` HTTP route's batch bodies (the same serialized `ExportTraceServiceRequest`, with fresh
  trace ids for ingestd, made per target like HTTP bodies: `Scenario.vendor`), and its answers
  are read by that route's `taken`.
- HTTP scenarios, two per route of `bench.routes.ROUTES`: `http-single:<route>` (one event per
  POST) and `http-batch<N>:<route>` (N events per POST: 100, or 20 for Open Sentry). Their bodies
  come from the route (`Route.bodies`).
- `grpc_twin(scenario)`: the gRPC scenario that sends an HTTP scenario's messages, if any
  (`http-batch100:otlp` and `otlp-batch100`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.routes import ROUTES
from ingestd.v1 import event_pb2
from ingestd.v1 import ingest_service_pb2 as pb

WRITE_EVENTS = "/ingestd.v1.IngestService/WriteEvents"
STREAM_EVENTS = "/ingestd.v1.IngestService/StreamEvents"
OTLP_TRACE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

_DISTINCT_REQUESTS = 64


@dataclass(frozen=True, slots=True)
class Scenario:
    """One kind of load. A streaming scenario sends up to `messages_per_stream` messages per
    stream (fewer when the phase ends first); a unary one sends one request per call."""

    name: str
    title: str
    events_per_message: int
    streaming: bool = False
    messages_per_stream: int = 0
    #: An HTTP scenario's route (a key of `bench.routes.ROUTES`); "" for gRPC.
    route: str = ""
    #: A gRPC scenario of another service than IngestService: its method, and the HTTP route
    #: whose batch bodies are its requests and whose `taken` reads its answers.
    method: str = ""
    vendor: str = ""

    @property
    def protocol(self) -> str:
        return "http" if self.route else "grpc"

    @property
    def rpc(self) -> str:
        """A gRPC scenario's full method name."""
        return self.method or (STREAM_EVENTS if self.streaming else WRITE_EVENTS)

    @property
    def batch(self) -> bool:
        return self.events_per_message > 1


SINGLE = Scenario("single", "WriteEvents, 1 event/call", 1)
BATCH100 = Scenario("batch100", "WriteEvents, 100 events/call", 100)
STREAM = Scenario("stream", "StreamEvents, 100 events/msg", 100, streaming=True, messages_per_stream=10)

OTLP_BATCH100 = Scenario(
    "otlp-batch100", "OTLP TraceService/Export, 100 spans/call", 100, method=OTLP_TRACE_EXPORT, vendor="otlp"
)

GRPC_SCENARIOS = (SINGLE, BATCH100, STREAM, OTLP_BATCH100)
HTTP_SCENARIOS = tuple(
    scenario
    for route in ROUTES.values()
    for scenario in (
        Scenario(f"http-single:{route.name}", f"{route.title}, 1 event/POST", 1, route=route.name),
        Scenario(
            f"http-batch{route.batch_size}:{route.name}",
            f"{route.title}, {route.batch_size} events/POST",
            route.batch_size,
            route=route.name,
        ),
    )
)

SCENARIOS: dict[str, Scenario] = {s.name: s for s in (*GRPC_SCENARIOS, *HTTP_SCENARIOS)}


def grpc_twin(scenario: Scenario) -> str | None:
    """The gRPC scenario whose requests are `scenario`'s HTTP bodies (same route, same events per
    request), or None."""
    for twin in GRPC_SCENARIOS:
        if (
            twin.vendor
            and twin.vendor == scenario.route
            and twin.events_per_message == scenario.events_per_message
        ):
            return twin.name
    return None


def request_payloads(scenario: Scenario, events: Sequence[event_pb2.Event], project: str) -> list[bytes]:
    """Serialized `WriteEventsRequest`s (or `StreamEventsRequest`s for a streaming scenario), for
    IngestService's scenarios (not for one with a `vendor`)."""
    if scenario.vendor:
        raise ValueError(f"{scenario.name} sends the {scenario.vendor} route's bodies")
    message = pb.StreamEventsRequest if scenario.streaming else pb.WriteEventsRequest
    per = scenario.events_per_message
    payloads = []
    for k in range(_DISTINCT_REQUESTS):
        chosen = [events[(k * (per + 1) + j) % len(events)] for j in range(per)]
        payloads.append(message(project=project, events=chosen).SerializeToString())
    return payloads
