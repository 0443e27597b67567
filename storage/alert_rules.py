"""Repository of alert rules: a project's custom rules (`ar_…`) and its changes to built-in rules
(rows with the built-in's id). Takes a session and never commits."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ingestd.v1 import alerting_pb2 as A
from storage.models import AlertCounter, AlertDistinct, AlertGroup, AlertRule


class AlertRuleRepository:
    """Alert rules."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def of_project(self, project_id: str) -> list[AlertRule]:
        """Every row of the project, oldest first (ties by id)."""
        statement = (
            select(AlertRule)
            .where(AlertRule.project_id == project_id)
            .order_by(AlertRule.created_us, AlertRule.id)
        )
        return list((await self._session.execute(statement)).scalars())

    async def get(self, project_id: str, rule_id: str) -> AlertRule | None:
        return await self._session.get(AlertRule, (project_id, rule_id))

    async def add(self, rule: AlertRule) -> None:
        self._session.add(rule)
        await self._session.flush()

    async def count_custom(self, project_id: str) -> int:
        """How many custom rules the project has (changes to built-in rules do not count)."""
        statement = select(func.count()).where(
            AlertRule.project_id == project_id, AlertRule.type == A.ALERT_RULE_TYPE_CUSTOM
        )
        return int((await self._session.execute(statement)).scalar_one())

    async def delete_custom(self, project_id: str, rule_id: str) -> bool:
        """Deletes a custom rule with its counters, cooldown state and distinct values (its alerts
        stay); returns whether it existed."""
        statement = (
            delete(AlertRule)
            .where(
                AlertRule.project_id == project_id,
                AlertRule.id == rule_id,
                AlertRule.type == A.ALERT_RULE_TYPE_CUSTOM,
            )
            .returning(AlertRule.id)
        )
        if (await self._session.execute(statement)).first() is None:
            return False
        for table in (AlertCounter, AlertGroup, AlertDistinct):
            await self._session.execute(
                delete(table).where(table.project_id == project_id, table.rule_id == rule_id)
            )
        return True
