"""LogStitch's `DELETE /api/v1/keys/:id` on one ingestd process holds at once on another sharing
the database, even where that process caches the key (ingest), on PostgreSQL and a SQLite file."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.conftest import MASTER_SECRET
from tests.process import ServerProcess

pytestmark = pytest.mark.slow


def event(n: int) -> dict[str, Any]:
    return {
        "action": "user.login",
        "category": "auth",
        "actor": {"id": "u1", "type": "user"},
        "tenant_id": "acme",
        "idempotency_key": f"k{n}",
    }


async def test_a_key_revoked_on_one_process_is_refused_by_the_other(database_url: str) -> None:
    async with (
        ServerProcess(database_url) as a,
        ServerProcess(database_url) as b,
        aiohttp.ClientSession() as http,
    ):

        async def send(server: ServerProcess, method: str, path: str, secret: str, body: Any = None) -> Any:
            url = f"http://127.0.0.1:{server.http_port}{path}"
            headers = {"Authorization": f"Bearer {secret}"}
            async with http.request(method, url, json=body, headers=headers) as response:
                return response.status, await response.json()

        status, created = await send(
            a,
            "POST",
            "/api/v1/keys",
            MASTER_SECRET,
            {"project_id": "default", "type": "project", "name": "k"},
        )
        assert status == 201, created
        key = created["key"]
        status, _ = await send(b, "POST", "/api/v1/events", key, event(1))  # b now caches the key
        assert status == 201

        status, revoked = await send(a, "DELETE", f"/api/v1/keys/{created['id']}", MASTER_SECRET)
        assert status == 200 and revoked["revoked"] is True
        for method, path, body in (("POST", "/api/v1/events", event(2)), ("GET", "/api/v1/events", None)):
            status, refused = await send(b, method, path, key, body)
            assert (status, refused["error"]["code"]) == (401, "key_revoked"), (method, refused)
        status, page = await send(b, "GET", "/api/v1/events", MASTER_SECRET)
        assert len(page["events"]) == 1, "nothing was stored after the revocation"
