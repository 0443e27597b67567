"""Which services a project's events name, read through the `(project_id, service, id)` index.

Both questions are answered by index seeks alone, never by scanning a service's events: a
project may hold millions of events of one service, and these are asked on the ingest path.
"""

from __future__ import annotations

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Event

_events = Event.__table__

# A loose index scan: each step seeks the next distinct service after the last one, so reading n
# services costs n seeks. Written as a recursive CTE, which SQLite and PostgreSQL both run as is.
_FIRST_SERVICES = text(
    """
    WITH RECURSIVE walk(service, n) AS (
        SELECT (SELECT MIN(service) FROM events WHERE project_id = :project AND service > ''), 1
        UNION ALL
        SELECT (
                   SELECT MIN(e.service) FROM events e
                   WHERE e.project_id = :project AND e.service > walk.service
               ),
               walk.n + 1
        FROM walk
        WHERE walk.service IS NOT NULL AND walk.n < :count
    )
    SELECT service FROM walk WHERE service IS NOT NULL
    """
)


async def first_services(session: AsyncSession, project_id: str, count: int) -> list[str]:
    """Up to `count` distinct non-empty services of `project_id`'s events, in ascending order.
    Fewer than `count` means these are all of them."""
    result = await session.execute(_FIRST_SERVICES, {"project": project_id, "count": count})
    return [service for (service,) in result]


async def has_service(session: AsyncSession, project_id: str, service: str) -> bool:
    """Whether any event of `project_id` names `service`."""
    statement = (
        select(_events.c.service)
        .where(_events.c.project_id == project_id, _events.c.service == service)
        .limit(1)
    )
    return (await session.execute(statement)).first() is not None
