"""The `ingestd` command: `serve`, `migrate`, `orgs create`, `keys create|list|revoke`,
`projects list|show|set-limits` and `viewer-tokens rotate-secret`."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from google.protobuf import json_format

from ingestd.v1 import admin_service_pb2
from server import runtime
from server.config import Settings
from server.errors import CannotListen, IngestdError, InvalidArgument
from server.keys import CLIENT, MASTER, PROJECT, PUBLIC, SERVER
from server.log import configure_logging
from server.main import Running, core, hosted_writer, running
from server.supervisor import supervise
from storage.engine import NotWritable
from storage.migrate import upgrade

_KINDS = {"master": MASTER, "project": PROJECT, "public": PUBLIC, "server": SERVER, "client": CLIENT}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ingestd", description="A self-hosted telemetry ingest server.")
    commands = parser.add_subparsers(dest="command", required=True)

    def database_flag(p: argparse.ArgumentParser) -> None:
        p.add_argument("--database-url", help="SQLAlchemy URL (env INGESTD_DATABASE_URL)")

    serve = commands.add_parser("serve", help="serve gRPC (and HTTP, once the gateway lands)")
    serve.add_argument("--grpc-addr", help="host:port for gRPC (env INGESTD_GRPC_ADDR)")
    serve.add_argument("--http-addr", help="host:port for HTTP (env INGESTD_HTTP_ADDR)")
    serve.add_argument(
        "--workers",
        type=int,
        help="server processes sharing the ports, under one supervisor (env INGESTD_WORKERS; default 1)",
    )
    serve.add_argument(
        "--grpc-upstream",
        help="serve only HTTP, in front of the ingestd at this host:port (env INGESTD_GRPC_UPSTREAM)",
    )
    database_flag(serve)

    migrate = commands.add_parser("migrate", help="migrate the database schema to the latest version")
    database_flag(migrate)

    orgs = commands.add_parser("orgs", help="manage organizations directly in the database")
    org_commands = orgs.add_subparsers(dest="orgs_command", required=True)
    create_org = org_commands.add_parser(
        "create", help="create an organization and print its master key once"
    )
    create_org.add_argument("organization")
    create_org.add_argument("--name", default="")
    database_flag(create_org)

    keys = commands.add_parser("keys", help="manage API keys directly in the database")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    create = key_commands.add_parser("create", help="create a key and print its secret once")
    create.add_argument("--kind", choices=sorted(_KINDS), default="project")
    create.add_argument("--project", default="", help="the project of any key but a master key")
    create.add_argument("--name", default="")
    create.add_argument(
        "--origin",
        action="append",
        default=[],
        dest="origins",
        help="an allowed browser origin of a client key (repeat for more), such as https://*.example.com",
    )
    create.add_argument(
        "--vendor-organization",
        default="",
        help="the organization id a vendor client sends with the key, such as Operyn's x-organization-id",
    )
    listing = key_commands.add_parser("list", help="list keys (never their secrets)")
    listing.add_argument("--project", default="")
    revoke = key_commands.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")
    for p in (create, listing, revoke):
        p.add_argument("--organization", default="default")
        database_flag(p)

    projects = commands.add_parser("projects", help="show projects and set their limits in the database")
    project_commands = projects.add_subparsers(dest="projects_command", required=True)
    list_projects = project_commands.add_parser("list", help="list an organization's projects")
    list_projects.add_argument("--organization", default="default")
    show = project_commands.add_parser("show", help="show a project and its limits")
    show.add_argument("project")
    set_limits = project_commands.add_parser(
        "set-limits",
        help="set a project's limits (0: unlimited); a running ingestd applies them within "
        "INGESTD_SETTINGS_CACHE_TTL_S seconds",
    )
    set_limits.add_argument("project")
    set_limits.add_argument("--daily-event-limit", type=int, help="events per UTC day; 0: unlimited")
    set_limits.add_argument("--alert-rule-limit", type=int, help="custom alert rules; 0: unlimited")
    set_limits.add_argument("--webhooks", choices=("enabled", "disabled"), help="alert webhook delivery")
    for p in (list_projects, show, set_limits):
        database_flag(p)

    viewer = commands.add_parser("viewer-tokens", help="manage the viewer-token signing secret")
    viewer_commands = viewer.add_subparsers(dest="viewer_command", required=True)
    rotate = viewer_commands.add_parser(
        "rotate-secret",
        help="sign new viewer tokens with a new secret; tokens signed before stay valid until they expire",
    )
    database_flag(rotate)
    return parser


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Runs the command; returns the process exit status."""
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env(
            os.environ if environ is None else environ,
            grpc_addr=getattr(args, "grpc_addr", None),
            http_addr=getattr(args, "http_addr", None),
            grpc_upstream=getattr(args, "grpc_upstream", None),
            workers=getattr(args, "workers", None),
            database_url=args.database_url,
        )
    except ValueError as exc:
        print(f"ingestd: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings)
    try:
        if args.command == "serve" and settings.workers > 1 and not settings.grpc_upstream:
            return supervise(settings, os.environ if environ is None else environ, sys.stdout)
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
    async with running(settings) as started:
        _announce(started, out)
        runtime.settle_heap()
        await stop.wait()


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


if __name__ == "__main__":
    sys.exit(main())
