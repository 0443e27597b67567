"""Group commit: concurrent writers share one transaction, and each is answered after its commit.

Callers hand `GroupWriter.write` their rows and wait. One task drains everything queued so far
into a single transaction, commits it, then resolves every caller's future. While a commit is on
disk the next group gathers in the queue, so batching grows with load and adds no delay when idle.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import psycopg
import structlog
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.accounts import KeyUsage
from storage.events import EventRepository, EventRow

_log = structlog.get_logger("ingestd.writer")

# How often, at most, the writer records a key's last use: often enough for "last used", rare
# enough that busy keys cost nothing.
_TOUCH_EVERY_US = 60_000_000


class WriterClosed(Exception):
    """The writer is shutting down and accepts no more rows."""


class KeyRevoked(Exception):
    """The key that authenticated the write was revoked before the rows were committed."""


class CommitFailed(Exception):
    """The database failed the transaction. Its rows were almost surely not stored (a failure
    inside COMMIT itself leaves it unknown), so the caller may retry, with idempotency keys
    where a duplicate would matter."""


class CommitHook(Protocol):
    """Work that must commit with the events or not at all, such as alert rule evaluation."""

    async def on_commit(self, connection: AsyncConnection, rows: Sequence[EventRow], now_us: int) -> None:
        """Runs inside the group's transaction with the rows it newly inserts (not duplicates).

        The hook runs its statements in a savepoint of its own, opened only when it has any to
        run (most groups need none, and a savepoint costs two round trips): if it raises, its
        writes are rolled back and logged, and the events still commit, since losing an alert is
        better than refusing the events.
        """
        ...


@dataclass(frozen=True, slots=True)
class Stored:
    """What became of one submitted row."""

    event_id: str
    duplicate: bool


@dataclass(slots=True)
class _Submission:
    key_id: str | None
    rows: Sequence[EventRow]
    future: asyncio.Future[list[Stored]]
    results: list[Stored] = field(default_factory=list)


_STOP = object()

# What the database says about the rows themselves, as opposed to its own health. COPY runs on
# the raw psycopg connection, so psycopg's own classes appear unwrapped.
_REFUSED = (DataError, IntegrityError, psycopg.DataError, psycopg.IntegrityError)


class GroupWriter:
    """The single writer of events for this process. Start it, then `write`; `close` flushes."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        now_us: Callable[[], int],
        max_group_rows: int = 20_000,
        hook: CommitHook | None = None,
    ) -> None:
        self._engine = engine
        self._hook = hook
        self._now_us = now_us
        self._max_group_rows = max_group_rows
        self._queue: asyncio.Queue[_Submission | object] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._touched: dict[str, int] = {}

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="ingestd-group-writer")

    async def close(self) -> None:
        """Stops accepting rows, commits everything already submitted, then returns."""
        if self._closed:
            return
        self._closed = True
        self._queue.put_nowait(_STOP)
        if self._task is not None:
            await self._task
        while not self._queue.empty():  # only when never started: nothing will commit these
            item = self._queue.get_nowait()
            if isinstance(item, _Submission):
                _resolve(item, WriterClosed())

    async def write(self, key_id: str | None, rows: Sequence[EventRow]) -> list[Stored]:
        """Commits `rows` and returns, per row, the stored id and whether it was a duplicate.

        Rows with an idempotency key already stored in their project, or repeated earlier in the
        same group, are duplicates: nothing new is stored and the first event's id is returned.

        Raises:
            KeyRevoked: `key_id` was revoked; nothing was stored.
            CommitFailed: the database failed; nothing was stored, a retry may succeed.
            WriterClosed: the server is shutting down.
        """
        if self._closed:
            raise WriterClosed()
        future: asyncio.Future[list[Stored]] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Submission(key_id, rows, future))
        return await future

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            item = await self._queue.get()
            if item is _STOP:
                break
            assert isinstance(item, _Submission)
            group = [item]
            size = len(item.rows)
            while size < self._max_group_rows and not self._queue.empty():
                more = self._queue.get_nowait()
                if more is _STOP:
                    stopping = True
                    break
                assert isinstance(more, _Submission)
                group.append(more)
                size += len(more.rows)
            await self._commit_group(group)

    async def _commit_group(self, group: list[_Submission]) -> None:
        try:
            await self._commit(group)
        except asyncio.CancelledError:
            for submission in group:
                _resolve(submission, WriterClosed())
            raise
        except _REFUSED as exc:
            if len(group) == 1:
                _log.warning("commit_refused", rows=len(group[0].rows), error=type(exc).__name__)
                _resolve(group[0], CommitFailed(type(exc).__name__))
                return
            # One caller's rows are what the database refuses: commit each caller on its own so
            # the others still succeed.
            for submission in group:
                submission.results = []
            try:
                for submission in group:
                    if not submission.future.done():
                        await self._commit_group([submission])
            except asyncio.CancelledError:
                for submission in group:
                    _resolve(submission, WriterClosed())
                raise
            return
        except Exception as exc:
            # The database itself is failing (gone, timing out): fail the group at once rather
            # than retry caller by caller and make every one of them wait again.
            _log.warning("commit_failed", rows=sum(len(s.rows) for s in group), error=type(exc).__name__)
            for submission in group:
                _resolve(submission, CommitFailed(type(exc).__name__))
            return
        for submission in group:
            _resolve(submission, None)

    async def _commit(self, group: list[_Submission]) -> None:
        now_us = self._now_us()
        # A Core transaction, not an ORM session: the writer needs none of the ORM's bookkeeping,
        # which costs about 0.5 ms of event-loop time per commit.
        async with self._engine.begin() as connection:
            events = EventRepository(connection)
            keys = KeyUsage(connection)
            key_ids = {s.key_id for s in group if s.key_id is not None}
            live = await keys.live_ids(key_ids)
            accepted = [s for s in group if s.key_id is None or s.key_id in live]
            for submission in group:
                if submission.key_id is not None and submission.key_id not in live:
                    _resolve(submission, KeyRevoked())

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

            # Sorted, so two nodes inserting overlapping keys lock them in the same order and
            # never deadlock each other on PostgreSQL.
            keyed.sort(key=lambda row: (row.project_id, row.idempotency_key or ""))
            inserted = await events.insert_keyed(keyed)
            existing: dict[tuple[str, str], str] = {}
            missing = [identity for identity in first_of if identity not in inserted]
            for project_id in {p for p, _ in missing}:
                found = await events.ids_for_keys(project_id, (k for p, k in missing if p == project_id))
                existing.update(((project_id, k), i) for k, i in found.items())
            await events.insert_many(plain)
            if self._hook is not None:
                new_rows = plain + [row for row in keyed if (row.project_id, row.idempotency_key) in inserted]
                if new_rows:
                    await self._run_hook(connection, new_rows, now_us)

            stale = [k for k in key_ids & live if now_us - self._touched.get(k, 0) >= _TOUCH_EVERY_US]
            await keys.touch(stale, now_us)

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

    async def _run_hook(self, connection: AsyncConnection, rows: list[EventRow], now_us: int) -> None:
        assert self._hook is not None
        try:
            await self._hook.on_commit(connection, rows, now_us)
        except Exception:
            # Only the hook's own savepoint rolled back: the events still commit. A failure of the
            # connection itself fails the commit that follows, and the group with it.
            _log.exception("commit_hook_failed", rows=len(rows))


def _resolve(submission: _Submission, error: Exception | None) -> None:
    if submission.future.done():
        return
    if error is not None:
        submission.future.set_exception(error)
    else:
        submission.future.set_result(submission.results)
