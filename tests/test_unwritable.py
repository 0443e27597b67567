"""A database that refuses writes: ingestd does not start on one, and one that turns read-only
while it serves makes it not ready (gRPC health NOT_SERVING, `/readyz` 503) with a growing
retry hint, until a commit succeeds again. Real processes, real databases."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import grpc
import psycopg
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy.engine import make_url

from ingestd.v1 import event_service_pb2, event_service_pb2_grpc, ingest_service_pb2_grpc
from tests.conftest import MASTER_SECRET, PROJECT_SECRET
from tests.helpers import detail, log_event, rich_status, write_request
from tests.process import ServerProcess, run_cli

AUTH = (("authorization", f"Bearer {PROJECT_SECRET}"),)


def _set_read_only(admin_url: str, database_url: str, read_only: bool) -> None:
    """Makes every new session of the database read-only (or not), and ends the current ones."""
    name = make_url(database_url).database
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(
            f'ALTER DATABASE "{name}" SET default_transaction_read_only = {"on" if read_only else "off"}'
        )
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))


@pytest.mark.parametrize("workers", ["1", "2"])
async def test_a_read_only_database_stops_the_start_with_one_line(
    database_url: str, request: pytest.FixtureRequest, workers: str
) -> None:
    assert run_cli("migrate", database_url=database_url).returncode == 0
    if database_url.startswith("sqlite"):
        # Read-only by SQLite's own open mode: the tests run as root, whom file modes do not stop.
        path = Path(make_url(database_url).database or "")
        url = f"sqlite:///file:{path}?mode=ro&uri=true"
    else:
        _set_read_only(request.getfixturevalue("postgres_admin_url"), database_url, True)
        url = database_url
    # Two workers: the supervisor's check, before it starts any child.
    env = {"INGESTD_GRPC_ADDR": "127.0.0.1:0", "INGESTD_HTTP_ADDR": "127.0.0.1:0", "INGESTD_WORKERS": workers}
    result = await asyncio.to_thread(run_cli, "serve", database_url=url, env=env)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ingestd: the database cannot be written: ") and "read" in last, result.stderr
    assert "Traceback" not in result.stderr and "serving" not in result.stdout


@pytest.mark.postgres
async def test_a_database_turned_read_only_makes_the_server_not_ready_until_it_recovers(
    postgres_url: str, postgres_admin_url: str
) -> None:
    async with (
        ServerProcess(postgres_url) as server,
        grpc.aio.insecure_channel(server.address) as channel,
        aiohttp.ClientSession() as http,
    ):
        ingest = ingest_service_pb2_grpc.IngestServiceStub(channel)
        health = health_pb2_grpc.HealthStub(channel)
        ready = f"http://127.0.0.1:{server.http_port}/readyz"
        await ingest.WriteEvents(write_request(log_event()), metadata=AUTH)
        async with http.get(ready) as response:
            assert response.status == 200

        _set_read_only(postgres_admin_url, postgres_url, True)
        delays = []
        for _ in range(3):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await ingest.WriteEvents(write_request(log_event()), metadata=AUTH, timeout=30)
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
            retry = detail(rich_status(caught.value), error_details_pb2.RetryInfo)
            assert retry is not None
            delays.append(retry.retry_delay.seconds)
        assert delays == [1, 2, 4], "the hint grows while the database keeps refusing"
        checked = await health.Check(health_pb2.HealthCheckRequest(service=""))
        assert checked.status == health_pb2.HealthCheckResponse.NOT_SERVING
        async with http.get(ready) as response:
            assert response.status == 503 and response.headers["Retry-After"] == "5"
            assert "read-only transaction" in (await response.json())["reason"]
        async with http.get(f"http://127.0.0.1:{server.http_port}/healthz") as response:
            assert response.status == 200, "the process itself is alive"
        # Reads still answer: the master key was never used, so this read would record its first
        # use, which the database refuses; the read must not fail for it.
        listed = await event_service_pb2_grpc.EventServiceStub(channel).ListEvents(
            event_service_pb2.ListEventsRequest(project="default"),
            metadata=(("authorization", f"Bearer {MASTER_SECRET}"),),
            timeout=30,
        )
        assert len(listed.events) == 1
        assert b"key_use_not_recorded" in server.output
        assert b"database_failing" in server.output and b"read-only transaction" in server.output

        _set_read_only(postgres_admin_url, postgres_url, False)
        written = await ingest.WriteEvents(write_request(log_event()), metadata=AUTH, timeout=30)
        assert written.accepted_count == 1
        checked = await health.Check(health_pb2.HealthCheckRequest(service=""))
        assert checked.status == health_pb2.HealthCheckResponse.SERVING
        async with http.get(ready) as response:
            assert response.status == 200
