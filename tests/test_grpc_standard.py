"""What any gRPC tool expects: health checking, reflection, and retry hints on overload."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from ingestd.v1 import event_service_pb2, ingest_service_pb2
from server.config import Settings
from server.main import running
from tests.conftest import Client, grpc_channel, make_settings
from tests.helpers import detail, log_event, rich_status


async def test_health_reports_serving(client: Client) -> None:
    health = health_pb2_grpc.HealthStub(client.channel)
    for service in ("", "ingestd.v1.IngestService", "ingestd.v1.EventService", "ingestd.v1.AdminService"):
        response = await health.Check(health_pb2.HealthCheckRequest(service=service))
        assert response.status == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await health.Check(health_pb2.HealthCheckRequest(service="nope.Service"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_reflection_lists_the_services(client: Client) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(client.channel)

    async def ask() -> object:
        yield reflection_pb2.ServerReflectionRequest(list_services="")

    responses = [r async for r in stub.ServerReflectionInfo(ask())]
    names = {s.name for s in responses[0].list_services_response.service}
    assert {"ingestd.v1.IngestService", "ingestd.v1.EventService", "ingestd.v1.AdminService"} <= names
    assert "grpc.health.v1.Health" in names


async def test_overload_answers_resource_exhausted_with_a_retry_hint(tmp_path: object) -> None:
    settings: Settings = make_settings(f"sqlite:///{tmp_path}/o.db", max_inflight_calls=1)
    async with running(settings) as started, grpc_channel(started.grpc_port) as channel:
        client = Client.for_channel(started, channel)
        stream = client.ingest.StreamEvents(metadata=client.project)
        await stream.write(ingest_service_pb2.StreamEventsRequest(project="default", events=[log_event()]))
        refused = None
        for _ in range(500):  # until the open stream holds the only slot
            try:
                await client.events.ListEvents(
                    event_service_pb2.ListEventsRequest(project="default"), metadata=client.project
                )
            except grpc.aio.AioRpcError as error:
                refused = error
                break
            await asyncio.sleep(0.01)
        await stream.done_writing()
        assert (await stream).accepted_count == 1

    assert refused is not None and refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    retry = detail(rich_status(refused), error_details_pb2.RetryInfo)
    assert retry is not None and retry.retry_delay.seconds == 1
