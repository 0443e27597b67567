"""The repository of open timing starts (`open_timing_starts`). Takes a session; never commits.

Claiming a start is deleting it: one `DELETE … WHERE id = (the oldest match) RETURNING`, so of two
transactions that race for one start exactly one gets its row back. On PostgreSQL the match is
chosen `FOR UPDATE SKIP LOCKED`, so a transaction passes over a start that another one is
claiming instead of waiting for it (and two transactions that claim several starts in opposite
orders cannot deadlock); on SQLite the caller's write transaction (`begin_write`) already runs
alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, cast

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import OpenTimingStart

_starts = cast(Table, OpenTimingStart.__table__)
# SQLite's default cap on bound parameters is 32,766; stay far below it.
_CHUNK = 500


class OpenStartRecord(NamedTuple):
    """One `open_timing_starts` row, less its project."""

    id: str
    correlation_key: str | None
    touchpoint: str | None
    started_us: int
    opened_us: int
    payload: bytes


_COLUMNS = tuple(_starts.c[name] for name in OpenStartRecord._fields)


class OpenTimingRepository:
    """A project's open timing starts."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, project_id: str, records: Sequence[OpenStartRecord]) -> None:
        """Inserts `records` (new ones, or claimed ones put back with their own ids)."""
        for start in range(0, len(records), _CHUNK):
            chunk = records[start : start + _CHUNK]
            await self._session.execute(
                insert(_starts), [{"project_id": project_id, **r._asdict()} for r in chunk]
            )

    async def claim_oldest(
        self,
        project_id: str,
        *,
        opened_since_us: int,
        correlation_key: str | None = None,
        touchpoint: str | None = None,
        unkeyed: bool = False,
    ) -> OpenStartRecord | None:
        """Deletes and returns the oldest start opened at or after `opened_since_us` with
        `correlation_key` and `touchpoint` (None: any), and without a key if `unkeyed`; None when
        there is none, or only ones that another transaction is claiming."""
        c = _starts.c
        matches = [c.project_id == project_id, c.opened_us >= opened_since_us]
        if correlation_key is not None:
            matches.append(c.correlation_key == correlation_key)
        if touchpoint is not None:
            matches.append(c.touchpoint == touchpoint)
        if unkeyed:
            matches.append(c.correlation_key.is_(None))
        oldest = (
            select(c.id).where(*matches).order_by(c.id).limit(1).with_for_update(skip_locked=True)
        ).scalar_subquery()
        statement = delete(_starts).where(c.project_id == project_id, c.id == oldest).returning(*_COLUMNS)
        row = (await self._session.execute(statement)).one_or_none()
        return None if row is None else OpenStartRecord(*row)

    async def remove(self, project_id: str, ids: Sequence[str]) -> None:
        """Deletes the starts `ids` that are still open."""
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            await self._session.execute(
                delete(_starts).where(_starts.c.project_id == project_id, _starts.c.id.in_(chunk))
            )

    async def delete_opened_before(self, before_us: int) -> int:
        """Deletes every project's starts opened before `before_us`; returns how many."""
        result = await self._session.execute(delete(_starts).where(_starts.c.opened_us < before_us))
        return int(result.rowcount)  # type: ignore[attr-defined]
