from ingestd.v1 import event_pb2, event_service_pb2, ingest_service_pb2
from tests.conftest import Client


async def test_write_and_read_back(client: Client) -> None:
    response = await client.ingest.WriteEvents(
        ingest_service_pb2.WriteEventsRequest(
            project="default",
            events=[
                event_pb2.Event(message="hello", service="api", log=event_pb2.LogBody(level_text="info"))
            ],
        ),
        metadata=client.project,
    )
    assert response.accepted_count == 1
    listed = await client.events.ListEvents(
        event_service_pb2.ListEventsRequest(project="default"), metadata=client.project
    )
    assert [e.message for e in listed.events] == ["hello"]
