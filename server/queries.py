"""The read side: listing and getting events, and grouping errors into issues.

A viewer token reads only the audit events of its tenant (`audit.tenant_id`); every other event is
invisible to it, as if absent. The tenant is not an indexed column, so such a list reads the
project's audit events newest first in chunks and matches them here, at most `MAX_SCANNED` per
request: when it stops there the page may be short (even empty) and still carry a next page token.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncGenerator
from contextlib import aclosing

from google.protobuf import timestamp_pb2
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ingestd.v1 import event_pb2, event_service_pb2
from server import paging
from server.access import Access
from server.errors import InvalidArgument, NotFound
from server.normalize import valid_timestamp
from server.pipeline import Call
from storage.events import EventFilter, EventRepository, timestamp_us

__all__ = ["EventFilter", "EventQueries", "EventScan"]

pb = event_service_pb2

#: Events read per query while a scan matches what SQL cannot (a viewer's tenant, LogStitch's filters).
SCAN_CHUNK = 500
#: The most events one request scans before it answers a short page.
MAX_SCANNED = 10_000


class EventScan:
    """A project's events that pass `where`, newest first and strictly older than `before`,
    decoded for matching in Python, in chunks of `SCAN_CHUNK`, at most `MAX_SCANNED` of them.

    Iterate `events()` inside `contextlib.aclosing`, so stopping early closes the session. After
    it, `capped` tells whether the scan stopped at `MAX_SCANNED` rather than at the last event,
    and `last_id` is the id of the last event read: where the next request resumes.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        project: str,
        where: EventFilter,
        before: str | None,
    ) -> None:
        self._sessions = sessions
        self._project = project
        self._where = where
        self.last_id = before
        self.capped = False

    async def events(self) -> AsyncGenerator[event_pb2.Event, None]:
        scanned = 0
        async with self._sessions() as session:
            repository = EventRepository(session)
            while True:
                chunk = min(SCAN_CHUNK, MAX_SCANNED - scanned)
                payloads = await repository.newest(
                    self._project, self._where, before_id=self.last_id, limit=chunk
                )
                for payload in payloads:
                    event = event_pb2.Event.FromString(payload)
                    self.last_id = event.id
                    yield event
                scanned += len(payloads)
                if len(payloads) < chunk:
                    return
                if scanned >= MAX_SCANNED:
                    self.capped = True
                    return


class EventQueries:
    """EventService."""

    def __init__(self, access: Access, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._access = access
        self._sessions = sessions

    def scan(self, project: str, where: EventFilter, before: str | None) -> EventScan:
        """A scan of `project`'s events that pass `where`, newest first, older than `before`."""
        return EventScan(self._sessions, project, where, before)

    async def list_events(self, call: Call, request: pb.ListEventsRequest) -> pb.ListEventsResponse:
        project, tenant = await self._access.events(call.principal, request.project)
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
        response = pb.ListEventsResponse()
        if tenant:
            resume = await self._tenant_page(response, project, tenant, where, before, size)
        else:
            async with self._sessions() as session:
                payloads = await EventRepository(session).newest(
                    project, where, before_id=before, limit=size + 1
                )
            for payload in payloads[:size]:
                response.events.add().MergeFromString(payload)
            resume = response.events[-1].id if len(payloads) > size else None
        if resume is not None:
            response.next_page_token = paging.encode(resume, request)
        call.log.update(project=project, returned=len(response.events))
        return response

    async def _tenant_page(
        self,
        response: pb.ListEventsResponse,
        project: str,
        tenant: str,
        where: EventFilter,
        before: str | None,
        size: int,
    ) -> str | None:
        """Adds to `response` up to `size` of the tenant's audit events that pass `where`, newest
        first; returns the id to resume after, or None at the end."""
        if where.kind not in (0, event_pb2.KIND_AUDIT):
            return None
        where = dataclasses.replace(where, kind=event_pb2.KIND_AUDIT)
        scan = self.scan(project, where, before)
        async with aclosing(scan.events()) as events:
            async for event in events:
                if event.audit.tenant_id != tenant:
                    continue
                if len(response.events) == size:
                    return response.events[-1].id
                response.events.add().CopyFrom(event)
        return scan.last_id if scan.capped else None

    async def get_event(self, call: Call, request: pb.GetEventRequest) -> pb.GetEventResponse:
        project, tenant = await self._access.events(call.principal, request.project)
        if not request.event:
            raise InvalidArgument([("event", "is required")])
        async with self._sessions() as session:
            payload = await EventRepository(session).get(project, request.event)
        event = None if payload is None else event_pb2.Event.FromString(payload)
        # Another tenant's event, or one that is not an audit event, is as absent to a viewer.
        if event is None or (
            tenant and (event.kind != event_pb2.KIND_AUDIT or event.audit.tenant_id != tenant)
        ):
            raise NotFound(
                f"event {request.event!r} not found in project {project!r}", reason="EVENT_NOT_FOUND"
            )
        return pb.GetEventResponse(event=event)

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
