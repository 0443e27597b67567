"""The admin domain: organizations, projects and API keys.

The `*_rpc` methods serve AdminService and check access first. The plain methods below them do
the work without any access check; the `ingestd` command and the first-start bootstrap call them
directly, as the operator of the instance.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ingestd.v1 import admin_service_pb2
from server import paging
from server.access import Access
from server.clock import Clock
from server.dsn import sentry_dsn
from server.errors import AlreadyExists, InvalidArgument, NotFound
from server.ids import UuidV7
from server.keys import (
    CLIENT,
    MASTER,
    PROJECT,
    PUBLIC,
    WRITE_ONLY,
    Authenticator,
    digest,
    new_secret,
    shown_prefix,
)
from server.origins import check_allowed_origin
from server.pipeline import Call
from storage.accounts import ApiKeyRepository, OrganizationRepository, ProjectRepository
from storage.models import ApiKey, Organization, Project

pb = admin_service_pb2

#: Organization and project ids.
PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
_ID_RULE = "must be 1 to 63 lowercase letters, digits or hyphens, starting with a letter"
MAX_NAME_CHARS = 100
MAX_ALLOWED_ORIGINS = 50
#: The largest daily event limit: exact as a JSON number, which is how most tools will send it.
MAX_DAILY_EVENT_LIMIT = 2**53 - 1
MAX_ALERT_RULE_LIMIT = 2**31 - 1
#: The `update_mask` paths of `UpdateProject`; an empty mask (or `*`) means all of them.
_PROJECT_PATHS = (
    "display_name",
    "limits.daily_event_limit",
    "limits.alert_rule_limit",
    "limits.webhooks_disabled",
)
#: Output-only fields: named in a mask, they are ignored, as their values are.
_OUTPUT_ONLY_PATHS = frozenset({"id", "organization", "create_time"})


class LimitsCache(Protocol):
    """What keeps projects' limits cached on this node (`server.quotas.ProjectQuotas`)."""

    def forget(self, project: str) -> None:
        """Drops the cached limits of `project`, which just changed."""
        ...


class Admin:
    """AdminService, and the operator's own operations."""

    def __init__(
        self,
        access: Access,
        authenticator: Authenticator,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        ids: UuidV7,
        limits_cache: LimitsCache | None = None,
        *,
        public_url: str = "",
    ) -> None:
        self._access = access
        #: The base of the DSNs of public keys (`server.dsn.public_url`); empty: no DSNs.
        self._public_url = public_url
        self._authenticator = authenticator
        self._sessions = sessions
        self._clock = clock
        self._ids = ids
        self._limits_cache = limits_cache

    # AdminService ---------------------------------------------------------------------------

    async def get_organization_rpc(
        self, call: Call, request: pb.GetOrganizationRequest
    ) -> pb.GetOrganizationResponse:
        self._access.administer(call.principal, request.organization)
        async with self._sessions() as session:
            record = await OrganizationRepository(session).get(request.organization)
        if record is None:
            raise NotFound(f"organization {request.organization!r} not found")
        return pb.GetOrganizationResponse(organization=to_organization(record))

    async def create_project_rpc(
        self, call: Call, request: pb.CreateProjectRequest
    ) -> pb.CreateProjectResponse:
        self._access.administer(call.principal, request.organization)
        project = await self.create_project(
            request.organization, request.project_id, request.project.display_name, request.project.limits
        )
        call.log.update(project=project.id)
        return pb.CreateProjectResponse(project=project)

    async def get_project_rpc(self, call: Call, request: pb.GetProjectRequest) -> pb.GetProjectResponse:
        if not request.project:
            raise InvalidArgument([("project", "is required")])
        await self._access.administer_project_settings(call.principal, request.project)
        async with self._sessions() as session:
            record = await ProjectRepository(session).get(request.project)
        assert record is not None, "organization_of found it"
        return pb.GetProjectResponse(project=to_project(record))

    async def update_project_rpc(
        self, call: Call, request: pb.UpdateProjectRequest
    ) -> pb.UpdateProjectResponse:
        if not request.project:
            raise InvalidArgument([("project", "is required")])
        await self._access.administer_project_settings(call.principal, request.project)
        project = await self.update_project(request.project, request.update, list(request.update_mask.paths))
        call.log.update(project=project.id, update_mask=",".join(request.update_mask.paths) or "*")
        return pb.UpdateProjectResponse(project=project)

    async def list_projects_rpc(self, call: Call, request: pb.ListProjectsRequest) -> pb.ListProjectsResponse:
        self._access.administer(call.principal, request.organization)
        size = paging.page_size(request.page_size)
        after = paging.decode_id(request)
        async with self._sessions() as session:
            records = await ProjectRepository(session).page(
                request.organization, after_id=after, limit=size + 1
            )
        response = pb.ListProjectsResponse(projects=[to_project(r) for r in records[:size]])
        if len(records) > size:
            response.next_page_token = paging.encode(records[size - 1].id, request)
        return response

    async def create_api_key_rpc(
        self, call: Call, request: pb.CreateApiKeyRequest
    ) -> pb.CreateApiKeyResponse:
        self._access.administer(call.principal, request.organization)
        api_key, secret = await self.create_api_key(
            request.organization,
            request.kind,
            request.project,
            request.name,
            allowed_origins=list(request.allowed_origins),
            vendor_organization=request.vendor_organization,
            test=request.test,
        )
        call.log.update(created_key_id=api_key.id)
        return pb.CreateApiKeyResponse(api_key=api_key, secret=secret, dsn=self.dsn(api_key, secret))

    async def list_api_keys_rpc(self, call: Call, request: pb.ListApiKeysRequest) -> pb.ListApiKeysResponse:
        self._access.administer(call.principal, request.organization)
        size = paging.page_size(request.page_size)
        before = paging.decode_id(request)
        keys = await self.list_api_keys(
            request.organization,
            request.project,
            before=before,
            limit=size + 1,
        )
        response = pb.ListApiKeysResponse(api_keys=keys[:size])
        if len(keys) > size:
            response.next_page_token = paging.encode(keys[size - 1].id, request)
        return response

    async def revoke_api_key_rpc(
        self, call: Call, request: pb.RevokeApiKeyRequest
    ) -> pb.RevokeApiKeyResponse:
        self._access.administer(call.principal, request.organization)
        api_key = await self.revoke_api_key(request.organization, request.key)
        call.log.update(revoked_key_id=api_key.id)
        return pb.RevokeApiKeyResponse(api_key=api_key)

    # The operator's operations ---------------------------------------------------------------

    async def get_project(self, project_id: str) -> pb.Project:
        """The project.

        Raises:
            NotFound: no such project.
        """
        async with self._sessions() as session:
            record = await ProjectRepository(session).get(project_id)
        if record is None:
            raise NotFound(f"project {project_id!r} not found", reason="PROJECT_NOT_FOUND")
        return to_project(record)

    async def list_projects(self, organization: str, *, limit: int = 1000) -> list[pb.Project]:
        """The organization's projects in id order."""
        async with self._sessions() as session:
            records = await ProjectRepository(session).page(organization, after_id=None, limit=limit)
        return [to_project(r) for r in records]

    async def update_project(self, project_id: str, update: pb.Project, paths: Sequence[str]) -> pb.Project:
        """Sets the fields of `update` that `paths` name (`display_name`, `limits` or one of its
        fields, such as `limits.daily_event_limit`); every writable field when `paths` is empty.
        This node stops using the old limits at once; other nodes within `settings_cache_ttl_s`.

        Raises:
            InvalidArgument: an unknown path, a negative limit or one out of range, or a long name.
            NotFound: no such project.
        """
        fields = _project_fields(paths)
        limits = update.limits
        violations = _limit_violations("update.limits", limits, fields)
        if "display_name" in fields and len(update.display_name) > MAX_NAME_CHARS:
            violations.insert(0, ("update.display_name", f"longer than {MAX_NAME_CHARS} characters"))
        if violations:
            raise InvalidArgument(violations)
        async with self._sessions.begin() as session:
            record = await ProjectRepository(session).get(project_id)
            if record is None:
                raise NotFound(f"project {project_id!r} not found", reason="PROJECT_NOT_FOUND")
            if "display_name" in fields:
                record.display_name = update.display_name
            if "limits.daily_event_limit" in fields:
                record.daily_event_limit = limits.daily_event_limit
            if "limits.alert_rule_limit" in fields:
                record.alert_rule_limit = limits.alert_rule_limit
            if "limits.webhooks_disabled" in fields:
                record.webhooks_disabled = limits.webhooks_disabled
            await session.flush()
        if self._limits_cache is not None:
            self._limits_cache.forget(project_id)
        return to_project(record)

    async def create_project(
        self,
        organization: str,
        project_id: str,
        display_name: str = "",
        limits: pb.ProjectLimits | None = None,
    ) -> pb.Project:
        """Creates a project, unlimited unless `limits` says otherwise.

        Raises:
            InvalidArgument: a malformed id or name, or a limit out of range.
            NotFound: no such organization.
            AlreadyExists: the id is taken.
        """
        if not PROJECT_ID.match(project_id):
            raise InvalidArgument([("project_id", _ID_RULE)])
        _check_name("project.display_name", display_name)
        limits = limits or pb.ProjectLimits()
        violations = _limit_violations("project.limits", limits, set(_PROJECT_PATHS))
        if violations:
            raise InvalidArgument(violations)
        record = Project(
            id=project_id,
            organization_id=organization,
            display_name=display_name,
            created_us=self._clock.now_us(),
            daily_event_limit=limits.daily_event_limit,
            alert_rule_limit=limits.alert_rule_limit,
            webhooks_disabled=limits.webhooks_disabled,
        )
        try:
            async with self._sessions.begin() as session:
                if await OrganizationRepository(session).get(organization) is None:
                    raise NotFound(f"organization {organization!r} not found")
                if await ProjectRepository(session).get(project_id) is not None:
                    raise AlreadyExists(f"project {project_id!r} already exists")
                await ProjectRepository(session).add(record)
        except IntegrityError:
            raise AlreadyExists(f"project {project_id!r} already exists") from None
        return to_project(record)

    async def create_api_key(
        self,
        organization: str,
        kind: int,
        project: str,
        name: str,
        *,
        secret: str | None = None,
        allowed_origins: Sequence[str] = (),
        vendor_organization: str = "",
        test: bool = False,
    ) -> tuple[pb.ApiKey, str]:
        """Creates a key; returns it and its secret, which is never retrievable again.

        Raises:
            InvalidArgument: a bad kind, project, name, origin or vendor organization.
            NotFound: no such organization.
        """
        violations = _key_violations(kind, project, name, allowed_origins, vendor_organization)
        if test and kind != PROJECT:
            violations.append(("test", "only a project key can be a test key"))
        if violations:
            raise InvalidArgument(violations)
        if kind != MASTER and await self._access.organization_or_none(project) != organization:
            # Another organization's project answers like a missing one (project ids are global).
            raise NotFound(f"project {project!r} not found", reason="PROJECT_NOT_FOUND")
        record, secret = self.new_key(organization, kind, project, name, secret=secret, test=test)
        record.allowed_origins = "\n".join(allowed_origins)
        record.vendor_organization = vendor_organization or None
        async with self._sessions.begin() as session:
            if await OrganizationRepository(session).get(organization) is None:
                raise NotFound(f"organization {organization!r} not found")
            await ApiKeyRepository(session).add(record)
        return to_api_key(record), secret

    def dsn(self, api_key: pb.ApiKey, secret: str) -> str:
        """The DSN Sentry's SDKs take for a public key (`secret` is its secret); empty for other
        kinds, or without a public URL."""
        if api_key.kind != PUBLIC or not api_key.project or not self._public_url:
            return ""
        return sentry_dsn(self._public_url, secret, api_key.project)

    def new_key(
        self,
        organization: str,
        kind: int,
        project: str,
        name: str,
        *,
        secret: str | None = None,
        test: bool = False,
    ) -> tuple[ApiKey, str]:
        """A key record, not yet stored, and its secret (`secret`, or a new one)."""
        secret = secret or new_secret(kind, test=test)
        record = ApiKey(
            organization_id=organization,
            id="key_" + self._ids.new().replace("-", ""),
            kind=kind,
            project_id=project or None,
            name=name,
            prefix=shown_prefix(secret),
            secret_sha256=digest(secret),
            created_us=self._clock.now_us(),
            test=test,
        )
        return record, secret

    async def create_organization(
        self, organization: str, display_name: str = ""
    ) -> tuple[pb.Organization, pb.ApiKey, str]:
        """Creates an organization with its first master key; returns both and the key's secret.

        Raises:
            InvalidArgument: a malformed id or name.
            AlreadyExists: the id is taken.
        """
        if not PROJECT_ID.match(organization):
            raise InvalidArgument([("organization", _ID_RULE)])
        _check_name("display_name", display_name)
        record = Organization(id=organization, display_name=display_name, created_us=self._clock.now_us())
        key, secret = self.new_key(organization, MASTER, "", "first master key")
        async with self._sessions.begin() as session:
            if not await OrganizationRepository(session).insert_if_absent(record):
                raise AlreadyExists(f"organization {organization!r} already exists")
            await ApiKeyRepository(session).add(key)
        return to_organization(record), to_api_key(key), secret

    async def list_api_keys(
        self, organization: str, project: str = "", *, before: str | None = None, limit: int = 100
    ) -> list[pb.ApiKey]:
        """Keys newest first, without secrets."""
        async with self._sessions() as session:
            records = await ApiKeyRepository(session).page(
                organization, project_id=project, before_id=before, limit=limit
            )
        return [to_api_key(r) for r in records]

    async def api_key_project(self, organization: str, key_id: str) -> str | None:
        """The project a key of `organization` belongs to; None for an organization-wide key, or
        when there is no such key."""
        async with self._sessions() as session:
            record = await ApiKeyRepository(session).get(organization, key_id)
        return record.project_id if record is not None else None

    async def revoke_api_key(self, organization: str, key_id: str) -> pb.ApiKey:
        """Revokes a key; revoking a revoked key keeps its first revocation time.

        Raises:
            NotFound: no such key in the organization.
        """
        async with self._sessions.begin() as session:
            keys = ApiKeyRepository(session)
            record = await keys.get(organization, key_id)
            if record is None:
                raise NotFound(f"API key {key_id!r} not found", reason="KEY_NOT_FOUND")
            await keys.revoke(record, self._clock.now_us())
        self._authenticator.forget(record.secret_sha256)
        return to_api_key(record)


def _key_violations(
    kind: int, project: str, name: str, allowed_origins: Sequence[str], vendor_organization: str
) -> list[tuple[str, str]]:
    violations: list[tuple[str, str]] = []
    if kind not in (MASTER, PROJECT, *WRITE_ONLY):
        violations.append(("kind", "must be set to a known API_KEY_KIND"))
    elif kind == MASTER and project:
        violations.append(("project", "must be empty for a master key"))
    elif kind != MASTER and not project:
        violations.append(("project", "is required for every key but a master key"))
    if len(name) > MAX_NAME_CHARS:
        violations.append(("name", f"longer than {MAX_NAME_CHARS} characters"))
    if allowed_origins and kind != CLIENT:
        violations.append(("allowed_origins", "only a client key has allowed origins"))
    if len(allowed_origins) > MAX_ALLOWED_ORIGINS:
        violations.append(("allowed_origins", f"at most {MAX_ALLOWED_ORIGINS} origins"))
    for index, origin in enumerate(allowed_origins):
        problem = check_allowed_origin(origin)
        if problem:
            violations.append((f"allowed_origins[{index}]", problem))
    if len(vendor_organization) > MAX_NAME_CHARS or not vendor_organization.isprintable():
        violations.append(("vendor_organization", f"printable, at most {MAX_NAME_CHARS} characters"))
    return violations


def _limit_violations(field: str, limits: pb.ProjectLimits, fields: set[str]) -> list[tuple[str, str]]:
    violations: list[tuple[str, str]] = []
    if "limits.daily_event_limit" in fields and not 0 <= limits.daily_event_limit <= MAX_DAILY_EVENT_LIMIT:
        violations.append((f"{field}.daily_event_limit", f"must be 0 (unlimited) to {MAX_DAILY_EVENT_LIMIT}"))
    if "limits.alert_rule_limit" in fields and not 0 <= limits.alert_rule_limit <= MAX_ALERT_RULE_LIMIT:
        violations.append((f"{field}.alert_rule_limit", f"must be 0 (unlimited) to {MAX_ALERT_RULE_LIMIT}"))
    return violations


def _project_fields(paths: Sequence[str]) -> set[str]:
    """The writable fields an `UpdateProject` mask names, `limits` standing for its three fields.

    Raises:
        InvalidArgument: a path that names no field of a project.
    """
    if not paths or "*" in paths:
        return set(_PROJECT_PATHS)
    fields: set[str] = set()
    violations: list[tuple[str, str]] = []
    for path in paths:
        if path == "limits":
            fields.update(p for p in _PROJECT_PATHS if p.startswith("limits."))
        elif path in _PROJECT_PATHS:
            fields.add(path)
        elif path not in _OUTPUT_ONLY_PATHS:
            violations.append(("update_mask", f"{path!r} is not a field of a project"))
    if violations:
        raise InvalidArgument(violations)
    return fields


def _check_name(field: str, name: str) -> None:
    if len(name) > MAX_NAME_CHARS:
        raise InvalidArgument([(field, f"longer than {MAX_NAME_CHARS} characters")])


def _set_time(target: object, us: int | None) -> None:
    if us is not None:
        target.FromMicroseconds(us)  # type: ignore[attr-defined]


def to_organization(record: Organization) -> pb.Organization:
    message = pb.Organization(id=record.id, display_name=record.display_name)
    _set_time(message.create_time, record.created_us)
    return message


def to_project(record: Project) -> pb.Project:
    message = pb.Project(
        id=record.id,
        organization=record.organization_id,
        display_name=record.display_name,
        limits=pb.ProjectLimits(
            daily_event_limit=record.daily_event_limit or 0,
            alert_rule_limit=record.alert_rule_limit or 0,
            webhooks_disabled=bool(record.webhooks_disabled),
        ),
    )
    _set_time(message.create_time, record.created_us)
    return message


def to_api_key(record: ApiKey) -> pb.ApiKey:
    message = pb.ApiKey(
        id=record.id,
        organization=record.organization_id,
        project=record.project_id or "",
        kind=record.kind,  # type: ignore[arg-type]
        name=record.name,
        prefix=record.prefix,
        allowed_origins=list(filter(None, record.allowed_origins.split("\n"))),
        vendor_organization=record.vendor_organization or "",
        test=record.test,
    )
    _set_time(message.create_time, record.created_us)
    _set_time(message.last_use_time, record.last_used_us)
    _set_time(message.revoke_time, record.revoked_us)
    return message
