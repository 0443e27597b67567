"""The composition root: the only module that wires storage, the domain and the transports.

`ingestd serve` and the tests both use `running()`, so the end-to-end tests exercise exactly the
production wiring. Startup and shutdown are paired on one exit stack and unwind in reverse.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

import grpc
import structlog
from aiohttp import web
from google.protobuf import message_factory
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gateway.app import GatewayLimits, HttpGateway
from gateway.body import BodyBudget
from gateway.dispatch import ChannelDispatcher, Dispatcher
from gateway.docs import add_docs_routes
from gateway.front import Front
from gateway.openapi import build_document, load_descriptor_set
from server import runtime
from server.access import Access
from server.admin import Admin
from server.admission import CappedSite, connection_cap
from server.alerting import Alerting
from server.alerting.alerts import Alerts
from server.alerting.delivery import DeliveryWorker
from server.alerting.evaluator import AlertEvaluator
from server.alerting.monitors import Monitors
from server.alerting.rules import AlertRules
from server.alerting.webhooks import Webhooks
from server.bootstrap import BootstrapKeys, bootstrap
from server.cli import version
from server.clock import Clock, SystemClock
from server.config import Settings
from server.dialects import EDGES, VENDORS
from server.dialects.base import VendorContext
from server.dispatch import InProcessDispatcher
from server.dsn import public_url
from server.endpoints import GRPC_SERVICES, SERVICES, build_endpoints
from server.errors import CannotListen
from server.grpc_transport import GrpcServer
from server.ids import UuidV7
from server.ingest import Ingest
from server.keys import Authenticator
from server.metrics import Sources, add_metrics_route
from server.pipeline import Pipeline
from server.probes import add_probe_routes
from server.queries import EventQueries
from server.quotas import ProjectQuotas
from server.readiness import Readiness
from server.redaction.service import RedactionRules
from server.streams import Streams
from server.timings import OpenTimings
from server.viewer_tokens import ViewerTokens
from storage.engine import NotWritable, create_engine, probe_write, session_factory, writer_engine
from storage.migrate import upgrade
from storage.writer import CommitHook, GroupWriter, RowWriter
from storage.writer_link import RemoteWriter, WriterLink

_PURGE_EVERY_S = 3600.0
_TRIM_EVERY_S = 5.0
_TRIM_AFTER_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Running:
    """A started ingestd: its bound ports and what first start created. A gateway that fronts a
    remote ingestd (`grpc_upstream`) serves no gRPC of its own: its `grpc_port` is 0."""

    settings: Settings
    grpc_port: int
    http_port: int
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
    quotas: ProjectQuotas
    viewer_tokens: ViewerTokens


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
        access = Access(sessions)
        viewer_tokens = ViewerTokens(access, sessions, clock, settings)
        authenticator = Authenticator(sessions, viewer_tokens, clock=clock)
        quotas = ProjectQuotas(sessions, clock, settings)
        admin = Admin(access, authenticator, sessions, clock, ids, quotas, public_url=public_url(settings))
        yield Core(engine, sessions, clock, ids, authenticator, access, admin, quotas, viewer_tokens)
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def running(
    settings: Settings, clock: Clock | None = None, *, row_writer: RowWriter | None = None
) -> AsyncIterator[Running]:
    """Starts ingestd and yields once it serves; on exit shuts down in order: stop accepting
    calls, let the calls in flight finish, flush the writer, close the database.

    `row_writer` replaces the group writer: `python -m bench.profile --writer free` measures the
    request path alone with one that stores nothing."""
    if settings.grpc_upstream:
        async with _upstream_gateway(settings) as started:
            yield started
        return
    async with contextlib.AsyncExitStack() as stack:
        c = await stack.enter_async_context(core(settings, clock))
        evaluator = AlertEvaluator(c.clock, c.ids, settings)
        readiness = Readiness()
        writer: RowWriter
        if row_writer is None:
            writer = await stack.enter_async_context(_group_writer(settings, c.clock, evaluator, readiness))
        else:
            writer = row_writer

        redaction = RedactionRules(c.access, c.sessions, c.clock, c.ids, settings)
        ingest = Ingest(
            c.access,
            writer,
            c.clock,
            c.ids,
            c.sessions,
            redaction,
            c.quotas,
            max_batch_events=settings.max_batch_events,
        )
        queries = EventQueries(c.access, c.sessions)
        viewer_tokens = c.viewer_tokens
        streams = Streams(ingest, c.access, c.sessions, c.clock, settings)
        timings = OpenTimings(c.sessions, c.clock, c.ids)
        purge = asyncio.create_task(_purge_hourly(streams, timings), name="ingestd-purge")
        stack.callback(purge.cancel)
        alerting = Alerting(
            AlertRules(c.access, c.sessions, c.clock, c.ids, c.quotas, evaluator.invalidate),
            Alerts(c.access, c.sessions, c.clock, c.ids),
            Webhooks(c.access, c.sessions, c.clock, c.ids, c.quotas, settings),
            Monitors(c.access, c.sessions, c.clock, settings, evaluator),
        )
        shapes = {v.name: v.webhook_payload for v in VENDORS if v.webhook_payload is not None}
        deliveries = DeliveryWorker(c.sessions, c.clock, settings, shapes=shapes)
        stack.push_async_callback(deliveries.close)
        background = asyncio.create_task(
            _alerting_loop(deliveries, alerting.monitors, settings.alert_poll_interval_s),
            name="ingestd-alerting",
        )
        stack.push_async_callback(_stop, background)
        context = VendorContext(
            ingest,
            c.access,
            queries,
            c.clock,
            c.ids,
            settings,
            c.admin,
            redaction,
            viewer_tokens,
            streams,
            alerting,
            timings,
        )
        vendor_endpoints = [e for v in VENDORS for e in v.servicer(context).endpoints()]
        endpoints = build_endpoints(
            ingest,
            queries,
            c.admin,
            redaction,
            viewer_tokens,
            streams,
            alerting.endpoints() + vendor_endpoints,
        )
        pipeline = Pipeline(c.authenticator, max_inflight=settings.max_inflight_calls)
        grpc_server = GrpcServer(
            pipeline,
            endpoints,
            GRPC_SERVICES,
            max_message_bytes=settings.max_message_bytes,
            reuse_port=settings.reuse_port,
        )
        # Both ports are bound before the first start makes its keys: a port in use must not
        # leave keys committed whose secrets were never shown.
        grpc_port = grpc_server.bind(settings.grpc_addr)
        http_socket = stack.enter_context(_bound_http_socket(settings))
        first_start = await bootstrap(settings, c.sessions, c.admin, c.clock)

        await grpc_server.start()
        readiness.subscribe(grpc_server.set_serving)
        stack.push_async_callback(grpc_server.stop, settings.shutdown_grace_s)

        # The HTTP site stops before the gRPC server (exit order is reversed), so no HTTP call
        # reaches a pipeline whose server is draining.
        def operator_routes(app: web.Application, gateway: HttpGateway) -> None:
            add_probe_routes(app, readiness)
            budget = gateway.body_budget
            trimmer = asyncio.create_task(_trim_after_bursts(budget), name="ingestd-heap-trim")
            stack.callback(trimmer.cancel)
            held = lambda: budget.held  # noqa: E731
            sources = Sources(pipeline, ingest, writer, deliveries, readiness, gateway.responses, held)
            add_metrics_route(app, sources)

        http_port = await stack.enter_async_context(
            _http_site(settings, InProcessDispatcher(pipeline, endpoints), http_socket, operator_routes)
        )
        stack.callback(readiness.stop)  # first on the way out: not ready while draining
        yield Running(settings, grpc_port, http_port, first_start)


@contextlib.asynccontextmanager
async def hosted_writer(settings: Settings, clock: Clock | None = None) -> AsyncIterator[None]:
    """The group writer of a SQLite file that a supervisor's workers share, served on
    `settings.writer_socket`, with the alert rules' commit hook; no gRPC or HTTP."""
    async with core(settings, clock) as c:
        evaluator = AlertEvaluator(c.clock, c.ids, settings)
        async with _group_writer(settings, c.clock, evaluator, Readiness()) as writer:
            assert isinstance(writer, GroupWriter)
            trimmer = asyncio.create_task(_trim_when_idle(writer), name="ingestd-heap-trim")
            try:
                yield
            finally:
                await _stop(trimmer)


@contextlib.asynccontextmanager
async def _group_writer(
    settings: Settings, clock: Clock, hook: CommitHook, readiness: Readiness
) -> AsyncIterator[RowWriter]:
    """This process's group writer; in a worker that shares a SQLite file, the writer process's,
    through its socket (`storage.writer_link`), which `hosted_writer` serves. Raises NotWritable
    when the database refuses a write at start, rather than serve and fail every write."""
    if settings.writer_socket and not settings.writer_host:
        remote = RemoteWriter(settings.writer_socket)
        try:
            yield remote
        finally:
            await remote.close()
        return
    engine = writer_engine(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
    try:
        await asyncio.to_thread(probe_write, engine)
    except NotWritable:
        engine.dispose()
        raise
    writer = GroupWriter(engine, now_us=clock.now_us, hook=hook, on_health=readiness.database)
    writer.start()
    link = WriterLink(writer, settings.writer_socket) if settings.writer_socket else None
    try:
        if link is not None:
            await link.start()
        yield writer
    finally:
        if link is not None:
            await link.close()
        await writer.close()
        engine.dispose()


async def _purge_hourly(streams: Streams, timings: OpenTimings) -> None:
    """Once an hour, deletes expired anonymous streams' events and expired open timing starts.
    Writes and claims purge the streams they meet, and ends ignore expired starts; this catches
    what nobody touches again. Every node may run it: the deletes are idempotent."""
    purges = (
        ("stream_purge", structlog.get_logger("ingestd.streams"), streams.purge_expired),
        ("open_timing_purge", structlog.get_logger("ingestd.timings"), timings.purge_expired),
    )
    while True:
        await asyncio.sleep(_PURGE_EVERY_S)
        for name, log, purge in purges:
            try:
                deleted = await purge()
            except Exception:  # the database may be briefly away; the next hour tries again
                log.warning(name + "_failed", exc_info=True)
            else:
                log.info(name, deleted=deleted)


async def _trim_after_bursts(budget: BodyBudget) -> None:
    """Every few seconds: once a burst of large bodies (more than `_TRIM_AFTER_BYTES` held at
    once) has mostly been answered, hands the freed heap back to the system, so the process's
    memory falls back after the burst instead of staying at its peak. Trims once more at the first
    tick that holds no body at all: the burst's last events may still have been on their way to
    the database at the first trim."""
    settling = False
    while True:
        await asyncio.sleep(_TRIM_EVERY_S)
        if budget.peak > _TRIM_AFTER_BYTES and budget.held < budget.peak // 4:
            budget.peak = budget.held
            settling = True
            runtime.trim_heap()
        elif settling and not budget.held:
            settling = False
            runtime.trim_heap()


async def _trim_when_idle(writer: GroupWriter) -> None:
    """The writer process's `_trim_after_bursts`: every few seconds, if rows were committed since
    the last trim and none wait now, hands the freed heap back (the rows of a burst's large
    batches arrive as frames of megabytes, and the allocator would keep them at their peak)."""
    trimmed_at = writer.group_rows.sum
    while True:
        await asyncio.sleep(_TRIM_EVERY_S)
        if writer.group_rows.sum != trimmed_at and not writer.queued():
            trimmed_at = writer.group_rows.sum
            runtime.trim_heap()


async def _stop(task: asyncio.Task[None]) -> None:
    """Cancels a background task and waits for it to unwind, so it does not hold a database
    connection past the engine's disposal."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _alerting_loop(deliveries: DeliveryWorker, monitors: Monitors, every_s: float) -> None:
    """Every `every_s` real seconds: marks overdue check-in monitors missed (opening their alerts)
    and sends the webhook deliveries that are due. Both read indexed due times, never events;
    every node runs it, and the database decides which node does each piece of work."""
    log = structlog.get_logger("ingestd.alerting")
    while True:
        try:
            await monitors.sweep()
            await deliveries.run_once()
        except Exception:  # the database may be briefly away; the next round tries again
            log.warning("alerting_round_failed", exc_info=True)
        await asyncio.sleep(every_s)


@contextlib.asynccontextmanager
async def _upstream_gateway(settings: Settings) -> AsyncIterator[Running]:
    methods = {f"/{s.full_name}/{m.name}": m for s in SERVICES for m in s.methods}
    response_classes = {rpc: message_factory.GetMessageClass(m.output_type) for rpc, m in methods.items()}
    streaming = frozenset(rpc for rpc, m in methods.items() if m.client_streaming)
    async with grpc.aio.insecure_channel(settings.grpc_upstream) as channel:
        dispatcher = ChannelDispatcher(channel, response_classes, streaming)
        with contextlib.ExitStack() as bound:
            http_socket = bound.enter_context(_bound_http_socket(settings))
            probes = functools.partial(_probes_only, Readiness())
            async with _http_site(settings, dispatcher, http_socket, probes) as http_port:
                yield Running(settings, 0, http_port, None)


def _probes_only(readiness: Readiness, app: web.Application, gateway: HttpGateway) -> None:
    add_probe_routes(app, readiness)


@contextlib.contextmanager
def _bound_http_socket(settings: Settings) -> Iterator[socket.socket]:
    """A listening socket on `settings.http_addr`, closed on exit. Raises CannotListen."""
    host, _, port = settings.http_addr.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if settings.reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, int(port)))
        sock.listen(1024)
    except OSError as exc:
        sock.close()
        raise CannotListen(f"cannot listen for HTTP on {settings.http_addr}: {exc.strerror or exc}") from None
    with sock:
        yield sock


@contextlib.asynccontextmanager
async def _http_site(
    settings: Settings,
    dispatcher: Dispatcher,
    sock: socket.socket,
    operator_routes: Callable[[web.Application, HttpGateway], None],
) -> AsyncIterator[int]:
    """Serves the HTTP gateway, its documents and the operator's routes (probes, metrics) on
    `sock`, bound to `settings.http_addr`; yields the bound port."""
    limits = GatewayLimits(
        max_body_bytes=settings.http_max_body_bytes,
        max_decompressed_bytes=settings.http_max_decompressed_bytes,
        max_json_depth=settings.http_max_json_depth,
        body_timeout_s=settings.http_body_timeout_s,
        max_bytes_in_flight=settings.http_max_bytes_in_flight,
        cors_origins=tuple(o.strip() for o in settings.cors_origins.split(",") if o.strip()),
    )
    gateway = HttpGateway(dispatcher, SERVICES, EDGES, limits)
    # The gateway reads bodies itself, within each route's limit; aiohttp's own cap would answer
    # first, in its own shape.
    app = web.Application(client_max_size=max(limits.max_body_bytes, 1))
    document = build_document(
        SERVICES,
        gateway.routes,
        title="ingestd",
        version=version(),
        descriptor_set=load_descriptor_set(),
        description="ingestd's own API and the ingest APIs of the vendors it serves.",
        edges=EDGES,
    )
    # The docs routes go first: the gateway's catch-all route takes every other path.
    add_docs_routes(app, document)
    operator_routes(app, gateway)
    gateway.add_to(app)
    runner = web.AppRunner(
        app,
        access_log=None,
        keepalive_timeout=settings.http_keepalive_timeout_s,
        shutdown_timeout=settings.shutdown_grace_s,
        handle_signals=False,
        # A request whose client went away is cancelled, not finished for nobody: its body's
        # budget and its call's slot come back at once. A commit already handed to the writer
        # still completes (and its answer is dropped).
        handler_cancellation=True,
        # aiohttp would inflate gzip bodies itself, with no cap on the output; the gateway inflates
        # within its limits, and hands vendor routes their bytes as sent.
        auto_decompress=False,
    )
    await runner.setup()
    assert runner.server is not None
    front = Front(
        gateway.handle,
        gateway.serves,
        runner.server,
        keepalive_s=settings.http_keepalive_timeout_s,
        linger_s=settings.http_body_timeout_s,
    )
    cap = connection_cap(settings.http_max_connections)
    site = CappedSite(
        runner,
        sock,
        max_connections=cap,
        front=front.connection,
        front_connections=lambda: len(front.connections),
    )
    try:
        await site.start()
        yield int(sock.getsockname()[1])
    finally:
        # No new connection; then the front's connections and aiohttp's drain side by side.
        await site.stop()
        await asyncio.gather(front.shutdown(settings.shutdown_grace_s), runner.cleanup())
