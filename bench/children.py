"""A server child process: spawn it, wait until it is ready, stop it, and keep its output.

Contract:

- `Child.spawn` starts `argv` with stdout and stderr merged into a pipe that a task drains, so a
  chatty child never blocks; the last lines are kept for the report.
- `wait_ready` polls a probe until it answers True, at most `timeout_s`; it raises `StartFailed`
  (with the child's last lines) if the child exits first or the time runs out.
- `stop` sends SIGTERM, waits up to `grace_s`, then kills; it never raises, and records what
  happened in `exit_note` when the exit was not a clean 0, and how long the child took to exit
  after SIGTERM in `stop_s`. Calling it twice is harmless.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import signal
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence

_KEEP_LINES = 40
_LINE_LIMIT = 1 << 20


class StartFailed(Exception):
    """A child did not become ready."""


class Child:
    """One running server process and what it printed."""

    def __init__(self, name: str, process: asyncio.subprocess.Process) -> None:
        self.name = name
        self.process = process
        self.lines: collections.deque[str] = collections.deque(maxlen=_KEEP_LINES)
        self.line_count = 0
        self.ready_line_count = 0
        self.exit_note: str | None = None
        self.stop_s: float | None = None
        self._drain = asyncio.ensure_future(self._read_output())

    @classmethod
    async def spawn(cls, name: str, argv: Sequence[str], env: Mapping[str, str], cwd: str) -> Child:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=dict(env),
            cwd=cwd,
            limit=_LINE_LIMIT,
        )
        return cls(name, process)

    @property
    def pid(self) -> int:
        return self.process.pid

    async def _read_output(self) -> None:
        stream = self.process.stdout
        assert stream is not None
        try:
            while line := await stream.readline():
                self.line_count += 1
                self.lines.append(line.decode(errors="replace").rstrip())
        except (ValueError, asyncio.LimitOverrunError) as exc:
            self.lines.append(f"[bench: stopped reading the output: {exc!r}]")

    def tail(self, n: int = 12) -> list[str]:
        """The last `n` lines the child printed."""
        return list(self.lines)[-n:]

    def lines_since_ready(self) -> list[str]:
        """The kept lines printed after `wait_ready` returned (at most the last 40)."""
        fresh = self.line_count - self.ready_line_count
        return list(self.lines)[-fresh:] if fresh > 0 else []

    async def wait_ready(self, probe: Callable[[], Awaitable[bool]], timeout_s: float = 30.0) -> None:
        """Returns once `probe()` answers True; see the module's contract."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.returncode is not None:
                await self._settle_output()
                raise StartFailed(self._why(f"exited with status {self.process.returncode} before ready"))
            if await probe():
                self.ready_line_count = self.line_count
                return
            await asyncio.sleep(0.1)
        raise StartFailed(self._why(f"not ready after {timeout_s:.0f} s"))

    def _why(self, what: str) -> str:
        lines = "\n".join(f"    | {line[:300]}" for line in self.tail())
        return f"{self.name} {what}" + (f"; its last lines:\n{lines}" if lines else "")

    async def _settle_output(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._drain), 2.0)

    async def stop(self, grace_s: float = 15.0) -> None:
        """SIGTERM, then SIGKILL after `grace_s`; see the module's contract."""
        process = self.process
        if process.returncode is None:
            started = time.monotonic()
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), grace_s)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
                self.exit_note = f"did not exit within {grace_s:.0f} s of SIGTERM; killed"
            self.stop_s = time.monotonic() - started
        if self.exit_note is None and process.returncode != 0:
            self.exit_note = f"exited with status {process.returncode}"
        await self._settle_output()
        if not self._drain.done():
            self._drain.cancel()
