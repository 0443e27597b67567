"""Check-in monitors: reads and AlertService's monitor RPCs, and the sweep that finds overdue
check-ins.

Monitors are written by the evaluator as check-ins commit (`AlertEvaluator.on_commit`); this
module reads them, and marks overdue ones missed. The sweep reads only `ix_monitors_due` (status,
next due time), never events; every node runs it, and a conditional update decides which node
marks each monitor, so one missed check-in opens at most one alert.
"""

from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ingestd.v1 import alert_service_pb2 as pb
from ingestd.v1 import alerting_pb2 as A
from server.access import Access
from server.alerting import catalog
from server.alerting.evaluator import AlertEvaluator
from server.alerting.service import SERVICE
from server.clock import Clock
from server.config import Settings
from server.errors import NotFound
from server.pipeline import Call, Endpoint
from storage import monitors as repository
from storage.models import Monitor as MonitorRow

_log = structlog.get_logger("ingestd.alerting")

#: Monitors marked per sweep round at most; the next round takes the rest.
SWEEP_LIMIT = 100


def monitor_message(row: MonitorRow) -> A.Monitor:
    monitor = A.Monitor(
        slug=row.slug,
        environment=row.environment,
        expected_interval_seconds=row.interval_s,
        status=row.status,  # type: ignore[arg-type]
        last_check_in_status=row.last_status,  # type: ignore[arg-type]
    )
    monitor.last_check_in_time.FromMicroseconds(row.last_check_in_us)
    # Clamped: a monitor stored before intervals were bounded may be due after year 9999.
    monitor.next_due_time.FromMicroseconds(min(row.next_due_us, _LAST_TIMESTAMP_US))
    monitor.create_time.FromMicroseconds(row.created_us)
    return monitor


#: 9999-12-31T23:59:59Z, the last second a Timestamp holds.
_LAST_TIMESTAMP_US = 253_402_300_799 * 1_000_000


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
        return [
            Endpoint(SERVICE + "ListMonitors", self.list_monitors_rpc),
            Endpoint(SERVICE + "GetMonitor", self.get_monitor_rpc),
        ]

    async def list_monitors(self, project: str) -> list[A.Monitor]:
        """By slug."""
        async with self._sessions() as session:
            return [monitor_message(row) for row in await repository.of_project(session, project)]

    async def get_monitor(self, project: str, slug: str) -> A.Monitor:
        """Raises NotFound (reason `MONITOR_NOT_FOUND`)."""
        async with self._sessions() as session:
            row = await repository.get(session, project, slug)
        if row is None:
            raise NotFound(f"monitor {slug!r} not found", reason="MONITOR_NOT_FOUND")
        return monitor_message(row)

    async def sweep(self) -> int:
        """Marks every monitor whose check-in is more than `monitor_grace_s` overdue (by the
        injected clock) as missed, and opens its `check_in_missed` alert, each in one transaction
        that only one node can win; returns how many."""
        now_us = self._clock.now_us()
        before_us = now_us - self._settings.monitor_grace_s * 1_000_000
        async with self._sessions() as session:
            connection = await session.connection()
            due = await repository.overdue(connection, before_us, SWEEP_LIMIT)
        marked = 0
        for project, slug, status, due_us in due:
            async with self._sessions() as session, session.begin():
                connection = await session.connection()
                won = await repository.mark_missed(
                    connection, project, slug, seen_status=status, seen_due_us=due_us
                )
                if not won:
                    continue
                marked += 1
                rules = await self._evaluator.rules(connection, project, now_us)
                rule = next(
                    (r for r in rules.rules.values() if r.enabled and r.detector == catalog.MISSED_CHECK_IN),
                    None,
                )
                if rule is not None:
                    overdue_s = (now_us - due_us) // 1_000_000
                    await self._evaluator.fire(
                        connection,
                        project,
                        rule,
                        slug,
                        now_us,
                        count=1,
                        summary=f"Check-in {slug} missed: none for {overdue_s}s past its due time",
                    )
        if marked:
            _log.info("monitors_missed", count=marked)
        return marked

    # AlertService.

    async def list_monitors_rpc(self, call: Call, request: pb.ListMonitorsRequest) -> pb.ListMonitorsResponse:
        project = await self._access.project(call.principal, request.project)
        return pb.ListMonitorsResponse(monitors=await self.list_monitors(project))

    async def get_monitor_rpc(self, call: Call, request: pb.GetMonitorRequest) -> pb.GetMonitorResponse:
        project = await self._access.project(call.principal, request.project)
        return pb.GetMonitorResponse(monitor=await self.get_monitor(project, request.slug))
