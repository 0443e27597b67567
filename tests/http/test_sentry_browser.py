"""The real Sentry browser SDK (`@sentry/browser` 11.12.0, its own ES modules served from
node_modules) in a headless Chromium, on a page of another origin (`localhost`) than ingestd's
gateway (`127.0.0.1`): the SDK posts `text/plain` envelopes with `?sentry_key=`, without a
preflight, and reads ingestd's answers and rate-limit headers only because ingestd's CORS headers
allow it. What it sent reads back through `GET /v1/projects/{project}/events`
(docs/vendors/sentry.md §2, §4, §7). The page is tests/payloads/sentry/browser_page.html."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from server.dsn import project_number
from tests.browser import browse, chromium_or_skip, page_server
from tests.conftest import MASTER_SECRET, PROJECT_SECRET, Http
from tests.subprocesses import REPO

PAGE = REPO / "tests" / "payloads" / "sentry"
NODE_MODULES = REPO / "node_modules"
SDK = NODE_MODULES / "@sentry" / "browser"
ENVELOPE = f"/api/{project_number('default')}/envelope/"


async def _dsn(http: Http) -> tuple[str, str]:
    """A new public key of project `default`: its DSN, naming the gateway under test, and its secret."""
    async with http.session.post(
        http.url("/v1/organizations/default/keys"),
        json={"kind": "API_KEY_KIND_PUBLIC", "project": "default"},
        headers=http.bearer(MASTER_SECRET),
    ) as response:
        assert response.status == 200, await response.text()
        made = await response.json()
    # The gateway listens on port 0, so the DSN the admin API shows names port 0.
    return made["dsn"].replace("127.0.0.1:0", f"127.0.0.1:{http.port}"), made["secret"]


async def _events(http: Http) -> list[dict[str, Any]]:
    async with http.session.get(
        http.url("/v1/projects/default/events"),
        params={"pageSize": "100"},
        headers=http.bearer(PROJECT_SECRET),
    ) as response:
        assert response.status == 200, await response.text()
        events: list[dict[str, Any]] = (await response.json()).get("events", [])
    return events


async def _shop(
    http: Http, dsn: str, marker: str, tmp_path: Path, screenshot: Path | None = None
) -> tuple[dict[str, Any], str]:
    """Opens the shop page from `http://localhost:<port>` in Chromium; returns its report and origin."""
    chromium = chromium_or_skip("the Sentry browser SDK in Chromium", needs=(SDK,))
    scripts = {"/shop.js": (PAGE / "shop.js").read_text()}
    async with page_server(scripts, static={"/node_modules": NODE_MODULES}) as page:
        config = orjson.dumps({"dsn": dsn, "marker": marker}).decode()
        page.html = (PAGE / "browser_page.html").read_text().replace("{{CONFIG}}", config)
        seen = await browse(chromium, page.origin + "/", tmp_path, page.report, screenshot=screenshot)
    assert seen.get("failure") is None, seen
    assert seen["sdk"] == "11.12.0"
    for sent in seen["sends"]:
        # Every envelope goes to the gateway on 127.0.0.1 with the key in the query string.
        url = urlsplit(sent["url"])
        assert (url.netloc, url.path) == (f"127.0.0.1:{http.port}", ENVELOPE), sent
        assert parse_qs(url.query)["sentry_key"] == [urlsplit(dsn).username], sent
        assert sent.get("error") is None, sent
    return seen, page.origin


async def test_the_sentry_browser_sdk_reports_an_error_and_messages_from_another_origin(
    http: Http, tmp_path: Path
) -> None:
    dsn, _ = await _dsn(http)
    marker = uuid.uuid4().hex[:12]
    screenshot = tmp_path / "shop.png"

    seen, origin = await _shop(http, dsn, marker, tmp_path, screenshot)

    assert (seen["flushed"], seen["flushedAgain"]) == (True, True), seen
    # A status reaches the page only through CORS: every envelope was answered 200, readably.
    assert seen["sends"] and {sent.get("status") for sent in seen["sends"]} == {200}, seen
    assert {item for sent in seen["sends"] for item in sent["items"]} == {"event", "session"}

    events = await _events(http)
    assert {e["dialect"] for e in events} == {"sentry"}
    errors = {e["idempotencyKey"]: e for e in events if e["kind"] == "KIND_ERROR"}
    assert set(errors) == {seen["error"], seen["message"], seen["again"]}
    error = errors[seen["error"]]
    assert (error["message"], error["level"]) == (
        "TypeError: Cannot read properties of undefined (reading 'items')",
        "LEVEL_ERROR",
    )
    assert (error["release"], error["environment"], error["tags"]) == (
        f"web-shop@{marker}",
        "browser-test",
        {"marker": marker},
    )
    assert error["context"]["request"]["url"] == f"{origin}/"
    exception = error["error"]["exception"]
    assert (exception["type"], exception["mechanism"]) == ("TypeError", {"type": "generic", "handled": True})
    # Outermost first: the module's top level, then checkout(), then placeOrder(), which threw.
    frames = exception["frames"]
    assert [(f["function"], f["filename"], f["inApp"]) for f in frames] == [
        ("?", f"{origin}/shop.js", True),
        ("checkout", f"{origin}/shop.js", True),
        ("placeOrder", f"{origin}/shop.js", True),
    ]
    assert all(f["lineno"] > 0 and f["colno"] > 0 for f in frames)
    assert (errors[seen["message"]]["message"], errors[seen["message"]]["level"]) == (
        f"cart slow {marker}",
        "LEVEL_WARNING",
    )
    assert errors[seen["again"]]["message"] == f"cart still slow {marker}"
    # The SDK attaches to each message the stack where it was captured: the script's anonymous top
    # level at a URL, which counts for nothing in grouping, so the two messages are two issues.
    assert errors[seen["message"]]["error"]["exception"]["frames"][-1]["function"] == "?"
    assert errors[seen["message"]]["fingerprint"] != errors[seen["again"]]["fingerprint"]
    sessions = [e for e in events if e["kind"] == "KIND_METRIC"]
    assert sessions and {e["metric"]["name"] for e in sessions} == {"sentry.session"}
    assert {e["release"] for e in sessions} == {f"web-shop@{marker}"}

    # Chromium saved the page once it had reported (the page's image waits for the report).
    assert screenshot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


async def test_the_sentry_browser_sdk_reads_the_rate_limit_headers_and_backs_off(
    limited: Http, tmp_path: Path
) -> None:
    # At 23:59:00 UTC, with one event a day, already taken: each answer is 429, for 60 seconds.
    http = limited
    dsn, key = await _dsn(http)
    event_id = uuid.uuid4().hex
    async with http.session.post(
        http.url(f"{ENVELOPE}?sentry_key={key}"),
        data=b'{"event_id":"%s"}\n{"type":"event"}\n{"message":"first"}' % event_id.encode(),
    ) as response:
        assert response.status == 200, await response.text()

    seen, _ = await _shop(http, dsn, uuid.uuid4().hex[:12], tmp_path)

    answered = [sent for sent in seen["sends"] if "status" in sent]
    assert answered, seen
    for sent in answered:
        # The page could read the status and both headers: ingestd exposes them to it.
        assert (sent["status"], sent["headers"]) == (
            429,
            {"x-sentry-rate-limits": "60::project:daily_event_limit", "retry-after": "60"},
        ), sent
    # The message captured after those answers never left the page: the SDK backed off.
    [again] = [sent for sent in seen["sends"] if sent.get("eventId") == seen["again"]]
    assert "status" not in again, seen
    assert [e["idempotencyKey"] for e in await _events(http)] == [event_id]
