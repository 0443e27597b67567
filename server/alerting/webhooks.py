"""Webhooks of each project: CRUD with the SSRF check, the delivery log, and AlertService's
webhook RPCs (master key only).

A webhook's secret (`whsec_…`) is shown once, in the answer to its creation; listings and updates
show only `secret_prefix`. A URL must be an absolute http(s) URL whose host resolves only to
addresses `AddressGuard` permits (checked at creation and on each URL change, and again at every
send by the delivery worker). Deleting a webhook deletes its deliveries and their log.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from yarl import URL

from ingestd.v1 import alert_service_pb2 as pb
from ingestd.v1 import alerting_pb2 as A
from server import paging
from server.access import Access
from server.alerting.delivery import AddressGuard, RefusedAddress
from server.alerting.service import SERVICE
from server.clock import Clock
from server.config import Settings
from server.errors import InvalidArgument, NotFound
from server.ids import UuidV7
from server.pipeline import Call, Endpoint
from server.quotas import ProjectQuotas
from storage import webhooks as W
from storage.engine import SQLITE_IMMEDIATE
from storage.models import Webhook as WebhookRow
from storage.models import WebhookAttempt, WebhookDelivery

MAX_URL_CHARS = 2048
MAX_DESCRIPTION_CHARS = 100
SECRET_PREFIX_CHARS = 12
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100
_WRITABLE = ("url", "description", "enabled", "min_severity")


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
        self._guard = AddressGuard(settings.webhook_allowed_networks)

    def endpoints(self) -> list[Endpoint]:
        """ListWebhooks, CreateWebhook, UpdateWebhook, DeleteWebhook, ListWebhookDeliveries."""
        return [
            Endpoint(SERVICE + "ListWebhooks", self.list_webhooks_rpc),
            Endpoint(SERVICE + "CreateWebhook", self.create_webhook_rpc),
            Endpoint(SERVICE + "UpdateWebhook", self.update_webhook_rpc),
            Endpoint(SERVICE + "DeleteWebhook", self.delete_webhook_rpc),
            Endpoint(SERVICE + "ListWebhookDeliveries", self.list_webhook_deliveries_rpc),
        ]

    # The domain, for every transport. `project` is already authorized.

    async def list_webhooks(self, project: str) -> list[A.Webhook]:
        """Oldest first, without secrets."""
        async with self._sessions() as session:
            rows = await W.WebhookRepository(session).of_project(project)
        return [to_message(row) for row in rows]

    async def create_webhook(self, project: str, webhook: A.Webhook, *, dialect: str = "") -> A.Webhook:
        """Registers a webhook; the answer alone carries its secret. Its deliveries are sent in
        the shape of `dialect`, the vendor API that registers it ("": ingestd's own; see
        `server.alerting.delivery`).

        Raises:
            InvalidArgument: field `url`: not an absolute http(s) URL, or its host resolves to a
                refused address (private, loopback, link-local, ...) outside the allowed networks.
            FailedPrecondition: reason `WEBHOOKS_NOT_AVAILABLE`.
        """
        found: list[tuple[str, str]] = []
        _check_fields(webhook, set(_WRITABLE), "webhook", found)
        if found:
            raise InvalidArgument(found)
        await self._quotas.check_webhooks_available(project)
        await self._check_target(webhook.url, "webhook.url")
        now = self._clock.now_us()
        row = WebhookRow(
            project_id=project,
            id="wh_" + self._ids.new(),
            url=webhook.url,
            description=webhook.description,
            enabled=webhook.enabled if webhook.HasField("enabled") else True,
            min_severity=webhook.min_severity,
            secret="whsec_" + secrets.token_urlsafe(24),
            consecutive_failures=0,
            disabled_reason="",
            created_us=now,
            updated_us=now,
            dialect=dialect,
        )
        async with self._sessions() as session, session.begin():
            await W.WebhookRepository(session).add(row)
        created = to_message(row)
        created.secret = row.secret
        return created

    async def update_webhook(
        self, project: str, webhook_id: str, update: A.Webhook, mask: Sequence[str]
    ) -> A.Webhook:
        """Applies the `mask` fields of `update` (every writable field when empty); enabling
        resets the failure count. Raises NotFound (reason `WEBHOOK_NOT_FOUND`), InvalidArgument.

        With an empty mask, "every writable field" is every writable field `update` sets (a
        non-empty string, a severity, `enabled` when present), as for redaction rules; name a
        field in the mask to clear it.
        """
        if mask:
            refused = [p for p in mask if p not in _WRITABLE]
            if refused:
                raise InvalidArgument(
                    [("update_mask", f"{', '.join(refused)}: not a writable webhook field")]
                )
            paths = set(mask)
        else:
            paths = {f for f in _WRITABLE if _is_set(update, f)}
            if not paths:
                raise InvalidArgument([("update", "sets no writable field")])
        found: list[tuple[str, str]] = []
        _check_fields(update, paths, "update", found)
        if "enabled" in paths and not update.HasField("enabled"):
            found.append(("update.enabled", "is required when the mask names it"))
        if found:
            raise InvalidArgument(found)
        async with self._sessions() as session:
            if await W.WebhookRepository(session).get(project, webhook_id) is None:
                raise _not_found(webhook_id)
        if "url" in paths:
            await self._check_target(update.url, "update.url")
        now = self._clock.now_us()
        async with self._sessions() as session, session.begin():
            # Read then write: on SQLite take the write lock first, so the read is not stale.
            await session.connection(execution_options={SQLITE_IMMEDIATE: True})
            row = await W.WebhookRepository(session).get(project, webhook_id)
            if row is None:
                raise _not_found(webhook_id)
            if "url" in paths:
                row.url = update.url
            if "description" in paths:
                row.description = update.description
            if "min_severity" in paths:
                row.min_severity = update.min_severity
            if "enabled" in paths:
                if update.enabled:
                    row.consecutive_failures = 0
                    row.disabled_reason = ""
                elif row.enabled:
                    # Disabled by its owner: what was waiting to be sent is not sent.
                    await W.fail_pending(await session.connection(), project, webhook_id, now)
                row.enabled = update.enabled
            row.updated_us = now
            await session.flush()
        return to_message(row)

    async def delete_webhook(self, project: str, webhook_id: str) -> None:
        """Deletes the webhook and its pending deliveries. Raises NotFound.

        Its delivered and failed deliveries and their attempts go too: the log is read through the
        webhook, which no longer exists."""
        async with self._sessions() as session, session.begin():
            deleted = webhook_id and await W.WebhookRepository(session).delete(project, webhook_id)
        if not deleted:
            raise _not_found(webhook_id)

    async def list_deliveries(
        self, project: str, webhook_id: str, *, limit: int, after: str | None = None
    ) -> tuple[list[A.WebhookDelivery], str | None]:
        """Up to `limit` deliveries newest first, after the delivery id `after`; returns them and
        the next `after`, or None on the last page. Raises NotFound for an unknown webhook."""
        async with self._sessions() as session:
            repository = W.WebhookRepository(session)
            if await repository.get(project, webhook_id) is None:
                raise _not_found(webhook_id)
            found = await repository.deliveries(project, webhook_id, limit=limit + 1, before=after)
        page = [_delivery_message(d, attempts) for d, attempts in found[:limit]]
        return page, (page[-1].id if len(found) > limit else None)

    async def _check_target(self, url: str, field: str) -> None:
        parsed = URL(url)
        host = parsed.raw_host or ""
        try:
            await self._guard.check_host(host, parsed.port or 0, self._settings.webhook_timeout_s)
        except RefusedAddress as exc:
            raise InvalidArgument(
                [(field, f"{exc}; private, loopback and link-local targets are refused")]
            ) from None

    # AlertService.

    async def list_webhooks_rpc(self, call: Call, request: pb.ListWebhooksRequest) -> pb.ListWebhooksResponse:
        project = await self._access.administer_project(call.principal, request.project)
        return pb.ListWebhooksResponse(webhooks=await self.list_webhooks(project))

    async def create_webhook_rpc(
        self, call: Call, request: pb.CreateWebhookRequest
    ) -> pb.CreateWebhookResponse:
        project = await self._access.administer_project(call.principal, request.project)
        webhook = await self.create_webhook(project, request.webhook)
        call.log.update(project=project, webhook=webhook.id)
        return pb.CreateWebhookResponse(webhook=webhook)

    async def update_webhook_rpc(
        self, call: Call, request: pb.UpdateWebhookRequest
    ) -> pb.UpdateWebhookResponse:
        project = await self._access.administer_project(call.principal, request.project)
        webhook = await self.update_webhook(
            project, request.webhook, request.update, list(request.update_mask.paths)
        )
        call.log.update(project=project, webhook=webhook.id)
        return pb.UpdateWebhookResponse(webhook=webhook)

    async def delete_webhook_rpc(
        self, call: Call, request: pb.DeleteWebhookRequest
    ) -> pb.DeleteWebhookResponse:
        project = await self._access.administer_project(call.principal, request.project)
        await self.delete_webhook(project, request.webhook)
        call.log.update(project=project, webhook=request.webhook)
        return pb.DeleteWebhookResponse()

    async def list_webhook_deliveries_rpc(
        self, call: Call, request: pb.ListWebhookDeliveriesRequest
    ) -> pb.ListWebhookDeliveriesResponse:
        project = await self._access.administer_project(call.principal, request.project)
        if request.page_size < 0:
            raise InvalidArgument([("page_size", "must not be negative")])
        limit = min(request.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        after = paging.decode_id(request)
        deliveries, next_after = await self.list_deliveries(
            project, request.webhook, limit=limit, after=after
        )
        token = paging.encode(next_after, request) if next_after is not None else ""
        return pb.ListWebhookDeliveriesResponse(deliveries=deliveries, next_page_token=token)


def to_message(row: WebhookRow) -> A.Webhook:
    """The webhook as the API shows it: without its secret."""
    webhook = A.Webhook(
        id=row.id,
        url=row.url,
        description=row.description,
        enabled=row.enabled,
        min_severity=row.min_severity,  # type: ignore[arg-type]
        secret_prefix=row.secret[:SECRET_PREFIX_CHARS],
        consecutive_failures=row.consecutive_failures,
        disabled_reason=row.disabled_reason,
    )
    webhook.create_time.FromMicroseconds(row.created_us)
    webhook.update_time.FromMicroseconds(row.updated_us)
    return webhook


def _delivery_message(row: WebhookDelivery, attempts: list[WebhookAttempt]) -> A.WebhookDelivery:
    delivery = A.WebhookDelivery(
        id=row.id,
        webhook_id=row.webhook_id,
        alert_id=row.alert_id,
        event_type=row.event_type,
        state=row.state,  # type: ignore[arg-type]
    )
    delivery.create_time.FromMicroseconds(row.created_us)
    if row.state == W.PENDING:
        delivery.next_attempt_time.FromMicroseconds(row.next_attempt_us)
    for attempt in attempts:
        made = delivery.attempts.add(
            status_code=attempt.status_code, error=attempt.error, duration_ms=attempt.duration_ms
        )
        made.time.FromMicroseconds(attempt.at_us)
    return delivery


def _check_fields(webhook: A.Webhook, paths: set[str], at: str, found: list[tuple[str, str]]) -> None:
    if "url" in paths:
        problem = _url_problem(webhook.url)
        if problem is not None:
            found.append((f"{at}.url", problem))
    if "description" in paths and len(webhook.description) > MAX_DESCRIPTION_CHARS:
        found.append((f"{at}.description", f"must be at most {MAX_DESCRIPTION_CHARS} characters"))
    if "min_severity" in paths and webhook.min_severity not in A.AlertSeverity.values():
        found.append((f"{at}.min_severity", "is not a severity"))


def _url_problem(url: str) -> str | None:
    if not url:
        return "is required"
    if len(url) > MAX_URL_CHARS:
        return f"must be at most {MAX_URL_CHARS} characters"
    try:
        parsed = URL(url)
        port = parsed.port
    except (ValueError, TypeError):
        return "is not a URL"
    if not parsed.absolute or parsed.scheme not in ("http", "https"):
        return "must be an absolute http or https URL"
    if not parsed.raw_host:
        return "must name a host"
    if parsed.raw_user or parsed.raw_password:
        return "must not carry credentials"
    if port is not None and not 0 < port < 65536:
        return "has an invalid port"
    return None


def _is_set(update: A.Webhook, field: str) -> bool:
    if field == "enabled":
        return update.HasField("enabled")
    return bool(getattr(update, field))


def _not_found(webhook_id: str) -> NotFound:
    return NotFound(f"webhook {webhook_id!r} not found", reason="WEBHOOK_NOT_FOUND")
