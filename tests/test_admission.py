"""Admission control at the HTTP port, over real sockets: a per-process budget of body bytes
(refused 503 with Retry-After before the body is read, and inflated bytes counted too), a cap on
open connections, public keys kept off the canonical routes, and event-loop errors logged once
per burst. On SQLite and PostgreSQL where storage is involved."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Callable

import grpc
import orjson
import pytest
import structlog.testing

from ingestd.v1 import admin_service_pb2 as admin_pb
from server.admission import quiet_loop_errors
from tests.conftest import PROJECT_SECRET, Client, Http, grpc_channel, http_gateway, make_settings
from tests.helpers import log_event, write_request

WRITE = "/v1/projects/default/events:write"
MIB = 1024 * 1024


def _events_body(size: int) -> bytes:
    """A canonical write of one event whose message pads the body to about `size` bytes."""
    return orjson.dumps({"events": [{"message": "x" * (size - 40)}]})


async def _head(port: int, body_length: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A write whose headers announce `body_length` bytes, none of them sent yet."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"POST {WRITE} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {PROJECT_SECRET}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {body_length}\r\n\r\n".encode()
    )
    await writer.drain()
    return reader, writer


async def _status_line(reader: asyncio.StreamReader) -> bytes:
    async with asyncio.timeout(10):
        return await reader.readline()


async def test_a_body_past_the_budget_is_refused_before_it_is_read(database_url: str) -> None:
    # The smallest budget the settings allow for 1 MiB bodies and 1 MiB inflated.
    settings = make_settings(
        database_url,
        http_max_body_bytes=MIB,
        http_max_decompressed_bytes=MIB,
        http_max_bytes_in_flight=2 * MIB,
    )
    async with http_gateway(settings, "inprocess") as http:
        held = _events_body(900 * 1024)
        first = await _head(http.port, len(held))  # holds 900 KiB of budget while its body trickles
        second = await _head(http.port, len(held))  # 900 KiB more: still within 2 MiB
        await _until_held(http, 2 * (len(held) // 1024))
        third_body = _events_body(400 * 1024)
        async with http.session.post(
            http.url(WRITE), data=third_body, headers=_json_bearer(http)
        ) as response:
            assert response.status == 503
            assert response.headers["Retry-After"] == "1"
            assert (await response.json())["details"][0]["reason"] == "SERVER_BUSY"
        for reader, writer in (first, second):
            writer.write(held)
            await writer.drain()
            assert (await _status_line(reader)).startswith(b"HTTP/1.1 200")
            writer.close()
        async with http.session.post(
            http.url(WRITE), data=third_body, headers=_json_bearer(http)
        ) as response:
            assert response.status == 200, "the budget came back with the answers"

        # Inflated bytes count as well: a small gzip body that inflates to 1 MiB, beside two held
        # bodies, runs out of budget.
        heads = [await _head(http.port, len(held)) for _ in range(2)]
        await _until_held(http, 2 * (len(held) // 1024))
        bomb = gzip.compress(_events_body(MIB - 100))
        assert len(bomb) < 4096
        headers = {**_json_bearer(http), "Content-Encoding": "gzip"}
        async with http.session.post(http.url(WRITE), data=bomb, headers=headers) as response:
            assert response.status == 503 and response.headers["Retry-After"] == "1"
        for _, writer in heads:
            writer.close()
        # Clients that hang up mid-body give their share of the budget back at once.
        await _until_bytes_in_flight(http, lambda held: held == 0)


async def _until_held(http: Http, kib: int) -> None:
    """Waits until the server holds at least `kib` KiB of bodies (its handlers have started)."""
    await _until_bytes_in_flight(http, lambda held: held >= kib * 1024)


async def _until_bytes_in_flight(http: Http, done: Callable[[float], bool]) -> None:
    """Waits until the server's `ingestd_bytes_in_flight` satisfies `done` (10 s at most)."""
    async with asyncio.timeout(10):
        while True:
            async with http.session.get(http.url("/metrics")) as response:
                text = await response.text()
            held = next(line for line in text.splitlines() if line.startswith("ingestd_bytes_in_flight "))
            if done(float(held.split()[1])):
                return
            await asyncio.sleep(0.02)


def _json_bearer(http: Http) -> dict[str, str]:
    return {**http.bearer(), "Content-Type": "application/json"}


async def test_connections_past_the_cap_are_refused_at_once(tmp_path: object) -> None:
    settings = make_settings(f"sqlite:///{tmp_path}/cap.db", http_max_connections=4)
    async with http_gateway(settings, "inprocess") as http:
        # aiohttp's client session of the fixture holds none yet; four idle connections fill the cap.
        idle = [await asyncio.open_connection("127.0.0.1", http.port) for _ in range(4)]
        await asyncio.sleep(0.1)
        reader, writer = await asyncio.open_connection("127.0.0.1", http.port)
        refused = await asyncio.wait_for(reader.read(), 10)
        assert refused.startswith(b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n")
        writer.close()
        for _, idle_writer in idle:
            idle_writer.close()
        await asyncio.sleep(0.1)
        async with http.session.get(http.url("/healthz")) as response:
            assert response.status == 200, "a slot is free again"


async def test_a_public_key_may_not_write_on_the_canonical_routes(database_url: str) -> None:
    async with (
        http_gateway(make_settings(database_url), "inprocess") as http,
        grpc_channel(http.running.grpc_port) as channel,
    ):
        client = Client.for_channel(http.running, channel)
        made = await client.admin.CreateApiKey(
            admin_pb.CreateApiKeyRequest(
                organization="default", kind=admin_pb.API_KEY_KIND_PUBLIC, project="default"
            ),
            metadata=client.master,
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await client.ingest.WriteEvents(write_request(log_event()), metadata=client.auth(made.secret))
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        async with http.session.post(
            http.url(WRITE), json={"events": [{"message": "m"}]}, headers=http.bearer(made.secret)
        ) as response:
            assert response.status == 403
            assert (await response.json())["details"][0]["reason"] == "PUBLIC_KEY"


async def test_a_burst_of_event_loop_errors_is_logged_once() -> None:
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    quiet_loop_errors(loop)
    emfile = {
        "message": "socket.accept() out of system resource",
        "exception": OSError(24, "Too many open files"),
    }
    try:
        with structlog.testing.capture_logs() as logged:
            for _ in range(500):
                loop.call_exception_handler(emfile)
    finally:
        loop.set_exception_handler(previous)
    assert [(e["event"], e["skipped_since_last"]) for e in logged] == [("event_loop_error", 0)]
    assert "Too many open files" in logged[0]["error"]
