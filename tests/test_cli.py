"""The `ingestd` command, run as a user would: migrate, orgs create, and keys create, list and
revoke."""

from __future__ import annotations

import asyncio
import importlib.metadata
import subprocess
import sys
from pathlib import Path

from server.main import running
from tests.conftest import make_settings
from tests.process import ROOT, printed_secret, run_cli


async def _first_start(database_url: str) -> None:
    async with running(make_settings(database_url)):
        pass


def test_keys_lifecycle(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert run_cli("migrate", database_url=url).returncode == 0

    # Keys need an organization, and the first start of `serve` makes `default`.
    made = run_cli("keys", "create", "--kind", "master", "--name", "ops", database_url=url)
    assert made.returncode == 1 and "organization 'default' not found" in made.stderr

    asyncio.run(_first_start(url))

    made = run_cli(
        "keys", "create", "--kind", "project", "--project", "default", "--name", "ci", database_url=url
    )
    assert made.returncode == 0, made.stderr
    secret = printed_secret(made.stdout)
    assert secret.startswith("pk_")
    key_id = next(part.split("=", 1)[1] for part in made.stdout.split() if part.startswith("id="))

    listed = run_cli("keys", "list", database_url=url)
    assert listed.returncode == 0 and key_id in listed.stdout and "name=ci" in listed.stdout
    assert secret not in listed.stdout + listed.stderr

    revoked = run_cli("keys", "revoke", key_id, database_url=url)
    assert revoked.returncode == 0 and "revokeTime=" in revoked.stdout
    missing = run_cli("keys", "revoke", "key_missing", database_url=url)
    assert missing.returncode == 1 and "not found" in missing.stderr


def test_projects_show_and_set_limits(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    asyncio.run(_first_start(url))

    listed = run_cli("projects", "list", database_url=url)
    assert listed.returncode == 0, listed.stderr
    assert "id=default organization=default" in listed.stdout
    assert "dailyEventLimit=unlimited alertRuleLimit=unlimited webhooks=enabled" in listed.stdout

    changed = run_cli(
        "projects",
        "set-limits",
        "default",
        "--daily-event-limit",
        "1000",
        "--webhooks",
        "disabled",
        database_url=url,
    )
    assert changed.returncode == 0, changed.stderr
    assert "dailyEventLimit=1000 alertRuleLimit=unlimited webhooks=disabled" in changed.stdout
    changed = run_cli("projects", "set-limits", "default", "--alert-rule-limit", "3", database_url=url)
    assert "dailyEventLimit=1000 alertRuleLimit=3 webhooks=disabled" in changed.stdout, "others kept"

    shown = run_cli("projects", "show", "default", database_url=url)
    assert shown.returncode == 0 and "dailyEventLimit=1000 alertRuleLimit=3" in shown.stdout

    negative = run_cli("projects", "set-limits", "default", "--daily-event-limit", "-1", database_url=url)
    assert negative.returncode == 1 and "must be 0 (unlimited)" in negative.stderr
    nothing = run_cli("projects", "set-limits", "default", database_url=url)
    assert nothing.returncode == 1 and "--daily-event-limit" in nothing.stderr
    missing = run_cli("projects", "show", "nope", database_url=url)
    assert missing.returncode == 1 and "project 'nope' not found" in missing.stderr


def test_viewer_token_secret_rotation(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    asyncio.run(_first_start(url))

    first = run_cli("viewer-tokens", "rotate-secret", database_url=url)
    second = run_cli("viewer-tokens", "rotate-secret", database_url=url)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    first_id, second_id = (r.stdout.strip().rsplit("id=", 1)[1] for r in (first, second))
    assert first_id != second_id

    configured = run_cli(
        "viewer-tokens",
        "rotate-secret",
        database_url=url,
        env={"INGESTD_VIEWER_TOKEN_SECRETS": "one-secret-long-enough-for-hs256-0123456789"},
    )
    assert configured.returncode == 1 and "INGESTD_VIEWER_TOKEN_SECRETS" in configured.stderr


def test_version_and_help_answer_without_loading_the_server(tmp_path: Path) -> None:
    version = run_cli("--version", database_url="")
    assert (version.returncode, version.stdout.strip()) == (
        0,
        f"ingestd {importlib.metadata.version('ingestd')}",
    )
    helped = run_cli("--help", database_url="")
    assert helped.returncode == 0 and "HTTP gateway" in helped.stdout and "lands" not in helped.stdout
    # What keeps them quick: parsing imports none of the server's modules.
    probe = (
        "import sys; from server import cli; cli._parser().parse_args(['serve']); "
        "print(sorted(m for m in sys.modules if m.startswith(('server.', 'storage', 'grpc', 'sqlalchemy'))))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert loaded.stdout.strip() == "['server.cli']"


def test_a_client_key_without_an_origin_is_refused_before_anything_is_made(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    made = run_cli("keys", "create", "--kind", "client", "--project", "default", database_url=url)
    assert made.returncode == 2
    assert "a client key needs at least one --origin" in made.stderr
    assert not (tmp_path / "cli.db").exists()
