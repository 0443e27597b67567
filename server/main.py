"""The composition root: the only module that wires storage, the domain and the transports.

`ingestd serve` and the tests both use `running()`, so the end-to-end tests exercise exactly the
production wiring. Startup and shutdown are paired on one exit stack and unwind in reverse.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from server.access import Access
from server.admin import Admin
from server.bootstrap import BootstrapKeys, bootstrap
from server.clock import Clock, SystemClock
from server.config import Settings
from server.endpoints import SERVICES, build_endpoints
from server.grpc_transport import GrpcServer
from server.ids import UuidV7
from server.ingest import Ingest
from server.keys import Authenticator
from server.pipeline import Pipeline
from server.queries import EventQueries
from storage.engine import create_engine, session_factory, writer_engine
from storage.migrate import upgrade
from storage.writer import GroupWriter


@dataclass(frozen=True, slots=True)
class Running:
    """A started ingestd: its bound ports and what first start created."""

    settings: Settings
    grpc_port: int
    bootstrap: BootstrapKeys | None


@dataclass(frozen=True, slots=True)
class Core:
    """The storage and domain objects, without any transport."""

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    ids: UuidV7
    authenticator: Authenticator
    access: Access
    admin: Admin


@contextlib.asynccontextmanager
async def core(settings: Settings, clock: Clock | None = None) -> AsyncIterator[Core]:
    """Migrates the database (if configured to) and yields the domain over it."""
    clock = clock or SystemClock()
    if settings.migrate_on_start:
        await asyncio.to_thread(upgrade, settings.database_url)
    engine = create_engine(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
    try:
        sessions = session_factory(engine)
        ids = UuidV7(clock)
        authenticator = Authenticator(sessions)
        access = Access(sessions)
        admin = Admin(access, authenticator, sessions, clock, ids)
        yield Core(engine, sessions, clock, ids, authenticator, access, admin)
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def running(settings: Settings, clock: Clock | None = None) -> AsyncIterator[Running]:
    """Starts ingestd and yields once it serves; on exit shuts down in order: stop accepting
    calls, let the calls in flight finish, flush the writer, close the database."""
    async with contextlib.AsyncExitStack() as stack:
        c = await stack.enter_async_context(core(settings, clock))
        writer = GroupWriter(writer_engine(c.engine), now_us=c.clock.now_us)
        writer.start()
        stack.push_async_callback(writer.close)

        ingest = Ingest(c.access, writer, c.clock, c.ids, max_batch_events=settings.max_batch_events)
        queries = EventQueries(c.access, c.sessions)
        endpoints = build_endpoints(ingest, queries, c.admin)
        pipeline = Pipeline(c.authenticator, max_inflight=settings.max_inflight_calls)
        first_start = await bootstrap(settings, c.sessions, c.admin, c.clock)

        grpc_server = GrpcServer(pipeline, endpoints, SERVICES, max_message_bytes=settings.max_message_bytes)
        grpc_port = grpc_server.bind(settings.grpc_addr)
        await grpc_server.start()
        stack.push_async_callback(grpc_server.stop, settings.shutdown_grace_s)

        yield Running(settings, grpc_port, first_start)
