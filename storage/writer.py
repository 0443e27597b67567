"""Group commit: concurrent writers share one transaction, and each is answered after its commit.

Callers on the event loop hand `GroupWriter.write` their rows and wait. One thread owns the
writer's database connection: it takes everything queued so far, commits it as one transaction
(key liveness, idempotency, inserts, the commit hook), then wakes the event loop once for the
whole group. While a commit is on disk the next group gathers in the queue, so batching grows with
load and adds no delay when idle.

The thread, not the event loop, runs the statements: the loop never waits on the database, and
no statement costs an asyncio hand-off. Its own statements go straight to the DB-API connection
(`storage.writer_sql`); the commit hook runs on the same connection through `storage.bridge`.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import psycopg
import structlog
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.accounts import LAST_USE_EVERY_US
from storage.bridge import BridgedConnection, run_to_end
from storage.engine import describe_error
from storage.events import EventRow
from storage.stats import Histogram
from storage.writer_sql import WriterStatements, statements_for

_log = structlog.get_logger("ingestd.writer")

# SQLite answers SQLITE_BUSY only after its busy timeout (30 s); the group then waits and tries
# again, so a busy file delays callers rather than failing them, for this long at most.
_BUSY_GIVE_UP_S = 300.0


class WriterClosed(Exception):
    """The writer is shutting down and accepts no more rows."""


class KeyRevoked(Exception):
    """The key that authenticated the write was revoked before the rows were committed."""


#: Rows a group commits: one request's event up to a full group.
GROUP_ROW_BOUNDS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 20000)


class CommitFailed(Exception):
    """The database failed the transaction. Its rows were almost surely not stored (a failure
    inside COMMIT itself leaves it unknown), so the caller may retry, with idempotency keys
    where a duplicate would matter: after `retry_after_s`, which grows while the database keeps
    failing."""

    def __init__(self, message: str, retry_after_s: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class CommitHook(Protocol):
    """Work that must commit with the events or not at all, such as alert rule evaluation."""

    async def on_commit(self, connection: AsyncConnection, rows: Sequence[EventRow], now_us: int) -> None:
        """Runs inside the group's transaction with the rows it newly inserts (not duplicates).

        It runs on the writer's thread over a bridged connection: it may await only the
        connection's own calls. It runs its statements in a savepoint of its own, opened only
        when it has any to run (most groups need none): if it raises, its writes are rolled back
        and logged, and the events still commit, since losing an alert is better than refusing
        the events.
        """
        ...


@dataclass(frozen=True, slots=True)
class Stored:
    """What became of one submitted row."""

    event_id: str
    duplicate: bool


class RowWriter(Protocol):
    """What ingest writes through: this process's `GroupWriter`, or, in a worker that shares a
    SQLite file with others, `writer_link.RemoteWriter` to the one that hosts it."""

    async def write(self, key_id: str | None, rows: Sequence[EventRow]) -> list[Stored]:
        """See `GroupWriter.write`."""
        ...


@dataclass(slots=True)
class _Submission:
    key_id: str | None
    rows: Sequence[EventRow]
    future: asyncio.Future[list[Stored]]
    results: list[Stored] = field(default_factory=list)
    error: Exception | None = None


_STOP = object()

# What the database says about the rows themselves, as opposed to its own health. The writer's
# own statements run on the raw connection, so the drivers' classes appear unwrapped.
_REFUSED = (DataError, IntegrityError, psycopg.DataError, psycopg.IntegrityError, sqlite3.IntegrityError)


def _busy(exc: Exception) -> bool:
    """Whether `exc` is SQLite's "database is locked": another connection holds the write lock."""
    cause = exc.orig if isinstance(exc, OperationalError) else exc
    return isinstance(cause, sqlite3.OperationalError) and ("locked" in str(cause) or "busy" in str(cause))


class GroupWriter:
    """The single writer of events for this process. Start it, then `write`; `close` flushes."""

    def __init__(
        self,
        engine: Engine,
        *,
        now_us: Callable[[], int],
        max_group_rows: int = 20_000,
        hook: CommitHook | None = None,
        on_health: Callable[[str | None], None] | None = None,
    ) -> None:
        """`on_health` is called on the event loop when the database starts failing commits
        (with the database's message) and when a commit succeeds again (with None)."""
        self._engine = engine
        self._hook = hook
        self._on_health = on_health
        self._failures = 0  # consecutive groups the database failed
        #: For `/metrics`: commits, their rows and latency, and the database's failures.
        self.commit_seconds = Histogram()
        self.group_rows = Histogram(GROUP_ROW_BOUNDS)
        self.failed_groups = 0
        self._now_us = now_us
        self._max_group_rows = max_group_rows
        self._statements: WriterStatements = statements_for(engine.dialect.name)
        self._turn = _WriterTurn.for_engine(engine)
        self._inbox: queue.SimpleQueue[_Submission | object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Future[None] | None = None
        self._closed = False
        self._connection: Connection | None = None
        self._touched: dict[str, int] = {}

    def start(self) -> None:
        """Starts the writer's thread; call on the event loop that will `write`."""
        self._loop = asyncio.get_running_loop()
        self._stopped = self._loop.create_future()
        self._thread = threading.Thread(target=self._run, name="ingestd-group-writer", daemon=True)
        self._thread.start()

    async def close(self) -> None:
        """Stops accepting rows, commits everything already submitted, then returns."""
        if self._closed:
            return
        self._closed = True
        self._inbox.put(_STOP)
        if self._stopped is not None:
            await asyncio.shield(self._stopped)
        else:  # never started: nothing will commit these
            self._fail_queued()

    async def write(self, key_id: str | None, rows: Sequence[EventRow]) -> list[Stored]:
        """Commits `rows` and returns, per row, the stored id and whether it was a duplicate.

        Rows with an idempotency key already stored in their project, or repeated earlier in the
        same group, are duplicates: nothing new is stored and the first event's id is returned.

        Raises:
            KeyRevoked: `key_id` was revoked; nothing was stored.
            CommitFailed: the database failed; nothing was stored, a retry may succeed.
            WriterClosed: the server is shutting down.
        """
        return await self.submit(key_id, rows)

    def queued(self) -> int:
        """Submissions waiting for the writer (approximate), for `/metrics`."""
        return self._inbox.qsize()

    def submit(self, key_id: str | None, rows: Sequence[EventRow]) -> asyncio.Future[list[Stored]]:
        """`write` without a coroutine: the future it awaits, for a caller that answers from a
        callback (the writer link) instead of a task per request."""
        assert self._loop is not None, "GroupWriter.start() was not called"
        future: asyncio.Future[list[Stored]] = self._loop.create_future()
        if self._closed:
            future.set_exception(WriterClosed())
        else:
            self._inbox.put(_Submission(key_id, rows, future))
        return future

    # -- the writer's thread ---------------------------------------------------------------

    def _run(self) -> None:
        group: list[_Submission] = []
        try:
            stopping = False
            while not stopping:
                item = self._inbox.get()
                if item is _STOP:
                    break
                assert isinstance(item, _Submission)
                group = [item]
                size = len(item.rows)
                while size < self._max_group_rows:
                    try:
                        more = self._inbox.get_nowait()
                    except queue.Empty:
                        break
                    if more is _STOP:
                        stopping = True
                        break
                    assert isinstance(more, _Submission)
                    group.append(more)
                    size += len(more.rows)
                self._commit_group(group)
                self._answer(group)
                group = []
        except BaseException:  # pragma: no cover - a bug in the writer itself: fail loudly, answer all
            _log.exception("writer_crashed")
            for submission in group:
                submission.error = CommitFailed("the writer failed")
            self._answer(group)
            raise
        finally:
            self._fail_queued()
            self._disconnect()
            self._turn.close()
            self._call_soon(self._set_stopped)

    def _commit_group(self, group: list[_Submission]) -> None:
        """Commits `group`, leaving each submission's results or error set."""
        started = time.monotonic()
        while True:
            try:
                began = time.perf_counter()
                self._commit(group)
                self.commit_seconds.observe(time.perf_counter() - began)
                self.group_rows.observe(sum(len(s.rows) for s in group))
                if self._failures:
                    self._failures = 0
                    self._report_health(None)
                return
            except _REFUSED as exc:
                self._disconnect_if_broken()
                if len(group) == 1:
                    _log.warning("commit_refused", rows=len(group[0].rows), error=describe_error(exc))
                    group[0].error = CommitFailed(type(exc).__name__)
                    return
                # One caller's rows are what the database refuses: commit each caller on its own so
                # the others still succeed.
                for submission in group:
                    self._reset(submission)
                    self._commit_group([submission])
                return
            except Exception as exc:
                self._disconnect()
                if _busy(exc) and time.monotonic() - started < _BUSY_GIVE_UP_S and not self._closed:
                    for submission in group:
                        self._reset(submission)
                    continue
                # The database itself is failing (gone, timing out): fail the group at once rather
                # than retry caller by caller and make every one of them wait again.
                described = describe_error(exc)
                _log.warning("commit_failed", rows=sum(len(s.rows) for s in group), error=described)
                self._failures += 1
                self.failed_groups += 1
                self._report_health(described)  # the latest word; Readiness ignores repeats
                # 1, 2, 4 ... 30 s: a database that stays read-only or full is not hammered.
                retry_after_s = float(min(30, 2 ** min(self._failures - 1, 5)))
                for submission in group:
                    submission.error = CommitFailed(described, retry_after_s)
                return

    def _report_health(self, failing: str | None) -> None:
        if self._on_health is not None:
            self._call_soon(self._on_health, failing)

    @staticmethod
    def _reset(submission: _Submission) -> None:
        submission.results = []
        submission.error = None

    def _commit(self, group: list[_Submission]) -> None:
        now_us = self._now_us()
        sql = self._statements
        connection = self._connect()
        with self._turn, connection.begin():
            raw = connection.connection.driver_connection
            key_ids = {s.key_id for s in group if s.key_id is not None}
            live = sql.live_keys(raw, key_ids) if key_ids else set()
            accepted = []
            for submission in group:
                if submission.key_id is not None and submission.key_id not in live:
                    submission.error = KeyRevoked()
                else:
                    accepted.append(submission)

            plain: list[EventRow] = []
            keyed: list[EventRow] = []
            first_of: dict[tuple[str, str], str] = {}
            pending: list[tuple[_Submission, int, tuple[str, str] | None]] = []
            for submission in accepted:
                for index, row in enumerate(submission.rows):
                    if row.idempotency_key is None:
                        plain.append(row)
                        pending.append((submission, index, None))
                        continue
                    identity = (row.project_id, row.idempotency_key)
                    if identity not in first_of:
                        first_of[identity] = row.id
                        keyed.append(row)
                    pending.append((submission, index, identity))

            inserted: set[tuple[str, str]] = set()
            existing: dict[tuple[str, str], str] = {}
            if keyed:
                # Sorted, so two nodes inserting overlapping keys lock them in the same order and
                # never deadlock each other on PostgreSQL.
                keyed.sort(key=lambda row: (row.project_id, row.idempotency_key or ""))
                inserted = sql.insert_keyed(raw, keyed)
                missing = [identity for identity in first_of if identity not in inserted]
                for project_id in {p for p, _ in missing}:
                    keys = [k for p, k in missing if p == project_id]
                    found = sql.ids_for_keys(raw, project_id, keys)
                    existing.update(((project_id, k), i) for k, i in found.items())
            sql.insert_plain(raw, plain)
            if self._hook is not None:
                new_rows = plain + [row for row in keyed if (row.project_id, row.idempotency_key) in inserted]
                if new_rows:
                    self._run_hook(connection, new_rows, now_us)

            stale = [k for k in key_ids & live if now_us - self._touched.get(k, 0) >= LAST_USE_EVERY_US]
            if stale:
                sql.touch_keys(raw, stale, now_us)

        for k in stale:
            self._touched[k] = now_us
        # Results are built only after the commit, so a failed commit leaves no half-answers.
        for submission, index, keyed_as in pending:
            row = submission.rows[index]
            if keyed_as is None:
                submission.results.append(Stored(row.id, False))
            elif keyed_as in existing:
                submission.results.append(Stored(existing[keyed_as], True))
            elif keyed_as in inserted:
                first_id = first_of[keyed_as]
                submission.results.append(Stored(first_id, first_id != row.id))
            else:  # pragma: no cover - a conflicting row that vanished within the transaction
                raise RuntimeError(f"idempotency key {keyed_as!r} neither inserted nor found")

    def _run_hook(self, connection: Connection, rows: list[EventRow], now_us: int) -> None:
        assert self._hook is not None
        try:
            run_to_end(self._hook.on_commit(BridgedConnection(connection).as_async(), rows, now_us))
        except Exception:
            # Only the hook's own savepoint rolled back: the events still commit. A failure of the
            # connection itself fails the commit that follows, and the group with it.
            _log.exception("commit_hook_failed", rows=len(rows))

    def _connect(self) -> Connection:
        if self._connection is None:
            self._connection = self._engine.connect()
        return self._connection

    def _disconnect(self) -> None:
        """Drops the connection, so the next group starts on a fresh one."""
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.invalidate()
                connection.close()
            except Exception:  # it is being dropped because it failed; nothing more to learn
                pass

    def _disconnect_if_broken(self) -> None:
        if self._connection is not None and self._connection.invalidated:
            self._disconnect()

    def _answer(self, group: list[_Submission]) -> None:
        """Wakes the event loop once for the whole group."""
        self._call_soon(_settle, group)

    def _fail_queued(self) -> None:
        failed: list[_Submission] = []
        while True:
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, _Submission):
                item.error = WriterClosed()
                failed.append(item)
        if failed:
            self._call_soon(_settle, failed)

    def _set_stopped(self) -> None:
        if self._stopped is not None and not self._stopped.done():
            self._stopped.set_result(None)

    def _call_soon(self, callback: Callable[..., object], *args: object) -> None:
        assert self._loop is not None
        # A closed loop raises RuntimeError: nobody is left waiting for an answer.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(callback, *args)


class _WriterTurn:
    """Whose turn it is to write a SQLite file, among the processes that share it (`ingestd serve
    --workers N`, or nodes on one host): an exclusive `flock` on `<file>-writer.lock`, held from
    BEGIN to COMMIT. SQLite takes one writer at a time anyway, but a writer that finds the file
    locked polls with growing sleeps (up to 100 ms each); a waiter on the flock is woken the moment
    the lock is released. Without a file (PostgreSQL, an in-memory database) it does nothing."""

    def __init__(self, path: str | None) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600) if path is not None else None

    @classmethod
    def for_engine(cls, engine: Engine) -> _WriterTurn:
        database = engine.url.database
        if engine.dialect.name != "sqlite" or not database or database == ":memory:":
            return cls(None)
        return cls(database + "-writer.lock")

    def __enter__(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _settle(group: list[_Submission]) -> None:
    """On the event loop: answers each caller still waiting."""
    for submission in group:
        if submission.future.done():  # the caller gave up (cancelled); its rows are committed or not
            continue
        if submission.error is not None:
            submission.future.set_exception(submission.error)
        else:
            submission.future.set_result(submission.results)
