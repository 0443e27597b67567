"""Bad input that once got a 500, an UNKNOWN naming internals, or was stored as it came: bytes
that are not the request message over gRPC, bodyless events, and integers beyond int64. Over
real gRPC and HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from ingestd.v1 import event_pb2 as E
from ingestd.v1 import event_service_pb2 as events_pb
from ingestd.v1 import ingest_service_pb2 as I
from tests.conftest import MASTER_SECRET, Client, Http, grpc_channel, http_gateway, make_settings
from tests.helpers import write_request

WRITE = "/ingestd.v1.IngestService/WriteEvents"
STREAM = "/ingestd.v1.IngestService/StreamEvents"
#: A field 2 (events) whose length runs past the end of the message.
TRUNCATED = b"\x12\xff\x01\x0a"


@pytest.fixture
async def served(database_url: str) -> AsyncIterator[tuple[Client, Http]]:
    async with (
        http_gateway(make_settings(database_url), "inprocess") as http,
        grpc_channel(http.running.grpc_port) as channel,
    ):
        yield Client.for_channel(http.running, channel), http


async def test_bytes_that_are_not_the_request_get_invalid_argument(served: tuple[Client, Http]) -> None:
    client, _ = served
    identity = (lambda b: b, lambda b: b)
    unary = client.channel.unary_unary(
        WRITE, request_serializer=identity[0], response_deserializer=identity[1]
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await unary(TRUNCATED, metadata=client.project)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == "request: is not a valid ingestd.v1.WriteEventsRequest message"

    streaming = client.channel.stream_unary(
        STREAM, request_serializer=identity[0], response_deserializer=identity[1]
    )
    good = write_request(E.Event(message="fine")).events[0]
    first = E.Event.SerializeToString(good)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await streaming(iter([b"\x12" + bytes([len(first)]) + first, TRUNCATED]), metadata=client.project)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "ingestd.v1.StreamEventsRequest" in (caught.value.details() or "")


async def test_an_event_without_a_body_needs_a_message_and_is_stored_with_its_kinds_body(
    served: tuple[Client, Http],
) -> None:
    client, _ = served
    empty, line, typed = E.Event(), E.Event(message="plain line"), E.Event(kind=E.KIND_TRANSACTION)
    response = await client.ingest.WriteEvents(write_request(empty, line, typed), metadata=client.project)
    outcomes = [r.outcome for r in response.results]
    assert outcomes == [I.WRITE_OUTCOME_REJECTED, I.WRITE_OUTCOME_ACCEPTED, I.WRITE_OUTCOME_REJECTED]
    assert response.results[0].error.message == "message: is required of an event without a body"
    assert response.results[2].error.message == "transaction.name: is required"
    got = await client.events.GetEvent(
        events_pb.GetEventRequest(project="default", event=response.results[1].event_id),
        metadata=client.project,
    )
    assert (got.event.kind, got.event.WhichOneof("body")) == (E.KIND_LOG, "log")


@pytest.mark.parametrize("threshold", ["1e19", '"10000000000000000000"', "-1e19", "1e400"])
async def test_an_alert_rule_threshold_beyond_int64_is_a_400(
    served: tuple[Client, Http], threshold: str
) -> None:
    _, http = served
    body = '{"name": "big", "condition": {"actionPattern": "a.*"}, "threshold": ' + threshold + "}"
    headers = {**http.bearer(MASTER_SECRET), "Content-Type": "application/json"}
    async with http.session.post(
        http.url("/v1/projects/default/alertRules"), data=body, headers=headers
    ) as response:
        assert response.status == 400, await response.text()
        assert (await response.json())["code"] == 3
