"""One group writer for the worker processes that share a SQLite file.

A SQLite file takes one writer at a time. When each worker of `ingestd serve --workers N` wrote
its own groups, they took turns at the file, and each commit held only one worker's requests: the
file's commits, not the CPU, set the pace. Instead one process of the supervisor's hosts the
`GroupWriter` and serves it on a Unix socket (`WriterLink`); the workers hand it their rows
(`RemoteWriter`, the same `write` contract), so every worker's requests share each commit, and
every answer still waits for it.

Frames are a 4-byte big-endian length and a `marshal`ed tuple, both ways:
- request: `(request_id, key_id, rows)`, each row a plain tuple in `EventRow` order;
- answer: `(request_id, status, results)`, with `results` a list of `(event_id, duplicate)` when
  the status is OK.
Answers come in commit order, not request order.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import marshal
import os
import struct
from collections.abc import Sequence
from typing import Any

import structlog

from storage.events import EventRow
from storage.writer import CommitFailed, GroupWriter, KeyRevoked, Stored, WriterClosed

_log = structlog.get_logger("ingestd.writer")
_LENGTH = struct.Struct("!I")
_OK, _REVOKED, _FAILED, _CLOSED = range(4)
# A worker may start before the host's socket listens, or write while the host restarts: it waits
# this long for the socket before it answers that the database is unavailable.
_CONNECT_WAIT_S = 5.0
_CONNECT_RETRY_S = 0.05
_ERRORS: dict[int, type[Exception]] = {_REVOKED: KeyRevoked, _FAILED: CommitFailed, _CLOSED: WriterClosed}


def _frame(value: tuple[Any, ...]) -> tuple[bytes, bytes]:
    """A frame as its length and its body, written apart: a batch's body is megabytes, and each
    copy of it would add to the peak memory of both processes."""
    body = marshal.dumps(value)
    return _LENGTH.pack(len(body)), body


class _Outbox:
    """Frames for one connection, written together once per turn of the event loop: a group's
    answers (or a burst of requests) cost one system call, not one each."""

    def __init__(self, stream: asyncio.StreamWriter) -> None:
        self.stream = stream
        self._parts: list[bytes] = []

    def push(self, frame: tuple[bytes, bytes]) -> None:
        if not self._parts:
            asyncio.get_running_loop().call_soon(self._flush)
        self._parts += frame

    def _flush(self) -> None:
        parts, self._parts = self._parts, []
        if not self.stream.is_closing():
            self.stream.writelines(parts)


async def _read_frame(reader: asyncio.StreamReader) -> Any:
    (length,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
    return marshal.loads(await reader.readexactly(length))


class WriterLink:
    """Serves a `GroupWriter` on a Unix socket to the workers of this host."""

    def __init__(self, writer: GroupWriter, path: str) -> None:
        self._writer = writer
        self._path = path
        self._server: asyncio.Server | None = None
        self._streams: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        # A socket file left by a host that died would refuse the bind.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path)
        self._server = await asyncio.start_unix_server(self._serve, self._path)
        os.chmod(self._path, 0o600)

    async def close(self) -> None:
        """Stops taking requests; the ones taken are answered (or fail) as the writer closes."""
        if self._server is not None:
            self._server.close()
            # Closing a connection ends its reading loop with EOF; cancelling the loop instead
            # would make asyncio log the cancellation as an error of the connection's callback.
            for stream in list(self._streams):
                stream.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._path)

    async def _serve(self, reader: asyncio.StreamReader, stream: asyncio.StreamWriter) -> None:
        self._streams.add(stream)
        outbox = _Outbox(stream)
        answering: set[asyncio.Future[list[Stored]]] = set()
        try:
            while True:
                request_id, key_id, rows = await _read_frame(reader)
                # Answered from the future's callback: no task per request.
                future = self._writer.submit(key_id, [EventRow(*row) for row in rows])
                answering.add(future)
                future.add_done_callback(answering.discard)
                future.add_done_callback(functools.partial(_reply, outbox, request_id))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the worker went away; what it sent is still committed and answered into the void
        except (ValueError, EOFError, TypeError) as exc:  # pragma: no cover - a peer of another protocol
            _log.warning("writer_link_bad_frame", error=type(exc).__name__)
        finally:
            self._streams.discard(stream)
            if answering:
                await asyncio.gather(*answering, return_exceptions=True)
            stream.close()


def _reply(outbox: _Outbox, request_id: int, done: asyncio.Future[list[Stored]]) -> None:
    """Queues the answer to one request once the writer has settled it."""
    error = CommitFailed("cancelled") if done.cancelled() else done.exception()
    if error is None:
        outbox.push(_frame((request_id, _OK, [(s.event_id, s.duplicate) for s in done.result()])))
    elif isinstance(error, KeyRevoked):
        outbox.push(_frame((request_id, _REVOKED, None)))
    else:
        outbox.push(_frame((request_id, _CLOSED if isinstance(error, WriterClosed) else _FAILED, None)))


class RemoteWriter:
    """`GroupWriter.write` over the socket of the process that hosts the writer."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._ids = itertools.count()
        self._pending: dict[int, asyncio.Future[tuple[int, Any]]] = {}
        self._outbox: _Outbox | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._connecting = asyncio.Lock()
        self._closed = False

    async def write(self, key_id: str | None, rows: Sequence[EventRow]) -> list[Stored]:
        """As `GroupWriter.write`. A host that cannot be reached within `_CONNECT_WAIT_S` is
        `CommitFailed`: the writer process is restarting, and a retry may succeed."""
        if self._closed:
            raise WriterClosed()
        outbox = await self._connect()
        request_id = next(self._ids)
        future: asyncio.Future[tuple[int, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            outbox.push(_frame((request_id, key_id, [tuple(row) for row in rows])))
            status, results = await future
        finally:
            self._pending.pop(request_id, None)
        if status != _OK:
            raise _ERRORS[status]()
        return [Stored(event_id, duplicate) for event_id, duplicate in results]

    async def close(self) -> None:
        self._closed = True
        if self._outbox is not None:
            self._outbox.stream.close()
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader_task
        self._fail_pending(WriterClosed())

    async def _connect(self) -> _Outbox:
        outbox = self._outbox
        if outbox is not None and not outbox.stream.is_closing():
            return outbox
        async with self._connecting:
            if self._outbox is None or self._outbox.stream.is_closing():
                reader, stream = await self._open()
                self._outbox = _Outbox(stream)
                self._reader_task = asyncio.ensure_future(self._read(reader, stream))
            return self._outbox

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        for _ in range(int(_CONNECT_WAIT_S / _CONNECT_RETRY_S)):
            try:
                return await asyncio.open_unix_connection(self._path)
            except OSError:
                await asyncio.sleep(_CONNECT_RETRY_S)
        raise CommitFailed("the writer process is unreachable")

    async def _read(self, reader: asyncio.StreamReader, stream: asyncio.StreamWriter) -> None:
        try:
            while True:
                request_id, status, results = await _read_frame(reader)
                future = self._pending.get(request_id)
                if future is not None and not future.done():
                    future.set_result((status, results))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            if self._outbox is not None and self._outbox.stream is stream:
                self._outbox = None
            stream.close()
            # What was sent may or may not have been committed; the caller's retry (with
            # idempotency keys where a duplicate matters) settles it.
            self._fail_pending(CommitFailed("writer connection lost"))

    def _fail_pending(self, error: Exception) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(error)
        self._pending.clear()
