"""Repository of check-in monitors. Takes a session or connection and never commits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from sqlalchemy import Table, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from ingestd.v1 import alerting_pb2 as A
from storage.models import Monitor

_monitors = cast(Table, Monitor.__table__)

#: Statuses a monitor can go missed from.
_NOT_MISSED = (A.MONITOR_STATUS_OK, A.MONITOR_STATUS_FAILING)


async def record_check_in(
    connection: AsyncConnection,
    project: str,
    slug: str,
    *,
    environment: str,
    interval_s: int,
    status: int,
    last_status: int,
    now_us: int,
    default_interval_s: int,
) -> None:
    """Creates or updates the monitor of `slug` from a check-in received now. `interval_s` 0
    keeps the monitor's interval (or `default_interval_s` for a new one); the next check-in is due
    one interval from now."""
    m = _monitors.c
    first_interval = interval_s or default_interval_s
    insert = (postgresql if connection.dialect.name == "postgresql" else sqlite).insert(_monitors)
    statement = insert.values(
        project_id=project,
        slug=slug,
        environment=environment,
        interval_s=first_interval,
        status=status,
        last_status=last_status,
        last_check_in_us=now_us,
        next_due_us=now_us + first_interval * 1_000_000,
        created_us=now_us,
    )
    interval = interval_s if interval_s else m.interval_s
    statement = statement.on_conflict_do_update(
        index_elements=[m.project_id, m.slug],
        set_={
            "environment": environment,
            "interval_s": interval,
            "status": status,
            "last_status": last_status,
            "last_check_in_us": now_us,
            "next_due_us": now_us + interval * 1_000_000,
        },
    )
    await connection.execute(statement)


async def overdue(connection: AsyncConnection, before_us: int, limit: int) -> list[tuple[str, str, int, int]]:
    """Monitors of any project not yet missed whose next check-in was due before `before_us`,
    most overdue first (through `ix_monitors_due`): (project, slug, status, next due)."""
    m = _monitors.c
    statement = (
        select(m.project_id, m.slug, m.status, m.next_due_us)
        .where(m.status.in_(_NOT_MISSED), m.next_due_us < before_us)
        .order_by(m.next_due_us)
        .limit(limit)
    )
    return [(p, s, status, due) for p, s, status, due in await connection.execute(statement)]


async def mark_missed(
    connection: AsyncConnection, project: str, slug: str, *, seen_status: int, seen_due_us: int
) -> bool:
    """Marks the monitor missed if it is still as seen (no check-in since, no other node first);
    true if this call did."""
    m = _monitors.c
    statement = (
        update(_monitors)
        .where(
            m.project_id == project,
            m.slug == slug,
            m.status == seen_status,
            m.next_due_us == seen_due_us,
        )
        .values(status=A.MONITOR_STATUS_MISSED)
    )
    return (await connection.execute(statement)).rowcount == 1


async def of_project(session: AsyncSession, project: str) -> Sequence[Monitor]:
    """The project's monitors by slug."""
    statement = select(Monitor).where(Monitor.project_id == project).order_by(Monitor.slug)
    return (await session.scalars(statement)).all()


async def get(session: AsyncSession, project: str, slug: str) -> Monitor | None:
    return await session.get(Monitor, (project, slug))
