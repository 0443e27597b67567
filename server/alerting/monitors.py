"""Check-in monitors: reads and AlertService's monitor RPCs, and the sweep that finds overdue
check-ins.

Skeleton: signatures are fixed; bodies are being written.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ingestd.v1 import alerting_pb2 as A
from server.access import Access
from server.alerting.evaluator import AlertEvaluator
from server.alerting.todo import SERVICE, todo
from server.clock import Clock
from server.config import Settings
from server.pipeline import Endpoint


class Monitors:
    """Monitor reads, and the overdue sweep every node runs."""

    def __init__(
        self,
        access: Access,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        settings: Settings,
        evaluator: AlertEvaluator,
    ) -> None:
        self._evaluator = evaluator
        self._access = access
        self._sessions = sessions
        self._clock = clock
        self._settings = settings

    def endpoints(self) -> list[Endpoint]:
        """ListMonitors, GetMonitor."""
        return [Endpoint(SERVICE + name, todo) for name in ("ListMonitors", "GetMonitor")]

    async def list_monitors(self, project: str) -> list[A.Monitor]:
        """By slug."""
        raise NotImplementedError

    async def sweep(self) -> int:
        """Marks every monitor whose check-in is more than `monitor_grace_s` overdue (by the
        injected clock) as missed, and opens its `check_in_missed` alert, each in one transaction
        that only one node can win; returns how many."""
        return 0

    async def get_monitor(self, project: str, slug: str) -> A.Monitor:
        """Raises NotFound (reason `MONITOR_NOT_FOUND`)."""
        raise NotImplementedError
