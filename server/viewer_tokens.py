"""Viewer tokens: signed, short-lived, read-only credentials for one tenant of one project.

A token is `vt_` and an HS256 JWT whose header `kid` names the secret that signed it. Its claims
are the organization (`org`), project, tenant (`tenant_id`), an optional visibility `tier`, and
`iat`/`exp` in seconds; `aud` is `viewer`, so no other JWT signed with the same secret passes.
Nothing about a token is stored: it is valid until it expires, whoever made it.

The secrets come from `Settings.viewer_token_secrets` (the first signs, all verify), or else from
the database (table `signing_secrets`; the newest signs, all verify), where the first is created
on first need. `rotate_secret` adds a new one; an older one keeps verifying until every token it
can have signed has expired, then is deleted. Each process keeps the secrets for
`settings_cache_ttl_s`, and reads them again at once when a token names a secret it does not know
(one rotated on another node).

Expiry is checked against the injected `Clock`, not PyJWT's own clock.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from dataclasses import dataclass

import jwt
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ingestd.v1 import admin_service_pb2 as pb
from server.access import Access
from server.clock import Clock
from server.config import Settings
from server.errors import FailedPrecondition, InvalidArgument, PermissionDenied, Unauthenticated
from server.keys import MASTER, PROJECT, VIEWER, VIEWER_TOKEN_PREFIX, Principal
from server.pipeline import Call
from storage.signing import SigningSecretRepository

PREFIX = VIEWER_TOKEN_PREFIX
MIN_LIFETIME_S = 60
MAX_LIFETIME_S = 86_400
DEFAULT_LIFETIME_S = 3_600
MAX_TENANT_CHARS = 200
MAX_TIER_CHARS = 100
_AUDIENCE = "viewer"
_ALGORITHM = "HS256"
# Sorts before every rotated id ("vts_" and 16 hex digits of time), so a rotation at the same
# microsecond still makes the rotated secret the newest.
_FIRST_SECRET_ID = "vts_0"
_US = 1_000_000


@dataclass(frozen=True, slots=True)
class Issued:
    """A new token and when it expires, in microseconds since the epoch."""

    token: str
    expires_us: int


@dataclass(frozen=True, slots=True)
class _Keyring:
    signing_kid: str
    verifying: dict[str, str]
    loaded_us: int


def check(tenant_id: str, tier: str, lifetime_s: int) -> list[tuple[str, str]]:
    """The violations of a token request, by field (`tenant_id`, `tier`, `expires_in`)."""
    violations: list[tuple[str, str]] = []
    if not 1 <= len(tenant_id) <= MAX_TENANT_CHARS:
        violations.append(("tenant_id", f"must be 1 to {MAX_TENANT_CHARS} characters"))
    if len(tier) > MAX_TIER_CHARS:
        violations.append(("tier", f"must be at most {MAX_TIER_CHARS} characters"))
    if not MIN_LIFETIME_S <= lifetime_s <= MAX_LIFETIME_S:
        violations.append(("expires_in", f"must be {MIN_LIFETIME_S} to {MAX_LIFETIME_S} seconds"))
    return violations


class ViewerTokens:
    """Issues and verifies viewer tokens."""

    def __init__(
        self, access: Access, sessions: async_sessionmaker[AsyncSession], clock: Clock, settings: Settings
    ) -> None:
        self._access = access
        self._sessions = sessions
        self._clock = clock
        self._settings = settings
        self._configured = _configured_keyring(settings.viewer_token_secrets)
        self._stored: _Keyring | None = None
        self._loading = asyncio.Lock()

    async def create_viewer_token_rpc(
        self, call: Call, request: pb.CreateViewerTokenRequest
    ) -> pb.CreateViewerTokenResponse:
        principal = call.principal
        if principal.kind != MASTER and (principal.kind != PROJECT or principal.test):
            raise PermissionDenied(
                "a viewer token needs a master key or a live project key", reason="LIVE_KEY_REQUIRED"
            )
        project = await self._access.project(principal, request.project)
        lifetime_s = request.expires_in_seconds or DEFAULT_LIFETIME_S
        violations = check(request.tenant_id, request.tier, lifetime_s)
        if violations:
            renamed = {"expires_in": "expires_in_seconds"}
            raise InvalidArgument([(renamed.get(f, f), d) for f, d in violations])
        issued = await self.issue(
            principal.organization, project, request.tenant_id, request.tier, lifetime_s
        )
        call.log.update(project=project)
        response = pb.CreateViewerTokenResponse(token=issued.token)
        response.expire_time.FromMicroseconds(issued.expires_us)
        return response

    async def issue(
        self, organization: str, project: str, tenant_id: str, tier: str, lifetime_s: int
    ) -> Issued:
        """A token for `tenant_id` of `project`, valid for `lifetime_s` seconds. The caller has
        checked the access and the arguments (see `check`)."""
        keyring = await self._keyring()
        now_s = self._clock.now_us() // _US
        claims: dict[str, object] = {
            "aud": _AUDIENCE,
            "org": organization,
            "project": project,
            "tenant_id": tenant_id,
            "iat": now_s,
            "exp": now_s + lifetime_s,
            "jti": secrets.token_hex(8),
        }
        if tier:
            claims["tier"] = tier
        signed = jwt.encode(
            claims,
            keyring.verifying[keyring.signing_kid],
            algorithm=_ALGORITHM,
            headers={"kid": keyring.signing_kid},
        )
        return Issued(PREFIX + signed, (now_s + lifetime_s) * _US)

    async def verify(self, secret: str) -> Principal:
        """The principal of a viewer token: kind VIEWER, its project, organization and tenant.

        Raises:
            Unauthenticated: the token is malformed, tampered with, signed by an unknown secret,
                or expired.
        """
        invalid = Unauthenticated("invalid viewer token", reason="INVALID_VIEWER_TOKEN")
        token = secret.removeprefix(PREFIX)
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.InvalidTokenError:
            raise invalid from None
        if not isinstance(kid, str):
            raise invalid
        key = await self._verifying_secret(kid)
        if key is None:
            raise invalid
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[_ALGORITHM],
                audience=_AUDIENCE,
                # Expiry is checked below against the injected clock.
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False, "require": ["exp"]},
            )
        except jwt.InvalidTokenError:
            raise invalid from None
        organization, project, tenant, expires = (
            claims.get(name) for name in ("org", "project", "tenant_id", "exp")
        )
        if not all(isinstance(v, str) and v for v in (organization, project, tenant)):
            raise invalid
        if not isinstance(expires, int) or self._clock.now_us() >= expires * _US:
            raise Unauthenticated("viewer token expired", reason="VIEWER_TOKEN_EXPIRED")
        return Principal("", VIEWER, str(organization), str(project), tenant_id=str(tenant))

    async def rotate_secret(self) -> str:
        """Rotates the stored signing secret (see the module `rotate_secret`); this process signs
        with the new one at once."""
        kid = await rotate_secret(self._sessions, self._clock, self._settings)
        self._stored = None
        return kid

    async def _verifying_secret(self, kid: str) -> str | None:
        if self._configured is not None:
            return self._configured.verifying.get(kid)
        key = (await self._keyring()).verifying.get(kid)
        if key is None:
            # Perhaps rotated on another node since this one last read the secrets.
            key = (await self._keyring(reload=True)).verifying.get(kid)
        return key

    async def _keyring(self, *, reload: bool = False) -> _Keyring:
        if self._configured is not None:
            return self._configured
        stored = self._stored
        if not reload and stored is not None and not self._stale(stored):
            return stored
        async with self._loading:
            # Another call may have read them while this one waited.
            if self._stored is not None and self._stored is not stored and not self._stale(self._stored):
                return self._stored
            self._stored = await _load(self._sessions, self._clock)
            return self._stored

    def _stale(self, keyring: _Keyring) -> bool:
        return self._clock.now_us() - keyring.loaded_us >= self._settings.settings_cache_ttl_s * _US


async def rotate_secret(sessions: async_sessionmaker[AsyncSession], clock: Clock, settings: Settings) -> str:
    """Adds a new signing secret, which signs from now on (on other nodes within
    `settings_cache_ttl_s`), and deletes those no token can still need: a secret stopped signing
    when its successor was made, so it is deleted once that is `MAX_LIFETIME_S` plus the cache
    time ago. Returns the new secret's id.

    Raises:
        FailedPrecondition: the secrets come from `viewer_token_secrets`, not the database.
    """
    if _configured_keyring(settings.viewer_token_secrets) is not None:
        raise FailedPrecondition(
            "viewer-token secrets come from INGESTD_VIEWER_TOKEN_SECRETS: rotate them there",
            reason="SECRETS_CONFIGURED",
        )
    now_us = clock.now_us()
    kid = f"vts_{now_us:016x}{secrets.token_hex(4)}"
    retire_after_us = int((MAX_LIFETIME_S + settings.settings_cache_ttl_s) * _US)
    async with sessions.begin() as session:
        repository = SigningSecretRepository(session)
        await repository.insert_if_absent(kid, secrets.token_urlsafe(32), now_us)
        rows = await repository.newest_first()
        await repository.delete(
            [
                older.id
                for newer, older in zip(rows, rows[1:], strict=False)
                if newer.created_us + retire_after_us <= now_us
            ]
        )
    return kid


async def _load(sessions: async_sessionmaker[AsyncSession], clock: Clock) -> _Keyring:
    """The stored secrets, creating the first if there is none (one wins when nodes race)."""
    now_us = clock.now_us()
    async with sessions.begin() as session:
        repository = SigningSecretRepository(session)
        rows = await repository.newest_first()
        if not rows:
            await repository.insert_if_absent(_FIRST_SECRET_ID, secrets.token_urlsafe(32), now_us)
            rows = await repository.newest_first()
    return _Keyring(rows[0].id, {row.id: row.secret for row in rows}, now_us)


def _configured_keyring(setting: str) -> _Keyring | None:
    """The secrets of `viewer_token_secrets`, each named by a digest prefix; None when unset."""
    values = [s.strip() for s in setting.split(",") if s.strip()]
    if not values:
        return None
    verifying = {"cfg_" + hashlib.sha256(v.encode()).hexdigest()[:16]: v for v in values}
    return _Keyring(next(iter(verifying)), verifying, 0)
