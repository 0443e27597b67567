"""A minimal HTTP/1.1 client for the load generator: one keep-alive connection, one request at a time.

Contract:

- `Connection.open(host, port)` connects. `request(head, body)` sends `head` (the request line and
  the headers, each ending in CRLF, without Content-Length, which it adds) and `body`, and returns
  `(status, body)` once the whole answer has arrived. Answers are framed by Content-Length or by
  chunked transfer coding (trailers are not supported); 1xx answers are not expected.
- A connection that the server closed, that failed, or whose answer said `Connection: close` is
  `closed`: a request on it, or pending when it closed, raises `ConnectionError`. Callers open a
  new one. `close()` is idempotent.
- Not thread-safe, and one request at a time per connection (no pipelining).

Why not aiohttp's client: on the benchmark machine it costs about 3 times the CPU per request
(about 140 us against 40 us). Client and server share the cores, so a heavier client both lowers
every figure and flatters ingestd's ratio to the bare handler (the baseline is the one the client
holds back most). The bare aiohttp server is what stays the reference, not the client.
"""

from __future__ import annotations

import asyncio
import contextlib

_HEADERS_END = b"\r\n\r\n"


class Connection(asyncio.Protocol):
    """One HTTP/1.1 connection; see the module's contract."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.closed = False
        # The answer being read: its status, and its body's framing once the head is parsed.
        self._status = 0
        self._length: int | None = None
        self._chunked = False
        self._head_size = 0
        self._close_after = False

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(cls, host, port)
        return protocol

    # --- asyncio.Protocol -----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._waiter is not None and not self._waiter.done():
            try:
                self._parse()
            except ValueError as exc:
                self._fail(ConnectionError(f"malformed HTTP answer: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(ConnectionError(f"the server closed the connection ({exc or 'EOF'})"))

    # --- requests -------------------------------------------------------------------------------

    async def request(self, head: bytes, body: bytes) -> tuple[int, bytes]:
        """Sends one request and returns `(status, body)`; see the module's contract."""
        if self.closed or self._transport is None:
            raise ConnectionError("the connection is closed")
        self._waiter = asyncio.get_running_loop().create_future()
        self._status = 0
        self._head_size = 0
        self._transport.write(b"%bContent-Length: %d\r\n\r\n%b" % (head, len(body), body))
        try:
            return await self._waiter
        finally:
            self._waiter = None

    def close(self) -> None:
        self._fail(ConnectionError("closed by the client"))

    def _fail(self, error: Exception) -> None:
        self.closed = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(error)
        if self._transport is not None:
            with contextlib.suppress(Exception):
                self._transport.close()

    def _parse(self) -> None:
        buffer = self._buffer
        if not self._status:
            end = buffer.find(_HEADERS_END)
            if end < 0:
                return
            self._read_head(bytes(buffer[:end]))
            self._head_size = end + len(_HEADERS_END)
        if self._chunked:
            found = self._chunked_body(self._head_size)
            if found is None:
                return
            body, consumed = found
        else:
            length = self._length or 0
            consumed = self._head_size + length
            if len(buffer) < consumed:
                return
            body = bytes(buffer[self._head_size : consumed])
        del buffer[:consumed]
        assert self._waiter is not None
        self._waiter.set_result((self._status, body))
        if self._close_after:
            self._fail(ConnectionError("the server asked to close the connection"))

    def _read_head(self, head: bytes) -> None:
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise ValueError(f"bad status line {lines[0][:80]!r}")
        self._status = int(parts[1])
        self._length = None
        self._chunked = False
        self._close_after = parts[0] == b"HTTP/1.0"
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                self._length = int(value)
            elif name == b"transfer-encoding":
                self._chunked = b"chunked" in value.lower()
            elif name == b"connection":
                self._close_after = value.strip().lower() == b"close"
        if (
            self._length is None
            and not self._chunked
            and not (self._status < 200 or self._status in (204, 304))
        ):
            raise ValueError("an answer without Content-Length or chunked coding")

    def _chunked_body(self, start: int) -> tuple[bytes, int] | None:
        """The decoded body and the bytes it spans from the buffer's start, or None if incomplete."""
        buffer = self._buffer
        pieces: list[bytes] = []
        position = start
        while True:
            line_end = buffer.find(b"\r\n", position)
            if line_end < 0:
                return None
            size = int(bytes(buffer[position:line_end]).split(b";")[0], 16)
            chunk_start = line_end + 2
            if size == 0:
                if len(buffer) < chunk_start + 2:
                    return None
                return b"".join(pieces), chunk_start + 2
            if len(buffer) < chunk_start + size + 2:
                return None
            pieces.append(bytes(buffer[chunk_start : chunk_start + size]))
            position = chunk_start + size + 2
