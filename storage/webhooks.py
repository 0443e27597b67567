"""Repository of webhooks and their delivery outbox and attempts. Takes a session or connection
and never commits.

Skeleton: signatures are fixed; bodies are being written.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncConnection

from ingestd.v1 import alerting_pb2 as A


async def enqueue_deliveries(
    connection: AsyncConnection,
    project_id: str,
    alert: A.Alert,
    event_type: str,
    now_us: int,
    new_id: Callable[[], str],
) -> int:
    """Writes one pending delivery of `alert` (`event_type` `alert.opened` or `alert.resolved`)
    for each enabled webhook of the project whose `min_severity` the alert meets, due now, in the
    caller's transaction; returns how many."""
    return 0
