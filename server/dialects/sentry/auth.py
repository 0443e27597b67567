"""Where a Sentry request carries its key, read as Relay reads it (docs/vendors/sentry.md §2, §4).

Exactly one of these, else 401:
- `X-Sentry-Auth: Sentry sentry_key=<key>, sentry_version=7, sentry_client=<sdk>` (sentry-python);
- `Authorization: Sentry …`, or `Authorization: Basic base64(<key>:<secret>)`;
- `?sentry_key=<key>&sentry_version=7&sentry_client=<sdk>` (every JavaScript SDK, which so avoids a
  CORS preflight);
- when the request carries none of them, the `dsn` of the envelope header (JavaScript's `tunnel`).

Pure: nothing here looks a key up.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from server.dialects.sentry.answers import bad_envelope, refused

#: The protocol version Relay speaks; a later one is refused.
PROTOCOL_VERSION = 7


@dataclass(frozen=True, slots=True)
class Auth:
    """The key a request presents, and how."""

    key: str
    #: `x-sentry-auth`, `authorization`, `query` or `dsn`.
    source: str
    client: str = ""
    #: For `dsn`: the project number the envelope's DSN names.
    project_id: str = ""


@dataclass(frozen=True, slots=True)
class QueryAuth:
    """The `sentry_*` query parameters, first values."""

    key: Sequence[str] = ()
    version: Sequence[str] = ()
    client: Sequence[str] = ()
    secret: Sequence[str] = ()

    def present(self) -> bool:
        return bool(self.key or self.version or self.client or self.secret)


def check_project_id(path_value: str) -> str:
    """The project number of the route, which must be decimal digits.

    Raises:
        Answer: 400 `bad project path parameter`.
    """
    if not path_value.isascii() or not path_value.isdigit() or len(path_value) > 20:
        raise refused(400, "bad project path parameter", why=f"project id {path_value[:40]!r}")
    return str(int(path_value))


def request_auth(metadata: Mapping[str, str], query: QueryAuth) -> Auth | None:
    """The key the request's headers or query carry; None when they carry none.

    Raises:
        Answer: 401 for two forms at once or a malformed one, 400 for a protocol version after 7.
    """
    found: list[Auth] = []
    for header in ("x-sentry-auth", "authorization"):
        value = metadata.get(header, "")
        if value[:7].lower() == "sentry ":
            found.append(_sentry_header(value, header))
    basic = metadata.get("authorization", "")
    if basic[:6].lower() == "basic ":
        key = _basic_key(basic[6:])
        if key:
            found.append(Auth(key, "authorization"))
    if query.present():
        pairs = {"sentry_key": query.key, "sentry_version": query.version, "sentry_client": query.client}
        found.append(_auth({k: v[0] for k, v in pairs.items() if v}, "query"))
    if len(found) > 1:
        raise refused(401, "multiple authorization payloads detected", why=", ".join(a.source for a in found))
    return found[0] if found else None


def dsn_auth(headers: Mapping[str, Any]) -> Auth:
    """The key of the envelope header's `dsn`, for a request that carries no other.

    Raises:
        Answer: 401 `missing authorization information` without a `dsn`; 401 `bad envelope
            authentication header` for one that is not a DSN.
    """
    dsn = headers.get("dsn")
    if dsn is None:
        raise refused(401, "missing authorization information", why="no key in headers, query or envelope")
    parsed = parse_dsn(dsn)
    if parsed is None:
        raise refused(401, "bad envelope authentication header", why="the envelope's dsn is not a DSN")
    key, project_id = parsed
    return Auth(key, "dsn", project_id=project_id)


def check_envelope_dsn(headers: Mapping[str, Any], auth: Auth, project_id: str) -> None:
    """Relay's check of an envelope header `dsn` against the request's key and project.

    Raises:
        Answer: 400 `invalid event envelope` when they differ or the `dsn` is not a DSN.
    """
    if auth.source == "dsn" or headers.get("dsn") is None:
        return
    parsed = parse_dsn(headers["dsn"])
    if parsed is None:
        raise bad_envelope("invalid envelope header", "the envelope's dsn is not a DSN")
    key, dsn_project = parsed
    if dsn_project != project_id:
        raise bad_envelope("project id header mismatch between envelope and request")
    if key != auth.key:
        raise bad_envelope("public key header mismatch between envelope and request")


def parse_dsn(value: object) -> tuple[str, str] | None:
    """(key, project number) of a DSN such as `https://<key>@host/42`; None for anything else."""
    if not isinstance(value, str):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    project_id = parts.path.rstrip("/").rsplit("/", 1)[-1]
    if parts.scheme not in ("http", "https") or not parts.username or not project_id.isdigit():
        return None
    return parts.username, str(int(project_id))


def _sentry_header(value: str, header: str) -> Auth:
    pairs: dict[str, str] = {}
    for part in value[7:].split(","):
        name, _, given = part.partition("=")
        name = name.strip()
        pairs[name if name.startswith("sentry_") else f"sentry_{name}"] = given.strip()
    return _auth(pairs, header)


def _auth(pairs: Mapping[str, str], source: str) -> Auth:
    key = pairs.get("sentry_key", "")
    version = pairs.get("sentry_version", str(PROTOCOL_VERSION)) or str(PROTOCOL_VERSION)
    where = "x-sentry-auth header" if source != "query" else "query"
    if not key or not version.isascii() or not version.isdigit():
        raise refused(401, "bad x-sentry-auth header", why=f"{where}: no key or a bad version")
    if int(version) > PROTOCOL_VERSION:
        raise refused(400, f"unsupported protocol version ({int(version)})")
    return Auth(key, source, pairs.get("sentry_client", ""))


def _basic_key(encoded: str) -> str:
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return ""
    key, colon, _ = decoded.partition(":")
    return key if colon else ""
