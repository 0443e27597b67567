"""Running the external programs some tests drive (node, bash, curl): found on PATH or skipped
with the reason, except under CI=true, where a missing program fails the test."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def tool_or_skip(name: str, *, needs: Sequence[Path] = (), purpose: str = "") -> str:
    """The path of program `name`; skips (fails under CI=true) when it or a path in `needs` is
    missing. `purpose` says what the test runs, for the reason."""
    path = shutil.which(name)
    missing = [] if path is not None else [f"`{name}` is not on PATH"]
    missing += [f"{p.relative_to(REPO)} is missing (run `npm ci`)" for p in needs if not p.exists()]
    if missing:
        reason = f"{purpose or name} cannot run: " + "; ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true requires it: {reason}")
        pytest.skip(reason)
    assert path is not None
    return path


async def run(
    *argv: str, env: Mapping[str, str] | None = None, timeout_s: float = 60.0
) -> tuple[int, str, str]:
    """Runs `argv` in the repository; returns its exit status, stdout and stderr. A run longer
    than `timeout_s` is killed and fails the test."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        cwd=REPO,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout_s)
    except TimeoutError:
        process.kill()
        await process.wait()
        pytest.fail(f"{argv[0]} did not finish within {timeout_s} s")
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()
