"""Webhook delivery: signing, the SSRF guard, and the dispatcher that drains the outbox.

Signing: each POST carries `X-Ingestd-Timestamp: <unix seconds>` and
`X-Ingestd-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>." + body)>`, plus
`X-Ingestd-Delivery` (the delivery id, the same on every retry) and `X-Ingestd-Event`.

Shapes: the outbox holds ingestd's own body (README); a webhook registered through a vendor's API
(`Webhook.dialect`) is sent that body as its vendor shapes alerts, by the vendor's pure
`Vendor.webhook_payload`, so every attempt still sends the same bytes.

Safe targets (`AddressGuard`): a webhook may only reach global addresses. Private, loopback,
link-local, multicast, reserved and unspecified addresses (IPv4-mapped IPv6 judged as IPv4) are
refused unless they fall within `settings.webhook_allowed_networks`. The check runs when a webhook
is created or changed (every address its host resolves to), and again at each send: IP literals
directly, names through `GuardedResolver`, which drops refused addresses, so a name re-pointed at
an internal address after creation (DNS rebinding) is not followed. Redirects are never followed.

Retries: every attempt that does not end in a 2xx answer is a failure, whatever the reason (a
network error, a timeout, any 3xx, 4xx or 5xx: receivers often fix their configuration, so even a
4xx is retried). Failure n waits `d/2 + uniform(0, d/2)` with `d = min(backoff_max, backoff_base *
2^(n-1))` ("equal jitter": never less than half the exponential delay, so retries of many
deliveries spread out but a receiver gets a predictable breather). After `webhook_max_attempts`
attempts the delivery is FAILED. Each failure also counts against the webhook; after
`webhook_disable_after_failures` failures in a row (a 2xx resets the count) the webhook is
disabled with a reason and its pending deliveries fail. A due delivery whose webhook is disabled
or deleted, or whose project's limits disable webhooks, fails without being sent.

Guarantees: a node sends a delivery only under a lease taken by a conditional UPDATE
(`storage.webhooks.claim`), so two nodes never send it at once. Its outcome is recorded shielded
from cancellation, so a shutdown after the receiver's 2xx still records DELIVERED where the
process lives long enough, and a DELIVERED delivery is never sent again. A crash between the
receiver's answer and the record means the lease runs out and the delivery is sent again:
delivery is at least once, and receivers drop repeats by `X-Ingestd-Delivery`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import random as _random
import socket
import time
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
import structlog
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from yarl import URL

from server.clock import Clock
from server.config import Settings
from storage import webhooks as W
from storage.engine import SQLITE_IMMEDIATE

USER_AGENT = "ingestd-webhooks"
#: How long past the send timeout a lease lasts, so a slow record does not let another node in.
_LEASE_MARGIN_S = 30.0
#: Deliveries leased per round, and sent at once.
_BATCH = 100
_CONCURRENCY = 16

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: Turns ingestd's delivery body into a vendor's, as bytes; pure and deterministic.
PayloadShape = Callable[[bytes], bytes]


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The `X-Ingestd-Signature` value: `v1=` and the hex HMAC-SHA256 of `"<timestamp>." + body`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


class RefusedAddress(OSError):
    """A webhook target resolves to no address it may reach."""


_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one embeds, where a translation or tunnel delivers to it."""
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]  # the client: where the relay delivers
    if address in _NAT64 or address in _NAT64_LOCAL or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


class AddressGuard:
    """Which addresses webhooks may reach: global ones, and those in the allowed networks."""

    def __init__(self, allowed_networks: str) -> None:
        self._allowed = [
            ipaddress.ip_network(n.strip(), strict=False) for n in allowed_networks.split(",") if n.strip()
        ]

    def permits(self, address: IPAddress) -> bool:
        if isinstance(address, ipaddress.IPv6Address):
            if address.ipv4_mapped is not None:
                address = address.ipv4_mapped
            else:
                # An IPv6 address that carries an IPv4 one (6to4, Teredo, NAT64, IPv4-compatible)
                # reaches that IPv4 address through a relay: both must be permitted.
                embedded = _embedded_ipv4(address)
                if embedded is not None and not self.permits(embedded):
                    return False
        if any(address in network for network in self._allowed):
            return True
        return address.is_global and not (
            address.is_private
            or address.is_loopback
            or address.is_link_local
            or address.is_multicast
            or address.is_reserved
            or address.is_unspecified
        )

    def check_literal(self, host: str) -> bool | None:
        """Whether an IP-literal host is permitted; None when `host` is a name."""
        try:
            address = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            return None
        return self.permits(address)

    async def check_host(self, host: str, port: int, timeout_s: float) -> None:
        """Resolves `host` and checks every address it resolves to.

        Raises:
            RefusedAddress: a refused address, or the name does not resolve (in `timeout_s`).
        """
        literal = self.check_literal(host)
        if literal is not None:
            if not literal:
                raise RefusedAddress(f"{host} is not a public address")
            return
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout=timeout_s
            )
        except (OSError, UnicodeError, TimeoutError):
            raise RefusedAddress(f"{host} does not resolve") from None
        for info in infos:
            address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
            if not self.permits(address):
                raise RefusedAddress(f"{host} resolves to {address}, which is not a public address")
        if not infos:
            raise RefusedAddress(f"{host} does not resolve")


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver for webhook sends: resolves in a thread and drops refused addresses;
    raises `RefusedAddress` when none remain."""

    def __init__(self, guard: AddressGuard) -> None:
        self._guard = guard
        self._inner = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        kept = [r for r in results if self._guard.permits(ipaddress.ip_address(r["host"].split("%")[0]))]
        if not kept:
            raise RefusedAddress(f"{host} resolves to no public address")
        return kept

    async def close(self) -> None:
        await self._inner.close()


def backoff_s(failures: int, base_s: float, max_s: float, uniform: float) -> float:
    """The wait after the `failures`-th failed attempt, with `uniform` in [0, 1):
    `d/2 + uniform * d/2`, `d = min(max_s, base_s * 2^(failures-1))`."""
    delay = min(max_s, base_s * 2.0 ** min(failures - 1, 62))
    return delay / 2 + uniform * delay / 2


class DeliveryWorker:
    """Sends due deliveries from the outbox. Every node runs one; a lease keeps two nodes from
    sending the same delivery at once."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        settings: Settings,
        *,
        random: Callable[[], float] = _random.random,
        shapes: Mapping[str, PayloadShape] | None = None,
    ) -> None:
        """`shapes`: each vendor's payload shape, by the dialect its webhooks carry; a webhook
        whose dialect has none is sent ingestd's own body."""
        self._sessions = sessions
        self._clock = clock
        self._settings = settings
        self._random = random
        self._shapes: Mapping[str, PayloadShape] = shapes or {}
        self._guard = AddressGuard(settings.webhook_allowed_networks)
        self._http: aiohttp.ClientSession | None = None
        self._limit = asyncio.Semaphore(_CONCURRENCY)
        self._recording: set[asyncio.Task[None]] = set()
        self._log = structlog.get_logger("ingestd.alerting")
        #: For `/metrics`: delivery attempts by result (delivered, failed).
        self.attempts: dict[str, int] = {}

    async def run_once(self) -> int:
        """Attempts every delivery due now; returns how many were attempted."""
        now = self._clock.now_us()
        # A cheap read first: an idle node takes no write lock (SQLite has one for everyone).
        async with self._sessions() as session:
            if not await W.any_due(session, now):
                return 0
        lease_until = now + int((self._settings.webhook_timeout_s + _LEASE_MARGIN_S) * 1_000_000)
        async with self._sessions() as session, session.begin():
            connection = await session.connection(execution_options={SQLITE_IMMEDIATE: True})
            await W.fail_unsendable(connection, now)
            due = await W.claim(connection, now, lease_until, _BATCH)
        if not due:
            return 0
        results = await asyncio.gather(*(self._attempt(d) for d in due), return_exceptions=True)
        for delivery, result in zip(due, results, strict=True):
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                self._log.warning("webhook_record_failed", delivery=delivery.id, exc_info=result)
        return len(due)

    async def close(self) -> None:
        """Waits briefly for outcomes being recorded, so none is left holding a database
        connection after the engine is disposed (the composition root has already stopped the
        task running the rounds); then releases the HTTP client."""
        if self._recording:
            await asyncio.wait(set(self._recording), timeout=self._settings.shutdown_grace_s)
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def _attempt(self, due: W.Due) -> None:
        async with self._limit:
            at_us = self._clock.now_us()
            started = time.perf_counter()
            status, error = await self._send(due, at_us // 1_000_000)
            duration_ms = (time.perf_counter() - started) * 1000
        delivered = 200 <= status < 300
        number = due.attempts + 1
        next_attempt_us: int | None = None
        if not delivered and number < self._settings.webhook_max_attempts:
            wait_s = backoff_s(
                number,
                self._settings.webhook_backoff_base_s,
                self._settings.webhook_backoff_max_s,
                self._random(),
            )
            next_attempt_us = self._clock.now_us() + int(wait_s * 1_000_000)
        outcome = W.Outcome(at_us, status, error, round(duration_ms, 3), delivered, next_attempt_us)
        result = "delivered" if delivered else "failed"
        self.attempts[result] = self.attempts.get(result, 0) + 1
        self._log.info(
            "webhook_attempt",
            delivery=due.id,
            webhook=due.webhook_id,
            project=due.project_id,
            attempt=number,
            status_code=status,
            error=error,
        )
        # Shielded: a shutdown now must not lose a 2xx the receiver already gave (`close` waits).
        task = asyncio.ensure_future(self._record(due, outcome))
        self._recording.add(task)
        task.add_done_callback(self._recording.discard)
        await asyncio.shield(task)

    async def _record(self, due: W.Due, outcome: W.Outcome) -> None:
        async with self._sessions() as session, session.begin():
            connection = await session.connection(execution_options={SQLITE_IMMEDIATE: True})
            now = self._clock.now_us()
            if not await W.finish_attempt(connection, due, outcome, now):
                return  # another node took the delivery over after our lease ran out
            if outcome.delivered:
                await W.webhook_succeeded(connection, due.project_id, due.webhook_id)
                return
            failures = await W.webhook_failed(connection, due.project_id, due.webhook_id)
            if failures is not None and failures >= self._settings.webhook_disable_after_failures:
                reason = f"disabled after {failures} consecutive failed delivery attempts"
                await W.disable_webhook(connection, due.project_id, due.webhook_id, reason, now)
                self._log.warning("webhook_disabled", webhook=due.webhook_id, project=due.project_id)

    async def _send(self, due: W.Due, timestamp: int) -> tuple[int, str]:
        """POSTs the delivery; returns the HTTP status (0 when none came) and a short error."""
        url = URL(due.url)
        if self._guard.check_literal(url.raw_host or "") is False:
            return 0, "refused address"
        shape = self._shapes.get(due.dialect)
        body = due.payload if shape is None else shape(due.payload)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Ingestd-Signature": sign(due.secret, timestamp, body),
            "X-Ingestd-Timestamp": str(timestamp),
            "X-Ingestd-Delivery": due.id,
            "X-Ingestd-Event": due.event_type,
        }
        try:
            async with self._client().post(
                url,
                data=body,
                headers=headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=self._settings.webhook_timeout_s),
            ) as response:
                status = response.status
        except TimeoutError:
            return 0, "timeout"
        except aiohttp.ClientConnectorDNSError as exc:
            refused = isinstance(exc.os_error, RefusedAddress)
            return 0, "refused address" if refused else "dns error"
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, ConnectionRefusedError):
                return 0, "connection refused"
            return 0, f"connection error: {exc.os_error.strerror or type(exc.os_error).__name__}"
        except aiohttp.ServerDisconnectedError:
            return 0, "server disconnected"
        except (aiohttp.ClientError, OSError) as exc:
            return 0, _short(exc)
        if 200 <= status < 300:
            return status, ""
        return status, f"HTTP {status}"

    def _client(self) -> aiohttp.ClientSession:
        if self._http is None:
            connector = aiohttp.TCPConnector(
                resolver=GuardedResolver(self._guard), use_dns_cache=False, limit=_CONCURRENCY
            )
            self._http = aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False
            )
        return self._http


def _short(exc: Any) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:200] if text else type(exc).__name__
