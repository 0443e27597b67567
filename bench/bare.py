"""The bare servers ingestd is measured against: `python -m bench.bare grpc|aiohttp --port N`.

Contract:

- `grpc`: a grpc.aio server registering `ingestd.v1.IngestService` and OTLP's
  `opentelemetry.proto.collector.trace.v1.TraceService` through
  `grpc.method_handlers_generic_handler`, with ingestd's channel options. WriteEvents decodes the
  request with `WriteEventsRequest.FromString` and StreamEvents decodes every
  `StreamEventsRequest`; both store nothing and answer the event count as `accepted_count`.
  TraceService's Export decodes its `ExportTraceServiceRequest` (the `opentelemetry-proto`
  package's class), stores nothing and answers an empty `ExportTraceServiceResponse`. The
  standard health service answers SERVING, so readiness is probed as for ingestd.
- `aiohttp`: a POST to any path reads the body, parses it and answers 202 `{"queued":true}` (400
  if it does not parse). It parses what ingestd's routes are sent: a gzip body
  (`Content-Encoding: gzip`) is inflated first; NDJSON (`Content-Type: application/x-ndjson`) and
  Sentry envelopes (`application/x-sentry-envelope`) are parsed line by line with `orjson.loads`;
  a protobuf body (`application/x-protobuf`, OTLP's `/v1/traces`) is decoded with
  `ExportTraceServiceRequest.FromString` and answered 200 with an empty
  `ExportTraceServiceResponse`, as OTLP/HTTP answers; any other body with `orjson.loads`.
  `GET /healthz` answers 200. No access log.
- Both listen on 127.0.0.1 only, and exit 0 on SIGTERM or SIGINT.
- `aiohttp --workers N`: N such processes on the one port (SO_REUSEPORT), under this process,
  which passes SIGTERM or SIGINT on: the baseline beside `ingestd serve --workers N`.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import subprocess
import sys
import time
import zlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import grpc
import orjson
from aiohttp import web
from google.protobuf.message import DecodeError
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as otlp_trace

from ingestd.v1 import ingest_service_pb2 as pb
from server import runtime

SERVICE = "ingestd.v1.IngestService"
#: OTLP's trace service, which ingestd serves on its gRPC port.
OTLP_TRACE_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
_QUEUED = b'{"queued":true}'
#: Bodies parsed line by line.
_LINES = frozenset({"application/x-ndjson", "application/x-sentry-envelope"})
_PROTOBUF = "application/x-protobuf"
_OTLP_EMPTY_ANSWER = otlp_trace.ExportTraceServiceResponse().SerializeToString()

# The options ingestd's own server uses (server/grpc_transport.py), so transport costs match.
_GRPC_OPTIONS = [
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
    ("grpc.max_send_message_length", 16 * 1024 * 1024),
    ("grpc.so_reuseport", 0),
]


async def _write_events(request: pb.WriteEventsRequest, context: Any) -> pb.WriteEventsResponse:
    return pb.WriteEventsResponse(accepted_count=len(request.events))


async def _stream_events(
    requests: AsyncIterator[pb.StreamEventsRequest], context: Any
) -> pb.StreamEventsResponse:
    accepted = 0
    async for message in requests:
        accepted += len(message.events)
    return pb.StreamEventsResponse(accepted_count=accepted)


def _ingest_handler() -> grpc.GenericRpcHandler:
    return grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "WriteEvents": grpc.unary_unary_rpc_method_handler(
                _write_events,
                request_deserializer=pb.WriteEventsRequest.FromString,
                response_serializer=pb.WriteEventsResponse.SerializeToString,
            ),
            "StreamEvents": grpc.stream_unary_rpc_method_handler(
                _stream_events,
                request_deserializer=pb.StreamEventsRequest.FromString,
                response_serializer=pb.StreamEventsResponse.SerializeToString,
            ),
        },
    )


async def _export_traces(
    request: otlp_trace.ExportTraceServiceRequest, context: Any
) -> otlp_trace.ExportTraceServiceResponse:
    return otlp_trace.ExportTraceServiceResponse()


def _otlp_handler() -> grpc.GenericRpcHandler:
    return grpc.method_handlers_generic_handler(
        OTLP_TRACE_SERVICE,
        {
            "Export": grpc.unary_unary_rpc_method_handler(
                _export_traces,
                request_deserializer=otlp_trace.ExportTraceServiceRequest.FromString,
                response_serializer=otlp_trace.ExportTraceServiceResponse.SerializeToString,
            ),
        },
    )


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    return stop


async def serve_grpc(port: int) -> None:
    """Serves the bare gRPC handlers on 127.0.0.1:`port` until SIGTERM or SIGINT."""
    stop = _stop_event()
    server = grpc.aio.server(options=_GRPC_OPTIONS)
    server.add_generic_rpc_handlers([_ingest_handler(), _otlp_handler()])
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if server.add_insecure_port(f"127.0.0.1:{port}") == 0:
        raise SystemExit(f"bare grpc: cannot listen on 127.0.0.1:{port}")
    await server.start()
    for name in ("", SERVICE):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    print(f"bare grpc.aio serving on 127.0.0.1:{port}", flush=True)
    await stop.wait()
    await server.stop(1.0)


async def _ingest_body(request: web.Request) -> web.Response:
    body = await request.read()
    try:
        if request.headers.get("Content-Encoding", "").lower() == "gzip":
            body = zlib.decompress(body, wbits=16 + zlib.MAX_WBITS)
        if request.content_type == _PROTOBUF:
            otlp_trace.ExportTraceServiceRequest.FromString(body)
            return web.Response(status=200, body=_OTLP_EMPTY_ANSWER, content_type=_PROTOBUF)
        if request.content_type in _LINES:
            for line in body.splitlines():
                if line.strip():
                    orjson.loads(line)
        else:
            orjson.loads(body)
    except (orjson.JSONDecodeError, zlib.error, DecodeError):
        return web.Response(status=400, text="body does not parse")
    return web.Response(status=202, body=_QUEUED, content_type="application/json")


async def _healthz(request: web.Request) -> web.Response:
    return web.Response(status=200, text="ok")


def aiohttp_runner() -> web.AppRunner:
    """The bare aiohttp application's runner (not set up yet)."""
    app = web.Application()
    app.router.add_post("/{tail:.*}", _ingest_body)
    app.router.add_get("/healthz", _healthz)
    # As ingestd's gateway: the handler inflates gzip bodies itself.
    return web.AppRunner(app, access_log=None, handle_signals=False, auto_decompress=False)


async def serve_aiohttp(port: int, *, reuse_port: bool = False) -> None:
    """Serves the bare aiohttp handler on 127.0.0.1:`port` until SIGTERM or SIGINT."""
    stop = _stop_event()
    runner = aiohttp_runner()
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port, reuse_port=reuse_port).start()
        print(f"bare aiohttp serving on 127.0.0.1:{port}", flush=True)
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bare", description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("grpc", "aiohttp"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1, help="aiohttp only: processes on the port")
    parser.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.kind == "aiohttp" and args.workers > 1:
        return _supervise_aiohttp(args.port, args.workers)
    # The same event loop as ingestd's (uvloop where installed), so a ratio measures ingestd's cost.
    runtime.run(
        serve_grpc(args.port) if args.kind == "grpc" else serve_aiohttp(args.port, reuse_port=args.reuse_port)
    )
    return 0


def _supervise_aiohttp(port: int, workers: int) -> int:
    argv = [sys.executable, "-m", "bench.bare", "aiohttp", "--port", str(port), "--reuse-port"]
    children = [subprocess.Popen(argv) for _ in range(workers)]
    stopping: list[int] = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda received, _: stopping.append(received))
    while not stopping and all(child.poll() is None for child in children):
        time.sleep(0.1)
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    return max(abs(child.wait()) for child in children)


if __name__ == "__main__":
    sys.exit(main())
