"""The read side: listing and getting events, and grouping errors into issues."""

from __future__ import annotations

from google.protobuf import timestamp_pb2
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ingestd.v1 import event_pb2, event_service_pb2
from server import paging
from server.access import Access
from server.errors import InvalidArgument, NotFound
from server.normalize import valid_timestamp
from server.pipeline import Call
from storage.events import EventFilter, EventRepository, timestamp_us

pb = event_service_pb2


class EventQueries:
    """EventService."""

    def __init__(self, access: Access, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._access = access
        self._sessions = sessions

    async def list_events(self, call: Call, request: pb.ListEventsRequest) -> pb.ListEventsResponse:
        project = await self._access.project(call.principal, request.project)
        size = paging.page_size(request.page_size)
        before = paging.decode_id(request)
        where = EventFilter(
            kind=request.kind,
            level=request.level,
            service=request.service,
            environment=request.environment,
            release=request.release,
            trace_id=request.trace_id,
            fingerprint=request.fingerprint,
            start_us=_optional_us(request, "start_time"),
            end_us=_optional_us(request, "end_time"),
            text=request.text,
        )
        async with self._sessions() as session:
            payloads = await EventRepository(session).newest(project, where, before_id=before, limit=size + 1)
        response = pb.ListEventsResponse()
        for payload in payloads[:size]:
            response.events.add().MergeFromString(payload)
        if len(payloads) > size:
            response.next_page_token = paging.encode(response.events[-1].id, request)
        call.log.update(project=project, returned=len(response.events))
        return response

    async def get_event(self, call: Call, request: pb.GetEventRequest) -> pb.GetEventResponse:
        project = await self._access.project(call.principal, request.project)
        if not request.event:
            raise InvalidArgument([("event", "is required")])
        async with self._sessions() as session:
            payload = await EventRepository(session).get(project, request.event)
        if payload is None:
            raise NotFound(
                f"event {request.event!r} not found in project {project!r}", reason="EVENT_NOT_FOUND"
            )
        return pb.GetEventResponse(event=event_pb2.Event.FromString(payload))

    async def list_issues(self, call: Call, request: pb.ListIssuesRequest) -> pb.ListIssuesResponse:
        project = await self._access.project(call.principal, request.project)
        size = paging.page_size(request.page_size)
        after = paging.decode_sort_key(request)
        async with self._sessions() as session:
            events = EventRepository(session)
            rows = await events.issues(
                project,
                start_us=_optional_us(request, "start_time"),
                end_us=_optional_us(request, "end_time"),
                after=after,
                limit=size + 1,
            )
            latest = await events.payloads(project, (r.latest_id for r in rows[:size]))
        response = pb.ListIssuesResponse()
        for row in rows[:size]:
            issue = response.issues.add(
                fingerprint=row.fingerprint, count=row.count, latest_event_id=row.latest_id
            )
            issue.first_seen.FromMicroseconds(row.first_us)
            issue.last_seen.FromMicroseconds(row.last_us)
            if row.latest_id in latest:
                event = event_pb2.Event.FromString(latest[row.latest_id])
                issue.title = event.message
                issue.level = event.level
        if len(rows) > size:
            last = rows[size - 1]
            response.next_page_token = paging.encode([last.last_us, last.fingerprint], request)
        return response


def _optional_us(request: object, name: str) -> int | None:
    """A time filter in microseconds, or None when unset.

    Raises:
        InvalidArgument: the time lies outside what a Timestamp may hold.
    """
    if not request.HasField(name):  # type: ignore[attr-defined]
        return None
    value: timestamp_pb2.Timestamp = getattr(request, name)
    if not valid_timestamp(value):
        raise InvalidArgument([(name, "outside 0001-01-01 to 9999-12-31")])
    return timestamp_us(value)
