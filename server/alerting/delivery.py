"""Webhook delivery: signing, the SSRF guard, and the dispatcher that drains the outbox.

Skeleton: signatures are fixed; bodies are being written.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.clock import Clock
from server.config import Settings


class DeliveryWorker:
    """Sends due deliveries from the outbox. Every node runs one; a lease keeps two nodes from
    sending the same delivery at once."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock, settings: Settings) -> None:
        self._sessions = sessions
        self._clock = clock
        self._settings = settings

    async def run_once(self) -> int:
        """Attempts every delivery due now; returns how many were attempted."""
        return 0

    async def close(self) -> None:
        """Releases the HTTP client."""
