"""`ingestd serve --workers N`: several processes on one pair of ports, under a supervisor that
restarts a worker that dies and drains them all on SIGTERM; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from pathlib import Path

import aiohttp
import grpc
import pytest

from ingestd.v1 import event_service_pb2, event_service_pb2_grpc
from tests.conftest import PROJECT_SECRET
from tests.process import ServerProcess, memory_bytes, run_cli

pytestmark = pytest.mark.slow

AUTH = (("authorization", f"Bearer {PROJECT_SECRET}"),)


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state first), or None once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie that nobody reaped yet does not)."""
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def _children(pid: int) -> set[int]:
    """The live child processes of `pid`, read from /proc."""
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        fields = _stat(int(entry.name)) if entry.name.isdigit() else None
        if fields is not None and int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(entry.name))
    return found


def _workers(supervisor: int) -> set[int]:
    """The supervisor's children that serve ports: all but the SQLite file's writer process."""
    return {
        pid
        for pid in _children(supervisor)
        if b"INGESTD_WRITER_HOST=true" not in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    }


def _cpu_ticks(pid: int) -> int:
    fields = _stat(pid)
    assert fields is not None, f"process {pid} is gone"
    return int(fields[11]) + int(fields[12])


async def _wait_for(predicate: Callable[[], bool], timeout_s: float = 30.0) -> None:
    for _ in range(int(timeout_s / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not true within {timeout_s} s")


async def _messages(address: str) -> list[str]:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = event_service_pb2_grpc.EventServiceStub(channel)
        page = await stub.ListEvents(
            event_service_pb2.ListEventsRequest(project="default", page_size=1000), metadata=AUTH
        )
    return [e.message for e in page.events]


async def _post_events(port: int, names: list[str]) -> None:
    """One connection per event, so the kernel picks a worker for each."""

    async def post(name: str) -> None:
        connector = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(connector=connector) as session:
            response = await session.post(
                f"http://127.0.0.1:{port}/v1/projects/default/events:write",
                json={"events": [{"message": name}]},
                headers={"Authorization": f"Bearer {PROJECT_SECRET}"},
            )
            assert response.status == 200, await response.text()

    await asyncio.gather(*(post(name) for name in names))


async def test_workers_share_the_ports_and_a_dead_one_is_replaced(database_url: str) -> None:
    # On SQLite one more child hosts the file's one writer.
    children = 3 if database_url.startswith("sqlite") else 2
    async with ServerProcess(database_url, ("--workers", "2")) as server:
        supervisor = server.pid
        await _wait_for(lambda: len(_children(supervisor)) == children)
        workers = _workers(supervisor)
        assert len(workers) == 2
        await _wait_for(lambda: server.output.count(b"serving HTTP on") == 2)
        before = {pid: _cpu_ticks(pid) for pid in workers}

        await _post_events(server.http_port, [f"first-{i}" for i in range(240)])
        # Both workers took connections: each spent CPU serving them (a worker serves one of these
        # requests in about a millisecond since the HTTP front: 60 of them gave a worker 4 to 12
        # ticks, too near the bar; 240 give each 13 to 15).
        assert all(_cpu_ticks(pid) > before[pid] + 5 for pid in workers), server.output.decode()

        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        await _wait_for(lambda: victim not in (now := _children(supervisor)) and len(now) == children)
        await _wait_for(lambda: server.output.count(b"serving HTTP on") == 3)
        assert b"exited with -9" in server.output

        await _post_events(server.http_port, [f"second-{i}" for i in range(20)])
        stored = await _messages(server.address)
        sent = [f"first-{i}" for i in range(240)] + [f"second-{i}" for i in range(20)]
        assert sorted(stored) == sorted(sent)

        status = await server.terminate()
        assert status == 0, server.output.decode(errors="replace")
        assert _children(supervisor) == set()


async def test_a_dead_writer_process_is_replaced_and_writes_resume(tmp_path: Path) -> None:
    async with ServerProcess(f"sqlite:///{tmp_path / 'ingestd.db'}", ("--workers", "2")) as server:
        supervisor = server.pid
        await _wait_for(lambda: len(_children(supervisor)) == 3)
        [writer] = _children(supervisor) - _workers(supervisor)
        await _wait_for(lambda: server.output.count(b"serving HTTP on") == 2)
        await _post_events(server.http_port, [f"before-{i}" for i in range(10)])

        os.kill(writer, signal.SIGKILL)
        await _wait_for(lambda: b"ingestd writer (pid" in server.output)
        # Within the workers' wait for the writer's socket: answered once it is back.
        await _post_events(server.http_port, [f"after-{i}" for i in range(10)])
        stored = await _messages(server.address)
        sent = [f"before-{i}" for i in range(10)] + [f"after-{i}" for i in range(10)]
        assert sorted(stored) == sorted(sent)
        assert await server.terminate() == 0


async def test_one_worker_on_sqlite_writes_through_a_writer_process_when_told_to(tmp_path: Path) -> None:
    async with ServerProcess(f"sqlite:///{tmp_path / 'alone.db'}") as server:
        assert _children(server.pid) == set()
        await _post_events(server.http_port, ["alone"])
        assert await _messages(server.address) == ["alone"]
        assert await server.terminate() == 0

    split = {"INGESTD_SQLITE_WRITER_PROCESS": "true"}
    async with ServerProcess(f"sqlite:///{tmp_path / 'split.db'}", **split) as server:
        await _wait_for(lambda: len(_children(server.pid)) == 2)
        assert len(_workers(server.pid)) == 1
        # The supervisor loads none of the server's modules, which it would hold all its life.
        assert memory_bytes(server.pid) < 40 * 2**20
        await _post_events(server.http_port, [f"split-{i}" for i in range(10)])
        assert sorted(await _messages(server.address)) == sorted(f"split-{i}" for i in range(10))
        # A SIGKILL of the supervisor loses nothing it answered, and leaves nothing serving.
        children = _children(server.pid)
        await server.kill()
        await _wait_for(lambda: not any(_alive(pid) for pid in children))
    async with ServerProcess(f"sqlite:///{tmp_path / 'split.db'}", **split) as server:
        assert sorted(await _messages(server.address)) == sorted(f"split-{i}" for i in range(10))


async def test_a_second_server_on_the_same_ports_is_refused(tmp_path: Path) -> None:
    split = {"INGESTD_SQLITE_WRITER_PROCESS": "true"}
    async with ServerProcess(f"sqlite:///{tmp_path / 'first.db'}", **split) as first:
        taken = {
            **split,
            "INGESTD_HTTP_ADDR": f"127.0.0.1:{first.http_port}",
            "INGESTD_GRPC_ADDR": "127.0.0.1:0",
        }
        # Were the port shared, `serve` would run until run_cli's timeout kills it (and its children).
        second = await asyncio.to_thread(
            run_cli, "serve", database_url=f"sqlite:///{tmp_path / 'second.db'}", env=taken
        )
        assert second.returncode == 1
        assert (
            second.stderr.strip().splitlines()[-1].startswith("ingestd: cannot listen for HTTP on 127.0.0.1:")
        )
        await _post_events(first.http_port, ["still the first's"])
        assert await _messages(first.address) == ["still the first's"]
