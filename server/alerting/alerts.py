"""Alerts: listing with filters and keyset pages, state changes, and AlertService's alert RPCs."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ingestd.v1 import alert_service_pb2 as S
from ingestd.v1 import alerting_pb2 as A
from server import paging
from server.access import Access
from server.alerting.service import SERVICE
from server.clock import Clock
from server.errors import FailedPrecondition, InvalidArgument, NotFound
from server.ids import UuidV7
from server.pipeline import Call, Endpoint
from storage import webhooks
from storage.alerts import AlertRepository, to_message

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100

#: The states each target state may be reached from.
_ALLOWED_FROM: dict[int, frozenset[int]] = {
    A.ALERT_STATE_ACKNOWLEDGED: frozenset({A.ALERT_STATE_OPEN}),
    A.ALERT_STATE_RESOLVED: frozenset({A.ALERT_STATE_OPEN, A.ALERT_STATE_ACKNOWLEDGED}),
}


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
        return [
            Endpoint(SERVICE + "ListAlerts", self.list_alerts_rpc),
            Endpoint(SERVICE + "GetAlert", self.get_alert_rpc),
            Endpoint(SERVICE + "UpdateAlertState", self.update_alert_state_rpc),
        ]

    # The domain, for every transport. `project` is already authorized.

    async def list_alerts(
        self, project: str, where: AlertFilter, *, limit: int, after: str | None = None
    ) -> tuple[list[A.Alert], str | None]:
        """Up to `limit` alerts newest first, after the alert id `after` (the last id of the
        previous page); returns them and the id to pass as `after` next, or None on the last page."""
        async with self._sessions() as session:
            rows = await AlertRepository(session).page(
                project,
                limit=limit + 1,
                after_id=after,
                state=where.state,
                rule_id=where.rule_id,
                severity=where.severity,
                start_us=where.start_us,
                end_us=where.end_us,
            )
        alerts = [to_message(row) for row in rows[:limit]]
        return alerts, (alerts[-1].id if len(rows) > limit else None)

    async def get_alert(self, project: str, alert_id: str) -> A.Alert:
        """Raises NotFound (reason `ALERT_NOT_FOUND`)."""
        async with self._sessions() as session:
            row = await AlertRepository(session).get(project, alert_id)
        if row is None:
            raise _not_found(alert_id)
        return to_message(row)

    async def transition(self, project: str, alert_id: str, state: int) -> A.Alert:
        """Moves the alert to `state` (ACKNOWLEDGED or RESOLVED) and returns it. Resolving
        enqueues `alert.resolved` deliveries in the same transaction.

        The move is one conditional UPDATE (`WHERE state IN` the states it may come from), so of
        concurrent moves, on one node or several, each one that is applied was allowed when it was.

        Raises:
            NotFound: no such alert.
            InvalidArgument: `state` is neither ACKNOWLEDGED nor RESOLVED.
            FailedPrecondition: reason `INVALID_TRANSITION`, metadata `from` and `to` (the state
                names in lower case): any move but open→acknowledged and open|acknowledged→resolved.
        """
        allowed_from = _ALLOWED_FROM.get(state)
        if allowed_from is None:
            raise InvalidArgument([("state", "must be ALERT_STATE_ACKNOWLEDGED or ALERT_STATE_RESOLVED")])
        now = self._clock.now_us()
        async with self._sessions() as session, session.begin():
            repository = AlertRepository(session)
            row = await repository.transition(
                project, alert_id, to=state, allowed_from=allowed_from, now_us=now
            )
            if row is None:
                current = await repository.get(project, alert_id)
                if current is None:
                    raise _not_found(alert_id)
                raise FailedPrecondition(
                    f"an alert cannot go from {state_name(current.state)} to {state_name(state)}",
                    reason="INVALID_TRANSITION",
                    metadata={"from": state_name(current.state), "to": state_name(state)},
                )
            alert = to_message(row)
            if state == A.ALERT_STATE_RESOLVED:
                await repository.release_group(project, row)
                await webhooks.enqueue_deliveries(
                    await session.connection(), project, alert, "alert.resolved", now, self._ids.new
                )
        return alert

    # AlertService.

    async def list_alerts_rpc(self, call: Call, request: S.ListAlertsRequest) -> S.ListAlertsResponse:
        project = await self._access.project(call.principal, request.project)
        found: list[tuple[str, str]] = []
        if request.page_size and not 1 <= request.page_size <= MAX_PAGE_SIZE:
            found.append(("page_size", f"must be between 1 and {MAX_PAGE_SIZE}"))
        if request.state and request.state not in A.AlertState.values():
            found.append(("state", "is not an alert state"))
        where = AlertFilter(
            state=request.state,
            rule_id=request.rule,
            start_us=request.start_time.ToMicroseconds() if request.HasField("start_time") else None,
            end_us=request.end_time.ToMicroseconds() if request.HasField("end_time") else None,
        )
        if where.start_us is not None and where.end_us is not None and where.end_us <= where.start_us:
            found.append(("end_time", "must be after start_time"))
        if found:
            raise InvalidArgument(found)
        after = paging.decode_id(request)
        alerts, next_after = await self.list_alerts(
            project, where, limit=request.page_size or DEFAULT_PAGE_SIZE, after=after
        )
        response = S.ListAlertsResponse(alerts=alerts)
        if next_after is not None:
            response.next_page_token = paging.encode(next_after, request)
        return response

    async def get_alert_rpc(self, call: Call, request: S.GetAlertRequest) -> S.GetAlertResponse:
        project = await self._access.project(call.principal, request.project)
        return S.GetAlertResponse(alert=await self.get_alert(project, request.alert))

    async def update_alert_state_rpc(
        self, call: Call, request: S.UpdateAlertStateRequest
    ) -> S.UpdateAlertStateResponse:
        project = await self._access.project(call.principal, request.project)
        alert = await self.transition(project, request.alert, request.state)
        call.log.update(project=project, alert=alert.id, state=state_name(alert.state))
        return S.UpdateAlertStateResponse(alert=alert)


def state_name(state: int) -> str:
    """`open`, `acknowledged` or `resolved` (LogStitch's names too); `unspecified` for 0."""
    try:
        return A.AlertState.Name(state).removeprefix("ALERT_STATE_").lower()
    except ValueError:
        return str(state)


def _not_found(alert_id: str) -> NotFound:
    return NotFound(f"alert {alert_id!r} not found", reason="ALERT_NOT_FOUND")
