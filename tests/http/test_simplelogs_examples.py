"""Every example of the SimpleLogs seed, sent as written against a live ingestd: curl (run by
bash), Node (run by node), Python (requests) and the browser (a real headless Chromium calling
navigator.sendBeacon and the fetch fallback). Only the host and the key are substituted; the
TypeScript examples lose their type annotations (tests/payloads/simplelogs/ says where)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

from ingestd.v1 import event_pb2
from tests.conftest import Http
from tests.http.test_simplelogs import SimpleLogs, payload, simplelogs_on
from tests.subprocesses import run, tool_or_skip

E = event_pb2
SEED_HOST = "https://simplelogs.io"
TIMEOUT_S = 60.0


async def _succeed(*argv: str, env: dict[str, str] | None = None) -> str:
    """Runs `argv`; returns its stdout, failing the test on a non-zero exit."""
    code, stdout, stderr = await run(*argv, env=env, timeout_s=TIMEOUT_S)
    assert code == 0, f"{argv} exited {code}\n{stderr}"
    return stdout


def _ms(event: event_pb2.Event) -> float:
    return event.occurred_at.seconds * 1000 + event.occurred_at.nanos / 1e6


@pytest.fixture
async def sl(http: Http) -> AsyncIterator[SimpleLogs]:
    async with simplelogs_on(http) as simplelogs:
        yield simplelogs


async def test_curl_example(sl: SimpleLogs) -> None:
    bash = tool_or_skip("bash")
    tool_or_skip("curl")
    script = (
        payload("curl_server.sh")
        .replace(SEED_HOST, sl.http.url(""))
        .replace("sk_your_server_key", sl.server_key)
    )
    before = time.time() * 1000

    output = await _succeed(bash, "-c", script)

    assert orjson.loads(output) == {"queued": True}
    (event,) = await sl.events()
    assert (event.message, event.level, event.log.touchpoint, event.origin) == (
        "Order placed",
        E.LEVEL_INFO,
        "api/orders/submit",
        "server",
    )
    # `$(date +%s000)` is the shell's clock in whole seconds, as milliseconds.
    assert before - 1000 <= _ms(event) <= time.time() * 1000
    (listed,) = await sl.events_over_http()
    assert listed["log"]["metadata"] == {"orderId": "ord_123"}


async def test_node_example(sl: SimpleLogs, tmp_path: Path) -> None:
    node = tool_or_skip("node")
    script = tmp_path / "send.mjs"
    script.write_text(payload("node_server.mjs").replace(SEED_HOST, sl.http.url("")))

    await _succeed(
        node, str(script), "Checkout done", "api/checkout", env={"SIMPLELOGS_SERVER_KEY": sl.server_key}
    )

    (event,) = await sl.events()
    assert (event.message, event.log.touchpoint, event.log.level_text, event.origin) == (
        "Checkout done",
        "api/checkout",
        "info",
        "server",
    )
    (listed,) = await sl.events_over_http()
    assert listed["id"] == event.id


async def test_python_example(sl: SimpleLogs) -> None:
    pytest.importorskip("requests")
    source = payload("python_send_log.py.txt").replace(SEED_HOST, sl.http.url(""))
    namespace: dict[str, Any] = {}
    exec(
        compile(source.replace("sk_your_server_key", sl.server_key), "python_send_log.py", "exec"), namespace
    )

    await asyncio.to_thread(namespace["send_log"], "Payment captured", "api/payments")
    await asyncio.to_thread(namespace["send_log"], "Card declined", "api/payments", "warn")

    declined, captured = await sl.events()
    assert (captured.message, captured.level, declined.message, declined.level) == (
        "Payment captured",
        E.LEVEL_INFO,
        "Card declined",
        E.LEVEL_WARNING,
    )
    assert [e["log"]["touchpoint"] for e in await sl.events_over_http()] == ["api/payments"] * 2


@dataclass
class Page:
    """The example page's own server: its port, the HTML it serves, and the page's report."""

    port: int
    report: asyncio.Future[dict[str, Any]]
    html: str = ""


@contextlib.asynccontextmanager
async def _page_server(client_js: str) -> AsyncIterator[Page]:
    """Serves the example page and the example's script on 127.0.0.1."""
    page = Page(0, asyncio.get_running_loop().create_future())

    async def index(request: web.Request) -> web.Response:
        return web.Response(text=page.html, content_type="text/html")

    async def script(request: web.Request) -> web.Response:
        return web.Response(text=client_js, content_type="text/javascript")

    async def receive(request: web.Request) -> web.Response:
        if not page.report.done():
            page.report.set_result(orjson.loads(await request.read()))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_get("/", index)
    app.router.add_get("/browser_client.js", script)
    app.router.add_post("/report", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        page.port = runner.addresses[0][1]
        yield page
    finally:
        await runner.cleanup()


async def test_browser_example_beacon_and_fetch_fallback(http: Http, tmp_path: Path) -> None:
    found = [shutil.which(name) for name in ("chromium-browser", "google-chrome")]
    # `make test` installs Debian's chromium where it can; under CI=true a missing one fails.
    chromium = next((path for path in found if path), None) or tool_or_skip(
        "chromium", purpose="the real-browser beacon example"
    )
    client_js = payload("browser_client.js").replace(SEED_HOST, http.url(""))
    async with _page_server(client_js) as page:
        # The page is served from `localhost`, the gateway from 127.0.0.1: a cross-origin call.
        origin = f"http://localhost:{page.port}"
        async with simplelogs_on(http, [origin]) as sl:
            page.html = payload("browser_page.html").replace("{{CLIENT_KEY}}", sl.client_key)

            seen = await _browse(chromium, origin + "/", tmp_path, page.report)

            assert seen.get("error") is None, seen
            assert seen["beaconUrl"] == http.url("/api/v1/enqueue")
            assert (seen["fetchStatus"], seen["fetchBody"]) == (202, {"queued": True}), (
                "CORS let the page read it"
            )
            events = await sl.events()
            assert sorted((e.message, e.origin) for e in events) == [
                ("from a beacon", "client"),
                ("from the fetch fallback", "client"),
            ]
            assert len(await sl.events_over_http()) == 2


async def _browse(
    chromium: str, url: str, tmp_path: Path, report: asyncio.Future[dict[str, Any]]
) -> dict[str, Any]:
    """Opens `url` in a headless Chromium until the page reports; returns the report."""
    process = await asyncio.create_subprocess_exec(
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--no-proxy-server",
        f"--user-data-dir={tmp_path / 'chromium'}",
        url,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        return await asyncio.wait_for(asyncio.shield(report), TIMEOUT_S)
    except TimeoutError:
        pytest.fail(f"the page did not report within {TIMEOUT_S} s")
    finally:
        if process.returncode is None:
            process.terminate()
        await process.wait()
