"""Operyn's default organization: the one a request without `x-organization-id` belongs to, which
holds at most a few services per project (docs/vendors/operyn.md §5)."""

from __future__ import annotations

import asyncio
from collections.abc import Collection

from server.dialects.answer import Answer
from server.ingest import Ingest


class DefaultOrganization:
    """The services of each project's default organization, at most `limit` of them.

    Only services named by requests without `x-organization-id` count: a request that names an
    organization sends to that organization, whose services are its own. The services are claimed
    through `Ingest.claim_default_services`, which is exact across processes and nodes; each
    project's claimed services are cached here as a set that only grows (claims are never given
    back), so the database is asked only when a request names a service outside it. A per-project
    lock makes one request of a burst ask, and the rest find its answer cached.

    A service is claimed before its events are committed, and stays claimed when the commit then
    refuses them (a daily limit, a revoked key): the sender meant it, and giving it back could undo
    a claim another node has already stored events under.
    """

    def __init__(self, ingest: Ingest, limit: int) -> None:
        self._ingest = ingest
        self._limit = limit
        self._held: dict[str, set[str]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def admit(self, project: str, services: Collection[str]) -> None:
        """Returns once `project`'s default organization holds every one of `services`.

        Raises:
            Answer: 403, they would give it more than `limit` services; none was claimed.
        """
        held = self._held.setdefault(project, set())
        if held.issuperset(services):
            return
        async with self._locks.setdefault(project, asyncio.Lock()):
            if held.issuperset(services):
                return
            claim = await self._ingest.claim_default_services(project, services, self._limit)
            held.update(claim.held)
        if claim.refused:
            # The 403 and its wording are ingestd's: Operyn documents the limit, not its refusal.
            message = (
                f"Service limit reached: the default organization accepts at most {self._limit} services, "
                f"and '{claim.refused}' would be one more. Send your organization ID in x-organization-id."
            )
            body = {"statusCode": 403, "message": message}
            raise Answer(403, body, detail=f"SERVICE_LIMIT {claim.refused}")
