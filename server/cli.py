"""The `ingestd` command: `serve`, `migrate`, `orgs create`, `keys create|list|revoke`,
`projects list|show|set-limits` and `viewer-tokens rotate-secret`.

This module only parses the command line: the server's modules load once a command runs
(`server.commands`), so `--help` and `--version` answer at once.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import sys
from collections.abc import Mapping, Sequence

#: The kinds of key `keys create --kind` makes.
KEY_KINDS = ("client", "master", "project", "public", "server")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ingestd", description="A self-hosted telemetry ingest server.")
    parser.add_argument("--version", action="version", version=f"ingestd {version()}")
    commands = parser.add_subparsers(dest="command", required=True)

    def database_flag(p: argparse.ArgumentParser) -> None:
        p.add_argument("--database-url", help="SQLAlchemy URL (env INGESTD_DATABASE_URL)")

    serve = commands.add_parser(
        "serve",
        help="serve gRPC and the HTTP gateway: the vendor APIs, the API documents, /healthz and /readyz",
    )
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
    create.add_argument("--kind", choices=KEY_KINDS, default="project")
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
    parser = _parser()
    args = parser.parse_args(argv)
    creating = args.command == "keys" and args.keys_command == "create"
    if creating and args.kind == "client" and not args.origins:
        parser.error("a client key needs at least one --origin: a browser on no allowed origin can use it")
    from server.config import Settings

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
    if args.command == "serve":
        # Before the server's modules load: a supervisor holds none of them (100 MiB).
        from server import supervisor

        if supervisor.supervised(settings):
            return supervisor.supervise(settings, os.environ if environ is None else environ, sys.stdout)
    from server import commands

    return commands.run(args, settings)


def version() -> str:
    """The installed package's version."""
    try:
        return importlib.metadata.version("ingestd")
    except importlib.metadata.PackageNotFoundError:
        return "0.0.0"
