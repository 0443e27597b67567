"""The scenarios: which RPC or HTTP route, how many events per request, and their payloads.

Contract:

- gRPC scenarios (`single`, `batch100`, `stream`): `request_payloads` serializes, once up front, a
  few distinct requests of a scenario (each naming `project` and carrying `events_per_message`
  events taken round-robin from the prepared events), so the load generator only sends bytes and
  never builds messages in the loop.
- HTTP scenarios, two per route of `bench.routes.ROUTES`: `http-single:<route>` (one event per
  POST) and `http-batch<N>:<route>` (N events per POST: 100, or 20 for Open Sentry). Their bodies
  come from the route (`Route.bodies`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.routes import ROUTES
from ingestd.v1 import event_pb2
from ingestd.v1 import ingest_service_pb2 as pb

WRITE_EVENTS = "/ingestd.v1.IngestService/WriteEvents"
STREAM_EVENTS = "/ingestd.v1.IngestService/StreamEvents"

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

    @property
    def protocol(self) -> str:
        return "http" if self.route else "grpc"

    @property
    def batch(self) -> bool:
        return self.events_per_message > 1


SINGLE = Scenario("single", "WriteEvents, 1 event/call", 1)
BATCH100 = Scenario("batch100", "WriteEvents, 100 events/call", 100)
STREAM = Scenario("stream", "StreamEvents, 100 events/msg", 100, streaming=True, messages_per_stream=10)

GRPC_SCENARIOS = (SINGLE, BATCH100, STREAM)
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


def request_payloads(scenario: Scenario, events: Sequence[event_pb2.Event], project: str) -> list[bytes]:
    """Serialized `WriteEventsRequest`s (or `StreamEventsRequest`s for a streaming scenario)."""
    message = pb.StreamEventsRequest if scenario.streaming else pb.WriteEventsRequest
    per = scenario.events_per_message
    payloads = []
    for k in range(_DISTINCT_REQUESTS):
        chosen = [events[(k * (per + 1) + j) % len(events)] for j in range(per)]
        payloads.append(message(project=project, events=chosen).SerializeToString())
    return payloads
