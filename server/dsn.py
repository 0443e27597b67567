"""Sentry DSNs for ingestd's public keys (docs/vendors/sentry.md §2).

Sentry's SDKs take a DSN, `scheme://<key>@<host>[:<port>][/<path>]/<project>`, and refuse one whose
project is not a number, where ingestd's project ids are names. Each project therefore has a
number derived from its id, which the Sentry routes check against the key's project.
"""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

from server.config import Settings

#: Bytes of the SHA-256 a project number takes: 48 bits, so every number is exact as a JavaScript
#: number (below 2**53).
_NUMBER_BYTES = 6


def project_number(project: str) -> int:
    """The number Sentry's SDKs see for `project`: the first 6 bytes of the SHA-256 of its id, as
    an unsigned big-endian integer. The same on every server and after every restart."""
    return int.from_bytes(hashlib.sha256(project.encode()).digest()[:_NUMBER_BYTES], "big")


def public_url(settings: Settings) -> str:
    """Where senders reach this server: `INGESTD_PUBLIC_URL`, else `http://` and the HTTP listen
    address."""
    return settings.public_url or f"http://{settings.http_addr}"


def sentry_dsn(base_url: str, key: str, project: str) -> str:
    """The DSN of public key `key` of `project`, on the server at `base_url`, such as
    `http://pub_…@127.0.0.1:3001/61198699712025`. A path in `base_url` stays in the DSN, for a
    proxy that strips it before ingestd."""
    parts = urlsplit(base_url)
    path = parts.path.rstrip("/")
    return f"{parts.scheme}://{key}@{parts.netloc}{path}/{project_number(project)}"
