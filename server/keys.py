"""API keys: secrets, their digests, and turning a presented secret into a `Principal`.

Secrets are random, so a single SHA-256 is a sound digest (no salt or slow hash is needed: there
is nothing to guess). The secret is returned once at creation and never stored or logged.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ingestd.v1 import admin_service_pb2
from server.clock import Clock, SystemClock
from server.errors import Unauthenticated
from storage.accounts import LAST_USE_EVERY_US, ApiKeyRepository
from storage.engine import describe_error

_log = structlog.get_logger("ingestd.keys")

MASTER = admin_service_pb2.API_KEY_KIND_MASTER
PROJECT = admin_service_pb2.API_KEY_KIND_PROJECT
PUBLIC = admin_service_pb2.API_KEY_KIND_PUBLIC
SERVER = admin_service_pb2.API_KEY_KIND_SERVER
CLIENT = admin_service_pb2.API_KEY_KIND_CLIENT
#: A viewer token's principal: never stored, read-only, held to one tenant.
VIEWER = admin_service_pb2.API_KEY_KIND_VIEWER

#: Kinds that belong to one project and may only write to it: vendors' public, server and client keys.
WRITE_ONLY: frozenset[int] = frozenset({PUBLIC, SERVER, CLIENT})

_SECRET_PREFIX: dict[int, str] = {MASTER: "mk_", PROJECT: "pk_", PUBLIC: "pub_", SERVER: "sk_", CLIENT: "ck_"}
_TEST_PREFIX = "pk_test_"
#: A viewer token: never stored, verified by its signature (see `server.viewer_tokens`).
VIEWER_TOKEN_PREFIX = "vt_"
_SHOWN_PREFIX_CHARS = 10


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's id (never its secret), kind, organization and project, and the
    vendor attributes of the key (see `ingestd.v1.ApiKey`). A viewer token's principal has no key
    id of a stored key, and carries its tenant."""

    key_id: str
    kind: int
    organization: str
    project: str | None
    allowed_origins: tuple[str, ...] = ()
    vendor_organization: str = ""
    test: bool = False
    tenant_id: str = ""


def new_secret(kind: int, *, test: bool = False) -> str:
    """A new secret for a key of `kind`, such as `pk_` followed by 48 hex digits (`pk_test_` for a
    test project key)."""
    return (_TEST_PREFIX if test else _SECRET_PREFIX[kind]) + secrets.token_hex(24)


def digest(secret: str) -> str:
    """The hex SHA-256 of a secret: what the database stores."""
    return hashlib.sha256(secret.encode()).hexdigest()


def shown_prefix(secret: str) -> str:
    """The first characters of a secret, stored so people can tell their keys apart."""
    return secret[:_SHOWN_PREFIX_CHARS]


def secret_from_metadata(metadata: Mapping[str, str]) -> str:
    """The key a caller presents: `authorization: Bearer <key>`, else `x-api-key`.

    A present Bearer token wins and never falls back to `x-api-key`, so a bad Bearer token is
    refused even when another header carries a good key.

    Raises:
        Unauthenticated: no key was presented.
    """
    authorization = metadata.get("authorization", "")
    if authorization[:7].lower() == "bearer ":
        secret = authorization[7:].strip()
    else:
        secret = metadata.get("x-api-key", "").strip()
    if not secret:
        raise Unauthenticated(
            "missing API key: send 'authorization: Bearer <key>' or 'x-api-key: <key>'",
            reason="MISSING_API_KEY",
        )
    return secret


class ViewerTokenVerifier(Protocol):
    """What checks a viewer token (`server.viewer_tokens.ViewerTokens`)."""

    async def verify(self, secret: str) -> Principal:
        """The VIEWER principal of a `vt_` token.

        Raises:
            Unauthenticated: the token is invalid or expired.
        """
        ...


class Authenticator:
    """Resolves secrets to principals: API keys from the database, viewer tokens (`vt_…`) by
    their signature.

    A cached principal is only used where the write path re-checks the key inside its commit
    (see `storage.writer`), so every process refuses a revoked key before it stores anything
    more. Every other call reads the key from the database. Viewer tokens are never cached: they
    are checked on every call, and only ever read.

    A key's last use is recorded to within a minute (`LAST_USE_EVERY_US`): by the writer for the
    writes it commits, and here for every other call (`cached=False`), but only when
    the recorded use is a minute old, so a key in steady use costs no write per call.
    """

    _CACHE_LIMIT = 10_000

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        viewer_tokens: ViewerTokenVerifier | None = None,
        *,
        clock: Clock | None = None,
    ) -> None:
        self._sessions = sessions
        self._viewer_tokens = viewer_tokens
        self._clock = clock or SystemClock()
        self._cache: dict[str, Principal] = {}

    async def _record_use(self, organization_id: str, key_id: str, now_us: int) -> None:
        """Best effort: a database that refuses the write (read-only, full) must not refuse the
        call, which only read."""
        try:
            async with self._sessions() as session, session.begin():
                await ApiKeyRepository(session).record_use(organization_id, key_id, now_us)
        except SQLAlchemyError as exc:
            _log.warning("key_use_not_recorded", key_id=key_id, error=describe_error(exc))

    async def authenticate(self, secret: str, *, cached: bool) -> Principal:
        """The principal of `secret`.

        Raises:
            Unauthenticated: the key is unknown or revoked; the viewer token is invalid or expired.
        """
        if secret.startswith(VIEWER_TOKEN_PREFIX) and self._viewer_tokens is not None:
            return await self._viewer_tokens.verify(secret)
        key_digest = digest(secret)
        if cached:
            principal = self._cache.get(key_digest)
            if principal is not None:
                return principal
        async with self._sessions() as session:
            record = await ApiKeyRepository(session).by_digest(key_digest)
        if record is None:
            raise Unauthenticated("invalid API key", reason="INVALID_API_KEY")
        if record.revoked_us is not None:
            self._cache.pop(key_digest, None)
            raise Unauthenticated("API key revoked", reason="KEY_REVOKED")
        # A cached call is a write, whose use the group writer records in its own commit.
        if not cached:
            now_us = self._clock.now_us()
            if record.last_used_us is None or now_us - record.last_used_us >= LAST_USE_EVERY_US:
                await self._record_use(record.organization_id, record.id, now_us)
        principal = Principal(
            record.id,
            record.kind,
            record.organization_id,
            record.project_id,
            tuple(filter(None, record.allowed_origins.split("\n"))),
            record.vendor_organization or "",
            record.test,
        )
        if len(self._cache) >= self._CACHE_LIMIT:
            self._cache.clear()
        self._cache[key_digest] = principal
        return principal

    def forget(self, key_digest: str) -> None:
        """Drops a key from this process's cache, as soon as it is revoked here."""
        self._cache.pop(key_digest, None)
