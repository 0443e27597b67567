"""LogStitch's cursor pagination, the same for every list (docs/vendors/logstitch.md §7). Pure.

Every list answers `{<items>, "cursor", "has_more"}`: `cursor` is null and `has_more` false on the
last page. It reads the `limit` (1 to 100, default 50) and `cursor` query parameters. A cursor is
URL-safe base64 (unpadded) of the id of the last item of the previous page: opaque to clients, and
still valid when that item has since been deleted, because each list's order can place an id it
no longer holds.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from server.dialects.logstitch.common import INVALID_QUERY, Detail, validation_error
from server.dialects.logstitch.validation import read_limit

T = TypeVar("T")

_MAX_CURSOR_CHARS = 256
#: An id ingestd mints for what clients create (`ar_`, `rr_`, `wh_` and a UUIDv7): ids that sort
#: by creation time.
MINTED_ID = re.compile(r"[a-z]{2}_[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}")
#: What a cursor of a list of rules or webhooks may carry: a built-in rule's id or a minted one.
LISTED_ID = re.compile(r"[0-9A-Za-z_-]{1,100}")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list."""

    items: list[T]
    #: The id of the last item, encoded, when more follow; else None.
    cursor: str | None
    has_more: bool

    def fields(self) -> dict[str, object]:
        """The page's `cursor` and `has_more`, as every list answers them."""
        return {"cursor": self.cursor, "has_more": self.has_more}


def encode_cursor(last_id: str) -> str:
    """The opaque `cursor` of a page that ends at `last_id`: URL-safe base64, unpadded."""
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, valid: re.Pattern[str]) -> str | None:
    """The id in a cursor this server made (`valid` matches it whole), else None."""
    if len(cursor) > _MAX_CURSOR_CHARS:
        return None
    try:
        last_id = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, ValueError):
        return None
    return last_id if valid.fullmatch(last_id) else None


def read_cursor(cursor: str, valid: re.Pattern[str], found: list[Detail]) -> str | None:
    """The id in the `cursor` query parameter (None: the first page); a cursor this server did
    not make is listed in `found`."""
    after = decode_cursor(cursor, valid) if cursor else None
    if cursor and after is None:
        found.append(("cursor", "Invalid cursor"))
    return after


def read_page(limit: str, cursor: str, valid: re.Pattern[str], found: list[Detail]) -> tuple[int, str | None]:
    """The page size and the id after which the page starts (None: the first page) of a list
    request's `limit` and `cursor`; bad values are listed in `found`."""
    return read_limit(limit, found), read_cursor(cursor, valid, found)


def requested_page(limit: str, cursor: str, valid: re.Pattern[str]) -> tuple[int, str | None]:
    """As `read_page`, for a list whose only query parameters are `limit` and `cursor`.

    Raises:
        Answer: 400 `validation_error` naming each bad value.
    """
    found: list[Detail] = []
    page = read_page(limit, cursor, valid, found)
    if found:
        raise validation_error(found, INVALID_QUERY)
    return page


def page_of(items: Sequence[T], id_of: Callable[[T], str], after: str | None, limit: int) -> Page[T]:
    """A page of a list that is read whole (a project's rules or webhooks: tens of items).

    The order: first the items whose ids ingestd did not mint (built-in rules), as given; then the
    minted ones by id, which is their creation order. So a cursor whose item was deleted still
    resumes where it was: after the minted ids below it. A cursor that names neither is past the
    end.
    """
    fixed = [item for item in items if not MINTED_ID.fullmatch(id_of(item))]
    minted = sorted((item for item in items if MINTED_ID.fullmatch(id_of(item))), key=id_of)
    ordered = fixed + minted
    start = 0
    if after is not None:
        fixed_ids = [id_of(item) for item in fixed]
        if after in fixed_ids:
            start = fixed_ids.index(after) + 1
        elif MINTED_ID.fullmatch(after):
            start = len(fixed) + sum(1 for item in minted if id_of(item) <= after)
        else:
            start = len(ordered)
    page = ordered[start : start + limit]
    has_more = start + limit < len(ordered)
    return Page(page, encode_cursor(id_of(page[-1])) if has_more else None, has_more)
