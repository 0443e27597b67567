"""LogStitch's API keys and viewer tokens: /api/v1/keys and /api/v1/viewer-tokens
(docs/vendors/logstitch.md §9, §10).

- `POST /api/v1/keys` (master key only) `{project_id, type: "project", name (1-100)}` → 201
  `{id, key, prefix, type, name, request_id}`: the secret, once. The docs name no test or
  environment marker, so these are always live keys. A project that is not the organization's:
  404 `not_found`.
- `GET /api/v1/keys` (master or project key) → 200 `{keys: [{id, prefix, type, name, lastUsedAt,
  createdAt, revokedAt}], cursor, has_more, request_id}`, newest first, never a secret. `type` is
  `master`, `project`, or a vendor key's kind (`public`, `server`, `client`); times as every
  LogStitch time, or null. `lastUsedAt` moves with reads as with writes, to within a minute (§9.3,
  `server.keys.Authenticator`). Query: `limit` and `cursor`, as every LogStitch list.
  A master key lists its organization's keys; a project key only its own project's, although the
  document's one line says "all API keys for your organization" (§9.2): a project key is the
  credential deployed in applications, it may revoke only its own project's keys, and listing the
  others would let a leaked one enumerate every project's keys (their names, prefixes and use)
  without being able to act on any of them. A client gets the documented shape either way.
- `DELETE /api/v1/keys/:id` (master key: any key of its organization; project key: its own
  project's keys, itself included) → 200 with the key as listed and `revoked: true`. The key is
  refused on the very next request to any node (see `server.keys.Authenticator`). Another
  key: 404 `not_found`, as if absent.
- `POST /api/v1/viewer-tokens` (a live project key only: a test key, a master key or any other
  gets 403 `forbidden`) `{tenant_id (1-200), tier?, expires_in? (60-86400, default 3600)}` → 201
  `{token, expires_at, request_id}`.

Validation messages are Zod v3's defaults, as in `server.dialects.logstitch.translate`.
"""

from __future__ import annotations

import re
from typing import Any

from ingestd.compat.logstitch.v1 import logstitch_service_pb2 as pb
from ingestd.v1 import admin_service_pb2
from server import viewer_tokens
from server.admin import Admin
from server.dialects.answer import Answer
from server.dialects.base import VendorContext
from server.dialects.common import zod_expected
from server.dialects.logstitch.calls import authenticate, endpoints, respond
from server.dialects.logstitch.common import (
    Detail,
    error,
    timestamp,
    timestamp_us,
    validation_error,
)
from server.dialects.logstitch.pages import encode_cursor, requested_page
from server.dialects.logstitch.validation import object_body
from server.errors import NotFound
from server.keys import CLIENT, MASTER, PROJECT, PUBLIC, SERVER, Principal
from server.pipeline import Call, Endpoint

MAX_NAME_CHARS = 100

_TYPE_OF_KIND = {MASTER: "master", PROJECT: "project", PUBLIC: "public", SERVER: "server", CLIENT: "client"}
_KEY_ID = re.compile(r"key_[0-9A-Za-z_-]{1,100}")


class LogStitchKeysServicer:
    """The keys and viewer-token endpoints of LogStitchService."""

    def __init__(self, context: VendorContext) -> None:
        self._context = context

    def endpoints(self) -> list[Endpoint]:
        return endpoints(
            {
                "CreateKey": self.create_key,
                "ListKeys": self.list_keys,
                "RevokeKey": self.revoke_key,
                "CreateViewerToken": self.create_viewer_token,
            }
        )

    async def create_key(self, call: Call, request: pb.CreateKeyRequest) -> pb.CreateKeyResponse:
        principal = await authenticate(call, (MASTER,))
        body = object_body(request.body.data)
        found: list[Detail] = []
        project_id = _string(body, "project_id", found, min_chars=1)
        kind = _string(body, "type", found)
        if kind is not None and kind != "project":
            found.append(("type", f"Invalid literal value, expected \"project\", received '{kind}'"))
        name = _string(body, "name", found, min_chars=1, max_chars=MAX_NAME_CHARS)
        if found:
            raise validation_error(found)
        assert project_id is not None and name is not None
        await self._own_project(principal, project_id)
        key, secret = await self._context.admin.create_api_key(
            principal.organization, PROJECT, project_id, name
        )
        call.log.update(project=project_id, created_key_id=key.id)
        body_out = {"id": key.id, "key": secret, "prefix": key.prefix, "type": "project", "name": key.name}
        return respond(call, pb.CreateKeyResponse, 201, body_out)

    async def list_keys(self, call: Call, request: pb.ListKeysRequest) -> pb.ListKeysResponse:
        principal = await authenticate(call, (MASTER, PROJECT))
        limit, before = requested_page(request.limit, request.cursor, _KEY_ID)
        keys = await self._context.admin.list_api_keys(
            principal.organization, _scope(principal), before=before, limit=limit + 1
        )
        has_more = len(keys) > limit
        body = {
            "keys": [_listed(key) for key in keys[:limit]],
            "cursor": encode_cursor(keys[limit - 1].id) if has_more else None,
            "has_more": has_more,
        }
        call.log.update(returned=min(len(keys), limit))
        return respond(call, pb.ListKeysResponse, 200, body)

    async def revoke_key(self, call: Call, request: pb.RevokeKeyRequest) -> pb.RevokeKeyResponse:
        principal = await authenticate(call, (MASTER, PROJECT))
        if not await _may_revoke(self._context.admin, principal, request.id):
            raise _key_not_found()
        try:
            key = await self._context.admin.revoke_api_key(principal.organization, request.id)
        except NotFound:
            raise _key_not_found() from None
        call.log.update(revoked_key_id=key.id)
        return respond(call, pb.RevokeKeyResponse, 200, {**_listed(key), "revoked": True})

    async def create_viewer_token(
        self, call: Call, request: pb.CreateViewerTokenRequest
    ) -> pb.CreateViewerTokenResponse:
        principal = await authenticate(call, (PROJECT,))
        if principal.test or not principal.project:
            raise error(403, "forbidden", "Viewer tokens need a live project key")
        body = object_body(request.body.data)
        found: list[Detail] = []
        tenant_id = _string(body, "tenant_id", found, min_chars=1, max_chars=viewer_tokens.MAX_TENANT_CHARS)
        tier = _string(body, "tier", found, max_chars=viewer_tokens.MAX_TIER_CHARS) or ""
        lifetime_s = _lifetime(body.get("expires_in"), found)
        if found:
            raise validation_error(found)
        assert tenant_id is not None
        issued = await self._context.viewer_tokens.issue(
            principal.organization, principal.project, tenant_id, tier, lifetime_s
        )
        call.log.update(project=principal.project)
        return respond(
            call,
            pb.CreateViewerTokenResponse,
            201,
            {"token": issued.token, "expires_at": timestamp_us(issued.expires_us)},
        )

    async def _own_project(self, principal: Principal, project_id: str) -> None:
        """Refuses, as absent, a project that is not the master key's organization's."""
        try:
            organization = await self._context.access.organization_of(project_id)
        except NotFound:
            organization = None
        if organization != principal.organization:
            raise error(404, "not_found", f"Project '{project_id}' not found")


def _key_not_found() -> Answer:
    return error(404, "not_found", "API key not found")


def _scope(principal: Principal) -> str:
    """The project whose keys a key sees: a project key its own; a master key all (empty); see
    the module's docstring for why."""
    return "" if principal.kind == MASTER else principal.project or ""


async def _may_revoke(admin: Admin, principal: Principal, key_id: str) -> bool:
    """Whether `principal` may revoke the key: a master key any of its organization's, a project
    key its own project's. Revoke itself answers for a key that does not exist."""
    if principal.kind == MASTER:
        return True
    project = await admin.api_key_project(principal.organization, key_id)
    return project is not None and project == principal.project


def _listed(key: admin_service_pb2.ApiKey) -> dict[str, object]:
    def time(name: str) -> str | None:
        return timestamp(getattr(key, name)) if key.HasField(name) else None

    return {
        "id": key.id,
        "prefix": key.prefix,
        "type": _TYPE_OF_KIND.get(key.kind, "unknown"),
        "name": key.name,
        "lastUsedAt": time("last_use_time"),
        "createdAt": time("create_time"),
        "revokedAt": time("revoke_time"),
    }


def _string(
    body: dict[str, Any], name: str, found: list[Detail], *, min_chars: int = 0, max_chars: int | None = None
) -> str | None:
    """An optional string field (`null` is absent); `min_chars` > 0 makes it required."""
    value = body.get(name)
    if value is None:
        if min_chars:
            found.append((name, "Required"))
        return None
    if not isinstance(value, str):
        found.append((name, zod_expected("string", value)))
        return None
    if len(value) < min_chars:
        found.append((name, f"String must contain at least {min_chars} character(s)"))
        return None
    if max_chars is not None and len(value) > max_chars:
        found.append((name, f"String must contain at most {max_chars} character(s)"))
        return None
    return value


def _lifetime(value: object, found: list[Detail]) -> int:
    """`expires_in`: whole seconds within the allowed range; the default when absent."""
    if value is None:
        return viewer_tokens.DEFAULT_LIFETIME_S
    if isinstance(value, bool) or not isinstance(value, int | float):
        found.append(("expires_in", zod_expected("number", value)))
    elif isinstance(value, float) and not value.is_integer():
        found.append(("expires_in", "Expected integer, received float"))
    elif value < viewer_tokens.MIN_LIFETIME_S:
        found.append(
            ("expires_in", f"Number must be greater than or equal to {viewer_tokens.MIN_LIFETIME_S}")
        )
    elif value > viewer_tokens.MAX_LIFETIME_S:
        found.append(("expires_in", f"Number must be less than or equal to {viewer_tokens.MAX_LIFETIME_S}"))
    else:
        return int(value)
    return viewer_tokens.DEFAULT_LIFETIME_S
