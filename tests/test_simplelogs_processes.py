"""A SimpleLogs timing start sent to one ingestd process is closed by its end sent to another
sharing the database, or to another worker of `ingestd serve --workers 2`
(docs/vendors/simplelogs.md §5), on PostgreSQL and a SQLite file."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.conftest import MASTER_SECRET, PROJECT_SECRET
from tests.process import ServerProcess

pytestmark = pytest.mark.slow

T0 = 1_718_900_000_000


async def test_an_end_sent_to_one_process_closes_a_start_sent_to_another(database_url: str) -> None:
    async with (
        ServerProcess(database_url) as a,
        ServerProcess(database_url) as b,
        aiohttp.ClientSession() as http,
    ):

        async def send(server: ServerProcess, method: str, path: str, body: Any, secret: str = "") -> Any:
            url = f"http://127.0.0.1:{server.http_port}{path}"
            headers = {"Authorization": f"Bearer {secret}"} if secret else {}
            async with http.request(method, url, json=body, headers=headers) as response:
                return response.status, await response.json()

        status, created = await send(
            a,
            "POST",
            "/v1/organizations/default/keys",
            {"kind": "API_KEY_KIND_SERVER", "project": "default"},
            MASTER_SECRET,
        )
        assert status == 200, created
        key = created["secret"]

        def enqueue(*entries: dict[str, Any]) -> dict[str, Any]:
            return {"key": key, "source": "server", "entries": list(entries)}

        start = {"key": "req-1", "touchpoint": "db/query", "startTime": T0, "standalone": True}
        assert await send(a, "POST", "/api/v1/enqueue", enqueue(start)) == (202, {"queued": True})
        end = {"touchpoint": "db/query", "endTime": T0 + 42}
        assert await send(b, "POST", "/api/v1/enqueue", enqueue(end)) == (202, {"queued": True})

        status, page = await send(
            b, "GET", "/v1/projects/default/events?kind=KIND_TIMING", None, PROJECT_SECRET
        )
        assert status == 200, page
        measurement, sent = (e["timing"] for e in page["events"])
        assert "endTime" not in sent
        assert measurement == {
            "touchpoint": "db/query",
            "correlationKey": "req-1",
            "startTime": "2024-06-20T16:13:20Z",
            "endTime": "2024-06-20T16:13:20.042Z",
            "durationMs": 42.0,
            "standalone": True,
        }


async def test_starts_and_ends_spread_over_workers_close_every_measurement(database_url: str) -> None:
    # A new connection per request, so the kernel spreads the requests over both workers.
    connector = aiohttp.TCPConnector(force_close=True)
    async with (
        ServerProcess(database_url, ("--workers", "2")) as server,
        aiohttp.ClientSession(connector=connector) as http,
    ):
        base = f"http://127.0.0.1:{server.http_port}"
        keys = {"kind": "API_KEY_KIND_SERVER", "project": "default"}
        async with http.post(
            f"{base}/v1/organizations/default/keys", json=keys, headers=_bearer(MASTER_SECRET)
        ) as r:
            assert r.status == 200, await r.text()
            key = (await r.json())["secret"]

        async def enqueue(entry: dict[str, Any]) -> None:
            body = {"key": key, "source": "server", "entries": [entry]}
            async with http.post(f"{base}/api/v1/enqueue", json=body) as response:
                assert (response.status, await response.json()) == (202, {"queued": True})

        for n in range(10):
            await enqueue({"key": f"job-{n}", "startTime": T0 + n, "standalone": True})
        for n in range(10):
            await enqueue({"key": f"job-{n}", "endTime": T0 + 100 + 2 * n})

        url = f"{base}/v1/projects/default/events?kind=KIND_TIMING&pageSize=100"
        async with http.get(url, headers=_bearer(PROJECT_SECRET)) as response:
            assert response.status == 200
            timings = [e["timing"] for e in (await response.json())["events"]]
        closed = sorted((t["correlationKey"], t["durationMs"]) for t in timings if "endTime" in t)
        assert closed == sorted((f"job-{n}", 100.0 + n) for n in range(10))


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}
