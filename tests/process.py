"""ingestd as a real subprocess (`python -m server serve`), for tests that kill or restart it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from tests.conftest import MASTER_SECRET, PROJECT_SECRET

ROOT = Path(__file__).resolve().parent.parent
_SERVING = re.compile(rb"serving gRPC on [0-9.]+:(\d+)")
_SERVING_HTTP = re.compile(rb"serving HTTP on [0-9.]+:(\d+)")


class ServerProcess:
    """One `ingestd serve` process. Its output is kept for assertions."""

    def __init__(self, database_url: str, args: tuple[str, ...] = (), **env: str) -> None:
        self.database_url = database_url
        self.args = args
        self.env = env
        self.output = b""
        self.port = 0
        self.http_port = 0
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self, timeout_s: float = 60.0) -> ServerProcess:
        env = {
            **os.environ,
            "INGESTD_GRPC_ADDR": "127.0.0.1:0",
            "INGESTD_HTTP_ADDR": "127.0.0.1:0",
            "INGESTD_DATABASE_URL": self.database_url,
            "INGESTD_BOOTSTRAP_MASTER_KEY": MASTER_SECRET,
            "INGESTD_BOOTSTRAP_PROJECT_KEY": PROJECT_SECRET,
            "INGESTD_LOG_FORMAT": "json",
            **self.env,
        }
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "server",
            "serve",
            *self.args,
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        self._reader = asyncio.create_task(self._read())
        async with asyncio.timeout(timeout_s):
            while not self.http_port:
                if self._process.returncode is not None:
                    raise RuntimeError(f"ingestd exited early:\n{self.output.decode(errors='replace')}")
                grpc_match = _SERVING.search(self.output)
                http_match = _SERVING_HTTP.search(self.output)
                if http_match:
                    self.port = int(grpc_match.group(1)) if grpc_match else 0
                    self.http_port = int(http_match.group(1))
                else:
                    await asyncio.sleep(0.05)
        return self

    async def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        while chunk := await self._process.stdout.read(65536):
            self.output += chunk

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def family(self) -> list[int]:
        """This process and its descendants (a supervisor's workers and writer process)."""
        pids, found = [self.pid], 0
        while found < len(pids):
            for task in Path(f"/proc/{pids[found]}/task").glob("*"):
                with contextlib.suppress(OSError):
                    pids.extend(int(child) for child in (task / "children").read_text().split())
            found += 1
        return pids

    def memory_bytes(self, field: str = "VmRSS") -> int:
        """The family's resident memory now (`VmRSS`), or the sum of each one's peak (`VmHWM`)."""
        return sum(memory_bytes(pid, field) for pid in self.family())

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        await self._signal(signal.SIGKILL)

    async def terminate(self, timeout_s: float = 30.0) -> int:
        """SIGTERM, then wait for the graceful exit; returns the exit status."""
        return await self._signal(signal.SIGTERM, timeout_s)

    async def _signal(self, signum: int, timeout_s: float = 30.0) -> int:
        assert self._process is not None
        if self._process.returncode is None:
            self._process.send_signal(signum)
        try:
            async with asyncio.timeout(timeout_s):
                status = await self._process.wait()
                if self._reader is not None:
                    await self._reader
        except TimeoutError:
            self._process.kill()
            await self._process.wait()
            raise
        return status

    async def __aenter__(self) -> ServerProcess:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        if self._process is not None and self._process.returncode is None:
            await self.kill()


def memory_bytes(pid: int, field: str = "VmRSS") -> int:
    """One process's resident memory now (`VmRSS`) or at its peak (`VmHWM`); 0 once it is gone."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def run_cli(
    *args: str, database_url: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Runs `ingestd ARGS...` (as `python -m server`) against `database_url`, to completion, with
    `env` added to the environment."""
    env = {**os.environ, "INGESTD_DATABASE_URL": database_url, "INGESTD_LOG_FORMAT": "json", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "server", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def printed_secret(output: str) -> str:
    """The secret a `create` command printed."""
    return next(line.split(": ", 1)[1] for line in output.splitlines() if line.startswith("secret: "))
