"""Per-project limits: the daily event limit on the write path, and the limits' settings.
(Skeleton: filled in by the quotas work.)"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.clock import Clock
from server.config import Settings


class ProjectQuotas:
    """`Ingest`'s `Quotas`: counts events against each project's daily limit."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock, settings: Settings) -> None:
        self._sessions = sessions
        self._clock = clock
        self._settings = settings

    async def reserve(self, project: str, events: int) -> None:
        return None

    async def release(self, project: str, events: int) -> None:
        return None
