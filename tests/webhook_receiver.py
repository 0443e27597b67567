"""A real webhook receiver for the tests: an aiohttp server on 127.0.0.1 that records every
request, verifies its signature the way the README tells receivers to, and answers from a script.

Script entries: an HTTP status (`500`), `"hang"` (answer nothing until the receiver stops, so the
sender times out) or `"close"` (drop the connection without answering). Past the end of the script
every request gets 200.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Step = int | str


def verify(
    secret: str, headers: Mapping[str, str], body: bytes, *, now: float | None = None, tolerance_s: int = 300
) -> bool:
    """The README's recipe: the timestamp is recent and the signature matches."""
    timestamp = headers.get("X-Ingestd-Timestamp", "")
    signature = headers.get("X-Ingestd-Signature", "")
    current = time.time() if now is None else now
    if not timestamp.isdigit() or abs(current - int(timestamp)) > tolerance_s:
        return False
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(f"v1={expected}", signature)


@dataclass
class Received:
    """One request as the receiver saw it."""

    headers: dict[str, str]
    body: bytes
    verified: bool
    answered: Step

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def delivery(self) -> str:
        return self.headers.get("X-Ingestd-Delivery", "")


def reserve_port() -> socket.socket:
    """A socket bound to a free port of 127.0.0.1 and not listening: connections to it are
    refused, and no other process can take the port before a receiver listens on it."""
    reserved = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    reserved.bind(("127.0.0.1", 0))
    return reserved


@dataclass
class WebhookReceiver:
    """Start with `async with WebhookReceiver(...) as receiver`; `url` is where it listens.
    `now` is the verifier's clock in seconds (the tests' ManualClock); `secret` is set once the
    webhook exists."""

    script: list[Step] = field(default_factory=list)
    now: Callable[[], float] | None = None
    secret: str = ""
    port: int = 0
    path: str = "/hook"
    received: list[Received] = field(default_factory=list)
    #: A socket bound (not listening) beforehand, from `reserve_port`: the receiver listens on it.
    sock: socket.socket | None = None

    def __post_init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self._released = asyncio.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    async def __aenter__(self) -> WebhookReceiver:
        app = web.Application()
        app.router.add_post(self.path, self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0)
        await self._runner.setup()
        site: web.BaseSite
        if self.sock is not None:
            site = web.SockSite(self._runner, self.sock)
        else:
            site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._released.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def then(self, steps: Iterable[Step]) -> None:
        """Appends answers to the script."""
        self.script.extend(steps)

    async def wait_for(self, count: int, timeout_s: float = 10.0) -> list[Received]:
        """Waits until `count` requests have arrived (an effect, not a window) and returns them."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while len(self.received) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{len(self.received)} of {count} webhook requests arrived")
            await asyncio.sleep(0.01)
        return self.received

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = dict(request.headers)
        now = self.now() if self.now is not None else None
        step: Step = self.script.pop(0) if self.script else 200
        self.received.append(Received(headers, body, verify(self.secret, headers, body, now=now), step))
        if step == "hang":
            await self._released.wait()
            return web.Response(status=200)
        if step == "close":
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=200)
        assert isinstance(step, int)
        return web.Response(status=step, text="scripted")
