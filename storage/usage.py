"""The repository of each project's daily event counts. Takes a session and never commits."""

from __future__ import annotations

from sqlalchemy import case, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ProjectDailyUsage


class DailyUsageRepository:
    """Events counted per project and UTC day (days since the Unix epoch)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def reserve(self, project_id: str, day: int, events: int, limit: int) -> bool:
        """Adds `events` to the day's count if the count stays within `limit`; returns whether it
        did. Exact across nodes: the conditional increment is one statement on one row, so two
        writers racing for the last slots are serialized by the row's lock (PostgreSQL) or the
        database's write lock (SQLite), and the second one sees the first one's count."""
        connection = await self._session.connection()
        dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
        await self._session.execute(
            dialect.insert(ProjectDailyUsage)
            .values(project_id=project_id, day=day, events=0)
            .on_conflict_do_nothing(index_elements=[ProjectDailyUsage.project_id, ProjectDailyUsage.day])
        )
        counted = await self._session.execute(
            update(ProjectDailyUsage)
            .where(
                ProjectDailyUsage.project_id == project_id,
                ProjectDailyUsage.day == day,
                ProjectDailyUsage.events + events <= limit,
            )
            .values(events=ProjectDailyUsage.events + events)
            .returning(ProjectDailyUsage.events)
        )
        # RETURNING, not rowcount: an ORM-enabled statement does not report rowcount everywhere.
        return counted.first() is not None

    async def release(self, project_id: str, day: int, events: int) -> None:
        """Takes `events` back from the day's count, never below zero."""
        await self._session.execute(
            update(ProjectDailyUsage)
            .where(ProjectDailyUsage.project_id == project_id, ProjectDailyUsage.day == day)
            .values(
                events=case(
                    (ProjectDailyUsage.events > events, ProjectDailyUsage.events - events),
                    else_=0,
                )
            )
            .execution_options(synchronize_session=False)
        )

    async def events(self, project_id: str, day: int) -> int:
        """The day's count; 0 when nothing was counted."""
        statement = select(ProjectDailyUsage.events).where(
            ProjectDailyUsage.project_id == project_id, ProjectDailyUsage.day == day
        )
        return int((await self._session.execute(statement)).scalar_one_or_none() or 0)
