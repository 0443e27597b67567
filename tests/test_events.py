"""EventService: filters, page tokens and issues, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64

import grpc
import pytest
from google.protobuf import timestamp_pb2

from ingestd.v1 import admin_service_pb2, event_pb2, event_service_pb2
from server import paging
from tests.conftest import Client
from tests.helpers import error_event, log_event, violations, write_request

E = event_pb2
pb = event_service_pb2


def _at(seconds: int) -> timestamp_pb2.Timestamp:
    return timestamp_pb2.Timestamp(seconds=seconds)


async def _messages(client: Client, **filters: object) -> list[str]:
    request = pb.ListEventsRequest(project="default", **filters)  # type: ignore[arg-type]
    return [e.message for e in (await client.events.ListEvents(request, metadata=client.project)).events]


async def test_filters_select_exactly_the_matching_events(client: Client) -> None:
    events = [
        log_event("a", service="api", environment="prod", release="1.0", occurred_at=_at(1_000)),
        log_event("b", service="web", environment="staging", release="2.0", occurred_at=_at(2_000)),
        E.Event(message="c", level=E.LEVEL_WARNING, trace_id="t-1", occurred_at=_at(3_000)),
        error_event(fingerprint="fp-1", occurred_at=_at(4_000)),
        E.Event(message="Disk FULL on host", metric=E.MetricBody(name="disk"), occurred_at=_at(5_000)),
    ]
    await client.ingest.WriteEvents(write_request(*events), metadata=client.project)

    assert await _messages(client) == ["Disk FULL on host", "TypeError: x is undefined", "c", "b", "a"]
    assert await _messages(client, service="api") == ["a"]
    assert await _messages(client, environment="staging") == ["b"]
    assert await _messages(client, release="1.0") == ["a"]
    assert await _messages(client, kind=E.KIND_METRIC) == ["Disk FULL on host"]
    assert await _messages(client, level=E.LEVEL_WARNING) == ["c"]
    assert await _messages(client, level=E.LEVEL_ERROR) == ["TypeError: x is undefined"]
    assert await _messages(client, trace_id="t-1") == ["c"]
    assert await _messages(client, fingerprint="fp-1") == ["TypeError: x is undefined"]
    assert await _messages(client, start_time=_at(2_000), end_time=_at(4_000)) == ["c", "b"]
    assert await _messages(client, text="disk full") == ["Disk FULL on host"]
    assert await _messages(client, text="%") == [], "LIKE wildcards in the text are literal"
    assert await _messages(client, service="api", environment="staging") == []


async def test_pages_cover_every_event_once(client: Client) -> None:
    for n in range(5):
        await client.ingest.WriteEvents(
            write_request(*(log_event(f"{n}-{i}") for i in range(11))), metadata=client.project
        )
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        page = await client.events.ListEvents(
            pb.ListEventsRequest(project="default", page_size=10, page_token=token), metadata=client.project
        )
        seen.extend(e.id for e in page.events)
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert pages == 6
    assert len(seen) == 55 == len(set(seen))
    assert seen == sorted(seen, reverse=True), "newest first"


async def test_page_token_is_bound_to_its_filters(client: Client) -> None:
    await client.ingest.WriteEvents(write_request(log_event("a"), log_event("b")), metadata=client.project)
    first = await client.events.ListEvents(
        pb.ListEventsRequest(project="default", page_size=1), metadata=client.project
    )
    assert first.next_page_token
    for bad in (
        pb.ListEventsRequest(project="default", page_size=1, page_token=first.next_page_token, service="x"),
        pb.ListEventsRequest(project="default", page_token="not-a-token"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await client.events.ListEvents(bad, metadata=client.project)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert [f for f, _ in violations(caught.value)] == ["page_token"]


async def test_page_size_bounds(client: Client) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await client.events.ListEvents(
            pb.ListEventsRequest(project="default", page_size=-1), metadata=client.project
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_get_missing_event_is_not_found(client: Client) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await client.events.GetEvent(
            pb.GetEventRequest(project="default", event="nope"), metadata=client.project
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_issues_group_errors_by_fingerprint(client: Client) -> None:
    same_stack = [error_event("TypeError", "x is undefined", occurred_at=_at(t)) for t in (100, 300, 200)]
    other = error_event("ValueError", "bad input", occurred_at=_at(400))
    explicit = error_event("KeyError", "k", fingerprint="checkout", occurred_at=_at(50))
    not_an_error = log_event("ignored", fingerprint="checkout", occurred_at=_at(999))
    response = await client.ingest.WriteEvents(
        write_request(*same_stack, other, explicit, not_an_error), metadata=client.project
    )
    derived = (
        await client.events.GetEvent(
            pb.GetEventRequest(project="default", event=response.results[0].event_id), metadata=client.project
        )
    ).event.fingerprint
    assert len(derived) == 32

    issues = (
        await client.events.ListIssues(pb.ListIssuesRequest(project="default"), metadata=client.project)
    ).issues

    assert [(i.fingerprint == derived, i.count, i.title) for i in issues] == [
        (False, 1, "ValueError: bad input"),
        (True, 3, "TypeError: x is undefined"),
        (False, 1, "KeyError: k"),
    ]
    grouped = issues[1]
    assert (grouped.first_seen.seconds, grouped.last_seen.seconds) == (100, 300)
    assert grouped.level == E.LEVEL_ERROR
    assert issues[2].fingerprint == "checkout"


async def test_issue_pages(client: Client) -> None:
    events = [error_event("E", f"v{i}", occurred_at=_at(1000 + i)) for i in range(7)]
    await client.ingest.WriteEvents(write_request(*events), metadata=client.project)
    titles: list[str] = []
    token = ""
    while True:
        page = await client.events.ListIssues(
            pb.ListIssuesRequest(project="default", page_size=3, page_token=token), metadata=client.project
        )
        titles.extend(i.title for i in page.issues)
        token = page.next_page_token
        if not token:
            break
    assert titles == [f"E: v{i}" for i in reversed(range(7))]


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (
            pb.ListEventsRequest(project="default", start_time=timestamp_pb2.Timestamp(seconds=2**62)),
            "start_time",
        ),
        (pb.ListEventsRequest(project="default", service="a\x00b"), "service"),
        (pb.ListEventsRequest(project="default", page_token="W" * 2000), "page_token"),
        (
            pb.ListEventsRequest(
                project="default", page_token=base64.urlsafe_b64encode(b"[" * 100_000).decode()[:1000]
            ),
            "page_token",
        ),
    ],
)
async def test_hostile_list_requests_are_invalid_arguments(
    client: Client, request_: pb.ListEventsRequest, field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await client.events.ListEvents(request_, metadata=client.project)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in violations(caught.value)] == [field]


async def test_forged_and_foreign_page_tokens_are_refused(client: Client) -> None:
    issues = pb.ListIssuesRequest(project="default")
    forged = paging.encode([10**30, "x"], issues)
    issues.page_token = forged
    deep = pb.ListEventsRequest(project="default")
    deep.page_token = base64.urlsafe_b64encode(b"[" * 100_000).decode()
    projects = admin_service_pb2.ListProjectsRequest(organization="default")
    keys = admin_service_pb2.ListApiKeysRequest(
        organization="default", page_token=paging.encode("p", projects)
    )
    for call in (
        client.events.ListIssues(issues, metadata=client.project),
        client.events.ListEvents(deep, metadata=client.project),
        client.admin.ListApiKeys(keys, metadata=client.master),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert [f for f, _ in violations(caught.value)] == ["page_token"]
