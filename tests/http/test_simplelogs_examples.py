"""Every example of the SimpleLogs seed, sent as written against a live ingestd: curl (run by
bash), Node (run by node), Python (requests) and the browser (a real headless Chromium calling
navigator.sendBeacon and the fetch fallback). Only the host and the key are substituted; the
TypeScript examples lose their type annotations (tests/payloads/simplelogs/ says where)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from ingestd.v1 import event_pb2
from tests.browser import browse, chromium_or_skip, page_server
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


async def test_browser_example_beacon_and_fetch_fallback(http: Http, tmp_path: Path) -> None:
    # `make test` installs Debian's chromium where it can; under CI=true a missing one fails.
    chromium = chromium_or_skip("the real-browser beacon example")
    client_js = payload("browser_client.js").replace(SEED_HOST, http.url(""))
    # The page is served from `localhost`, the gateway from 127.0.0.1: a cross-origin call.
    async with (
        page_server({"/browser_client.js": client_js}) as page,
        simplelogs_on(http, [page.origin]) as sl,
    ):
        page.html = payload("browser_page.html").replace("{{CLIENT_KEY}}", sl.client_key)

        seen = await browse(chromium, page.origin + "/", tmp_path, page.report)

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
