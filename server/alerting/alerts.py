"""Alerts: listing with filters and keyset pages, state changes, and AlertService's alert RPCs.

Skeleton: signatures are fixed; bodies are being written.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ingestd.v1 import alerting_pb2 as A
from server.access import Access
from server.alerting.todo import SERVICE, todo
from server.clock import Clock
from server.ids import UuidV7
from server.pipeline import Endpoint


@dataclass(frozen=True, slots=True)
class AlertFilter:
    """ListAlerts filters; zero values match everything. Times are microseconds since the epoch,
    `start_us` inclusive and `end_us` exclusive."""

    state: int = 0
    rule_id: str = ""
    severity: int = 0
    start_us: int | None = None
    end_us: int | None = None


class Alerts:
    """Alert reads and state changes."""

    def __init__(
        self, access: Access, sessions: async_sessionmaker[AsyncSession], clock: Clock, ids: UuidV7
    ) -> None:
        self._access = access
        self._sessions = sessions
        self._clock = clock
        self._ids = ids

    def endpoints(self) -> list[Endpoint]:
        """ListAlerts, GetAlert, UpdateAlertState."""
        return [Endpoint(SERVICE + name, todo) for name in ("ListAlerts", "GetAlert", "UpdateAlertState")]

    async def list_alerts(
        self, project: str, where: AlertFilter, *, limit: int, after: str | None = None
    ) -> tuple[list[A.Alert], str | None]:
        """Up to `limit` alerts newest first, after the alert id `after` (the last id of the
        previous page); returns them and the id to pass as `after` next, or None on the last page."""
        raise NotImplementedError

    async def get_alert(self, project: str, alert_id: str) -> A.Alert:
        """Raises NotFound (reason `ALERT_NOT_FOUND`)."""
        raise NotImplementedError

    async def transition(self, project: str, alert_id: str, state: int) -> A.Alert:
        """Moves the alert to `state` (ACKNOWLEDGED or RESOLVED) and returns it. Resolving
        enqueues `alert.resolved` deliveries in the same transaction.

        Raises:
            NotFound: no such alert.
            InvalidArgument: `state` is neither ACKNOWLEDGED nor RESOLVED.
            FailedPrecondition: reason `INVALID_TRANSITION`, metadata `from` and `to` (the state
                names in lower case): any move but open→acknowledged and open|acknowledged→resolved.
        """
        raise NotImplementedError
