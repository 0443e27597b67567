"""The HTTP/1.1 front of the gateway: the hot path's requests served without aiohttp's machinery.

Measured with `python -m bench.profile --route canonical`, aiohttp's own code (protocol, request,
stream reader, response, writer) took a third of the event loop's time on a one-event request.
Most requests an ingest server takes are alike: a POST with a Content-Length body of a few KB to
one of the gateway's routes, on a kept-alive HTTP/1.1 connection. The front parses such a request
itself, gives the gateway's handler a `FrontRequest` (the few attributes of `web.Request` it
reads, the body fed to it as it arrives, so that the gateway's body limits and timeout hold as
they do under aiohttp), and writes the `web.Response` it returns. A connection whose body did not
all arrive (refused before its end, or timed out) is closed after the answer.

Everything else goes to aiohttp, which keeps the connection from then on: the front hands it the
transport and the bytes of the request not served (`_Connection._hand_off`). That covers every
other method, `Expect: 100-continue`, chunked and other transfer codings, bodies past
`FAST_BODY_BYTES`, heads slower than the keep-alive timeout, `Connection: close` or upgrades, HTTP/1.0,
percent-encoded or `+` targets, non-ASCII or malformed heads, and paths the gateway has no route for
(the documents, the operator's probes and metrics). A request is handed over before the front has
answered any of it, so aiohttp serves it as if it had had the connection from the start.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from typing import cast

import structlog
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

_log = structlog.get_logger("ingestd.http")

#: The largest body the front buffers itself; a larger one streams through aiohttp, counted
#: against the body budget as it arrives.
FAST_BODY_BYTES = 1024 * 1024
#: The longest request head the front parses (aiohttp answers a longer one: 431 or 400).
_MAX_HEAD_BYTES = 16 * 1024
_HEAD_END = b"\r\n\r\n"
# The request line the front serves: a POST of an origin-form target without percent-encoding,
# `+`, or a fragment, in HTTP/1.1. Anything else is aiohttp's.
_REQUEST_LINE = re.compile(r"POST (/[!-~]*) HTTP/1\.1")
_PLAIN_TARGET = re.compile(r"[^%+#]*")
# Header lines (RFC 9110 field names, visible ASCII and blanks in values), each ending in CRLF.
_HEADER_LINES = re.compile(r"(?:[!#$%&'*+.^_`|~0-9A-Za-z-]+:[\t\x20-\x7e]*\r\n)*")
_HANDED_OVER = frozenset({"transfer-encoding", "expect", "upgrade", "connection"})
_SERVER_ERROR = (
    b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: 21\r\n"
    b"Connection: close\r\n\r\nInternal Server Error"
)
# Past this many bytes buffered behind a request in progress (pipelined requests), the front stops
# reading until it is answered.
_MAX_BUFFERED = FAST_BODY_BYTES + _MAX_HEAD_BYTES


class _Body:
    """A `FrontRequest`'s content as it arrives: the part of aiohttp's `StreamReader` that
    `gateway.body.read_body` uses. Its Content-Length is known; the connection feeds it."""

    __slots__ = ("_chunks", "_missing", "_waiter", "_dropping")

    def __init__(self, length: int) -> None:
        self._chunks: list[bytes] = []
        self._missing = length
        self._waiter: asyncio.Future[None] | None = None
        self._dropping = False

    def feed(self, data: bytes) -> bytes:
        """Takes what `data` holds of the body; returns the rest (the next request's bytes)."""
        taken = data[: self._missing]
        if taken:
            self._missing -= len(taken)
            if not self._dropping:
                self._chunks.append(taken)
            if self._waiter is not None and not self._waiter.done():
                self._waiter.set_result(None)
        return data[len(taken) :]

    def is_eof(self) -> bool:
        return not self._missing

    def drop_the_rest(self) -> None:
        """From now on the body's bytes are counted, not kept: nobody will read them."""
        self._dropping = True
        self._chunks.clear()

    def read_nowait(self, n: int = -1) -> bytes:
        """Every byte here and not read yet (`n` is not honoured: the gateway asks for all)."""
        data = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
        self._chunks.clear()
        return data

    async def read(self, n: int = -1) -> bytes:
        """The bytes here and not read yet, once there are some; b"" at the end."""
        while not self._chunks and self._missing:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self.read_nowait()


class FrontRequest:
    """What the gateway's handler reads of a request the front serves."""

    __slots__ = ("method", "path", "headers", "remote", "content_length", "content", "_query", "_parsed")

    def __init__(
        self, path: str, query: str, headers: CIMultiDictProxy[str], remote: str | None, length: int
    ) -> None:
        self.method = "POST"
        self.path = path
        self.headers = headers
        self.remote = remote
        self.content_length = length
        self.content = _Body(length)
        self._query = query
        self._parsed: MultiDictProxy[str] | None = None

    @property
    def query(self) -> MultiDictProxy[str]:
        """The query parameters, parsed on first use (the gateway reads them up to three times)."""
        if self._parsed is None:
            pairs = [pair.partition("=") for pair in self._query.split("&") if pair]
            self._parsed = MultiDictProxy(MultiDict((name, value) for name, _, value in pairs))
        return self._parsed


#: A request as the gateway's handler reads it: aiohttp's, or the front's.
Request = web.Request | FrontRequest
Handler = Callable[[Request], Awaitable[web.StreamResponse]]


class Front:
    """The front of one HTTP listener: `connection()` is its protocol factory."""

    def __init__(
        self,
        handler: Handler,
        serves: Callable[[str], bool],
        fallback: Callable[[], asyncio.Protocol],
        *,
        keepalive_s: float,
        linger_s: float,
    ) -> None:
        """`handler` answers a request (the gateway's), `serves(path)` says whether the gateway
        has a POST route for `path`, and `fallback()` makes aiohttp's protocol for a connection
        handed over. An idle connection is closed after `keepalive_s`; the rest of a body
        answered before it all came (a refusal) is read and dropped for `linger_s` at most, as
        aiohttp does, so that the client can finish sending and read the answer."""
        self._handler = handler
        self._serves = serves
        self._fallback = fallback
        self._keepalive_s = keepalive_s
        self._linger_s = linger_s
        self.connections: set[_Connection] = set()
        self._closing = False
        self._drained: asyncio.Event | None = None
        self._date_s = 0
        self._date = ""

    def connection(self) -> asyncio.Protocol:
        return _Connection(self)

    def date(self) -> str:
        """The Date header's value, formatted once a second."""
        now = int(time.time())
        if now != self._date_s:
            self._date_s, self._date = now, formatdate(now, usegmt=True)
        return self._date

    async def shutdown(self, timeout_s: float) -> None:
        """Closes idle connections now, and the others once their request is answered (within
        `timeout_s`, then they are closed too)."""
        self._closing = True
        self._drained = asyncio.Event()
        for connection in list(self.connections):
            connection.close_when_idle()
        if self.connections:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained.wait(), timeout_s)
        for connection in list(self.connections):
            connection.abort()

    def _forget(self, connection: _Connection) -> None:
        self.connections.discard(connection)
        if self._drained is not None and not self.connections:
            self._drained.set()


class _Connection(asyncio.Protocol):
    __slots__ = (
        "_front",
        "_transport",
        "_buffer",
        "_body",
        "_task",
        "_timer",
        "_remote",
        "_writing",
        "_eof",
        "_closing",
    )

    def __init__(self, front: Front) -> None:
        self._front = front
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._body: _Body | None = None  # the body of the request in progress
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._remote: str | None = None
        self._writing = True  # False while the transport's write buffer is full
        self._eof = False
        self._closing = False

    # -- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not `asyncio.Transport` subclasses, but have its methods.
        self._transport = cast(asyncio.Transport, transport)
        if self._front._closing:  # draining: no new connection is served
            transport.close()
            self._transport = None
            return
        peer = self._transport.get_extra_info("peername")
        self._remote = str(peer[0]) if isinstance(peer, tuple) and peer else None
        self._front.connections.add(self)
        self._wait_idle()

    def data_received(self, data: bytes) -> None:
        body = self._body
        if body is not None and not body.is_eof():
            data = body.feed(data)
            if self._task is None and body.is_eof():  # the last of a refused body: dropped
                self._body = None
                self._wait_idle()
        self._buffer += data
        if self._task is None and self._body is None:
            self._next()
        elif len(self._buffer) > _MAX_BUFFERED and self._transport is not None:
            self._transport.pause_reading()

    def eof_received(self) -> bool:
        self._eof = True
        if self._body is not None and not self._body.is_eof():
            # Hung up mid-body: nobody will read an answer, and the budget comes back now.
            if self._task is not None:
                self._task.cancel()
            return False
        if self._task is not None:
            return True  # answer the request in progress, then close
        if self._buffer:  # a request cut short: aiohttp says what it makes of it
            self._hand_off()
            return True
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._front._forget(self)
        self._stop_timer()
        if self._task is not None:
            # As aiohttp's handler cancellation: the handler's budget and slot come back now.
            self._task.cancel()
        self._transport = None

    def pause_writing(self) -> None:
        self._writing = False

    def resume_writing(self) -> None:
        self._writing = True
        if self._task is None and self._body is None and self._transport is not None:
            self._next()

    # -- serving -----------------------------------------------------------------------------

    def close_when_idle(self) -> None:
        self._closing = True
        if self._task is None and self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def _next(self) -> None:
        """Serves the next request in the buffer once its head has arrived (the handler reads
        the body as it comes, within the gateway's body timeout); hands the connection to aiohttp
        if the request is not one for the front."""
        transport = self._transport
        if transport is None or not self._writing:
            return
        if not transport.is_reading():  # paused behind the request just answered
            transport.resume_reading()
        buffer = self._buffer
        head_end = buffer.find(_HEAD_END)
        if head_end < 0:
            if len(buffer) > _MAX_HEAD_BYTES:
                self._hand_off()
            elif self._eof and not buffer:
                transport.close()
            return
        parsed = self._parse(bytes(buffer[:head_end]))
        if parsed is None:
            self._hand_off()
            return
        path, query, headers, length = parsed
        self._stop_timer()
        request = FrontRequest(path, query, headers, self._remote, length)
        rest = request.content.feed(bytes(buffer[head_end + 4 :]))
        self._buffer = bytearray(rest)
        self._body = request.content
        self._task = asyncio.get_running_loop().create_task(self._serve(request))

    def _parse(self, head_bytes: bytes) -> tuple[str, str, CIMultiDictProxy[str], int] | None:
        """The target's path and query, the headers and the body's length of a request the
        front serves; None for one it hands over."""
        if not head_bytes.isascii():
            return None
        head = head_bytes.decode("ascii")
        line_end = head.find("\r\n")
        request_line = head if line_end < 0 else head[:line_end]
        matched = _REQUEST_LINE.fullmatch(request_line)
        if matched is None or _PLAIN_TARGET.fullmatch(target := matched.group(1)) is None:
            return None
        lines = "" if line_end < 0 else head[line_end + 2 :] + "\r\n"
        if _HEADER_LINES.fullmatch(lines) is None:
            return None
        fields = [line.partition(":") for line in lines.split("\r\n")[:-1]]
        headers = CIMultiDict((name, value.strip(" \t")) for name, _, value in fields)
        if any(name.lower() in _HANDED_OVER for name, _, _ in fields):
            return None
        lengths = headers.getall("Content-Length", ())
        if len(lengths) != 1 or not lengths[0].isdigit() or int(lengths[0]) > FAST_BODY_BYTES:
            return None
        path, _, query = target.partition("?")
        if not self._front._serves(path):
            return None
        return path, query, CIMultiDictProxy(headers), int(lengths[0])

    async def _serve(self, request: FrontRequest) -> None:
        try:
            response = await self._front._handler(request)
            self._write(response)
        except asyncio.CancelledError:
            raise  # the client went away: nothing to answer
        except Exception:
            _log.exception("http_front_failed")
            if self._transport is not None:
                self._transport.write(_SERVER_ERROR)
                self._transport.close()
                self._transport = None  # nothing more is served on it
            return
        finally:
            self._task = None
        if self._transport is None:
            return
        if self._eof or self._closing or self._front._closing:
            self._transport.close()
            return
        body, self._body = self._body, None
        if body is not None and not body.is_eof():
            # Answered before the whole body came: its rest is read and dropped (data_received)
            # for a while, then the connection goes on; a client that stops sending is cut off.
            body.drop_the_rest()
            self._body = body
            self._stop_timer()
            self._timer = asyncio.get_running_loop().call_later(self._front._linger_s, self._abandon)
            return
        self._wait_idle()
        self._next()

    def _write(self, response: web.StreamResponse) -> None:
        transport = self._transport
        if transport is None:
            return
        assert isinstance(response, web.Response), "the gateway answers with whole responses"
        body = response.body
        assert body is None or isinstance(body, bytes), "the gateway's bodies are bytes"
        status = response.status
        headers = response.headers
        lines = [f"HTTP/1.1 {status} {response.reason}\r\n"]
        lines.extend(f"{name}: {value}\r\n" for name, value in headers.items() if name != "Content-Length")
        if status in (204, 304) or status < 200:
            body = b""
        else:
            body = body or b""
            if body and "Content-Type" not in headers:
                lines.append("Content-Type: application/octet-stream\r\n")
            lines.append(f"Content-Length: {len(body)}\r\n")
        lines.append(f"Date: {self._front.date()}\r\n\r\n")
        transport.write("".join(lines).encode("utf-8") + body)

    def _wait_idle(self) -> None:
        """Arms the keep-alive timer: an idle connection is closed when it fires."""
        self._stop_timer()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._front._keepalive_s, self._idle)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _abandon(self) -> None:
        self._timer = None
        if self._transport is not None:
            self._transport.close()

    def _idle(self) -> None:
        self._timer = None
        if self._task is not None or self._transport is None:
            return
        if self._buffer:  # a head that has not all arrived: aiohttp's own timeouts take over
            self._hand_off()
        else:
            self._transport.close()

    def _hand_off(self) -> None:
        """Gives the connection, and every byte not served, to aiohttp for good."""
        transport = self._transport
        if transport is None:
            return
        self._stop_timer()
        self._front._forget(self)
        self._transport = None
        protocol = self._front._fallback()
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        if not transport.is_reading():
            transport.resume_reading()
        data, self._buffer = bytes(self._buffer), bytearray()
        if data:
            protocol.data_received(data)
        if self._eof:
            protocol.eof_received()
