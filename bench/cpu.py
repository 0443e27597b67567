"""CPU time, to tell a saturated load generator from a saturated server from a busy machine.

Contract: a `CpuMeter` samples cumulative CPU seconds (user plus system, all threads) of this
process (the load generator), of the server process, of the PostgreSQL backends serving the
benchmark's database (found by their process title, which names the database), and of the whole
machine. `use_since` subtracts two samples; what the machine used beyond the three is what
other processes used, which on a shared machine depresses the figures. Any figure that cannot be
read (no /proc, a process gone) is None, and callers then print none rather than a wrong one.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

_PROC = "/proc"


def _ticks_to_s(ticks: int) -> float:
    return ticks / os.sysconf("SC_CLK_TCK")


def process_cpu_s(pid: int | str) -> float | None:
    """A process's CPU seconds, read from /proc/<pid>/stat (Linux); None if unknown."""
    try:
        with open(f"{_PROC}/{pid}/stat", encoding="ascii", errors="replace") as stat:
            text = stat.read()
        # The command name (field 2) may hold spaces; the fields after its closing parenthesis
        # start at field 3 (state), so utime (field 14) and stime (field 15) are at 11 and 12.
        fields = text.rsplit(")", 1)[1].split()
        return _ticks_to_s(int(fields[11]) + int(fields[12]))
    except (OSError, ValueError, IndexError):
        return None


def machine_busy_s() -> float | None:
    """CPU seconds the whole machine spent busy since boot (all cores), from /proc/stat:
    everything but idle and iowait. None if unknown."""
    try:
        with open(f"{_PROC}/stat", encoding="ascii") as stat:
            fields = [int(v) for v in stat.readline().split()[1:]]
        # Fields: user nice system idle iowait irq softirq steal (guest time is inside user).
        return _ticks_to_s(sum(fields[:8]) - fields[3] - fields[4])
    except (OSError, ValueError, IndexError):
        return None


def _cpu_of(wanted: Callable[[str], bool]) -> dict[str, float]:
    """CPU seconds of every process whose pid `wanted` accepts, by pid."""
    found: dict[str, float] = {}
    try:
        pids = [p for p in os.listdir(_PROC) if p.isdigit()]
    except OSError:
        return found
    for pid in pids:
        if wanted(pid):
            cpu = process_cpu_s(pid)
            if cpu is not None:
                found[pid] = cpu
    return found


def _read(path: str) -> str | None:
    try:
        with open(path, "rb") as file:
            return file.read().decode(errors="replace")
    except OSError:
        return None


def process_tree_cpu_s(pid: int) -> dict[str, float]:
    """CPU seconds of a process and of its children (a supervisor's workers), by pid."""

    def in_tree(candidate: str) -> bool:
        stat = _read(f"{_PROC}/{candidate}/stat")
        # The parent's pid is the second field after the command name's closing parenthesis.
        return int(candidate) == pid or (stat is not None and stat.rsplit(")", 1)[1].split()[1] == str(pid))

    return _cpu_of(in_tree)


def database_backends_cpu_s(database: str) -> dict[str, float]:
    """CPU seconds of each PostgreSQL backend process serving `database`, by pid."""

    def serves(candidate: str) -> bool:
        # A backend's title: "postgres: 15/main: <user> <database> <client> <state>".
        title = _read(f"{_PROC}/{candidate}/cmdline") or ""
        return title.startswith("postgres:") and f" {database} " in title

    return _cpu_of(serves)


@dataclass(frozen=True, slots=True)
class CpuSample:
    """Cumulative CPU seconds at one moment."""

    client_s: float
    server_s: dict[str, float] | None
    database_s: dict[str, float] | None
    machine_s: float | None


@dataclass(frozen=True, slots=True)
class CpuUse:
    """CPU seconds used between two samples, by whom."""

    client_s: float
    server_s: float | None
    database_s: float | None
    others_s: float | None


class CpuMeter:
    """Samples the CPU of the load generator, one server process with its children (the workers
    of `--workers N`) and, optionally, the backends of one PostgreSQL database."""

    def __init__(self, server_pid: int | None, database: str | None = None) -> None:
        self._server_pid = server_pid
        self._database = database

    def sample(self) -> CpuSample:
        return CpuSample(
            client_s=time.process_time(),
            server_s=process_tree_cpu_s(self._server_pid) if self._server_pid is not None else None,
            database_s=database_backends_cpu_s(self._database) if self._database else None,
            machine_s=machine_busy_s(),
        )

    def use_since(self, before: CpuSample) -> CpuUse:
        after = self.sample()
        client = after.client_s - before.client_s
        # A process that appeared meanwhile counts from zero; one that exited is lost.
        server = _grown(before.server_s, after.server_s)
        database = _grown(before.database_s, after.database_s)
        others = None
        if after.machine_s is not None and before.machine_s is not None and server is not None:
            others = max(0.0, after.machine_s - before.machine_s - client - server - (database or 0.0))
        return CpuUse(client, server, database, others)


def _grown(before: dict[str, float] | None, after: dict[str, float] | None) -> float | None:
    if before is None or after is None:
        return None
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())
