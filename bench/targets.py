"""What is benchmarked, and how each target is started as its own process on 127.0.0.1.

Contract: `started(target)` is an async context manager that starts the target's server as a
child process on a free 127.0.0.1 port, yields a `Started` once the server reports ready (gRPC:
the standard health service answers SERVING for IngestService; HTTP: `GET /healthz` answers 200;
at most 30 s), and on exit stops it (SIGTERM, SIGKILL after 15 s) and removes what it made
(the SQLite directory, the PostgreSQL database). It raises `TargetSkipped` when PostgreSQL is
unreachable and `children.StartFailed` when the server does not come up.

ingestd runs as `python -m server serve` with only the `INGESTD_*` variables set here (any in
the caller's environment are dropped, so a run does not depend on the shell it came from).
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench import postgres
from bench.bare import HTTP_PATH, SERVICE
from bench.children import Child

HOST = "127.0.0.1"
PROJECT = "default"
PROJECT_SECRET = "pk_bench_project_5f0c2a9e41d7b3886c1e0f2d7a4b9c35"
MASTER_SECRET = "mk_bench_master_0d3b7e9a2c5f48e1b6a9d2c7f0e3a815"
AUTHORIZATION = f"Bearer {PROJECT_SECRET}"
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class Target:
    """A server to measure: its protocol (`grpc` or `http`) and the scenarios it serves."""

    name: str
    title: str
    protocol: str
    scenarios: tuple[str, ...]


BARE_GRPC = Target("bare-grpc", "bare grpc.aio handler", "grpc", ("single", "batch100", "stream"))
BARE_AIOHTTP = Target("bare-aiohttp", "bare aiohttp + orjson handler", "http", ("single",))
SQLITE = Target("sqlite", "ingestd on SQLite", "grpc", ("single", "batch100", "stream"))
POSTGRES = Target("postgres", "ingestd on PostgreSQL", "grpc", ("single", "batch100", "stream"))

#: In the order they run: the baselines first, so every ratio has its denominator.
TARGETS: dict[str, Target] = {t.name: t for t in (BARE_GRPC, BARE_AIOHTTP, SQLITE, POSTGRES)}


class TargetSkipped(Exception):
    """The target cannot run here; the message says why."""


@dataclass(frozen=True, slots=True)
class Started:
    """A ready target: `address` is `host:port` for gRPC and the POST URL for HTTP;
    `database` names its PostgreSQL database, if it has one."""

    target: Target
    address: str
    child: Child
    database: str | None = None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def grpc_ready(address: str) -> Callable[[], Awaitable[bool]]:
    """A probe: does the health service at `address` say IngestService is SERVING?"""

    async def probe() -> bool:
        async with grpc.aio.insecure_channel(address) as channel:
            stub: Any = health_pb2_grpc.HealthStub(channel)  # its stubs declare no methods
            try:
                answer = await stub.Check(health_pb2.HealthCheckRequest(service=SERVICE), timeout=1.0)
            except grpc.aio.AioRpcError:
                return False
            return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)

    return probe


def http_ready(url: str) -> Callable[[], Awaitable[bool]]:
    """A probe: does `GET url` answer 200?"""

    async def probe() -> bool:
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1.0)) as session,
                session.get(url) as response,
            ):
                return response.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    return probe


def _ingestd_env(grpc_port: int, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INGESTD_")}
    env.update(
        INGESTD_GRPC_ADDR=f"{HOST}:{grpc_port}",
        # Not served yet, but once the gateway lands it must not collide with anything.
        INGESTD_HTTP_ADDR=f"{HOST}:{free_port()}",
        INGESTD_DATABASE_URL=database_url,
        INGESTD_BOOTSTRAP_PROJECT_KEY=PROJECT_SECRET,
        INGESTD_BOOTSTRAP_MASTER_KEY=MASTER_SECRET,
        INGESTD_LOG_LEVEL="warning",
        PYTHONUNBUFFERED="1",
    )
    return env


@contextlib.asynccontextmanager
async def started(target: Target) -> AsyncIterator[Started]:
    """Starts `target` and yields it ready; see the module's contract."""
    async with contextlib.AsyncExitStack() as stack:
        port = free_port()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        database_name = None
        if target is BARE_GRPC or target is BARE_AIOHTTP:
            kind = "grpc" if target is BARE_GRPC else "aiohttp"
            argv = [sys.executable, "-m", "bench.bare", kind, "--port", str(port)]
        else:
            if target is SQLITE:
                directory = stack.enter_context(tempfile.TemporaryDirectory(prefix="ingestd-bench-"))
                database_url = f"sqlite:///{directory}/bench.db"
            else:
                try:
                    database_url = await stack.enter_async_context(postgres.database())
                except postgres.Unreachable as exc:
                    raise TargetSkipped(str(exc)) from exc
                database_name = database_url.rsplit("/", 1)[1]
            argv = [sys.executable, "-m", "server", "serve"]
            env = _ingestd_env(port, database_url)
        child = await Child.spawn(target.name, argv, env, cwd=str(ROOT))
        stack.push_async_callback(child.stop)
        if target.protocol == "grpc":
            address = f"{HOST}:{port}"
            await child.wait_ready(grpc_ready(address))
        else:
            address = f"http://{HOST}:{port}{HTTP_PATH}"
            await child.wait_ready(http_ready(f"http://{HOST}:{port}/healthz"))
        yield Started(target, address, child, database_name)
