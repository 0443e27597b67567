"""Admission at the HTTP listener: a cap on open connections that keeps a reserve of file
descriptors for everything else (the database, gRPC, the log), and a quiet event loop when the
process does run out of them.

Past the cap a new connection is answered `503` with `Retry-After` and closed at once, so a flood
of idle connections cannot take the descriptors the server needs to serve the others. Request
bodies have their own budget (`gateway.body.BodyBudget`).
"""

from __future__ import annotations

import asyncio
import resource
import time
from collections.abc import Callable
from typing import Any

import structlog
from aiohttp import web

_log = structlog.get_logger("ingestd.admission")

#: Descriptors kept for what is not an HTTP connection: database connections, gRPC's listener
#: and its connections, the log, the writer's files.
DESCRIPTOR_RESERVE = 512
_REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\n"
    b"Content-Type: text/plain\r\nContent-Length: 25\r\n\r\ntoo many open connections"
)
#: How often one kind of event-loop error (EMFILE on accept, say) is logged at most.
_LOG_EVERY_S = 10.0


def connection_cap(wanted: int) -> int:
    """The HTTP connection cap: `wanted`, lowered to fit the descriptor limit less the reserve.
    The soft descriptor limit is raised to the hard one first, as servers do."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):  # a container may forbid it: keep the soft limit
            pass
    fits = max(soft - DESCRIPTOR_RESERVE, 64)
    if wanted > fits:
        _log.warning("http_connection_cap_lowered", wanted=wanted, cap=fits, descriptor_limit=soft)
    return min(wanted, fits)


class _Refused(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(_REFUSAL)
        transport.close()


class CappedSite(web.SockSite):
    """A `SockSite` that serves at most `max_connections` connections at once. Each connection
    starts with the protocol `front` makes (the gateway's front, which hands aiohttp the
    connections it does not serve itself); `front_connections` counts those it still holds."""

    def __init__(
        self,
        runner: web.BaseRunner,
        sock: Any,
        *,
        max_connections: int,
        front: Callable[[], asyncio.BaseProtocol],
        front_connections: Callable[[], int],
    ) -> None:
        super().__init__(runner, sock)
        self._max_connections = max_connections
        self._front = front
        self._front_connections = front_connections

    async def start(self) -> None:
        await web.BaseSite.start(self)
        server = self._runner.server
        assert server is not None

        def protocol() -> asyncio.BaseProtocol:
            if len(server.connections) + self._front_connections() >= self._max_connections:
                return _Refused()
            return self._front()

        self._server = await asyncio.get_running_loop().create_server(protocol, sock=self._sock)


def quiet_loop_errors(loop: asyncio.AbstractEventLoop) -> None:
    """Logs each kind of error the event loop reports (an accept that fails with EMFILE, say,
    which repeats for every pending connection) at most once per `_LOG_EVERY_S`, with how many
    were left out, instead of one line each."""
    last: dict[str, tuple[float, int]] = {}

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        message = str(context.get("message", "event loop error"))
        exception = context.get("exception")
        kind = f"{message}: {type(exception).__name__}" if exception is not None else message
        now = time.monotonic()
        logged_at, skipped = last.get(kind, (0.0, 0))
        if now - logged_at < _LOG_EVERY_S:
            last[kind] = (logged_at, skipped + 1)
            return
        last[kind] = (now, 0)
        _log.error("event_loop_error", message=message, error=repr(exception), skipped_since_last=skipped)

    loop.set_exception_handler(handle)
