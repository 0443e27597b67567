"""The group writer's thread: a busy SQLite file delays answers instead of failing them, and the
commit hook's bridge refuses a hook that would need an event loop."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import grpc
import pytest

from ingestd.v1 import admin_service_pb2, ingest_service_pb2
from server.main import hosted_writer, running
from storage.bridge import run_to_end
from storage.migrate import upgrade
from tests.conftest import Client, grpc_channel, make_settings
from tests.helpers import log_event, write_request

pb = ingest_service_pb2


async def test_a_write_waits_for_another_connections_lock_then_commits(tmp_path: Path) -> None:
    path = tmp_path / "ingestd.db"
    async with running(make_settings(f"sqlite:///{path}")) as started, grpc_channel(started.grpc_port) as ch:
        client = Client.for_channel(started, ch)
        await client.ingest.WriteEvents(write_request(log_event("first")), metadata=client.project)

        # Another process takes the write lock, as `ingestd migrate` or a second node would.
        other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")
        write = asyncio.ensure_future(
            client.ingest.WriteEvents(write_request(log_event("second")), metadata=client.project)
        )
        done, _ = await asyncio.wait({write}, timeout=1.0)
        assert not done, "the write was answered while another connection held the write lock"
        other.execute("COMMIT")
        other.close()

        response = await asyncio.wait_for(write, timeout=30)
        assert response.accepted_count == 1
        stored = sqlite3.connect(path)
        try:
            messages = {m for (m,) in stored.execute("SELECT message FROM events")}
        finally:
            stored.close()
        assert messages == {"first", "second"}


def test_a_bridged_coroutine_that_suspends_is_refused() -> None:
    async def hook() -> None:
        await asyncio.sleep(0)

    with pytest.raises(RuntimeError, match="awaited something other than its connection"):
        run_to_end(hook())


def test_a_bridged_coroutine_returns_its_value() -> None:
    async def hook() -> int:
        return 42

    assert run_to_end(hook()) == 42


async def test_a_worker_writes_through_the_writer_process(tmp_path: Path) -> None:
    """As `--workers N` on SQLite runs them: one process hosts the file's writer on a socket, the
    workers write through it, answered only after its commit; a revoked key is refused through it,
    and a host that is gone answers UNAVAILABLE within seconds rather than leaving the call hanging."""
    url = f"sqlite:///{tmp_path / 'ingestd.db'}"
    socket_path = str(tmp_path / "writer.sock")
    host_settings = make_settings(url, writer_socket=socket_path, writer_host=True)
    other_settings = make_settings(url, writer_socket=socket_path, migrate_on_start=False)
    await asyncio.to_thread(upgrade, url)
    async with (
        hosted_writer(host_settings),
        running(other_settings) as other,
        grpc_channel(other.grpc_port) as channel,
    ):
        client = Client.for_channel(other, channel)
        answers = await asyncio.gather(
            *(
                client.ingest.WriteEvents(write_request(log_event(f"via-{n}")), metadata=client.project)
                for n in range(30)
            )
        )
        assert all(a.accepted_count == 1 for a in answers)
        stored = sqlite3.connect(tmp_path / "ingestd.db")
        try:
            count = stored.execute("SELECT count(*) FROM events WHERE message LIKE 'via-%'").fetchone()[0]
        finally:
            stored.close()
        assert count == 30

        made = await client.admin.CreateApiKey(
            admin_service_pb2.CreateApiKeyRequest(
                organization="default", kind=admin_service_pb2.API_KEY_KIND_PROJECT, project="default"
            ),
            metadata=client.master,
        )
        # Used once, so this worker holds the key as valid; only the writer's commit re-checks it.
        first = await client.ingest.WriteEvents(
            write_request(log_event("before")), metadata=client.auth(made.secret)
        )
        assert first.accepted_count == 1
        await client.admin.RevokeApiKey(
            admin_service_pb2.RevokeApiKeyRequest(organization="default", key=made.api_key.id),
            metadata=client.master,
        )
        with pytest.raises(grpc.aio.AioRpcError) as revoked:
            await client.ingest.WriteEvents(
                write_request(log_event("revoked")), metadata=client.auth(made.secret)
            )
        assert revoked.value.code() == grpc.StatusCode.UNAUTHENTICATED

    # The host has stopped; a worker still running must answer, not wait for it.
    async with running(other_settings) as other, grpc_channel(other.grpc_port) as channel:
        client = Client.for_channel(other, channel)
        with pytest.raises(grpc.aio.AioRpcError) as unavailable:
            await client.ingest.WriteEvents(
                write_request(log_event("no host")), metadata=client.project, timeout=10
            )
        assert unavailable.value.code() == grpc.StatusCode.UNAVAILABLE
