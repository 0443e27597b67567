"""The DSN of a public key (docs/vendors/sentry.md §2): `ingestd keys create --kind public` prints
it, built from `INGESTD_PUBLIC_URL`; other kinds print none; the setting must be a plain URL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from server.config import Settings
from server.dsn import project_number
from server.main import running
from tests.conftest import make_settings
from tests.process import printed_secret, run_cli


async def _first_start(database_url: str) -> None:
    async with running(make_settings(database_url)):
        pass


def _dsn(output: str) -> str | None:
    return next((line.split(": ", 1)[1] for line in output.splitlines() if line.startswith("dsn: ")), None)


def test_keys_create_prints_the_dsn_of_a_public_key(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    asyncio.run(_first_start(url))

    public = run_cli(
        "keys",
        "create",
        "--kind",
        "public",
        "--project",
        "default",
        database_url=url,
        env={"INGESTD_PUBLIC_URL": "https://ingest.example.com"},
    )
    default_host = run_cli("keys", "create", "--kind", "public", "--project", "default", database_url=url)
    project = run_cli("keys", "create", "--kind", "project", "--project", "default", database_url=url)

    assert public.returncode == default_host.returncode == project.returncode == 0, public.stderr
    secret = printed_secret(public.stdout)
    assert _dsn(public.stdout) == f"https://{secret}@ingest.example.com/{project_number('default')}"
    assert _dsn(default_host.stdout) == (
        f"http://{printed_secret(default_host.stdout)}@127.0.0.1:3001/{project_number('default')}"
    )
    assert _dsn(project.stdout) is None


@pytest.mark.parametrize(
    "url",
    ["ingest.example.com", "ftp://ingest.example.com", "https://k@ingest.example.com", "https://h/?q=1"],
)
def test_the_public_url_is_a_plain_http_url(url: str) -> None:
    with pytest.raises(ValueError, match="public_url"):
        Settings.from_env({"INGESTD_PUBLIC_URL": url})
    assert Settings.from_env({"INGESTD_PUBLIC_URL": "https://ingest.example.com/sentry"}).public_url
