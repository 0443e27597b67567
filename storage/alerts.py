"""Repository of alerts: keyset pages newest first, conditional state changes, and the row →
`ingestd.v1.Alert` mapping. Takes a session and never commits."""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

from google.protobuf import timestamp_pb2
from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ingestd.v1 import alerting_pb2 as A
from storage.models import Alert, AlertGroup


class AlertRow(Protocol):
    """What a stored alert row has (`storage.models.Alert`, or a Core row of its table)."""

    id: str
    rule_id: str
    rule_name: str
    severity: int
    state: int
    group_key: str
    event_count: int
    summary: str
    event_ids: str
    created_us: int
    acknowledged_us: int | None
    resolved_us: int | None


class AlertRepository:
    """Alerts."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def page(
        self,
        project_id: str,
        *,
        limit: int,
        after_id: str | None = None,
        state: int = 0,
        rule_id: str = "",
        severity: int = 0,
        start_us: int | None = None,
        end_us: int | None = None,
    ) -> list[Alert]:
        """Up to `limit` alerts newest first (ids sort by creation), older than `after_id`.
        Zero or empty filters match everything; `start_us` is inclusive, `end_us` exclusive."""
        where: list[ColumnElement[bool]] = [Alert.project_id == project_id]
        if after_id is not None:
            where.append(Alert.id < after_id)
        if state:
            where.append(Alert.state == state)
        if rule_id:
            where.append(Alert.rule_id == rule_id)
        if severity:
            where.append(Alert.severity == severity)
        if start_us is not None:
            where.append(Alert.created_us >= start_us)
        if end_us is not None:
            where.append(Alert.created_us < end_us)
        statement = select(Alert).where(*where).order_by(Alert.id.desc()).limit(limit)
        return list((await self._session.execute(statement)).scalars())

    async def get(self, project_id: str, alert_id: str) -> Alert | None:
        statement = select(Alert).where(Alert.project_id == project_id, Alert.id == alert_id)
        return (await self._session.execute(statement.execution_options(populate_existing=True))).scalar()

    async def transition(
        self, project_id: str, alert_id: str, *, to: int, allowed_from: Collection[int], now_us: int
    ) -> Alert | None:
        """Moves the alert to `to` if its state is one of `allowed_from`, in one conditional
        UPDATE, so of two concurrent changes only one that is still allowed wins; stamps
        `acknowledged_us` or `resolved_us` with `now_us`. Returns the changed alert, or None when
        there is no such alert or its state does not allow the move."""
        values: dict[str, int] = {"state": to}
        if to == A.ALERT_STATE_ACKNOWLEDGED:
            values["acknowledged_us"] = now_us
        elif to == A.ALERT_STATE_RESOLVED:
            values["resolved_us"] = now_us
        statement = (
            update(Alert)
            .where(Alert.project_id == project_id, Alert.id == alert_id, Alert.state.in_(allowed_from))
            .values(**values)
            .returning(Alert.id)
            .execution_options(synchronize_session=False)
        )
        if (await self._session.execute(statement)).first() is None:
            return None
        return await self.get(project_id, alert_id)

    async def release_group(self, project_id: str, alert: AlertRow) -> None:
        """Forgets `alert` as its rule group's open alert, if it still is, so the group's next
        firing opens a new one."""
        await self._session.execute(
            update(AlertGroup)
            .where(
                AlertGroup.project_id == project_id,
                AlertGroup.rule_id == alert.rule_id,
                AlertGroup.group_key == alert.group_key,
                AlertGroup.open_alert_id == alert.id,
            )
            .values(open_alert_id=None)
            .execution_options(synchronize_session=False)
        )


def _timestamp(us: int) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromMicroseconds(us)
    return stamp


def to_message(row: AlertRow) -> A.Alert:
    """The `ingestd.v1.Alert` a row stands for."""
    alert = A.Alert(
        id=row.id,
        rule_id=row.rule_id,
        rule_name=row.rule_name,
        severity=row.severity,  # type: ignore[arg-type]
        state=row.state,  # type: ignore[arg-type]
        group_key=row.group_key,
        event_count=row.event_count,
        summary=row.summary,
        event_ids=row.event_ids.split("\n") if row.event_ids else [],
        create_time=_timestamp(row.created_us),
    )
    if row.acknowledged_us is not None:
        alert.acknowledge_time.CopyFrom(_timestamp(row.acknowledged_us))
    if row.resolved_us is not None:
        alert.resolve_time.CopyFrom(_timestamp(row.resolved_us))
    return alert
