"""LogStitch's cursor pagination on every list (docs/vendors/logstitch.md §7): the redaction rules,
alert rules and webhooks lists answer `cursor` and `has_more` and read `limit` and `cursor` as
`GET /api/v1/events` and `GET /api/v1/keys` do. In-process and through a gateway fronting
ingestd, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import MASTER_SECRET, Http
from tests.http.test_logstitch import assert_error, call


@dataclass(frozen=True)
class Listing:
    path: str
    #: The key of the listed items in the answer.
    items: str
    #: Makes the n-th item that clients create.
    create: Callable[[Http, int], Awaitable[None]]


async def _created(http: Http, path: str, body: dict[str, Any]) -> None:
    status, answer = await call(http, "POST", path, body, secret=MASTER_SECRET)
    assert status == 201, answer


async def _redaction_rule(http: Http, n: int) -> None:
    await _created(http, "/api/v1/redaction/rules", {"type": "pattern", "name": f"r{n}", "pattern": f"X{n}"})


async def _alert_rule(http: Http, n: int) -> None:
    rule = {
        "name": f"rule {n}",
        "action_pattern": f"thing.done_{n}",
        "threshold": 10,
        "window_seconds": 600,
        "group_by": "tenant_id",
        "severity": "low",
    }
    await _created(http, "/api/v1/alerts/rules", rule)


async def _webhook(http: Http, n: int) -> None:
    await _created(http, "/api/v1/alerts/webhooks", {"url": f"https://93.184.216.34/hook/{n}"})


LISTINGS = [
    pytest.param(Listing("/api/v1/redaction/rules", "rules", _redaction_rule), id="redaction-rules"),
    pytest.param(Listing("/api/v1/alerts/rules", "rules", _alert_rule), id="alert-rules"),
    pytest.param(Listing("/api/v1/alerts/webhooks", "webhooks", _webhook), id="webhooks"),
]


async def listed(http: Http, listing: Listing, query: str = "") -> dict[str, Any]:
    status, body = await call(http, "GET", listing.path + query, secret=MASTER_SECRET)
    assert status == 200, body
    return dict(body)


@pytest.mark.parametrize("listing", LISTINGS)
async def test_every_list_pages_with_a_cursor_like_events_and_keys(http: Http, listing: Listing) -> None:
    for n in range(3):
        await listing.create(http, n)
    everything = await listed(http, listing, "?limit=100")
    assert set(everything) == {listing.items, "cursor", "has_more", "request_id"}
    assert (everything["cursor"], everything["has_more"]) == (None, False)
    ids = [item["id"] for item in everything[listing.items]]
    assert len(ids) >= 3

    seen: list[str] = []
    cursor = None
    while True:
        page = await listed(http, listing, "?limit=2" + (f"&cursor={cursor}" if cursor else ""))
        assert len(page[listing.items]) <= 2
        seen.extend(item["id"] for item in page[listing.items])
        if not page["has_more"]:
            assert page["cursor"] is None
            break
        assert isinstance(page["cursor"], str) and page["cursor"]
        cursor = page["cursor"]
    assert seen == ids, "every item once, in the list's order"

    for query in ("?limit=0", "?limit=101", "?limit=x", "?cursor=!!"):
        status, body = await call(http, "GET", listing.path + query, secret=MASTER_SECRET)
        assert status == 400, query
        error = assert_error(body, "validation_error")
        assert error["message"] == "Invalid query parameters"
        assert [d["field"] for d in error["details"]] == [query[1:].split("=")[0]]


@pytest.mark.parametrize("listing", LISTINGS)
async def test_a_cursor_resumes_after_its_item_was_deleted(http: Http, listing: Listing) -> None:
    for n in range(3):
        await listing.create(http, n)
    ids = [item["id"] for item in (await listed(http, listing, "?limit=100"))[listing.items]]
    minted = [i for i in ids if i.startswith(("rr_", "ar_", "wh_"))]
    first, second, third = minted
    position = ids.index(first)
    page = await listed(http, listing, f"?limit={position + 1}")
    assert [item["id"] for item in page[listing.items]][-1] == first and page["has_more"]

    status, body = await call(http, "DELETE", f"{listing.path}/{first}", secret=MASTER_SECRET)
    assert status == 200, body
    rest = await listed(http, listing, f"?limit=100&cursor={page['cursor']}")
    assert [item["id"] for item in rest[listing.items]] == [second, third]
    assert (rest["cursor"], rest["has_more"]) == (None, False)
