"""Anonymous streams: events written without a key to a UUIDv4 token, claimed into a project later.
(Skeleton: filled in by the streams work.)"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ingestd.v1 import admin_service_pb2 as pb
from server.access import Access
from server.clock import Clock
from server.config import Settings
from server.errors import Unimplemented
from server.ingest import Ingest
from server.pipeline import Call


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

    async def write_stream_events_rpc(
        self, call: Call, request: pb.WriteStreamEventsRequest
    ) -> pb.WriteStreamEventsResponse:
        raise Unimplemented("not yet")

    async def get_stream_rpc(self, call: Call, request: pb.GetStreamRequest) -> pb.GetStreamResponse:
        raise Unimplemented("not yet")

    async def claim_stream_rpc(self, call: Call, request: pb.ClaimStreamRequest) -> pb.ClaimStreamResponse:
        raise Unimplemented("not yet")
