"""The group writer's thread: a busy SQLite file delays answers instead of failing them, and the
commit hook's bridge refuses a hook that would need an event loop."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from ingestd.v1 import ingest_service_pb2
from server.main import running
from storage.bridge import run_to_end
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
