"""Viewer tokens: signed, short-lived, read-only credentials for one tenant of one project.
(Skeleton: filled in by the viewer-token work.)"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ingestd.v1 import admin_service_pb2 as pb
from server.access import Access
from server.clock import Clock
from server.config import Settings
from server.errors import Unimplemented
from server.pipeline import Call


class ViewerTokens:
    """Issues and verifies viewer tokens."""

    def __init__(
        self, access: Access, sessions: async_sessionmaker[AsyncSession], clock: Clock, settings: Settings
    ) -> None:
        self._access = access
        self._sessions = sessions
        self._clock = clock
        self._settings = settings

    async def create_viewer_token_rpc(
        self, call: Call, request: pb.CreateViewerTokenRequest
    ) -> pb.CreateViewerTokenResponse:
        raise Unimplemented("not yet")
