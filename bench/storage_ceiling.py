"""`python -m bench.storage_ceiling`: how many events a second the events table takes when nothing
else runs, the most ingestd's group writer could commit on this machine.

On a fresh, migrated SQLite file (`synchronous=FULL` and the pragmas of `writer_engine`, as
ingestd runs it) and, where reachable, a fresh PostgreSQL database (`bench.postgres`), it commits
groups of `--group` rows, one transaction each, through the writer's own statements
(`storage.writer_sql.insert_plain`), for `--seconds` of statements and commits, on one thread.
The rows are shaped as the bench's events: random ids, every other one with a trace id and a
fingerprint, a 600-byte payload. It prints rows a second and this process's CPU microseconds a
row (PostgreSQL's own backend is not counted).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import time
import uuid
from collections.abc import Iterator

from bench import postgres
from storage.engine import writer_engine
from storage.events import EventRow
from storage.migrate import upgrade
from storage.writer_sql import statements_for


def _rows(count: int, rng: random.Random) -> Iterator[EventRow]:
    now_us = time.time_ns() // 1000
    for i in range(count):
        traced = i % 2 == 0
        yield EventRow(
            project_id="default",
            id=f"{now_us:012x}-{uuid.UUID(int=rng.getrandbits(128))}"[:36],
            kind=1 + i % 2,
            level=3,
            occurred_us=now_us - rng.randrange(1_000_000),
            received_us=now_us,
            service=f"service-{i % 5}",
            environment="production",
            release="1.2.3",
            trace_id=f"{rng.getrandbits(128):032x}" if traced else None,
            fingerprint=f"{rng.getrandbits(64):016x}" if traced else None,
            message="GET /api/orders failed: upstream timed out after 30 s",
            idempotency_key=None,
            payload=rng.randbytes(600),
        )


def measure(database_url: str, group: int, seconds: float) -> tuple[float, float]:
    """Rows a second and CPU µs a row of committing groups of `group` rows for `seconds`."""
    upgrade(database_url)
    engine = writer_engine(database_url)
    sql = statements_for(engine.dialect.name)
    rng = random.Random(7)
    rows, wall, cpu = 0, 0.0, 0.0
    try:
        with engine.connect() as connection:
            while wall < seconds:
                batch = list(_rows(group, rng))  # not counted: ingestd's rows come made
                started, thread = time.perf_counter(), time.thread_time()
                with connection.begin():
                    sql.insert_plain(connection.connection.driver_connection, batch)
                wall += time.perf_counter() - started
                cpu += time.thread_time() - thread
                rows += group
    finally:
        engine.dispose()
    return rows / wall, cpu / rows * 1e6


async def _postgres(group: int, seconds: float) -> str:
    try:
        async with postgres.database() as url:
            per_s, us = await asyncio.to_thread(measure, url, group, seconds)
    except postgres.Unreachable as exc:
        return f"PostgreSQL: skipped ({exc})"
    return f"PostgreSQL: {per_s:,.0f} rows/s, {us:.1f} µs of this process's CPU a row"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.storage_ceiling", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--group", type=int, default=1000, help="rows a transaction (default 1000)")
    parser.add_argument("--seconds", type=float, default=5.0, help="how long each database runs (default 5)")
    args = parser.parse_args(argv)
    print(f"groups of {args.group} rows, each committed; the time spent making rows is not counted")
    with tempfile.TemporaryDirectory(prefix="ingestd-ceiling-") as directory:
        per_s, us = measure(f"sqlite:///{os.path.join(directory, 'events.db')}", args.group, args.seconds)
    print(f"SQLite: {per_s:,.0f} rows/s, {us:.1f} µs of CPU a row")
    print(asyncio.run(_postgres(args.group, args.seconds)))


if __name__ == "__main__":
    main()
