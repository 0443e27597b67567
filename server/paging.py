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
_MAX_TOKEN_CHARS = 1024
_MAX_ID_CHARS = 200


def page_size(requested: int) -> int:
    """The page size to use: the default for 0, capped at the maximum (AIP-158).

    Raises:
        InvalidArgument: a negative size.
    """
    if requested < 0:
        raise InvalidArgument([("page_size", "must not be negative")])
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def filter_digest(request: Message) -> str:
    """A digest of the request's type and of its fields other than its paging fields."""
    copy = type(request)()
    copy.CopyFrom(request)
    copy.ClearField("page_token")
    copy.ClearField("page_size")
    digest = hashlib.sha256(request.DESCRIPTOR.full_name.encode())
    digest.update(copy.SerializeToString(deterministic=True))
    return digest.hexdigest()[:16]


def encode(position: Any, request: Message) -> str:
    """The token that resumes `request` after `position` (any JSON value)."""
    raw = json.dumps([_VERSION, position, filter_digest(request)], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(request: Message) -> Any:
    """The position in `request.page_token`, or None when there is no token.

    Raises:
        InvalidArgument: the token is malformed or was made for another request.
    """
    token: str = request.page_token  # type: ignore[attr-defined]
    if not token:
        return None
    if len(token) > _MAX_TOKEN_CHARS:
        raise _not_ours()
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        version, position, digest = json.loads(raw)
    except (ValueError, TypeError, RecursionError):
        raise _not_ours() from None
    if version != _VERSION or digest != filter_digest(request):
        raise InvalidArgument([("page_token", "was issued for a different request")])
    return position


def decode_id(request: Message) -> str | None:
    """The id to resume after, for listings paged by id; None without a token.

    Raises:
        InvalidArgument: as for `decode`, or the position is not an id.
    """
    position = decode(request)
    if position is None or (isinstance(position, str) and len(position) <= _MAX_ID_CHARS):
        return position
    raise _not_ours()


def decode_sort_key(request: Message) -> tuple[int, str] | None:
    """The `(integer, string)` position to resume after; None without a token.

    Raises:
        InvalidArgument: as for `decode`, or the position is not such a pair within int64.
    """
    position = decode(request)
    if position is None:
        return None
    if (
        isinstance(position, list)
        and len(position) == 2
        and type(position[0]) is int
        and -(2**63) <= position[0] < 2**63
        and isinstance(position[1], str)
        and len(position[1]) <= _MAX_ID_CHARS
    ):
        return position[0], position[1]
    raise _not_ours()


def _not_ours() -> InvalidArgument:
    return InvalidArgument([("page_token", "is not a token this server issued")])
