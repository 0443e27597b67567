"""Who may touch what: a project key its project, a master key everything in its organization, a
viewer token the events of one tenant of its project, read only."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.errors import InvalidArgument, NotFound, PermissionDenied
from server.keys import MASTER, VIEWER, WRITE_ONLY, Principal
from storage.accounts import ProjectRepository


class Access:
    """Authorization checks. Remembers each project's organization: projects never move."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._organization_of: dict[str, str] = {}

    async def organization_of(self, project: str) -> str:
        """The organization that owns `project`.

        Raises:
            NotFound: no such project.
        """
        organization = self._organization_of.get(project)
        if organization is None:
            async with self._sessions() as session:
                record = await ProjectRepository(session).get(project)
            if record is None:
                raise NotFound(f"project {project!r} not found", reason="PROJECT_NOT_FOUND")
            organization = self._organization_of[project] = record.organization_id
        return organization

    async def organization_or_none(self, project: str) -> str | None:
        """The organization that owns `project`; None for no such project."""
        try:
            return await self.organization_of(project)
        except NotFound:
            return None

    async def project(self, principal: Principal, project: str, *, write: bool = False) -> str:
        """The project a data call addresses; empty means the calling key's own. Write-only keys
        (public, server and client keys) may address their project only when `write` is set.

        Raises:
            InvalidArgument: a master key did not name a project.
            NotFound: no such project.
            PermissionDenied: the key may not use the project, or may only write to it; a viewer
                token (which may only read events, through `events`).
        """
        if principal.kind == VIEWER:
            raise PermissionDenied("a viewer token may only read events", reason="VIEWER_READ_ONLY")
        if principal.kind in WRITE_ONLY and not write:
            raise PermissionDenied("this key may only write events", reason="WRITE_ONLY_KEY")
        if principal.kind != MASTER:
            if project and project != principal.project:
                raise PermissionDenied(f"this key may not use project {project!r}")
            if principal.project:
                return principal.project
        if not project:
            raise InvalidArgument([("project", "is required with a master key")])
        # A project that does not exist is refused like another organization's, so a key cannot
        # probe which project ids exist.
        if principal.kind == MASTER and await self.organization_or_none(project) == principal.organization:
            return project
        raise PermissionDenied(f"this key may not use project {project!r}")

    async def events(self, principal: Principal, project: str) -> tuple[str, str]:
        """The project a read of events addresses (as `project`), and the tenant the read is held
        to: a viewer token's own, whatever the request asks; empty (any) for every other key.

        Raises:
            As `project`; PermissionDenied: a viewer token named another project.
        """
        if principal.kind != VIEWER:
            return await self.project(principal, project), ""
        if not principal.project or (project and project != principal.project):
            raise PermissionDenied(f"this viewer token may not read project {project!r}")
        return principal.project, principal.tenant_id

    async def administer_project(self, principal: Principal, project: str) -> str:
        """The project, if `principal` is a master key that may use it: for changes to a project's
        settings and contents that a project key may not make.

        Raises:
            As `project`; PermissionDenied: not a master key (reason `MASTER_KEY_REQUIRED`).
        """
        if principal.kind != MASTER:
            raise PermissionDenied("this needs a master key", reason="MASTER_KEY_REQUIRED")
        return await self.project(principal, project, write=True)

    async def administer_project_settings(self, principal: Principal, project: str) -> None:
        """Checks that `principal` is a master key of `project`'s organization.

        Project ids are global, so another organization's project is answered exactly like a
        missing one: a master key cannot learn which ids other organizations hold, nor by whom.

        Raises:
            PermissionDenied: not a master key (reason `MASTER_KEY_REQUIRED`).
            NotFound: no such project in the key's organization.
        """
        if principal.kind != MASTER:
            raise PermissionDenied("administration needs a master key", reason="MASTER_KEY_REQUIRED")
        if await self.organization_or_none(project) != principal.organization:
            raise NotFound(f"project {project!r} not found", reason="PROJECT_NOT_FOUND")

    def administer(self, principal: Principal, organization: str) -> str:
        """Checks that `principal` may administer `organization`.

        Raises:
            InvalidArgument: no organization was named.
            PermissionDenied: not a master key of that organization.
        """
        if not organization:
            raise InvalidArgument([("organization", "is required")])
        if principal.kind != MASTER:
            raise PermissionDenied("administration needs a master key", reason="MASTER_KEY_REQUIRED")
        if principal.organization != organization:
            raise PermissionDenied(f"this key may not administer organization {organization!r}")
        return organization
