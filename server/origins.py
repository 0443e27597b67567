"""Browser origins and the allowlist patterns of client keys.

A pattern is an origin, `scheme://host[:port]`, whose host may start with `*.`: the `*` stands for
exactly one DNS label, so `https://*.example.com` allows `https://app.example.com` but neither
`https://example.com` nor `https://a.b.example.com` (SimpleLogs' documented rule).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_PATTERN = re.compile(r"^(https?)://(\*\.)?([a-z0-9-]+(\.[a-z0-9-]+)*)(:\d{1,5})?$")
_LABEL = re.compile(r"^[a-z0-9-]+$")


def check_allowed_origin(pattern: str) -> str | None:
    """Why `pattern` is not a valid allowlist entry, or None when it is."""
    if not _PATTERN.match(pattern):
        return "must look like https://example.com, http://localhost:3000 or https://*.example.com"
    return None


def origin_allowed(origin: str, patterns: Iterable[str]) -> bool:
    """Whether the request header `Origin: origin` matches one of `patterns`. Scheme and host
    compare without case; an absent origin (`""` or `null`) matches nothing."""
    origin = origin.strip().lower()
    if not origin or origin == "null":
        return False
    for pattern in patterns:
        pattern = pattern.lower()
        if pattern == origin:
            return True
        scheme, sep, rest = pattern.partition("://*.")
        if not sep:
            continue
        prefix = scheme + "://"
        if not origin.startswith(prefix):
            continue
        label, dot, remainder = origin[len(prefix) :].partition(".")
        if dot and _LABEL.match(label) and remainder == rest:
            return True
    return False
