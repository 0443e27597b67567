"""LogStitch's `GET /api/v1/events`: every filter, bad parameters, and cursor pagination across
pages (only the project's audit events, newest first)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest

from server import queries
from tests.conftest import Http
from tests.http.test_logstitch import EVENTS, assert_error, call, event, listed_ids


async def seed(http: Http) -> dict[str, str]:
    """Five events, sent oldest first; returns their ids by a short name."""
    events = {
        "login": event(
            "user.login",
            occurred_at="2025-01-01T10:00:00Z",
            actor={"id": "u1", "type": "user", "name": "Ada"},
        ),
        "key": event(
            "api_key.created",
            category="admin",
            actor={"id": "svc", "type": "service"},
            target={"id": "key_1", "type": "api_key", "name": "CI Deploy"},
            occurred_at="2025-01-02T10:00:00Z",
        ),
        "invoice": event(
            "invoice.updated",
            category="mutation",
            tenant_id="globex",
            target={"id": "inv_9", "type": "invoice"},
            occurred_at="2025-01-03T10:00:00Z",
        ),
        "logout": event(
            "user.logout", actor={"id": "u2", "type": "user"}, occurred_at="2025-01-04T10:00:00Z"
        ),
        "login2": event(
            "user.login",
            actor={"id": "u2", "type": "user", "email": "grace@example.com"},
            occurred_at="2025-01-05T10:00:00Z",
        ),
    }
    ids: dict[str, str] = {}
    for name, body in events.items():
        status, answer = await call(http, "POST", EVENTS, body)
        assert status == 201, answer
        ids[name] = answer["ids"][0]
    return ids


async def names(http: Http, ids: dict[str, str], **params: str) -> list[str]:
    status, body = await call(http, "GET", f"{EVENTS}?{urlencode(params)}")
    assert status == 200, body
    by_id = {v: k for k, v in ids.items()}
    return [by_id[i] for i in listed_ids(body)]


async def test_each_filter_selects_exactly_the_matching_events(http: Http) -> None:
    ids = await seed(http)
    # A canonical log event in the same project is not a LogStitch event.
    async with http.session.post(
        http.url("/v1/projects/default/events:write"),
        json={"events": [{"message": "user.login", "log": {"levelText": "info"}}]},
        headers=http.bearer(),
    ) as response:
        assert response.status == 200

    assert await names(http, ids) == ["login2", "logout", "invoice", "key", "login"]
    assert await names(http, ids, tenant_id="globex") == ["invoice"]
    assert await names(http, ids, actor_id="u2") == ["login2", "logout"]
    assert await names(http, ids, actor_type="service") == ["key"]
    assert await names(http, ids, action="user.login") == ["login2", "login"]
    assert await names(http, ids, action="user") == [], "action is matched exactly"
    assert await names(http, ids, category="mutation") == ["invoice"]
    assert await names(http, ids, target_id="key_1") == ["key"]
    assert await names(http, ids, target_type="invoice") == ["invoice"]
    assert await names(http, ids, search="GRACE@") == ["login2"]
    assert await names(http, ids, search="ci deploy") == ["key"]
    assert await names(http, ids, search="user.log") == ["login2", "logout", "login"]
    inclusive = {"start_date": "2025-01-02T10:00:00Z", "end_date": "2025-01-04T10:00:00Z"}
    assert await names(http, ids, **inclusive) == ["logout", "invoice", "key"]
    assert await names(http, ids, start_date="2025-01-04T11:00:00+01:00") == ["login2", "logout"]
    assert await names(http, ids, action="user.login", actor_id="u1", tenant_id="acme") == ["login"]


async def test_bad_parameters_answer_validation_errors(http: Http) -> None:
    for params, field in (
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=many", "limit"),
        ("start_date=yesterday", "start_date"),
        ("end_date=2025-13-01T00:00:00Z", "end_date"),
        ("category=billing", "category"),
        ("actor_type=robot", "actor_type"),
        ("cursor=not-a-cursor", "cursor"),
    ):
        status, body = await call(http, "GET", f"{EVENTS}?{params}")
        assert status == 400, (params, body)
        assert [d["field"] for d in assert_error(body, "validation_error")["details"]] == [field], params


async def test_unknown_parameters_are_ignored_like_a_vendor_server_does(http: Http) -> None:
    status, body = await call(http, "GET", f"{EVENTS}?colour=red&limit=5")
    assert status == 200, body
    assert (body["events"], body["has_more"]) == ([], False)


async def test_cursor_pages_cover_every_event_once(http: Http) -> None:
    batch = [event(f"doc.edit_{i}", key=f"p-{i}") for i in range(7)]
    status, sent = await call(http, "POST", EVENTS, batch)
    assert status == 201
    pages: list[dict[str, Any]] = []
    cursor = ""
    while True:
        query = "limit=3" + (f"&cursor={cursor}" if cursor else "")
        status, page = await call(http, "GET", f"{EVENTS}?{query}")
        assert status == 200, page
        pages.append(page)
        if not page["has_more"]:
            break
        cursor = page["cursor"]
    assert [len(p["events"]) for p in pages] == [3, 3, 1]
    assert [p["has_more"] for p in pages] == [True, True, False]
    assert pages[-1]["cursor"] is None and all(isinstance(p["cursor"], str) for p in pages[:-1])
    seen = [i for p in pages for i in listed_ids(p)]
    assert seen == list(reversed(sent["ids"]))

    # Filters and a cursor combine; a page that ends exactly at the last match has no more.
    status, page = await call(http, "GET", f"{EVENTS}?limit=2&action=doc.edit_3&cursor={pages[0]['cursor']}")
    assert (listed_ids(page), page["has_more"], page["cursor"]) == ([sent["ids"][3]], False, None)
    status, page = await call(http, "GET", f"{EVENTS}?limit=7")
    assert (len(page["events"]), page["has_more"]) == (7, False)


async def test_a_long_scan_answers_a_short_page_that_resumes(
    http: Http, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Few matches among many events: one request reads at most MAX_SCANNED events, then answers
    # what it found with a cursor after the last one it read.
    monkeypatch.setattr(queries, "MAX_SCANNED", 4)
    monkeypatch.setattr(queries, "SCAN_CHUNK", 3)
    batch = [event(key=f"s-{i}", tenant_id="acme" if i in (1, 8) else "other") for i in range(10)]
    status, sent = await call(http, "POST", EVENTS, batch)
    assert status == 201
    found: list[str] = []
    pages = 0
    cursor = ""
    while True:
        query = "tenant_id=acme" + (f"&cursor={cursor}" if cursor else "")
        status, page = await call(http, "GET", f"{EVENTS}?{query}")
        pages += 1
        found.extend(listed_ids(page))
        if not page["has_more"]:
            break
        cursor = page["cursor"]
    assert found == [sent["ids"][8], sent["ids"][1]]
    assert pages == 3
