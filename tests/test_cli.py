"""The `ingestd` command, run as a user would: migrate, and keys create, list and revoke."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from server.main import running
from tests.conftest import make_settings
from tests.process import ROOT


async def _first_start(database_url: str) -> None:
    async with running(make_settings(database_url)):
        pass


def _ingestd(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "INGESTD_DATABASE_URL": database_url, "INGESTD_LOG_FORMAT": "json"}
    return subprocess.run(
        [sys.executable, "-m", "server", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_keys_lifecycle(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert _ingestd("migrate", database_url=url).returncode == 0

    # Keys need an organization, and the first start of `serve` makes `default`.
    made = _ingestd("keys", "create", "--kind", "master", "--name", "ops", database_url=url)
    assert made.returncode == 1 and "organization 'default' not found" in made.stderr

    asyncio.run(_first_start(url))

    made = _ingestd(
        "keys", "create", "--kind", "project", "--project", "default", "--name", "ci", database_url=url
    )
    assert made.returncode == 0, made.stderr
    secret = next(line.split(": ", 1)[1] for line in made.stdout.splitlines() if line.startswith("secret: "))
    assert secret.startswith("pk_")
    key_id = next(part.split("=", 1)[1] for part in made.stdout.split() if part.startswith("id="))

    listed = _ingestd("keys", "list", database_url=url)
    assert listed.returncode == 0 and key_id in listed.stdout and "name=ci" in listed.stdout
    assert secret not in listed.stdout + listed.stderr

    revoked = _ingestd("keys", "revoke", key_id, database_url=url)
    assert revoked.returncode == 0 and "revokeTime=" in revoked.stdout
    missing = _ingestd("keys", "revoke", "key_missing", database_url=url)
    assert missing.returncode == 1 and "not found" in missing.stderr
