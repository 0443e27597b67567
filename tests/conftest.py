"""Fixtures: a database (SQLite, and PostgreSQL when reachable), a real ingestd from the same
composition root as `ingestd serve` on 127.0.0.1 port 0, and gRPC stubs for it."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import grpc
import psycopg
import pytest
from sqlalchemy.engine import make_url

from ingestd.v1 import (
    admin_service_pb2_grpc,
    alert_service_pb2_grpc,
    event_service_pb2_grpc,
    ingest_service_pb2_grpc,
)
from server.clock import Clock
from server.config import Settings
from server.main import Running, running
from tests.helpers import BEFORE_MIDNIGHT_S, ManualClock

MASTER_SECRET = "mk_test_master_0123456789abcdef"
PROJECT_SECRET = "pk_test_project_0123456789abcdef"

#: Where the PostgreSQL tests make their databases; each test gets its own and drops it after.
POSTGRES_ADMIN_URL = os.environ.get("INGESTD_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


def _postgres_unreachable() -> str | None:
    try:
        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {exc}".strip()


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    reason = _postgres_unreachable()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true requires PostgreSQL: {reason}")
        pytest.skip(reason)
    return POSTGRES_ADMIN_URL


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped after the test."""
    name = f"ingestd_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(postgres_admin_url).set(drivername="postgresql+psycopg", database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each storage test runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ingestd.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


def make_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "grpc_addr": "127.0.0.1:0",
        "http_addr": "127.0.0.1:0",
        "database_url": database_url,
        "bootstrap_master_key": MASTER_SECRET,
        "bootstrap_project_key": PROJECT_SECRET,
        "log_format": "json",
        "shutdown_grace_s": 5.0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@dataclass
class Client:
    """Stubs on one channel to a running ingestd, with helpers for auth metadata."""

    running: Running
    channel: grpc.aio.Channel
    ingest: ingest_service_pb2_grpc.IngestServiceStub
    events: event_service_pb2_grpc.EventServiceStub
    admin: admin_service_pb2_grpc.AdminServiceStub
    alerts: alert_service_pb2_grpc.AlertServiceStub

    @classmethod
    def for_channel(cls, started: Running, channel: grpc.aio.Channel) -> Client:
        return cls(
            started,
            channel,
            ingest_service_pb2_grpc.IngestServiceStub(channel),
            event_service_pb2_grpc.EventServiceStub(channel),
            admin_service_pb2_grpc.AdminServiceStub(channel),
            alert_service_pb2_grpc.AlertServiceStub(channel),
        )

    @staticmethod
    def auth(secret: str = PROJECT_SECRET) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {secret}"),)

    @property
    def master(self) -> tuple[tuple[str, str], ...]:
        return self.auth(MASTER_SECRET)

    @property
    def project(self) -> tuple[tuple[str, str], ...]:
        return self.auth(PROJECT_SECRET)


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[Client]:
    """A running ingestd and a client connected to it over real gRPC."""
    async with running(settings) as started, grpc_channel(started.grpc_port) as channel:
        yield Client.for_channel(started, channel)


def grpc_channel(port: int) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(f"127.0.0.1:{port}")


@dataclass
class Http:
    """An HTTP client of a running ingestd's gateway. `running` is the ingestd that stores, for
    checks over gRPC; in upstream mode the gateway under test is a second process-like instance in
    front of it."""

    running: Running
    port: int
    session: aiohttp.ClientSession
    mode: str

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @staticmethod
    def bearer(secret: str = PROJECT_SECRET) -> dict[str, str]:
        return {"Authorization": f"Bearer {secret}"}


@contextlib.asynccontextmanager
async def http_gateway(settings: Settings, mode: str, clock: Clock | None = None) -> AsyncIterator[Http]:
    """A running ingestd and an HTTP client of its gateway: in-process, or a gateway-only
    instance fronting it over gRPC (`--grpc-upstream`)."""
    async with contextlib.AsyncExitStack() as stack:
        started = await stack.enter_async_context(running(settings, clock))
        port = started.http_port
        if mode == "upstream":
            front = dataclasses.replace(
                settings, grpc_upstream=f"127.0.0.1:{started.grpc_port}", migrate_on_start=False
            )
            port = (await stack.enter_async_context(running(front))).http_port
        session = await stack.enter_async_context(aiohttp.ClientSession())
        yield Http(started, port, session, mode)


@pytest.fixture(
    params=[
        "sqlite-inprocess",
        "sqlite-upstream",
        pytest.param("postgres-inprocess", marks=pytest.mark.postgres),
    ]
)
def http_target(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """HTTP tests run on SQLite through both dispatchers, and on PostgreSQL in-process."""
    database, mode = request.param.split("-")
    if database == "sqlite":
        return f"sqlite:///{tmp_path / 'ingestd.db'}", mode
    url: str = request.getfixturevalue("postgres_url")
    return url, mode


@pytest.fixture
async def http(http_target: tuple[str, str]) -> AsyncIterator[Http]:
    database_url, mode = http_target
    async with http_gateway(make_settings(database_url), mode) as client:
        yield client


@pytest.fixture
async def limited(http_target: tuple[str, str]) -> AsyncIterator[Http]:
    """As `http`, with the default project limited to one event a day, at 23:59:00 UTC: a call
    past the limit is told to retry in 60 seconds."""
    database_url, mode = http_target
    async with http_gateway(make_settings(database_url), mode, ManualClock(BEFORE_MIDNIGHT_S)) as client:
        async with client.session.patch(
            client.url("/v1/projects/default"),
            params={"updateMask": "limits.dailyEventLimit"},
            json={"limits": {"dailyEventLimit": "1"}},
            headers=client.bearer(MASTER_SECRET),
        ) as response:
            assert response.status == 200, await response.text()
            assert (await response.json())["limits"]["dailyEventLimit"] == "1"
        yield client
