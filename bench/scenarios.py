"""The scenarios: which RPC, how many events per message, and their pre-serialized requests.

Contract: `request_payloads` serializes, once up front, a few distinct requests of a scenario
(each naming `project` and carrying `events_per_message` events taken round-robin from the
prepared events), so the load generator only sends bytes and never builds messages in the loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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


SINGLE = Scenario("single", "WriteEvents, 1 event/call", 1)
BATCH100 = Scenario("batch100", "WriteEvents, 100 events/call", 100)
STREAM = Scenario("stream", "StreamEvents, 100 events/msg", 100, streaming=True, messages_per_stream=10)

SCENARIOS: dict[str, Scenario] = {s.name: s for s in (SINGLE, BATCH100, STREAM)}


def request_payloads(scenario: Scenario, events: Sequence[event_pb2.Event], project: str) -> list[bytes]:
    """Serialized `WriteEventsRequest`s (or `StreamEventsRequest`s for a streaming scenario)."""
    message = pb.StreamEventsRequest if scenario.streaming else pb.WriteEventsRequest
    per = scenario.events_per_message
    payloads = []
    for k in range(_DISTINCT_REQUESTS):
        chosen = [events[(k * (per + 1) + j) % len(events)] for j in range(per)]
        payloads.append(message(project=project, events=chosen).SerializeToString())
    return payloads
