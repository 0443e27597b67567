"""The anonymous streams repository: the `streams` rows and their `stream_events`.

Concurrency rests on the `streams` row: every transaction that adds events or claims the stream
first changes that row with a conditional UPDATE (`open_for_write`, `mark_claimed`), which on
PostgreSQL takes its row lock and re-checks the condition on the newest version after waiting,
and on SQLite is one of the serialized write transactions. So an append and a claim never overlap.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, and_, case, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.events import EventRow
from storage.models import Stream, StreamEvent

_streams = cast(Table, Stream.__table__)
_events = cast(Table, StreamEvent.__table__)


class StreamRecord(NamedTuple):
    """One `streams` row."""

    token: str
    created_us: int
    expires_us: int
    claimed_us: int | None
    claimed_project: str | None
    event_count: int
    day: int
    day_count: int


class Appended(NamedTuple):
    """The stored id of each appended row, in order, and how many rows were new (the others
    repeated an idempotency key already in the stream, or earlier in the same call)."""

    ids: list[str]
    new: int


def _stream_event(token: str, row: EventRow) -> dict[str, object]:
    values = row._asdict()
    del values["project_id"]
    values["token"] = token
    return values


def _dialect_insert(session: AsyncSession) -> Callable[[Table], Any]:
    """The INSERT construct of the session's database, for its ON CONFLICT clause."""
    bind = session.get_bind()
    return postgresql.insert if bind.dialect.name == "postgresql" else sqlite.insert


class StreamRepository:
    """Anonymous streams. Takes a session; never commits."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def create(self, token: str, now_us: int, expires_us: int, day: int) -> None:
        """Creates the stream unless it exists (in any state)."""
        statement = (
            _dialect_insert(self._session)(_streams)
            .values(
                token=token,
                created_us=now_us,
                expires_us=expires_us,
                claimed_us=None,
                claimed_project=None,
                event_count=0,
                day=day,
                day_count=0,
            )
            .on_conflict_do_nothing(index_elements=[_streams.c.token])
        )
        await self._session.execute(statement)

    async def open_for_write(self, token: str, now_us: int, day: int) -> int | None:
        """Locks an active stream for this transaction's writes, starting a new daily count on a
        new UTC day. Returns the count of `day` so far, or None when the stream is missing,
        claimed or expired (nothing changed)."""
        c = _streams.c
        today = case((c.day == day, c.day_count), else_=0)
        statement = (
            update(_streams)
            .where(c.token == token, c.claimed_us.is_(None), c.expires_us > now_us)
            .values(day=day, day_count=today)
            .returning(c.day_count)
        )
        counted = (await self._session.execute(statement)).scalar_one_or_none()
        return None if counted is None else int(counted)

    async def count(self, token: str, new: int) -> None:
        """Adds `new` events to the stream's total and to today's count (after `open_for_write`)."""
        c = _streams.c
        statement = (
            update(_streams)
            .where(c.token == token)
            .values(event_count=c.event_count + new, day_count=c.day_count + new)
        )
        await self._session.execute(statement)

    async def get(self, token: str) -> StreamRecord | None:
        result = await self._session.execute(select(*_streams.c).where(_streams.c.token == token))
        row = result.one_or_none()
        return None if row is None else StreamRecord(*row)

    async def mark_claimed(self, token: str, now_us: int, project: str) -> StreamRecord | None:
        """Marks an active stream claimed by `project`; None when it is missing, claimed or
        expired (nothing changed)."""
        c = _streams.c
        statement = (
            update(_streams)
            .where(c.token == token, c.claimed_us.is_(None), c.expires_us > now_us)
            .values(claimed_us=now_us, claimed_project=project)
            .returning(*_streams.c)
        )
        row = (await self._session.execute(statement)).one_or_none()
        return None if row is None else StreamRecord(*row)

    async def append(self, token: str, rows: Sequence[EventRow]) -> Appended:
        """Inserts rows (their `project_id` is ignored). A row whose idempotency key the stream
        already holds, or an earlier row of `rows` carries, is not stored: its id is the first's."""
        first_of: dict[str, str] = {}
        keyed: list[EventRow] = []
        plain: list[EventRow] = []
        for row in rows:
            key = row.idempotency_key
            if key is None:
                plain.append(row)
            elif key not in first_of:
                first_of[key] = row.id
                keyed.append(row)
        inserted: set[str] = set()
        if keyed:
            c = _events.c
            statement = (
                _dialect_insert(self._session)(_events)
                .on_conflict_do_nothing(
                    index_elements=[c.token, c.idempotency_key], index_where=c.idempotency_key.isnot(None)
                )
                .returning(c.idempotency_key)
            )
            result = await self._session.execute(statement, [_stream_event(token, r) for r in keyed])
            inserted = {k for (k,) in result}
            missing = [k for k in first_of if k not in inserted]
            if missing:
                found = select(c.idempotency_key, c.id).where(
                    c.token == token, c.idempotency_key.in_(missing)
                )
                first_of.update({k: i for k, i in await self._session.execute(found)})
        if plain:
            await self._session.execute(insert(_events), [_stream_event(token, r) for r in plain])
        ids = [row.id if row.idempotency_key is None else first_of[row.idempotency_key] for row in rows]
        return Appended(ids, len(plain) + len(inserted))

    async def events(self, token: str) -> list[EventRow]:
        """The stream's events in id order, as events rows of no project (`project_id` empty)."""
        c = _events.c
        columns = [_events.c[name] for name in EventRow._fields[1:]]
        result = await self._session.execute(select(*columns).where(c.token == token).order_by(c.id))
        return [EventRow("", *row) for row in result]

    async def delete_events(self, token: str) -> int:
        """Deletes the stream's events; returns how many."""
        result = await self._session.execute(delete(_events).where(_events.c.token == token))
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def delete_expired_events(self, now_us: int) -> int:
        """Deletes the events of every stream that expired unclaimed; returns how many."""
        c = _streams.c
        expired = select(c.token).where(and_(c.claimed_us.is_(None), c.expires_us <= now_us))
        result = await self._session.execute(delete(_events).where(_events.c.token.in_(expired)))
        return int(result.rowcount)  # type: ignore[attr-defined]
