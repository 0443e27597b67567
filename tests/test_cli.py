"""The `ingestd` command, run as a user would: migrate, orgs create, and keys create, list and
revoke."""

from __future__ import annotations

import asyncio
from pathlib import Path

from server.main import running
from tests.conftest import make_settings
from tests.process import printed_secret, run_cli


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
