"""OpenTelemetry's own Python SDK and OTLP exporters, unchanged, against a live ingestd: configured
the way a user does it (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_HEADERS`), over OTLP/HTTP
(gzip) and OTLP/gRPC, on SQLite and PostgreSQL. Traces with nested spans and a recorded exception,
logs through the logging handler, and a counter, a histogram and a gauge all read back through
EventService (docs/vendors/otlp.md)."""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from ingestd.v1 import event_pb2, event_service_pb2
from tests.conftest import PROJECT_SECRET, Client, Http, grpc_channel

E = event_pb2
#: How long a flush may take before the test fails rather than hangs.
FLUSH_MS = 15_000


class PaymentError(Exception):
    """What the instrumented code raises."""


@dataclass(frozen=True)
class Transport:
    name: str
    spans: Callable[[], Any]
    logs: Callable[[], Any]
    metrics: Callable[[], Any]


HTTP = Transport("http", HttpSpanExporter, HttpLogExporter, HttpMetricExporter)
GRPC = Transport("grpc", GrpcSpanExporter, GrpcLogExporter, GrpcMetricExporter)


@dataclass
class Emitted:
    trace_id: str
    root: str
    query: str
    charge: str
    log_span: str


def _pay() -> None:
    raise PaymentError("card declined")


def _emit(transport: Transport, run: str) -> Emitted:
    """What an instrumented application does, in its own thread as the SDK expects: spans, a
    recorded exception, logs through the logging handler, and three instruments; then flushes."""
    resource = Resource.create(
        {
            "service.name": "checkout",
            "service.version": "2.4.1",
            "deployment.environment.name": "test",
            "test.run": run,
        }
    )
    tracers = TracerProvider(resource=resource)
    tracers.add_span_processor(BatchSpanProcessor(transport.spans()))
    loggers = LoggerProvider(resource=resource)
    loggers.add_log_record_processor(BatchLogRecordProcessor(transport.logs()))
    reader = PeriodicExportingMetricReader(transport.metrics(), export_interval_millis=3_600_000)
    meters = MeterProvider(resource=resource, metric_readers=[reader])
    with warnings.catch_warnings():
        # 1.45 prefers the handler of opentelemetry-instrumentation-logging; this one still works.
        warnings.simplefilter("ignore", DeprecationWarning)
        handler = LoggingHandler(logger_provider=loggers)
    logger = logging.getLogger(f"tests.otlp.{run}")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.addHandler(handler)
    try:
        tracer = tracers.get_tracer("tests.otlp")
        with tracer.start_as_current_span("POST /checkout", kind=SpanKind.SERVER) as root:
            with tracer.start_as_current_span(
                "SELECT orders", kind=SpanKind.CLIENT, attributes={"db.system.name": "postgresql"}
            ) as query:
                pass
            with tracer.start_as_current_span("charge card") as charge:
                try:
                    _pay()
                except PaymentError as exc:
                    charge.record_exception(exc)
                    charge.set_status(Status(StatusCode.ERROR, "declined"))
                logger.warning("payment retried %d times", 2, extra={"order_id": "o-17"})
        logger.info("checkout finished")
        meter = meters.get_meter("tests.otlp")
        meter.create_counter("orders", unit="{order}").add(3, {"route": "/checkout"})
        meter.create_histogram("checkout.duration", unit="ms").record(12.5)
        meter.create_gauge("queue.depth").set(7, {"queue": "mail"})
        assert tracers.force_flush(FLUSH_MS)
        assert loggers.force_flush(FLUSH_MS)
        assert meters.force_flush(FLUSH_MS)
    finally:
        logger.removeHandler(handler)
        tracers.shutdown()
        loggers.shutdown()
        meters.shutdown()
    context = root.get_span_context()
    return Emitted(
        trace_id=f"{context.trace_id:032x}",
        root=f"{context.span_id:016x}",
        query=f"{query.get_span_context().span_id:016x}",
        charge=f"{charge.get_span_context().span_id:016x}",
        log_span=f"{charge.get_span_context().span_id:016x}",
    )


def _configure(monkeypatch: pytest.MonkeyPatch, endpoint: str, headers: str, compression: str = "") -> None:
    """The exporters' configuration, as a user writes it into the environment."""
    for name in ("TRACES", "LOGS", "METRICS"):
        monkeypatch.delenv(f"OTEL_EXPORTER_OTLP_{name}_ENDPOINT", raising=False)
        monkeypatch.delenv(f"OTEL_EXPORTER_OTLP_{name}_HEADERS", raising=False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", headers)
    if compression:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", compression)
    else:
        monkeypatch.delenv("OTEL_EXPORTER_OTLP_COMPRESSION", raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")


async def _events(client: Client, **filters: Any) -> list[event_pb2.Event]:
    response = await client.events.ListEvents(
        event_service_pb2.ListEventsRequest(project="default", page_size=100, **filters),
        metadata=client.project,
    )
    return list(response.events)


@pytest.mark.parametrize("transport", [HTTP, GRPC], ids=lambda t: t.name)
async def test_the_python_sdk_reads_back_through_event_service(
    http: Http, transport: Transport, monkeypatch: pytest.MonkeyPatch
) -> None:
    if transport is HTTP:
        # `Bearer <key>` with its space URL-encoded, as the variable's format asks.
        _configure(monkeypatch, http.url(""), f"authorization={quote('Bearer ' + PROJECT_SECRET)}", "gzip")
    else:
        _configure(monkeypatch, f"http://127.0.0.1:{http.running.grpc_port}", f"x-api-key={PROJECT_SECRET}")
    emitted = await asyncio.wait_for(asyncio.to_thread(_emit, transport, transport.name), 60)

    async with grpc_channel(http.running.grpc_port) as channel:
        client = Client.for_channel(http.running, channel)
        trace = await _events(client, trace_id=emitted.trace_id)
        by_kind: dict[int, list[event_pb2.Event]] = {}
        for event in trace:
            by_kind.setdefault(event.kind, []).append(event)
        assert sorted(by_kind) == [E.KIND_ERROR, E.KIND_TRANSACTION, E.KIND_SPAN, E.KIND_LOG]

        [transaction] = by_kind[E.KIND_TRANSACTION]
        assert transaction.transaction.name == "POST /checkout"
        assert transaction.transaction.op == "server"
        assert transaction.span_id == emitted.root
        assert (transaction.service, transaction.release, transaction.environment) == (
            "checkout",
            "2.4.1",
            "test",
        )
        assert transaction.dialect == "otlp"

        spans = {e.span.name: e.span for e in by_kind[E.KIND_SPAN]}
        assert set(spans) == {"SELECT orders", "charge card"}
        assert (spans["SELECT orders"].span_id, spans["SELECT orders"].op) == (emitted.query, "db")
        assert (spans["SELECT orders"].kind, spans["charge card"].status) == ("client", "error")
        assert all(
            s.parent_span_id == emitted.root and s.trace_id == emitted.trace_id for s in spans.values()
        )
        assert all(s.end_time.ToNanoseconds() >= s.start_time.ToNanoseconds() for s in spans.values())

        [error] = by_kind[E.KIND_ERROR]
        exception = error.error.exception
        assert (exception.type, exception.value) == ("PaymentError", "card declined")
        assert exception.qualified_type == f"{__name__}.PaymentError"
        assert [f.function for f in exception.frames][-2:] == ["_emit", "_pay"]
        assert exception.frames[-1].context_line == 'raise PaymentError("card declined")'
        assert (error.span_id, error.message) == (emitted.charge, "PaymentError: card declined")

        [warning] = by_kind[E.KIND_LOG]
        assert (warning.message, warning.level) == ("payment retried 2 times", E.LEVEL_WARNING)
        assert (warning.log.level_text, warning.log.logger) == ("WARN", f"tests.otlp.{transport.name}")
        assert json_format.MessageToDict(warning.log.metadata)["order_id"] == "o-17"
        assert warning.span_id == emitted.log_span

        logs = await _events(client, kind=E.KIND_LOG, text="checkout finished")
        assert [(e.message, e.level, e.trace_id) for e in logs] == [("checkout finished", E.LEVEL_INFO, "")]

        metrics = {e.metric.name: e for e in await _events(client, kind=E.KIND_METRIC)}
        assert set(metrics) == {"orders", "checkout.duration", "queue.depth"}
        orders = metrics["orders"]
        assert (orders.metric.value, orders.metric.unit, dict(orders.metric.labels)) == (
            3.0,
            "{order}",
            {"route": "/checkout"},
        )
        context = json_format.MessageToDict(orders.context)
        assert (context["type"], context["temporality"], context["monotonic"]) == ("sum", "cumulative", True)
        duration = metrics["checkout.duration"]
        assert (duration.metric.value, duration.metric.unit) == (12.5, "ms")
        assert json_format.MessageToDict(duration.context)["count"] == 1
        depth = metrics["queue.depth"]
        assert (depth.metric.value, dict(depth.metric.labels)) == (7.0, {"queue": "mail"})
        assert json_format.MessageToDict(depth.context)["resource"]["test.run"] == transport.name
