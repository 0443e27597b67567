"""Rule evaluation on ingest: the group writer's commit hook.

Skeleton: signatures are fixed; bodies are being written.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from server.clock import Clock
from server.config import Settings
from server.ids import UuidV7
from storage.events import EventRow


class AlertEvaluator:
    """Counts newly committed events against their project's enabled rules, in the events' own
    transaction, and opens alerts (with their webhook outbox rows) when a rule fires."""

    def __init__(self, clock: Clock, ids: UuidV7, settings: Settings) -> None:
        self._clock = clock
        self._ids = ids
        self._settings = settings

    def invalidate(self, project: str) -> None:
        """Drops the cached rule set of `project`, whose rules just changed on this node."""

    async def on_commit(self, connection: AsyncConnection, rows: Sequence[EventRow], now_us: int) -> None:
        """`storage.writer.CommitHook`."""
