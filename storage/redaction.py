"""Repository of redaction rules: a project's custom rules and its changes to built-in rules (rows
with id `builtin_<name>`). Takes a session and never commits."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import RedactionRule


class RedactionRuleRepository:
    """Redaction rules."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def of_project(self, project_id: str) -> list[RedactionRule]:
        """Every row of the project, oldest first (ties by id)."""
        statement = (
            select(RedactionRule)
            .where(RedactionRule.project_id == project_id)
            .order_by(RedactionRule.created_us, RedactionRule.id)
        )
        return list((await self._session.execute(statement)).scalars())

    async def get(self, project_id: str, rule_id: str) -> RedactionRule | None:
        return await self._session.get(RedactionRule, (project_id, rule_id))

    async def add(self, rule: RedactionRule) -> None:
        self._session.add(rule)
        await self._session.flush()

    async def delete(self, project_id: str, rule_id: str) -> bool:
        """Deletes the rule; returns whether it existed."""
        statement = (
            delete(RedactionRule)
            .where(RedactionRule.project_id == project_id, RedactionRule.id == rule_id)
            .returning(RedactionRule.id)
        )
        return (await self._session.execute(statement)).first() is not None
