"""Opaque page tokens, bound to the request that made them.

A token is URL-safe base64 of a small JSON array: the position to resume after and a digest of
the request's filters. A token replayed with different filters is refused rather than silently
paging through another result set.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from google.protobuf.message import Message

from server.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
_VERSION = 1


def page_size(requested: int) -> int:
    """The page size to use: the default for 0, capped at the maximum (AIP-158).

    Raises:
        InvalidArgument: a negative size.
    """
    if requested < 0:
        raise InvalidArgument([("page_size", "must not be negative")])
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def filter_digest(request: Message) -> str:
    """A digest of the request's fields other than its paging fields."""
    copy = type(request)()
    copy.CopyFrom(request)
    copy.ClearField("page_token")
    copy.ClearField("page_size")
    return hashlib.sha256(copy.SerializeToString(deterministic=True)).hexdigest()[:16]


def encode(position: Any, request: Message) -> str:
    """The token that resumes `request` after `position` (any JSON value)."""
    raw = json.dumps([_VERSION, position, filter_digest(request)], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(request: Message) -> Any:
    """The position in `request.page_token`, or None when there is no token.

    Raises:
        InvalidArgument: the token is malformed or was made for other filters.
    """
    token: str = request.page_token  # type: ignore[attr-defined]
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        version, position, digest = json.loads(raw)
    except (ValueError, TypeError):
        raise InvalidArgument([("page_token", "is not a token this server issued")]) from None
    if version != _VERSION or digest != filter_digest(request):
        raise InvalidArgument([("page_token", "was issued for a different request")])
    return position
