"""Repositories of organizations, projects and API keys. Each takes a session and never commits."""

from __future__ import annotations

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ApiKey, Organization, Project

#: How often, at most, a key's last use is recorded: often enough for "last used", rare enough
#: that a busy key costs no write per call.
LAST_USE_EVERY_US = 60_000_000


class OrganizationRepository:
    """Organizations."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, organization_id: str) -> Organization | None:
        return await self._session.get(Organization, organization_id)

    async def count(self) -> int:
        return int((await self._session.execute(select(func.count()).select_from(Organization))).scalar_one())

    async def insert_if_absent(self, organization: Organization) -> bool:
        """Inserts the organization unless its id exists. Returns whether it was inserted; safe
        when several nodes try at once."""
        connection = await self._session.connection()
        dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
        statement = (
            dialect.insert(Organization)
            .values(
                id=organization.id,
                display_name=organization.display_name,
                created_us=organization.created_us,
            )
            .on_conflict_do_nothing(index_elements=[Organization.id])
            .returning(Organization.id)
        )
        # RETURNING, not rowcount: an ORM-enabled insert does not report rowcount on PostgreSQL.
        return (await self._session.execute(statement)).first() is not None


class ProjectRepository:
    """Projects."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, project_id: str) -> Project | None:
        return await self._session.get(Project, project_id)

    async def add(self, project: Project) -> None:
        self._session.add(project)
        await self._session.flush()

    async def page(self, organization_id: str, *, after_id: str | None, limit: int) -> list[Project]:
        statement = select(Project).where(Project.organization_id == organization_id)
        if after_id is not None:
            statement = statement.where(Project.id > after_id)
        statement = statement.order_by(Project.id).limit(limit)
        return list((await self._session.execute(statement)).scalars())


class ApiKeyRepository:
    """API keys, found by the SHA-256 digest of their secret."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, key: ApiKey) -> None:
        self._session.add(key)
        await self._session.flush()

    async def by_digest(self, secret_sha256: str) -> ApiKey | None:
        statement = select(ApiKey).where(ApiKey.secret_sha256 == secret_sha256)
        return (await self._session.execute(statement)).scalar_one_or_none()

    async def get(self, organization_id: str, key_id: str) -> ApiKey | None:
        return await self._session.get(ApiKey, (organization_id, key_id))

    async def page(
        self, organization_id: str, *, project_id: str, before_id: str | None, limit: int
    ) -> list[ApiKey]:
        """Keys newest first. Key ids are time-ordered, so the id is the page order."""
        statement = select(ApiKey).where(ApiKey.organization_id == organization_id)
        if project_id:
            statement = statement.where(ApiKey.project_id == project_id)
        if before_id is not None:
            statement = statement.where(ApiKey.id < before_id)
        statement = statement.order_by(ApiKey.id.desc()).limit(limit)
        return list((await self._session.execute(statement)).scalars())

    async def record_use(self, organization_id: str, key_id: str, now_us: int) -> None:
        """Records that the key was used at `now_us`, unless a use less than `LAST_USE_EVERY_US`
        before it is already recorded: a conditional UPDATE, so that of the nodes that see the
        key at once few write, and the time never moves back."""
        statement = (
            update(ApiKey)
            .where(
                ApiKey.organization_id == organization_id,
                ApiKey.id == key_id,
                or_(ApiKey.last_used_us.is_(None), ApiKey.last_used_us <= now_us - LAST_USE_EVERY_US),
            )
            .values(last_used_us=now_us)
        )
        await self._session.execute(statement)

    async def revoke(self, key: ApiKey, now_us: int) -> None:
        """Marks the key revoked, keeping the first revocation time."""
        if key.revoked_us is None:
            key.revoked_us = now_us
            await self._session.flush()
