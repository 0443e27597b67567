"""Anonymous streams: events written without a key to a UUIDv4 token, claimed into a project later.

A stream is created by the first write to its token and lives `stream_ttl_s` from then. It takes at
most `stream_daily_event_limit` new events per UTC day. Its events wait in `stream_events`, apart
from every project, with the built-in redaction already applied; nothing reads them but a claim,
which moves them all into a project's events in one transaction and closes the stream for good.

Append and claim exclude each other through the stream's row (see `storage.streams`): an event is
acknowledged only after its transaction committed, and a claim moves exactly the events committed
before it, so every acknowledged event lands in the project once and every later write is refused.

An expired stream keeps its `streams` row, so its token keeps answering `STREAM_EXPIRED` rather
than starting a new stream; its events are deleted lazily, when a write or a claim meets it, or in
bulk by `purge_expired`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ingestd.v1 import admin_service_pb2 as pb
from ingestd.v1 import event_pb2, stream_pb2
from server.access import Access
from server.clock import Clock
from server.config import Settings
from server.errors import FailedPrecondition, InvalidArgument, NotFound, ResourceExhausted
from server.ingest import Ingest
from server.pipeline import Call
from storage.engine import begin_write
from storage.events import EventRepository, EventRow
from storage.streams import StreamRecord, StreamRepository

_UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
_DAY_US = 86_400 * 1_000_000
#: The states `StreamInfo.state` takes.
ACTIVE, CLAIMED, EXPIRED = "active", "claimed", "expired"
_STATE = {
    ACTIVE: stream_pb2.STREAM_STATE_ACTIVE,
    CLAIMED: stream_pb2.STREAM_STATE_CLAIMED,
    EXPIRED: stream_pb2.STREAM_STATE_EXPIRED,
}


class StreamInfo(NamedTuple):
    """A stream's metadata, the only thing about it anyone can read."""

    token: str
    state: str
    event_count: int
    created_us: int
    expires_us: int
    claimed_us: int | None


class Written(NamedTuple):
    """The id of each written event in request order (a repeated idempotency key: the first
    event's id) and how many values the redaction rules changed."""

    event_ids: list[str]
    redacted_count: int


class Claimed(NamedTuple):
    """The project that received the events, and how many it received (an event whose
    idempotency key the project already held is not moved)."""

    project: str
    event_count: int


def stream_token(token: str) -> str:
    """The canonical (lowercase) form of a claim token.

    Raises:
        InvalidArgument: `token` is not a UUIDv4.
    """
    canonical = token.lower()
    if not _UUID4.fullmatch(canonical):
        raise InvalidArgument([("token", "must be a UUIDv4, such as a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d")])
    return canonical


def _state(record: StreamRecord, now_us: int) -> str:
    if record.claimed_us is not None:
        return CLAIMED
    return ACTIVE if now_us < record.expires_us else EXPIRED


def _closed(record: StreamRecord | None, now_us: int) -> Exception:
    """Why a stream takes no writes and no claim."""
    if record is None:
        return NotFound("stream not found", reason="STREAM_NOT_FOUND")
    if _state(record, now_us) == CLAIMED:
        return FailedPrecondition("the stream was already claimed", reason="STREAM_ALREADY_CLAIMED")
    return FailedPrecondition("the stream expired unclaimed", reason="STREAM_EXPIRED")


class Streams:
    """AdminService's stream RPCs and the domain under LogStitch's stream endpoints."""

    def __init__(
        self,
        ingest: Ingest,
        access: Access,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        settings: Settings,
    ) -> None:
        self._ingest = ingest
        self._access = access
        self._sessions = sessions
        self._clock = clock
        self._settings = settings

    # --- Domain -------------------------------------------------------------------------------

    async def append(self, token: str, rows: Sequence[EventRow]) -> list[str]:
        """Stores prepared rows (from `Ingest.prepare(None, ...)`) in the stream, creating it on
        first use; all or none. Returns each row's stored id, in order, once committed.

        Raises:
            FailedPrecondition: reason `STREAM_ALREADY_CLAIMED` or `STREAM_EXPIRED`.
            ResourceExhausted: reason `STREAM_DAILY_LIMIT_REACHED`, with the time to the next UTC
                day; nothing was stored.
        """
        now = self._clock.now_us()
        day = now // _DAY_US
        async with self._sessions() as session:
            await begin_write(session)
            streams = StreamRepository(session)
            await streams.create(token, now, now + self._settings.stream_ttl_s * 1_000_000, day)
            today = await streams.open_for_write(token, now, day)
            if today is None:
                record = await streams.get(token)
                if record is not None and _state(record, now) == EXPIRED:
                    await streams.delete_events(token)
                    await session.commit()
                raise _closed(record, now)
            appended = await streams.append(token, rows)
            limit = self._settings.stream_daily_event_limit
            if appended.new and today + appended.new > limit:
                await session.rollback()
                raise ResourceExhausted(
                    f"a stream takes at most {limit} events per UTC day",
                    reason="STREAM_DAILY_LIMIT_REACHED",
                    metadata={"limit": str(limit)},
                    retry_after_s=((day + 1) * _DAY_US - now) / 1_000_000,
                )
            await streams.count(token, appended.new)
            await session.commit()
        return appended.ids

    async def info(self, token: str) -> StreamInfo:
        """The stream's metadata, in any state.

        Raises:
            NotFound: reason `STREAM_NOT_FOUND`: no write ever created it.
        """
        async with self._sessions() as session:
            record = await StreamRepository(session).get(token)
        if record is None:
            raise NotFound("stream not found", reason="STREAM_NOT_FOUND")
        state = _state(record, self._clock.now_us())
        return StreamInfo(
            token, state, record.event_count, record.created_us, record.expires_us, record.claimed_us
        )

    async def claim(self, token: str, project: str) -> Claimed:
        """Moves every event of the stream into `project` (already authorized) in one
        transaction, and closes the stream.

        Raises:
            NotFound: reason `STREAM_NOT_FOUND`.
            FailedPrecondition: reason `STREAM_ALREADY_CLAIMED` or `STREAM_EXPIRED`.
        """
        now = self._clock.now_us()
        async with self._sessions() as session:
            await begin_write(session)
            streams = StreamRepository(session)
            if await streams.mark_claimed(token, now, project) is None:
                record = await streams.get(token)
                if record is not None and _state(record, now) == EXPIRED:
                    await streams.delete_events(token)
                    await session.commit()
                raise _closed(record, now)
            rows = [_into(project, row) for row in await streams.events(token)]
            events = EventRepository(session)
            inserted = await events.insert_keyed([r for r in rows if r.idempotency_key is not None])
            plain = [r for r in rows if r.idempotency_key is None]
            await events.insert_many(plain)
            await streams.delete_events(token)
            await session.commit()
        return Claimed(project, len(inserted) + len(plain))

    async def purge_expired(self) -> int:
        """Deletes the events of every stream that expired unclaimed (their metadata stays);
        returns how many. For a periodic task: writes and claims already purge what they meet."""
        async with self._sessions() as session:
            await begin_write(session)
            deleted = await StreamRepository(session).delete_expired_events(self._clock.now_us())
            await session.commit()
        return deleted

    # --- AdminService -------------------------------------------------------------------------

    async def write_stream_events_rpc(
        self, call: Call, request: pb.WriteStreamEventsRequest
    ) -> pb.WriteStreamEventsResponse:
        """AdminService.WriteStreamEvents: anonymous, all or nothing."""
        token = stream_token(request.token)
        events: Sequence[event_pb2.Event] = request.events
        self._ingest.check_batch_size(events)
        rows, rejected, redacted = await self._ingest.prepare(None, events, dialect="ingestd")
        if rejected:
            raise InvalidArgument(
                [(f"events[{i}].{f}", d) for i, violations in sorted(rejected.items()) for f, d in violations]
            )
        ids = await self.append(token, rows)
        call.log.update(stream_events=len(ids))
        return pb.WriteStreamEventsResponse(event_ids=ids, redacted_count=redacted)

    async def get_stream_rpc(self, call: Call, request: pb.GetStreamRequest) -> pb.GetStreamResponse:
        """AdminService.GetStream: anonymous; metadata only."""
        return pb.GetStreamResponse(stream=to_proto(await self.info(stream_token(request.token))))

    async def claim_stream_rpc(self, call: Call, request: pb.ClaimStreamRequest) -> pb.ClaimStreamResponse:
        """AdminService.ClaimStream: a master key of the project's organization."""
        project = await self._access.administer_project(call.principal, request.project)
        claimed = await self.claim(stream_token(request.token), project)
        call.log.update(project=project, accepted=claimed.event_count)
        return pb.ClaimStreamResponse(project=claimed.project, claimed_event_count=claimed.event_count)


def to_proto(info: StreamInfo) -> stream_pb2.Stream:
    stream = stream_pb2.Stream(event_count=info.event_count, state=_STATE[info.state])
    stream.create_time.FromMicroseconds(info.created_us)
    stream.expire_time.FromMicroseconds(info.expires_us)
    if info.claimed_us is not None:
        stream.claim_time.FromMicroseconds(info.claimed_us)
    return stream


def _into(project: str, row: EventRow) -> EventRow:
    """A stream event as an event of `project`: its row and the `project` inside its payload."""
    event = event_pb2.Event.FromString(row.payload)
    event.project = project
    return row._replace(project_id=project, payload=event.SerializeToString())
