"""`ingestd serve --workers N`: N server processes on the same gRPC and HTTP ports (and on
SQLite, with `sqlite_writer_process`, one worker and the file's writer process).

The supervisor migrates the database once, picks the ports once (port 0 chooses free ones for
every worker) and holds them reserved, then starts N workers. Each worker is a whole `ingestd
serve` with those addresses and `INGESTD_REUSE_PORT=true`, so the kernel spreads connections over
the workers (SO_REUSEPORT). What must hold across workers holds across nodes already: every write
commits through the database, background jobs (webhook deliveries, monitor sweeps, stream purges)
are arbitrated by it, and settings caches expire within `settings_cache_ttl_s`.

On SQLite, one more child hosts the one group writer of the file (`ingestd serve` with
`INGESTD_WRITER_HOST=true`, which serves no port), and the workers hand it their rows over a Unix
socket in a private directory (`storage.writer_link`): a SQLite file takes one writer at a time,
and one writer puts every worker's requests into each commit. With `sqlite_writer_process` it runs
with one worker too, so that the writer's statements never wait for the GIL of a process that
serves requests. While it restarts, the workers' writes wait for it a few seconds,
then are answered 503 with a retry hint.

A worker that dies is started again after a backoff. SIGTERM or SIGINT is passed on to every
worker; each drains as a lone server does, and the supervisor exits once all have. A worker dies
with its supervisor (PR_SET_PDEATHSIG), so a SIGKILL of the supervisor leaves nothing serving.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TextIO

from server.config import Settings

# A worker that lived this long before it died is restarted at once; one that keeps dying sooner
# waits twice as long each time, up to the cap.
_HEALTHY_AFTER_S = 30.0
_FIRST_BACKOFF_S = 0.5
_MAX_BACKOFF_S = 30.0
_POLL_S = 0.1
_PR_SET_PDEATHSIG = 1


@dataclass(slots=True)
class _Worker:
    """A child the supervisor keeps running: a worker, or (`writer`) the SQLite file's writer."""

    index: int
    writer: bool = False
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    backoff_s: float = 0.0
    restart_at: float = 0.0


def supervised(settings: Settings) -> bool:
    """Whether `ingestd serve` runs under a supervisor: with several workers, or on SQLite with its
    writer in a process of its own (`sqlite_writer_process`). A process the supervisor started
    (it has `writer_socket`) and an HTTP-only front (`grpc_upstream`) serve alone."""
    if settings.grpc_upstream or settings.writer_socket or settings.writer_host:
        return False
    return settings.workers > 1 or (settings.sqlite_writer_process and _sqlite(settings.database_url))


def _sqlite(database_url: str) -> bool:
    # The URL's scheme by hand: SQLAlchemy's `make_url` would load SQLAlchemy into the supervisor.
    return database_url.partition(":")[0].partition("+")[0] == "sqlite"


class _Refused(Exception):
    """The start cannot go on; the message is the one line to print."""


def supervise(settings: Settings, environ: Mapping[str, str], out: TextIO) -> int:
    """Runs `settings.workers` workers (and a SQLite file's writer) until SIGTERM or SIGINT;
    returns the exit status: 0 when every worker drained cleanly, 1 with one line on stderr when
    the database refuses writes or a port is taken, as for a lone server.

    The supervisor loads neither the server's modules nor the database's (those only in a child,
    `_prepare`): what it imports it would hold for its whole life."""
    try:
        _prepare(settings)
        grpc_socket, grpc_addr = _reserve(settings.grpc_addr, "gRPC")
        with grpc_socket:
            http_socket, http_addr = _reserve(settings.http_addr, "HTTP")
            with http_socket, tempfile.TemporaryDirectory(prefix="ingestd-") as private:
                return _supervise(settings, environ, out, grpc_addr, http_addr, private)
    except _Refused as exc:
        print(f"ingestd: {exc}", file=sys.stderr, flush=True)
        return 1


def _prepare(settings: Settings) -> None:
    """Migrates the schema (with `migrate_on_start`) and checks that the database takes writes, in
    a forked child, so that SQLAlchemy and Alembic (60 MiB) never load into the supervisor. Raises
    _Refused when the database refuses writes: a lone server stops its start there too, rather
    than leave its children failing and restarting."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        status = 1
        try:
            from server.log import configure_logging
            from storage.engine import NotWritable, probe_write, writer_engine
            from storage.migrate import upgrade

            configure_logging(settings)
            try:
                if settings.migrate_on_start:
                    upgrade(settings.database_url)
                engine = writer_engine(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
                try:
                    probe_write(engine)
                finally:
                    engine.dispose()
                status = 0
            except NotWritable as exc:
                os.write(write, f"the database cannot be written: {exc}".encode())
        except BaseException:
            traceback.print_exc()
            os.write(write, b"the database could not be prepared (above)")
        finally:
            os._exit(status)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        complaint = pipe.read().decode(errors="replace")
    _, status = os.waitpid(pid, 0)
    if status != 0:
        code = os.waitstatus_to_exitcode(status)
        raise _Refused(complaint or f"the database could not be prepared (exit status {code})")


def _supervise(
    settings: Settings, environ: Mapping[str, str], out: TextIO, grpc_addr: str, http_addr: str, private: str
) -> int:
    """Starts the children with the reserved addresses and keeps them running until a signal."""
    env = {
        **environ,
        "INGESTD_GRPC_ADDR": grpc_addr,
        "INGESTD_HTTP_ADDR": http_addr,
        "INGESTD_DATABASE_URL": settings.database_url,
        "INGESTD_WORKERS": "1",
        "INGESTD_REUSE_PORT": "true",
        "INGESTD_MIGRATE_ON_START": "false",
    }
    children = [_Worker(i) for i in range(settings.workers)]
    writers: list[_Worker] = []
    if _sqlite(settings.database_url):
        # One writer for the file, in a process of its own; the workers hand it their rows.
        env["INGESTD_WRITER_SOCKET"] = os.path.join(private, "writer.sock")
        writers.append(_Worker(settings.workers, writer=True))
    plural = "" if settings.workers == 1 else "s"
    writer = " and the SQLite file's writer" if writers else ""
    print(f"ingestd supervising {settings.workers} worker{plural}{writer}", file=out, flush=True)
    stopping: list[int] = []
    previous = {s: signal.signal(s, lambda signum, _: stopping.append(signum)) for s in _STOP_SIGNALS}
    try:
        for child in writers + children:
            _start(child, env)
        while not stopping:
            _restart_the_dead(writers + children, env, out)
            time.sleep(_POLL_S)
        # The workers first: what they commit while they drain goes through the writer.
        grace_s = settings.shutdown_grace_s + 10.0
        return _drain(children, grace_s) | _drain(writers, grace_s)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _reserve(address: str, what: str) -> tuple[socket.socket, str]:
    """Binds `address` with SO_REUSEPORT without listening, so its port (chosen now when it is 0)
    stays this server's between worker restarts; returns the socket and `host:port`. A bound
    socket that does not listen is given no connections. Raises _Refused, as a lone server stops,
    when the address is taken (by another ingestd's workers too) or is not this host's."""
    written, _, port = address.rpartition(":")
    written = written or "127.0.0.1"
    host = written.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    reserved = socket.socket(family, socket.SOCK_STREAM)
    try:
        # First without SO_REUSEPORT, which would let this server share a port that another
        # ingestd's workers listen on; with SO_REUSEADDR, as the servers' own sockets, so that
        # connections a previous run left in TIME_WAIT do not count.
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, int(port)))
            port = str(probe.getsockname()[1])
        reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        reserved.bind((host, int(port)))
    except OSError as exc:
        reserved.close()
        raise _Refused(f"cannot listen for {what} on {address}: {exc.strerror or exc}") from None
    return reserved, f"{written}:{port}"


def _start(worker: _Worker, env: Mapping[str, str]) -> None:
    worker.process = subprocess.Popen(
        [sys.executable, "-m", "server", "serve"],
        env={**env, "INGESTD_WRITER_HOST": "true" if worker.writer else "false"},
        preexec_fn=_die_with_parent(),
        # A group of its own: a terminal's Ctrl-C reaches the supervisor alone, which then drains
        # the workers before the writer they commit through.
        process_group=0,
    )
    worker.started = time.monotonic()


def _restart_the_dead(workers: list[_Worker], env: Mapping[str, str], out: TextIO) -> None:
    now = time.monotonic()
    for worker in workers:
        process = worker.process
        if process is not None and process.poll() is not None:
            lived = now - worker.started
            healthy = lived >= _HEALTHY_AFTER_S
            doubled = min(_MAX_BACKOFF_S, max(_FIRST_BACKOFF_S, worker.backoff_s * 2))
            worker.backoff_s = 0.0 if healthy else doubled
            worker.restart_at = now + worker.backoff_s
            what = "writer" if worker.writer else f"worker {worker.index}"
            print(
                f"ingestd {what} (pid {process.pid}) exited with {process.returncode} "
                f"after {lived:.1f} s; restarting in {worker.backoff_s:.1f} s",
                file=out,
                flush=True,
            )
            worker.process = None
        if worker.process is None and now >= worker.restart_at:
            _start(worker, env)


def _drain(workers: list[_Worker], timeout_s: float) -> int:
    """SIGTERM to every worker, then waits for all; SIGKILL for any still running at the end."""
    running = [w.process for w in workers if w.process is not None and w.process.poll() is None]
    for process in running:
        process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    status = 0
    for process in running:
        try:
            code = process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
        if code != 0:
            status = 1
    return status


def _die_with_parent() -> Callable[[], None] | None:
    """A pre-exec hook that makes the child receive SIGKILL when the supervisor dies (Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)

    def hook() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)

    return hook
