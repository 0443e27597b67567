"""Webhooks of each project: CRUD with the SSRF check, the delivery log, and AlertService's
webhook RPCs.

Skeleton: signatures are fixed; bodies are being written.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ingestd.v1 import alerting_pb2 as A
from server.access import Access
from server.alerting.todo import SERVICE, todo
from server.clock import Clock
from server.config import Settings
from server.ids import UuidV7
from server.pipeline import Endpoint
from server.quotas import ProjectQuotas


class Webhooks:
    """Webhook CRUD and the delivery log."""

    def __init__(
        self,
        access: Access,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        ids: UuidV7,
        quotas: ProjectQuotas,
        settings: Settings,
    ) -> None:
        self._access = access
        self._sessions = sessions
        self._clock = clock
        self._ids = ids
        self._quotas = quotas
        self._settings = settings

    def endpoints(self) -> list[Endpoint]:
        """ListWebhooks, CreateWebhook, UpdateWebhook, DeleteWebhook, ListWebhookDeliveries."""
        return [
            Endpoint(SERVICE + name, todo)
            for name in (
                "ListWebhooks",
                "CreateWebhook",
                "UpdateWebhook",
                "DeleteWebhook",
                "ListWebhookDeliveries",
            )
        ]

    async def list_webhooks(self, project: str) -> list[A.Webhook]:
        """Oldest first, without secrets."""
        raise NotImplementedError

    async def create_webhook(self, project: str, webhook: A.Webhook) -> A.Webhook:
        """Registers a webhook; the answer alone carries its secret.

        Raises:
            InvalidArgument: field `url`: not an absolute http(s) URL, or its host resolves to a
                refused address (private, loopback, link-local, ...) outside the allowed networks.
            FailedPrecondition: reason `WEBHOOKS_NOT_AVAILABLE`.
        """
        raise NotImplementedError

    async def update_webhook(
        self, project: str, webhook_id: str, update: A.Webhook, mask: Sequence[str]
    ) -> A.Webhook:
        """Applies the `mask` fields of `update` (every writable field when empty); enabling
        resets the failure count. Raises NotFound (reason `WEBHOOK_NOT_FOUND`), InvalidArgument."""
        raise NotImplementedError

    async def delete_webhook(self, project: str, webhook_id: str) -> None:
        """Deletes the webhook and its pending deliveries. Raises NotFound."""
        raise NotImplementedError

    async def list_deliveries(
        self, project: str, webhook_id: str, *, limit: int, after: str | None = None
    ) -> tuple[list[A.WebhookDelivery], str | None]:
        """Up to `limit` deliveries newest first, after the delivery id `after`; returns them and
        the next `after`, or None on the last page. Raises NotFound for an unknown webhook."""
        raise NotImplementedError
