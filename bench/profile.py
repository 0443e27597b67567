"""`python -m bench.profile`: where ingestd's time goes per HTTP request, profiled in-process.

ingestd runs in this process, from the same composition root as `ingestd serve`
(`server.main.running`, SQLite in a temporary directory, the bench's settings). The load comes
from a child process (`python -m bench.profile --client`, the bench's HTTP/1.1 client driving one
route: warm-up, then `--seconds` measured), so the profile holds only the server's work.

Printed for the measured phase: requests/s and the server's CPU a request; the group writer's
commits (how many, requests and rows in each, wall time each); the garbage collector's time;
threads started (connection pool churn); the CPU of each server thread (the event loop's, each
aiosqlite connection's); then a profile of the event loop thread: the share and microseconds a
request of each area (the HTTP front, aiohttp, gateway routing and body, codec, pipeline, keys, ingest,
normalize, ids, dialects, group writer, SQLAlchemy, aiosqlite hand-offs, structlog, asyncio) and
the top functions by own and by inclusive time.

Profilers (`--profiler`):

- `sample` (default): SIGPROF every millisecond of the process's CPU time (`ITIMER_PROF`; the
  kernel's tick makes it about every 4 ms at 250 Hz, so profile 20 s or more for steady shares).
  The handler runs in the event loop thread between two bytecodes and records its stack, so the
  overhead is small and waiting is not counted; a sample taken while the loop waits in `select`
  (another thread was using the CPU) counts as idle. C code that holds the GIL (orjson, zlib,
  upb, the garbage collector) is charged to the Python code that runs next: usually its caller,
  sometimes the next function that caller calls.
- `cprofile`: exact call counts on the loop thread's CPU clock (`time.thread_time`), but the
  server runs 2 to 3 times slower and small Python functions look costlier than they are; read
  the shares, not the absolute figures. `--out` keeps the raw pstats.
- `none`: the same load, measured only.

    .venv/bin/python -m bench.profile                          # canonical single events, 6 s
    .venv/bin/python -m bench.profile --route logister --batch --seconds 20 --top 50
    .venv/bin/python -m bench.profile --log-level info         # with ingestd's per-call log line
    .venv/bin/python -m bench.profile --bare                   # the bare aiohttp handler: the floor
    .venv/bin/python -m bench.profile --profiler cprofile --out /tmp/ingestd.prof
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import io
import os
import pstats
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from aiohttp import web

from bench.bare import aiohttp_runner
from bench.cpu import process_cpu_s
from bench.load import HttpRequests, Load, drive_http
from bench.routes import ROUTES, Keys
from bench.targets import LOGISTER_RATE_LIMIT, MASTER_SECRET, PLACEHOLDER_KEYS, PROJECT_SECRET, make_keys
from server import runtime

ROOT = Path(__file__).resolve().parent.parent

#: The areas the event loop's time is grouped in: (label, substrings of the code's file path).
_AREAS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("gateway/front.py (HTTP/1.1 front: parse, write)", ("/gateway/front.py",)),
    (
        "gateway/app.py (route, bind, render)",
        ("/gateway/app.py", "/gateway/routes.py", "/gateway/dispatch.py"),
    ),
    ("gateway/body.py (read body, depth)", ("/gateway/body.py",)),
    ("gateway codec (proto3 JSON)", ("/gateway/codec.py", "/gateway/_codec")),
    ("server/pipeline.py", ("/server/pipeline.py", "/server/dispatch.py")),
    ("server/keys.py + access.py", ("/server/keys.py", "/server/access.py", "/storage/accounts.py")),
    ("server/ingest.py", ("/server/ingest.py",)),
    ("server/normalize.py", ("/server/normalize.py",)),
    ("server/ids.py, clock.py", ("/server/ids.py", "/server/clock.py")),
    ("server/dialects", ("/server/dialects/",)),
    ("server/redaction", ("/server/redaction/",)),
    ("server/alerting", ("/server/alerting/",)),
    (
        "storage/writer.py (group writer)",
        ("/storage/writer.py", "/storage/writer_sql.py", "/storage/bridge.py", "/storage/writer_link.py"),
    ),
    ("storage/events.py (insert)", ("/storage/events.py",)),
    ("sqlalchemy (+ greenlet)", ("/sqlalchemy/", "greenlet")),
    ("aiosqlite (hand-off to its thread)", ("/aiosqlite/",)),
    ("aiohttp (server, parser, response)", ("/aiohttp/", "/multidict/", "/yarl/")),
    ("structlog (per-call log line)", ("/structlog/", "/logging/")),
    ("protobuf", ("/google/protobuf/",)),
    (
        "asyncio (event loop, futures, selectors)",
        ("/asyncio/", "/selectors.py", "/uvloop/", "/server/runtime.py"),
    ),
    ("grpc", ("/grpc/",)),
    ("stdlib (contextlib, uuid, enum, ...)", ("/lib/python3",)),
    # The collector's callback below is the first Python code to run after a collection, so the
    # collection's time is charged to it.
    ("garbage collector", ("/bench/profile.py",)),
    ("bench/bare.py (the bare handler)", ("/bench/bare.py",)),
)


class Sampler:
    """A statistical profiler of the main thread, driven by SIGPROF (`setitimer(ITIMER_PROF)`):
    every `interval_s` of the process's CPU time, the signal handler, which Python runs in the main
    thread between two bytecodes, records the interrupted stack.

    A sample whose innermost frame is the selector's `select` is idle (the event loop waiting for
    I/O while another thread used the CPU); the others are busy, attributed to their innermost
    Python frame ("own") and to every function on the stack once ("inclusive"). Time in C code
    that holds the GIL is attributed to the Python frame that called it. (A sampling thread would
    not do: it gets the GIL only where the sampled thread releases it, at system calls.)
    """

    def __init__(self, interval_s: float = 0.001) -> None:
        self._interval_s = interval_s
        self.idle = 0
        self.busy = 0
        self.own: dict[tuple[str, int, str], int] = {}
        self.inclusive: dict[tuple[str, int, str], int] = {}

    def start(self) -> None:
        signal.signal(signal.SIGPROF, self._sample)
        signal.setitimer(signal.ITIMER_PROF, self._interval_s, self._interval_s)

    def stop(self) -> None:
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        signal.signal(signal.SIGPROF, signal.SIG_DFL)

    def _sample(self, signum: int, frame: FrameType | None) -> None:
        if frame is None:
            return
        code = frame.f_code
        if code.co_name == "select" and code.co_filename.endswith("selectors.py"):
            self.idle += 1
            return
        self.busy += 1
        key = (code.co_filename, code.co_firstlineno, code.co_name)
        self.own[key] = self.own.get(key, 0) + 1
        seen = set()
        current: FrameType | None = frame
        while current is not None:
            code = current.f_code
            key = (code.co_filename, code.co_firstlineno, code.co_name)
            if key not in seen:
                seen.add(key)
                self.inclusive[key] = self.inclusive.get(key, 0) + 1
            current = current.f_back

    def report(self, top: int, calls: int, busy_cpu_s: float) -> None:
        """Prints the busy share, the areas and the top functions; `busy_cpu_s` (the thread's
        CPU during the phase) turns shares into microseconds per request."""
        total = self.busy + self.idle
        if not self.busy:
            print("\nsampler: no busy samples")
            return
        per = busy_cpu_s * 1e6 / max(calls, 1) / self.busy
        print(
            f"\nEvent loop thread, sampled: {total:,} samples, {self.busy / total:.0%} busy; "
            f"shares of the busy samples, scaled to its {busy_cpu_s * 1e6 / max(calls, 1):,.0f} us "
            "of CPU a request"
        )
        areas: dict[str, int] = {}
        for (filename, _, _), count in self.own.items():
            area = _area(filename)
            areas[area] = areas.get(area, 0) + count
        print(
            f"\n{'area (own samples; C code charged to its Python caller)':<58}{'share':>7}{'us/request':>12}"
        )
        for area, count in sorted(areas.items(), key=lambda item: -item[1]):
            if count / self.busy >= 0.002:
                print(f"  {area:<56}{count / self.busy:>7.1%}{count * per:>12.1f}")
        for title, table in (("own", self.own), ("inclusive", self.inclusive)):
            print(f"\nTop {top} functions by {title} samples:")
            print(f"  {'share':>6} {'us/req':>8}  function")
            for (filename, line, name), count in sorted(table.items(), key=lambda item: -item[1])[:top]:
                where = _short(filename)
                print(f"  {count / self.busy:>6.1%} {count * per:>8.1f}  {where}:{line}({name})")


class CommitStats:
    """Counts the group writer's transactions while enabled: how many, how many submissions and
    rows each held, and how long each took from BEGIN to the end of COMMIT (wall clock, fsync
    and waiting for the GIL included). It wraps `GroupWriter._commit` of this process only."""

    def __init__(self) -> None:
        self.enabled = False
        self.commits = 0
        self.submissions = 0
        self.rows = 0
        self.seconds = 0.0

    def install(self) -> None:
        from storage.writer import GroupWriter

        original = GroupWriter._commit
        stats = self

        # Runs on the writer's thread; the counters are only read once the load has stopped.
        def _commit(writer: GroupWriter, group: list[Any]) -> None:
            started = time.perf_counter()
            try:
                original(writer, group)
            finally:
                if stats.enabled:
                    stats.commits += 1
                    stats.submissions += len(group)
                    stats.rows += sum(len(submission.rows) for submission in group)
                    stats.seconds += time.perf_counter() - started

        GroupWriter._commit = _commit  # type: ignore[method-assign,assignment]

    def report(self, wall: float) -> None:
        if not self.commits:
            print("group writer: no commit during the measured phase")
            return
        print(
            f"group writer: {self.commits / wall:,.0f} commits/s, {self.submissions / self.commits:.1f} "
            f"requests and {self.rows / self.commits:.1f} rows a commit, "
            f"{self.seconds / self.commits * 1000:.2f} ms a commit (wall)"
        )


class ThreadStarts:
    """Counts the threads started in this process while enabled, by their target's name: a
    connection pool that opens and closes connections under load shows up here (each aiosqlite
    connection is a new thread and a new sqlite3 connection)."""

    def __init__(self) -> None:
        self.enabled = False
        self.started: dict[str, int] = {}

    def install(self) -> None:
        original = threading.Thread.start
        stats = self

        def start(thread: threading.Thread) -> None:
            if stats.enabled:
                target = getattr(thread, "_target", None)
                name = getattr(target, "__name__", type(thread).__name__)
                stats.started[name] = stats.started.get(name, 0) + 1
            original(thread)

        threading.Thread.start = start  # type: ignore[method-assign,assignment]

    def report(self, wall: float) -> None:
        if self.started:
            counts = ", ".join(f"{n} {name}" for name, n in sorted(self.started.items(), key=lambda i: -i[1]))
            rate = sum(self.started.values()) / wall
            print(f"threads started during the measured phase: {counts} ({rate:,.0f}/s)")


class GcStats:
    """Time the cyclic garbage collector takes in this process while enabled, by generation
    (`gc.callbacks`; wall clock, which for a collection is CPU of the thread that triggered it)."""

    def __init__(self) -> None:
        self.enabled = False
        self.seconds = [0.0, 0.0, 0.0]
        self.collections = [0, 0, 0]
        self._started = 0.0

    def install(self) -> None:
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif self.enabled:
            generation = info["generation"]
            self.collections[generation] += 1
            self.seconds[generation] += time.perf_counter() - self._started

    def report(self, wall: float, calls: int) -> None:
        total = sum(self.seconds)
        parts = ", ".join(
            f"gen{g} {self.collections[g]} x {self.seconds[g] / max(self.collections[g], 1) * 1e3:.2f} ms"
            for g in range(3)
        )
        print(
            f"garbage collector: {total / wall:.1%} of the measured time, "
            f"{total / max(calls, 1) * 1e6:,.1f} us/request ({parts}; thresholds {gc.get_threshold()})"
        )


def _short(filename: str) -> str:
    for prefix in (str(ROOT) + "/", sys.prefix + "/lib/python3.11/site-packages/"):
        if filename.startswith(prefix):
            return filename[len(prefix) :]
    marker = "/lib/python3.11/"
    return filename.split(marker, 1)[1] if marker in filename else filename


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.splitlines()[0])
    parser.add_argument("--route", choices=list(ROUTES), default="canonical")
    parser.add_argument(
        "--bare",
        action="store_true",
        help="profile the bare aiohttp handler (bench.bare) instead of ingestd, for the floor",
    )
    parser.add_argument("--batch", action="store_true", help="the route's batch shape, not single events")
    parser.add_argument(
        "--writer",
        choices=("group", "free"),
        default="group",
        help="group: ingestd's group writer (default); free: one that answers at once and stores "
        "nothing, for the ceiling of the request path alone",
    )
    parser.add_argument("--seconds", type=float, default=6.0, help="profiled seconds (default 6)")
    parser.add_argument("--warmup", type=float, default=1.5, help="unprofiled warm-up seconds (default 1.5)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--top", type=int, default=30, help="functions listed per table (default 30)")
    parser.add_argument(
        "--log-level", default="warning", help="ingestd's log level (default warning, as the bench)"
    )
    parser.add_argument("--out", help="also write the raw pstats here")
    parser.add_argument(
        "--profiler",
        choices=("sample", "cprofile", "none"),
        default="sample",
        help="sample: a statistical sampler, little overhead (default); cprofile: exact calls, "
        "slows the server 2-3x; none: measure only",
    )
    # The load generator's side (run by the server side as a child process).
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--keys", default="", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# --- the client process --------------------------------------------------------------------------


async def client(args: argparse.Namespace) -> None:
    """Drives `--route` at 127.0.0.1:`--port`: warm-up, then prints `GO`, measures, prints `DONE`."""
    route = ROUTES[args.route]
    keys = Keys(*args.keys.split(","))
    per = route.batch_size if args.batch else 1
    requests = HttpRequests(
        path=route.path(args.batch),
        headers=route.request_headers(args.batch, keys),
        bodies=route.bodies(
            args.batch, keys, expected=int((args.warmup + args.seconds) * 400), unique=not args.bare
        ),
        events_per_request=per,
        taken=route.bare_taken if args.bare else route.taken,
    )
    address = f"127.0.0.1:{args.port}"
    load = Load(seconds=args.warmup, warmup_s=0.0, concurrency=args.concurrency, streams=1)
    await drive_http(address, requests, load, None)
    print("GO", flush=True)
    load = Load(seconds=args.seconds, warmup_s=0.0, concurrency=args.concurrency, streams=1)
    _, measured = await drive_http(address, requests, load, None)
    tally = measured.tally
    print(
        f"DONE {tally.calls} {tally.events} {tally.errors} {tally.seconds:.4f} "
        f"{tally.percentile_ms(50) or 0:.3f} {tally.percentile_ms(99) or 0:.3f} {time.process_time():.3f}",
        flush=True,
    )
    if tally.first_error:
        print(f"ERROR {tally.first_error}", flush=True)


# --- the server side -----------------------------------------------------------------------------


def _thread_cpu() -> dict[str, float]:
    """CPU seconds of each thread of this process, by `name (tid)`."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    found: dict[str, float] = {}
    for tid in os.listdir(f"/proc/{os.getpid()}/task"):
        cpu = process_cpu_s(f"{os.getpid()}/task/{tid}")
        if cpu is not None:
            try:
                with open(f"/proc/{os.getpid()}/task/{tid}/comm", encoding="utf-8") as comm:
                    kernel_name = comm.read().strip()
            except OSError:
                kernel_name = "?"
            found[f"{names.get(int(tid), kernel_name)} ({tid})"] = cpu
    return found


def _area(filename: str) -> str:
    for label, needles in _AREAS:
        if any(needle in filename for needle in needles):
            return label
    if filename.startswith("~") or filename.startswith("<"):
        return "builtins and C functions"
    return "other"


def _areas(stats: pstats.Stats) -> list[tuple[str, float]]:
    """Own time (tottime) of the event loop thread by area, largest first. C functions are charged
    to the area of the Python function that called them."""
    totals: dict[str, float] = {}
    raw = stats.stats  # type: ignore[attr-defined]
    for (filename, _, _), (_, _, tottime, _, callers) in raw.items():
        area = _area(filename)
        if area.startswith("builtins") and callers:
            # Split a C function's time among its callers, in proportion to their calls.
            total_calls = sum(c[0] for c in callers.values()) or 1
            for (caller_file, _, _), caller_stats in callers.items():
                share = tottime * caller_stats[0] / total_calls
                totals[_area(caller_file)] = totals.get(_area(caller_file), 0.0) + share
            continue
        totals[area] = totals.get(area, 0.0) + tottime
    return sorted(totals.items(), key=lambda item: -item[1])


def _print_stats(profile: cProfile.Profile, top: int, calls: int, out: str | None) -> None:
    stats = pstats.Stats(profile)
    if out:
        stats.dump_stats(out)
        print(f"raw pstats written to {out} (python -m pstats {out})")
    total = sum(tottime for (_, _, tottime, _, _) in stats.stats.values())  # type: ignore[attr-defined]
    per = 1e6 / max(calls, 1)
    print(f"\nEvent loop thread under cProfile: {total:.2f} CPU s, {total * per:,.0f} us/request")
    print(f"\n{'area (own time; C calls charged to their caller)':<58}{'share':>7}{'us/request':>12}")
    for area, seconds in _areas(stats):
        if seconds / total >= 0.002:
            print(f"  {area:<56}{seconds / total:>7.1%}{seconds * per:>12.1f}")
    for key, title in (("tottime", "own time"), ("cumulative", "cumulative time")):
        buffer = io.StringIO()
        view = pstats.Stats(profile, stream=buffer)
        view.sort_stats(key).print_stats(top)
        text = buffer.getvalue()
        text = text.replace(str(ROOT) + "/", "").replace(sys.prefix + "/lib/python3.11/site-packages/", "")
        start = text.find("   ncalls")
        print(f"\nTop {top} by {title} (per-call figures in seconds):")
        print(text[start:].rstrip())


async def serve_bare_and_profile(args: argparse.Namespace) -> int:
    runner = aiohttp_runner()
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = int(runner.addresses[0][1])
        return await _profile(args, port, PLACEHOLDER_KEYS)
    finally:
        await runner.cleanup()


def _free_writer() -> Any:
    """A `RowWriter` that stores nothing and answers at once, every row new. Made here, not at
    import, so that the client process never loads storage."""
    from storage.writer import Stored

    class FreeWriter:
        async def write(self, key_id: str | None, rows: Sequence[Any]) -> list[Stored]:
            return [Stored(row.id, False) for row in rows]

    return FreeWriter()


async def serve_and_profile(args: argparse.Namespace, log: TextIO) -> int:
    from server.config import Settings
    from server.log import configure_logging
    from server.main import running

    with tempfile.TemporaryDirectory(prefix="ingestd-profile-") as directory:
        settings = Settings(
            grpc_addr="127.0.0.1:0",
            http_addr="127.0.0.1:0",
            database_url=f"sqlite:///{directory}/profile.db",
            bootstrap_master_key=MASTER_SECRET,
            bootstrap_project_key=PROJECT_SECRET,
            log_level=args.log_level,
            log_format="json",
            logister_rate_limit_requests=LOGISTER_RATE_LIMIT,
        )
        configure_logging(settings, log)
        async with running(settings, row_writer=_free_writer() if args.writer == "free" else None) as started:
            keys = await make_keys(f"127.0.0.1:{started.http_port}")
            runtime.settle_heap()  # as `ingestd serve` does once it serves
            return await _profile(args, started.http_port, keys)


async def _profile(args: argparse.Namespace, port: int, keys: Keys) -> int:
    argv = [
        sys.executable, "-m", "bench.profile", "--client", "--port", str(port),
        "--route", args.route, "--seconds", str(args.seconds), "--warmup", str(args.warmup),
        "--concurrency", str(args.concurrency), "--keys", f"{keys.project},{keys.public},{keys.server}",
    ]  # fmt: skip
    argv += ["--batch"] if args.batch else []
    argv += ["--bare"] if args.bare else []
    child = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, cwd=str(ROOT), env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    assert child.stdout is not None
    profile = cProfile.Profile(time.thread_time)
    sampler = Sampler()
    commits = CommitStats()
    commits.install()
    collector = GcStats()
    collector.install()
    starts = ThreadStarts()
    starts.install()
    done: list[str] = []
    errors: list[str] = []
    threads_before: dict[str, float] = {}
    process_before = 0.0
    wall = 0.0
    while line := (await child.stdout.readline()).decode():
        if line.startswith("GO"):
            threads_before = _thread_cpu()
            process_before = time.process_time()
            wall = time.perf_counter()
            commits.enabled = collector.enabled = starts.enabled = True
            if args.profiler == "cprofile":
                profile.enable()
            elif args.profiler == "sample":
                sampler.start()
        elif line.startswith("DONE"):
            commits.enabled = collector.enabled = starts.enabled = False
            if args.profiler == "cprofile":
                profile.disable()
            elif args.profiler == "sample":
                sampler.stop()
            wall = time.perf_counter() - wall
            done = line.split()[1:]
        elif line.startswith("ERROR"):
            errors.append(line.strip())
    await child.wait()
    if not done:
        print("the client did not finish; its exit status:", child.returncode)
        return 1
    calls, events, failed = int(done[0]), int(done[1]), int(done[2])
    seconds, p50, p99, client_cpu = float(done[3]), float(done[4]), float(done[5]), float(done[6])
    process_cpu = time.process_time() - process_before
    threads_after = _thread_cpu()
    shape = f"batches of {ROUTES[args.route].batch_size}" if args.batch else "single events"
    print(
        f"{args.route}, {shape}: {calls / seconds:,.0f} requests/s, {events / seconds:,.0f} events/s, "
        f"p50 {p50:.2f} ms, p99 {p99:.2f} ms, {failed} errors"
        f"{' (under cProfile)' if args.profiler == 'cprofile' else ''}"
    )
    for error in errors:
        print(f"  first error: {error[6:]}")
    print(
        f"server process CPU {process_cpu / wall:.0%} of a core, "
        f"{process_cpu / max(calls, 1) * 1e6:,.0f} us/request; "
        f"client process (whole life) {client_cpu:.1f} s"
    )
    commits.report(wall)
    collector.report(wall, calls)
    starts.report(wall)
    print("server threads (CPU during the measured phase):")
    main_cpu = 0.0
    for name, after in sorted(
        threads_after.items(), key=lambda item: -(item[1] - threads_before.get(item[0], 0))
    ):
        used = after - threads_before.get(name, 0.0)
        if name.startswith("MainThread"):
            main_cpu = used
        if used >= 0.01:
            print(f"  {name:<48}{used / wall:>6.0%} of a core {used / max(calls, 1) * 1e6:>8,.0f} us/request")
    if args.profiler == "cprofile":
        _print_stats(profile, args.top, calls, args.out)
    elif args.profiler == "sample":
        sampler.report(args.top, calls, main_cpu)
    return 0 if failed == 0 else 1


def main() -> int:
    args = parse_args()
    if args.client:
        asyncio.run(client(args))
        return 0
    if args.bare:
        return runtime.run(serve_bare_and_profile(args))
    # ingestd's log lines (at --log-level) are written, as `ingestd serve` writes them, to nowhere.
    with open(os.devnull, "w") as devnull:
        return runtime.run(serve_and_profile(args, devnull))


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
