"""What is benchmarked, and how each target is started as its own process on 127.0.0.1.

Contract: `started(target)` is an async context manager that starts the target's server as a
child process on free 127.0.0.1 ports, yields a `Started` once the server reports ready (at most
30 s), and on exit stops it (SIGTERM, SIGKILL after 15 s) and removes what it made (the SQLite
directory, the PostgreSQL database). It raises `TargetSkipped` when PostgreSQL is unreachable and
`children.StartFailed` when the server does not come up.

- gRPC targets are ready when the standard health service answers SERVING for IngestService.
- `bare-aiohttp` is ready when `GET /healthz` answers 200.
- The `http-*` targets are the same ingestd as the gRPC ones (one process serves both), driven
  over its HTTP gateway: ready when gRPC is SERVING and the HTTP port accepts connections. Once
  ready, `Started.keys` holds a public key (Open Sentry's and Sentry's) and a SimpleLogs server
  key, made over HTTP with the master key (`POST /v1/organizations/default/keys`).

ingestd runs as `python -m server serve` with only the `INGESTD_*` variables set here (any in
the caller's environment are dropped, so a run does not depend on the shell it came from). The
Logister rate limit is raised out of the way (its default, 1,200 requests a minute per key,
would otherwise be the figure measured); every other setting is ingestd's default, but for the
`settings` given to `started` (`--setting INGESTD_NAME=VALUE`). Redaction runs
with the built-in rules' defaults, unless `started(..., redaction=False)`: then every rule of
project `default` is disabled over gRPC with the master key once the server is ready. Alert rules
are evaluated likewise with the built-in rules' defaults, unless `started(..., alerting="off")`
disables every alert rule of project `default` the same way; `alerting="custom"` adds
`CUSTOM_RULES` to the built-ins: rules that count the benchmark's own events, so every event is
matched by a rule that reads its payload (the costly case), without firing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import grpc
from google.protobuf import field_mask_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench import postgres
from bench.bare import SERVICE
from bench.children import Child, StartFailed
from bench.routes import Keys
from bench.scenarios import GRPC_SCENARIOS, HTTP_SCENARIOS
from ingestd.v1 import (
    admin_service_pb2,
    admin_service_pb2_grpc,
    alert_service_pb2,
    alert_service_pb2_grpc,
    alerting_pb2,
    redaction_pb2,
)

HOST = "127.0.0.1"
PROJECT = "default"
PROJECT_SECRET = "pk_bench_project_5f0c2a9e41d7b3886c1e0f2d7a4b9c35"
MASTER_SECRET = "mk_bench_master_0d3b7e9a2c5f48e1b6a9d2c7f0e3a815"
AUTHORIZATION = f"Bearer {PROJECT_SECRET}"
ROOT = Path(__file__).resolve().parent.parent
#: What bare-aiohttp is sent where ingestd gets real keys: secrets of the same shapes.
PLACEHOLDER_KEYS = Keys(PROJECT_SECRET, "pub_" + "0" * 48, "sk_" + "0" * 48)
#: The Logister rate limit ingestd runs with here (requests, and batch events, per key a minute).
LOGISTER_RATE_LIMIT = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Target:
    """A server to measure: its protocol (`grpc` or `http`), the scenarios it serves, and for
    ingestd its database (`sqlite` or `postgres`; "" for a bare baseline)."""

    name: str
    title: str
    protocol: str
    scenarios: tuple[str, ...]
    database: str = ""
    #: Server processes on the one port: `ingestd serve --workers N`, or N bare aiohttp handlers.
    workers: int = 1


_GRPC = tuple(s.name for s in GRPC_SCENARIOS)
_HTTP = tuple(s.name for s in HTTP_SCENARIOS)

BARE_GRPC = Target("bare-grpc", "bare grpc.aio handler", "grpc", _GRPC)
BARE_AIOHTTP = Target("bare-aiohttp", "bare aiohttp + orjson handler", "http", _HTTP)
SQLITE = Target("sqlite", "ingestd on SQLite, gRPC", "grpc", _GRPC, "sqlite")
POSTGRES = Target("postgres", "ingestd on PostgreSQL, gRPC", "grpc", _GRPC, "postgres")
HTTP_SQLITE = Target("http-sqlite", "ingestd on SQLite, HTTP gateway", "http", _HTTP, "sqlite")
HTTP_POSTGRES = Target("http-postgres", "ingestd on PostgreSQL, HTTP gateway", "http", _HTTP, "postgres")
# Two processes on one port: single events over HTTP, where the transport's CPU is the limit.
_HTTP_SINGLE = tuple(name for name in _HTTP if name.startswith("http-single:"))
BARE_AIOHTTP_2 = Target("bare-aiohttp-w2", "2 bare aiohttp processes", "http", _HTTP_SINGLE, workers=2)
HTTP_SQLITE_2 = Target("http-sqlite-w2", "ingestd --workers 2, SQLite", "http", _HTTP_SINGLE, "sqlite", 2)
HTTP_POSTGRES_2 = Target(
    "http-postgres-w2", "ingestd --workers 2, PostgreSQL", "http", _HTTP_SINGLE, "postgres", 2
)

#: In the order they run: the baselines first, so every ratio has its denominator.
TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        BARE_GRPC,
        BARE_AIOHTTP,
        BARE_AIOHTTP_2,
        SQLITE,
        POSTGRES,
        HTTP_SQLITE,
        HTTP_POSTGRES,
        HTTP_SQLITE_2,
        HTTP_POSTGRES_2,
    )
}


class TargetSkipped(Exception):
    """The target cannot run here; the message says why."""


@dataclass(frozen=True, slots=True)
class Started:
    """A ready target: `address` is `host:port` of the protocol it is driven over (gRPC or
    HTTP); `database` names its PostgreSQL database, if it has one; `keys` are what HTTP
    routes send."""

    target: Target
    address: str
    child: Child
    database: str | None = None
    keys: Keys = PLACEHOLDER_KEYS


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def grpc_ready(address: str) -> Callable[[], Awaitable[bool]]:
    """A probe: does the health service at `address` say IngestService is SERVING?"""

    async def probe() -> bool:
        async with grpc.aio.insecure_channel(address) as channel:
            stub: Any = health_pb2_grpc.HealthStub(channel)  # its stubs declare no methods
            try:
                answer = await stub.Check(health_pb2.HealthCheckRequest(service=SERVICE), timeout=1.0)
            except grpc.aio.AioRpcError:
                return False
            return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)

    return probe


def http_ready(url: str) -> Callable[[], Awaitable[bool]]:
    """A probe: does `GET url` answer 200?"""

    async def probe() -> bool:
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1.0)) as session,
                session.get(url) as response,
            ):
                return response.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    return probe


def both_ready(grpc_address: str, http_port: int) -> Callable[[], Awaitable[bool]]:
    """A probe: is gRPC SERVING, and does the HTTP port accept connections? (ingestd binds its
    HTTP site after the gRPC server has started.)"""
    grpc_probe = grpc_ready(grpc_address)

    async def probe() -> bool:
        if not await grpc_probe():
            return False
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(HOST, http_port), 1.0)
        except (OSError, TimeoutError):
            return False
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True

    return probe


async def make_keys(http_address: str) -> Keys:
    """Makes, with the master key, the keys the vendor routes need: a public key (Open Sentry's
    and Sentry's) and a SimpleLogs server key of project `default`.

    Raises:
        StartFailed: the admin route did not answer 200 with a secret.
    """
    secrets: dict[str, str] = {}
    timeout = aiohttp.ClientTimeout(total=15.0)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for kind in ("API_KEY_KIND_PUBLIC", "API_KEY_KIND_SERVER"):
            async with session.post(
                f"http://{http_address}/v1/organizations/{PROJECT}/keys",
                json={"kind": kind, "project": PROJECT, "name": "bench"},
                headers={"Authorization": f"Bearer {MASTER_SECRET}"},
            ) as response:
                text = await response.text()
                if response.status != 200:
                    raise StartFailed(f"creating a {kind} key answered {response.status}: {text[:300]}")
                secrets[kind] = json.loads(text)["secret"]
    return Keys(PROJECT_SECRET, secrets["API_KEY_KIND_PUBLIC"], secrets["API_KEY_KIND_SERVER"])


async def disable_redaction(grpc_address: str) -> int:
    """Disables every enabled redaction rule of project `default`; returns how many."""
    metadata = (("authorization", f"Bearer {MASTER_SECRET}"),)
    async with grpc.aio.insecure_channel(grpc_address) as channel:
        admin = admin_service_pb2_grpc.AdminServiceStub(channel)
        listed = await admin.ListRedactionRules(
            admin_service_pb2.ListRedactionRulesRequest(project=PROJECT), metadata=metadata
        )
        enabled = [rule.id for rule in listed.rules if rule.enabled]
        for rule_id in enabled:
            await admin.UpdateRedactionRule(
                admin_service_pb2.UpdateRedactionRuleRequest(
                    project=PROJECT,
                    rule=rule_id,
                    update=redaction_pb2.RedactionRule(enabled=False),
                    update_mask=field_mask_pb2.FieldMask(paths=["enabled"]),
                ),
                metadata=metadata,
            )
    return len(enabled)


async def disable_alerting(grpc_address: str) -> int:
    """Disables every enabled alert rule of project `default`; returns how many."""
    metadata = (("authorization", f"Bearer {MASTER_SECRET}"),)
    async with grpc.aio.insecure_channel(grpc_address) as channel:
        alerts = alert_service_pb2_grpc.AlertServiceStub(channel)
        listed = await alerts.ListAlertRules(
            alert_service_pb2.ListAlertRulesRequest(project=PROJECT), metadata=metadata
        )
        enabled = [rule.id for rule in listed.rules if rule.enabled]
        for rule_id in enabled:
            await alerts.UpdateAlertRule(
                alert_service_pb2.UpdateAlertRuleRequest(
                    project=PROJECT,
                    rule=rule_id,
                    update=alerting_pb2.AlertRule(enabled=False),
                    update_mask=field_mask_pb2.FieldMask(paths=["enabled"]),
                ),
                metadata=metadata,
            )
    return len(enabled)


#: Custom rules that match the benchmark's events (see bench/events.py) and never reach their
#: threshold: a payload path on every log event, a level condition on every error, and an audit
#: action pattern that no event meets (its cost is the kind index alone).
CUSTOM_RULES = (
    alerting_pb2.AlertRule(
        name="bench: regional logs",
        condition=alerting_pb2.AlertCondition(kinds=[5], field_equals={"tags.region": "eu-west-1"}),
        group_by="service",
    ),
    alerting_pb2.AlertRule(
        name="bench: production errors",
        condition=alerting_pb2.AlertCondition(kinds=[1], min_level=5, environment="production"),
        group_by="tags.route",
    ),
    alerting_pb2.AlertRule(
        name="bench: invitations",
        condition=alerting_pb2.AlertCondition(action_pattern="team.member.invited"),
        group_by="tenant_id",
    ),
)


async def add_custom_alert_rules(grpc_address: str) -> int:
    """Creates `CUSTOM_RULES` in project `default`, with a threshold no run reaches; returns how
    many."""
    metadata = (("authorization", f"Bearer {MASTER_SECRET}"),)
    async with grpc.aio.insecure_channel(grpc_address) as channel:
        alerts = alert_service_pb2_grpc.AlertServiceStub(channel)
        for template in CUSTOM_RULES:
            rule = alerting_pb2.AlertRule()
            rule.CopyFrom(template)
            rule.threshold, rule.window_seconds = 1_000_000, 3600
            rule.severity = alerting_pb2.ALERT_SEVERITY_LOW
            await alerts.CreateAlertRule(
                alert_service_pb2.CreateAlertRuleRequest(project=PROJECT, rule=rule), metadata=metadata
            )
    return len(CUSTOM_RULES)


def _ingestd_env(grpc_port: int, http_port: int, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INGESTD_")}
    env.update(
        INGESTD_GRPC_ADDR=f"{HOST}:{grpc_port}",
        INGESTD_HTTP_ADDR=f"{HOST}:{http_port}",
        INGESTD_DATABASE_URL=database_url,
        INGESTD_BOOTSTRAP_PROJECT_KEY=PROJECT_SECRET,
        INGESTD_BOOTSTRAP_MASTER_KEY=MASTER_SECRET,
        INGESTD_LOG_LEVEL="warning",
        INGESTD_LOGISTER_RATE_LIMIT_REQUESTS=str(LOGISTER_RATE_LIMIT),
        PYTHONUNBUFFERED="1",
    )
    return env


@contextlib.asynccontextmanager
async def started(
    target: Target,
    *,
    redaction: bool = True,
    alerting: str = "builtins",
    settings: Mapping[str, str] | None = None,
) -> AsyncIterator[Started]:
    """Starts `target` and yields it ready; see the module's contract."""
    async with contextlib.AsyncExitStack() as stack:
        port = free_port()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        database_name = None
        if not target.database:
            kind = "grpc" if target is BARE_GRPC else "aiohttp"
            argv = [sys.executable, "-m", "bench.bare", kind, "--port", str(port)]
            argv += ["--workers", str(target.workers)]
            http_port = port
        else:
            if target.database == "sqlite":
                directory = stack.enter_context(tempfile.TemporaryDirectory(prefix="ingestd-bench-"))
                database_url = f"sqlite:///{directory}/bench.db"
            else:
                try:
                    database_url = await stack.enter_async_context(postgres.database())
                except postgres.Unreachable as exc:
                    raise TargetSkipped(str(exc)) from exc
                database_name = database_url.rsplit("/", 1)[1]
            argv = [sys.executable, "-m", "server", "serve"]
            http_port = free_port()
            env = _ingestd_env(port, http_port, database_url)
            env["INGESTD_WORKERS"] = str(target.workers)
            env.update(settings or {})
        child = await Child.spawn(target.name, argv, env, cwd=str(ROOT))
        stack.push_async_callback(child.stop)
        keys = PLACEHOLDER_KEYS
        if target.protocol == "grpc":
            address = f"{HOST}:{port}"
            await child.wait_ready(grpc_ready(address))
        elif not target.database:
            address = f"{HOST}:{port}"
            await child.wait_ready(http_ready(f"http://{address}/healthz"))
        else:
            address = f"{HOST}:{http_port}"
            await child.wait_ready(both_ready(f"{HOST}:{port}", http_port))
            keys = await make_keys(address)
        if target.database and not redaction:
            await disable_redaction(f"{HOST}:{port}")
        if target.database and alerting == "off":
            await disable_alerting(f"{HOST}:{port}")
        elif target.database and alerting == "custom":
            await add_custom_alert_rules(f"{HOST}:{port}")
        yield Started(target, address, child, database_name, keys)
