"""First start: an empty database gets the `default` organization and project and two keys."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.admin import Admin
from server.clock import Clock
from server.config import Settings
from server.keys import MASTER, PROJECT
from storage.accounts import ApiKeyRepository, OrganizationRepository, ProjectRepository
from storage.engine import begin_write
from storage.models import Organization, Project

DEFAULT = "default"


@dataclass(frozen=True, slots=True)
class BootstrapKeys:
    """The keys made on first start. A secret is None when the operator chose it (from settings),
    so it is never echoed back."""

    master_key_id: str
    master_secret: str | None
    project_key_id: str
    project_secret: str | None


async def bootstrap(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], admin: Admin, clock: Clock
) -> BootstrapKeys | None:
    """Creates the defaults if no organization exists, all in one transaction; returns the new
    keys, or None when the database was already set up (by this node earlier, or by another node
    racing it: the loser's insert of the organization finds the winner's and stops)."""
    now_us = clock.now_us()
    master, master_secret = admin.new_key(
        DEFAULT, MASTER, "", "bootstrap master key", secret=settings.bootstrap_master_key
    )
    project, project_secret = admin.new_key(
        DEFAULT, PROJECT, DEFAULT, "bootstrap project key", secret=settings.bootstrap_project_key
    )
    async with sessions.begin() as session:
        # Two processes may start on one new SQLite file at once: each must wait for the other's
        # write lock rather than fail.
        await begin_write(session)
        organizations = OrganizationRepository(session)
        if await organizations.count() > 0:
            return None
        if not await organizations.insert_if_absent(
            Organization(id=DEFAULT, display_name="Default", created_us=now_us)
        ):
            return None
        await ProjectRepository(session).add(
            Project(id=DEFAULT, organization_id=DEFAULT, display_name="Default", created_us=now_us)
        )
        keys = ApiKeyRepository(session)
        await keys.add(master)
        await keys.add(project)
    return BootstrapKeys(
        master.id,
        None if settings.bootstrap_master_key else master_secret,
        project.id,
        None if settings.bootstrap_project_key else project_secret,
    )
