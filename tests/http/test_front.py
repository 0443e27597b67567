"""The gateway's HTTP/1.1 front (`gateway.front`), over raw connections: what it serves itself,
what it hands to aiohttp mid-connection, and that every answer is the one aiohttp would give."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from tests.conftest import PROJECT_SECRET, Http, http_gateway, make_settings

WRITE = "/v1/projects/default/events:write"


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[Http]:
    settings = make_settings(f"sqlite:///{tmp_path / 'ingestd.db'}", http_body_timeout_s=0.5)
    async with http_gateway(settings, "inprocess") as running:
        yield running


def _write(message: str, *, extra: str = "", version: str = "1.1") -> bytes:
    body = orjson.dumps({"events": [{"message": message, "log": {}}]})
    head = (
        f"POST {WRITE} HTTP/{version}\r\nHost: x\r\nAuthorization: Bearer {PROJECT_SECRET}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    )
    return head.encode() + body


async def _response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    """One response: status, headers (lower-cased names) and body (by Content-Length)."""
    async with asyncio.timeout(10):
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        status_line, *lines = head.removesuffix("\r\n\r\n").split("\r\n")
        headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(status_line.split(" ")[1]), headers, body


async def _stored(http: Http) -> list[str]:
    async with http.session.get(
        http.url("/v1/projects/default/events"), headers={"Authorization": f"Bearer {PROJECT_SECRET}"}
    ) as response:
        assert response.status == 200
        return sorted(event["message"] for event in (await response.json()).get("events", []))


async def test_pipelined_requests_are_answered_in_order_then_aiohttp_takes_over(http: Http) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", http.port)
    probe = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    writer.write(_write("first") + _write("second") + probe + _write("third"))
    answers = [await _response(reader) for _ in range(4)]
    writer.close()

    assert [status for status, _, _ in answers] == [200, 200, 200, 200]
    first, second, health, third = answers
    for _, headers, body in (first, second, third):
        assert headers["content-type"] == "application/json"
        assert headers["x-request-id"].startswith("req_") and headers["date"].endswith("GMT")
        assert orjson.loads(body)["acceptedCount"] == 1
    assert orjson.loads(health[2]) == {"status": "ok"}
    assert await _stored(http) == ["first", "second", "third"]


async def test_a_head_and_body_that_trickle_in_are_served(http: Http) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", http.port)
    request = _write("trickled")
    for start in range(0, len(request), 40):
        writer.write(request[start : start + 40])
        await writer.drain()
        await asyncio.sleep(0.01)
    status, _, body = await _response(reader)
    writer.close()
    assert (status, orjson.loads(body)["acceptedCount"]) == (200, 1)
    assert await _stored(http) == ["trickled"]


async def test_expect_continue_chunked_and_http_1_0_are_served_by_aiohttp(http: Http) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", http.port)
    request = _write("after continue", extra="Expect: 100-continue\r\n")
    head, body = request.split(b"\r\n\r\n", 1)
    writer.write(head + b"\r\n\r\n")
    async with asyncio.timeout(10):
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 100 Continue")
    writer.write(body)
    assert (await _response(reader))[0] == 200
    writer.close()

    reader, writer = await asyncio.open_connection("127.0.0.1", http.port)
    head, body = _write("chunked").split(b"\r\n\r\n", 1)
    head = head.replace(f"Content-Length: {len(body)}".encode(), b"Transfer-Encoding: chunked")
    writer.write(head + b"\r\n\r\n" + f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n")
    assert (await _response(reader))[0] == 200
    writer.close()

    reader, writer = await asyncio.open_connection("127.0.0.1", http.port)
    writer.write(_write("one point oh", version="1.0"))
    async with asyncio.timeout(10):
        answer = await reader.read()  # HTTP/1.0: the server closes after answering
    writer.close()
    assert answer.startswith(b"HTTP/1.0 200") or answer.startswith(b"HTTP/1.1 200")
    assert await _stored(http) == ["after continue", "chunked", "one point oh"]


async def test_a_malformed_head_gets_aiohttps_400(http: Http) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", http.port)
    request = _write("never stored")
    writer.write(request.replace(b"Host: x\r\n", b"Host x\r\n"))
    async with asyncio.timeout(10):
        answer = await reader.read()
    writer.close()
    assert answer.split(b"\r\n")[0].endswith(b" 400 Bad Request")  # aiohttp's parser said it
    assert await _stored(http) == []


async def test_an_answer_before_the_body_arrived_closes_the_connection(http: Http) -> None:
    """A body that stalls gets the gateway's 408 (its body timeout, 0.5 s here), and the
    connection, out of step with the client, is closed rather than read as the next request."""
    reader, writer = await asyncio.open_connection("127.0.0.1", http.port)
    request = _write("cut short")
    writer.write(request[:-10])
    status, _, body = await _response(reader)
    async with asyncio.timeout(10):
        rest = await reader.read()
    writer.close()
    assert (status, orjson.loads(body)["details"][0]["reason"]) == (408, "BODY_TIMEOUT")
    assert rest == b""
    assert await _stored(http) == []


async def test_the_rest_of_a_refused_body_is_read_and_the_connection_goes_on(http: Http) -> None:
    """Open Sentry answers a keyless request whose body may pass its cap before reading it (401).
    As aiohttp does, the front reads and drops the rest of that body, so the client can finish
    sending it, and the connection serves the next request."""
    body = b'{"type":"error","exception":{"type":"Error","value":"boom"}}' + b" " * 300_000
    head = f"POST /v1/ingest HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", http.port)
    writer.write(head + body[:1000])
    status, _, answer = await _response(reader)
    assert (status, orjson.loads(answer)) == (401, {"error": "Missing auth key"})
    writer.write(body[1000:] + _write("next"))
    status, _, answer = await _response(reader)
    writer.close()
    assert (status, orjson.loads(answer)["acceptedCount"]) == (200, 1)
    assert await _stored(http) == ["next"]
