"""The services of Operyn's default organization in each project (`operyn_default_services`): those
that requests without `x-organization-id` named, at most a limit of them (docs/vendors/operyn.md
§5). Takes a session; never commits.

A claim is exact across processes and nodes: it runs in a write transaction (`begin_write`) that
first locks the project's row (PostgreSQL: `FOR NO KEY UPDATE`, which key-share readers such as
a new key's foreign key check pass through), so two claims for one project run one after the
other and the second reads what the first added. On SQLite the write transaction already runs
alone.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import NamedTuple, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import OperynDefaultService, Project

_services = cast(Table, OperynDefaultService.__table__)


class ServiceClaim(NamedTuple):
    """What a claim of `services` for a project's default organization found or did."""

    #: Every service the default organization holds, the claimed ones included unless refused.
    held: frozenset[str]
    #: The asked services it did not hold and (unless refused) now holds, in ascending order.
    added: tuple[str, ...]
    #: The first asked service past the limit, or "": when set, nothing was added.
    refused: str


def plan_claim(held: Collection[str], services: Collection[str], limit: int) -> ServiceClaim:
    """The claim of `services` by a default organization that holds `held`: all of them, if it
    then holds at most `limit`; else none, naming the first that does not fit."""
    added = tuple(sorted(set(services).difference(held)))
    room = limit - len(held)
    if len(added) > room:
        return ServiceClaim(frozenset(held), (), added[max(room, 0)])
    return ServiceClaim(frozenset(held).union(added), added, "")


async def held_services(session: AsyncSession, project_id: str) -> list[str]:
    """The services `project_id`'s default organization holds."""
    result = await session.execute(select(_services.c.service).where(_services.c.project_id == project_id))
    return [service for (service,) in result]


async def claim_services(
    session: AsyncSession, project_id: str, services: Collection[str], limit: int, now_us: int
) -> ServiceClaim:
    """Claims `services` for `project_id`'s default organization as `plan_claim` says, in the
    caller's write transaction, with the project's row locked until it ends (see the module)."""
    await session.execute(select(Project.id).where(Project.id == project_id).with_for_update(key_share=True))
    claim = plan_claim(await held_services(session, project_id), services, limit)
    if claim.added:
        rows = [{"project_id": project_id, "service": s, "created_us": now_us} for s in claim.added]
        await session.execute(insert(_services), rows)
    return claim
