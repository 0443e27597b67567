"""What each `ingestd` command does, once `server.cli` has parsed it: the composition root's
`running` for `serve`, the domain's `core` for the admin commands."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
from typing import Any, TextIO

import structlog
from google.protobuf import json_format

from ingestd.v1 import admin_service_pb2
from server import runtime
from server.admission import quiet_loop_errors
from server.cli import KEY_KINDS
from server.config import Settings
from server.errors import CannotListen, IngestdError, InvalidArgument
from server.log import configure_logging
from server.main import Running, core, hosted_writer, running
from storage.engine import NotWritable
from storage.migrate import upgrade

_KINDS = {name: admin_service_pb2.ApiKeyKind.Value(f"API_KEY_KIND_{name.upper()}") for name in KEY_KINDS}


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Runs the parsed command in this process (`ingestd serve` under a supervisor is
    `server.supervisor`'s); returns the process exit status."""
    configure_logging(settings)
    try:
        if args.command == "serve" and settings.writer_host:
            runtime.run(serve_writer(settings))
        elif args.command == "serve":
            runtime.run(serve(settings))
        elif args.command == "migrate":
            upgrade(settings.database_url)
            print("database is at the latest schema")
        elif args.command == "orgs":
            runtime.run(_orgs(settings, args, sys.stdout))
        elif args.command == "projects":
            runtime.run(_projects(settings, args, sys.stdout))
        elif args.command == "viewer-tokens":
            runtime.run(_rotate_viewer_secret(settings, sys.stdout))
        else:
            runtime.run(_keys(settings, args, sys.stdout))
    except IngestdError as exc:
        print(f"ingestd: {exc.message}", file=sys.stderr)
        return 1
    except CannotListen as exc:
        print(f"ingestd: {exc}", file=sys.stderr)
        return 1
    except NotWritable as exc:
        print(f"ingestd: the database cannot be written: {exc}", file=sys.stderr)
        return 1
    return 0


async def serve(settings: Settings, out: TextIO = sys.stdout) -> None:
    """Serves until SIGTERM or SIGINT, then shuts down gracefully."""
    stop = _stop_on_signals()
    quiet_loop_errors(asyncio.get_running_loop())
    log = structlog.get_logger("ingestd.server")
    async with running(settings) as started:
        _announce(started, out)
        log.info("serving", grpc_port=started.grpc_port, http_port=started.http_port, pid=os.getpid())
        runtime.settle_heap()
        await stop.wait()
        log.info("shutting_down", grace_s=settings.shutdown_grace_s)
        stopping = time.perf_counter()
    log.info("stopped", duration_ms=round((time.perf_counter() - stopping) * 1000, 1))


async def serve_writer(settings: Settings, out: TextIO = sys.stdout) -> None:
    """Hosts the group writer of a SQLite file for a supervisor's workers until SIGTERM or SIGINT;
    serves no port of its own."""
    stop = _stop_on_signals()
    async with hosted_writer(settings):
        print(f"ingestd group writer serving {settings.writer_socket}", file=out, flush=True)
        runtime.settle_heap()
        await stop.wait()


def _stop_on_signals() -> asyncio.Event:
    """An event that SIGTERM or SIGINT sets."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    return stop


def _announce(started: Running, out: TextIO) -> None:
    host = started.settings.http_addr.rsplit(":", 1)[0]
    if started.grpc_port:
        print(
            f"ingestd serving gRPC on {started.settings.grpc_addr.rsplit(':', 1)[0]}:{started.grpc_port}",
            file=out,
        )
    print(f"ingestd serving HTTP on {host}:{started.http_port}", file=out)
    keys = started.bootstrap
    if keys is not None:
        print("First start: created organization 'default' and project 'default'.", file=out)
        if keys.master_secret:
            print(f"  master key  ({keys.master_key_id}): {keys.master_secret}", file=out)
        if keys.project_secret:
            print(f"  project key ({keys.project_key_id}): {keys.project_secret}", file=out)
        if keys.master_secret or keys.project_secret:
            print("  These secrets are shown once; ingestd keeps only their digests.", file=out)
    out.flush()


async def _orgs(settings: Settings, args: argparse.Namespace, out: TextIO) -> None:
    async with core(settings) as c:
        organization, api_key, secret = await c.admin.create_organization(args.organization, args.name)
        print(f"organization {organization.id} created", file=out)
        _print_key(api_key, out)
        print(f"secret: {secret}", file=out)
        print("The secret is shown once; ingestd keeps only its digest.", file=out)


async def _keys(settings: Settings, args: argparse.Namespace, out: TextIO) -> None:
    async with core(settings) as c:
        if args.keys_command == "create":
            api_key, secret = await c.admin.create_api_key(
                args.organization,
                _KINDS[args.kind],
                args.project,
                args.name,
                allowed_origins=args.origins,
                vendor_organization=args.vendor_organization,
            )
            _print_key(api_key, out)
            print(f"secret: {secret}", file=out)
            dsn = c.admin.dsn(api_key, secret)
            if dsn:
                print(f"dsn: {dsn}", file=out)
            print("The secret is shown once; ingestd keeps only its digest.", file=out)
        elif args.keys_command == "list":
            for api_key in await c.admin.list_api_keys(args.organization, args.project, limit=1000):
                _print_key(api_key, out)
        else:
            _print_key(await c.admin.revoke_api_key(args.organization, args.key_id), out)


async def _projects(settings: Settings, args: argparse.Namespace, out: TextIO) -> None:
    async with core(settings) as c:
        if args.projects_command == "list":
            for project in await c.admin.list_projects(args.organization):
                _print_project(project, out)
        elif args.projects_command == "show":
            _print_project(await c.admin.get_project(args.project), out)
        else:
            update = admin_service_pb2.Project()
            paths = []
            if args.daily_event_limit is not None:
                update.limits.daily_event_limit = args.daily_event_limit
                paths.append("limits.daily_event_limit")
            if args.alert_rule_limit is not None:
                update.limits.alert_rule_limit = args.alert_rule_limit
                paths.append("limits.alert_rule_limit")
            if args.webhooks is not None:
                update.limits.webhooks_disabled = args.webhooks == "disabled"
                paths.append("limits.webhooks_disabled")
            if not paths:
                raise InvalidArgument(
                    [("limits", "name one of --daily-event-limit, --alert-rule-limit, --webhooks")]
                )
            _print_project(await c.admin.update_project(args.project, update, paths), out)


async def _rotate_viewer_secret(settings: Settings, out: TextIO) -> None:
    async with core(settings) as c:
        secret_id = await c.viewer_tokens.rotate_secret()
    # The secret itself is never printed: only its id, which tokens name in their `kid` header.
    print(f"new viewer-token signing secret id={secret_id}", file=out)


def _print_project(project: admin_service_pb2.Project, out: TextIO) -> None:
    limits = project.limits
    fields = {
        "id": project.id,
        "organization": project.organization,
        "displayName": project.display_name,
        "dailyEventLimit": limits.daily_event_limit or "unlimited",
        "alertRuleLimit": limits.alert_rule_limit or "unlimited",
        "webhooks": "disabled" if limits.webhooks_disabled else "enabled",
    }
    print(" ".join(f"{k}={v}" for k, v in fields.items()), file=out)


def _print_key(api_key: admin_service_pb2.ApiKey, out: TextIO) -> None:
    fields: dict[str, Any] = json_format.MessageToDict(api_key)
    print(" ".join(f"{k}={v}" for k, v in fields.items()), file=out)
