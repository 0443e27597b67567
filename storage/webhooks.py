"""Repository of webhooks and their delivery outbox and attempts. Takes a session or connection
and never commits.

The outbox (`webhook_deliveries`) is written in the transaction that opens or resolves an alert
(`enqueue_deliveries`). A node sends a delivery only after leasing it (`claim`): a conditional
UPDATE moves `lease_until_us` forward only while the delivery is pending, due and unleased, so
one node wins each delivery; the lease value it set is its fencing token when it records the
outcome (`finish_attempt`), so a node whose lease ran out and was taken over records nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import orjson
from sqlalchemy import Table, and_, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from ingestd.v1 import alerting_pb2 as A
from storage.models import Project, Webhook, WebhookAttempt, WebhookDelivery

PENDING = A.DELIVERY_STATE_PENDING
DELIVERED = A.DELIVERY_STATE_DELIVERED
FAILED = A.DELIVERY_STATE_FAILED

# Core tables: conditional UPDATEs with RETURNING, without the ORM's session bookkeeping.
_webhooks = cast(Table, Webhook.__table__)
_deliveries = cast(Table, WebhookDelivery.__table__)
_attempts = cast(Table, WebhookAttempt.__table__)
_projects = cast(Table, Project.__table__)

_SEVERITY_NAMES = {
    A.ALERT_SEVERITY_LOW: "low",
    A.ALERT_SEVERITY_MEDIUM: "medium",
    A.ALERT_SEVERITY_HIGH: "high",
    A.ALERT_SEVERITY_CRITICAL: "critical",
}
_STATE_NAMES = {
    A.ALERT_STATE_OPEN: "open",
    A.ALERT_STATE_ACKNOWLEDGED: "acknowledged",
    A.ALERT_STATE_RESOLVED: "resolved",
}

Executor = AsyncConnection | AsyncSession


# The outbox, written in the alert's transaction.


async def enqueue_deliveries(
    connection: Executor,
    project_id: str,
    alert: A.Alert,
    event_type: str,
    now_us: int,
    new_id: Callable[[], str],
) -> int:
    """Writes one pending delivery of `alert` (`event_type` `alert.opened` or `alert.resolved`)
    for each enabled webhook of the project whose `min_severity` the alert meets, due now, in the
    caller's transaction; returns how many. Nothing is written while the project's limits disable
    webhooks.

    `new_id` makes a fresh id (a UUIDv7 such as `UuidV7.new`); the delivery id is `dl_` and it
    (an id already starting with `dl_` is kept as is). The payload is the JSON body every attempt
    sends, fixed now: `{"id", "type", "created_at", "project", "alert": {...}}` (README), which
    the sender turns into its webhook's dialect (`Due.dialect`) the same way on every attempt.
    """
    disabled = (
        select(_projects.c.id)
        .where(_projects.c.id == project_id, _projects.c.webhooks_disabled.is_(True))
        .exists()
    )
    statement = (
        select(_webhooks.c.id)
        .where(
            _webhooks.c.project_id == project_id,
            _webhooks.c.enabled.is_(True),
            _webhooks.c.min_severity <= alert.severity,
            ~disabled,
        )
        .order_by(_webhooks.c.id)
    )
    webhook_ids = list((await connection.execute(statement)).scalars())
    if not webhook_ids:
        return 0
    body = alert_payload(alert)
    created_at = iso_ms(now_us)
    rows: list[dict[str, Any]] = []
    for webhook_id in webhook_ids:
        fresh = new_id()
        delivery_id = fresh if fresh.startswith("dl_") else "dl_" + fresh
        payload = {
            "id": delivery_id,
            "type": event_type,
            "created_at": created_at,
            "project": project_id,
            "alert": body,
        }
        rows.append(
            {
                "project_id": project_id,
                "id": delivery_id,
                "webhook_id": webhook_id,
                "alert_id": alert.id,
                "event_type": event_type,
                "payload": orjson.dumps(payload),
                "state": PENDING,
                "attempts": 0,
                "next_attempt_us": now_us,
                "lease_until_us": 0,
                "created_us": now_us,
                "delivered_us": None,
            }
        )
    await connection.execute(insert(_deliveries), rows)
    return len(rows)


def alert_payload(alert: A.Alert) -> dict[str, Any]:
    """The `alert` object of a delivery's JSON body."""

    def moment(stamp: Any, present: bool) -> str | None:
        return iso_ms(stamp.ToMicroseconds()) if present else None

    return {
        "id": alert.id,
        "rule_id": alert.rule_id,
        "rule_name": alert.rule_name,
        "severity": _SEVERITY_NAMES.get(alert.severity, "unspecified"),
        "state": _STATE_NAMES.get(alert.state, "unspecified"),
        "group_key": alert.group_key,
        "event_count": alert.event_count,
        "summary": alert.summary,
        "event_ids": list(alert.event_ids),
        "created_at": moment(alert.create_time, alert.HasField("create_time")),
        "acknowledged_at": moment(alert.acknowledge_time, alert.HasField("acknowledge_time")),
        "resolved_at": moment(alert.resolve_time, alert.HasField("resolve_time")),
    }


def iso_ms(us: int) -> str:
    """`2026-01-20T14:00:00.000Z`: UTC, milliseconds."""
    moment = datetime.fromtimestamp(us // 1000 / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# Webhook CRUD.


class WebhookRepository:
    """Webhooks, and the delivery log read through them."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def of_project(self, project_id: str) -> list[Webhook]:
        """Oldest first (ties by id)."""
        statement = (
            select(Webhook).where(Webhook.project_id == project_id).order_by(Webhook.created_us, Webhook.id)
        )
        return list((await self._session.execute(statement)).scalars())

    async def get(self, project_id: str, webhook_id: str) -> Webhook | None:
        return await self._session.get(Webhook, (project_id, webhook_id))

    async def add(self, webhook: Webhook) -> None:
        self._session.add(webhook)
        await self._session.flush()

    async def delete(self, project_id: str, webhook_id: str) -> bool:
        """Deletes the webhook with its deliveries and their attempts; returns whether it existed."""
        statement = (
            delete(_webhooks)
            .where(_webhooks.c.project_id == project_id, _webhooks.c.id == webhook_id)
            .returning(_webhooks.c.id)
        )
        if (await self._session.execute(statement)).first() is None:
            return False
        ids = select(_deliveries.c.id).where(
            _deliveries.c.project_id == project_id, _deliveries.c.webhook_id == webhook_id
        )
        await self._session.execute(
            delete(_attempts).where(_attempts.c.project_id == project_id, _attempts.c.delivery_id.in_(ids))
        )
        await self._session.execute(
            delete(_deliveries).where(
                _deliveries.c.project_id == project_id, _deliveries.c.webhook_id == webhook_id
            )
        )
        return True

    async def deliveries(
        self, project_id: str, webhook_id: str, *, limit: int, before: str | None
    ) -> list[tuple[WebhookDelivery, list[WebhookAttempt]]]:
        """Up to `limit` deliveries of the webhook, newest first, with ids below `before`; each
        with its attempts, oldest first."""
        page = select(WebhookDelivery.id).where(
            WebhookDelivery.project_id == project_id, WebhookDelivery.webhook_id == webhook_id
        )
        if before is not None:
            page = page.where(WebhookDelivery.id < before)
        chosen = page.order_by(WebhookDelivery.id.desc()).limit(limit).subquery()
        # One statement, so one snapshot: on PostgreSQL (READ COMMITTED) two queries could show
        # a delivery from before an attempt's commit with the attempt from after it.
        statement = (
            select(WebhookDelivery, WebhookAttempt)
            .join(chosen, chosen.c.id == WebhookDelivery.id)
            .outerjoin(
                WebhookAttempt,
                and_(
                    WebhookAttempt.project_id == WebhookDelivery.project_id,
                    WebhookAttempt.delivery_id == WebhookDelivery.id,
                ),
            )
            .where(WebhookDelivery.project_id == project_id)
            .order_by(WebhookDelivery.id.desc(), WebhookAttempt.number)
        )
        found: dict[str, tuple[WebhookDelivery, list[WebhookAttempt]]] = {}
        for delivery, attempt in (await self._session.execute(statement)).all():
            entry = found.setdefault(delivery.id, (delivery, []))
            if attempt is not None:
                entry[1].append(attempt)
        return list(found.values())


# The dispatcher's side of the outbox.


@dataclass(frozen=True, slots=True)
class Due:
    """A delivery leased for one attempt, with what sending it needs. `lease_until_us` is the
    lease this node holds: `finish_attempt` records nothing once another node holds it."""

    project_id: str
    id: str
    webhook_id: str
    event_type: str
    payload: bytes
    attempts: int
    lease_until_us: int
    url: str
    secret: str
    #: The webhook's dialect (`Webhook.dialect`): the shape its deliveries are sent in.
    dialect: str = ""


async def any_due(connection: Executor, now_us: int) -> bool:
    """Whether any delivery is pending, due and unleased."""
    statement = (
        select(_deliveries.c.id)
        .where(
            _deliveries.c.state == PENDING,
            _deliveries.c.next_attempt_us <= now_us,
            _deliveries.c.lease_until_us <= now_us,
        )
        .limit(1)
    )
    return (await connection.execute(statement)).first() is not None


async def fail_unsendable(connection: Executor, now_us: int) -> int:
    """Marks FAILED the due deliveries that must not be sent: their webhook was deleted or
    disabled, or their project's limits disable webhooks. Returns how many."""
    webhook_enabled = (
        select(_webhooks.c.id)
        .where(
            _webhooks.c.project_id == _deliveries.c.project_id,
            _webhooks.c.id == _deliveries.c.webhook_id,
            _webhooks.c.enabled.is_(True),
        )
        .exists()
    )
    project_disabled = (
        select(_projects.c.id)
        .where(_projects.c.id == _deliveries.c.project_id, _projects.c.webhooks_disabled.is_(True))
        .exists()
    )
    statement = (
        update(_deliveries)
        .where(
            _deliveries.c.state == PENDING,
            _deliveries.c.next_attempt_us <= now_us,
            _deliveries.c.lease_until_us <= now_us,
            or_(~webhook_enabled, project_disabled),
        )
        .values(state=FAILED, lease_until_us=0)
        .returning(_deliveries.c.id)
    )
    return len((await connection.execute(statement)).all())


async def claim(connection: AsyncConnection, now_us: int, lease_until_us: int, limit: int) -> list[Due]:
    """Leases up to `limit` due deliveries (pending, due, unleased, of an enabled webhook) until
    `lease_until_us`, oldest due first, and returns them. A delivery another node leased between
    the look and the UPDATE is not returned: the UPDATE re-checks the lease."""
    due = and_(
        _deliveries.c.state == PENDING,
        _deliveries.c.next_attempt_us <= now_us,
        _deliveries.c.lease_until_us <= now_us,
    )
    candidates = (
        select(_deliveries.c.id)
        .join(
            _webhooks,
            and_(
                _webhooks.c.project_id == _deliveries.c.project_id,
                _webhooks.c.id == _deliveries.c.webhook_id,
            ),
        )
        .where(due, _webhooks.c.enabled.is_(True))
        .order_by(_deliveries.c.next_attempt_us, _deliveries.c.id)
        .limit(limit)
    )
    if connection.dialect.name == "postgresql":
        # Skip rows another node is leasing right now instead of queueing behind its lock.
        candidates = candidates.with_for_update(of=_deliveries, skip_locked=True)
    ids = list((await connection.execute(candidates)).scalars())
    if not ids:
        return []
    leased = (
        update(_deliveries)
        .where(_deliveries.c.id.in_(ids), due)
        .values(lease_until_us=lease_until_us)
        .returning(_deliveries.c.project_id, _deliveries.c.id)
    )
    keys = [tuple(row) for row in (await connection.execute(leased)).all()]
    if not keys:
        return []
    rows = await connection.execute(
        select(
            _deliveries.c.project_id,
            _deliveries.c.id,
            _deliveries.c.webhook_id,
            _deliveries.c.event_type,
            _deliveries.c.payload,
            _deliveries.c.attempts,
            _webhooks.c.url,
            _webhooks.c.secret,
            _webhooks.c.dialect,
        )
        .join(
            _webhooks,
            and_(
                _webhooks.c.project_id == _deliveries.c.project_id,
                _webhooks.c.id == _deliveries.c.webhook_id,
            ),
        )
        .where(_deliveries.c.id.in_([k[1] for k in keys]))
        .order_by(_deliveries.c.next_attempt_us, _deliveries.c.id)
    )
    return [
        Due(
            r.project_id,
            r.id,
            r.webhook_id,
            r.event_type,
            bytes(r.payload),
            r.attempts,
            lease_until_us,
            r.url,
            r.secret,
            r.dialect,
        )
        for r in rows
    ]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an attempt came to. `next_attempt_us` None: no retry (DELIVERED or FAILED)."""

    at_us: int
    status_code: int
    error: str
    duration_ms: float
    delivered: bool
    next_attempt_us: int | None


async def finish_attempt(connection: Executor, due: Due, outcome: Outcome, now_us: int) -> bool:
    """Records the attempt and moves the delivery on (DELIVERED, back to PENDING at
    `outcome.next_attempt_us`, or FAILED), releasing the lease; returns False, recording nothing,
    when this node no longer holds the lease (or the delivery is gone)."""
    if outcome.delivered:
        values: dict[str, Any] = {"state": DELIVERED, "delivered_us": now_us}
    elif outcome.next_attempt_us is None:
        values = {"state": FAILED}
    else:
        values = {"state": PENDING, "next_attempt_us": outcome.next_attempt_us}
    moved = await connection.execute(
        update(_deliveries)
        .where(
            _deliveries.c.project_id == due.project_id,
            _deliveries.c.id == due.id,
            _deliveries.c.state == PENDING,
            _deliveries.c.lease_until_us == due.lease_until_us,
        )
        .values(attempts=_deliveries.c.attempts + 1, lease_until_us=0, **values)
        .returning(_deliveries.c.attempts)
    )
    number = moved.scalar()
    if number is None:
        return False
    await connection.execute(
        insert(_attempts).values(
            project_id=due.project_id,
            delivery_id=due.id,
            number=number,
            at_us=outcome.at_us,
            status_code=outcome.status_code,
            error=outcome.error[:200],
            duration_ms=outcome.duration_ms,
        )
    )
    return True


async def webhook_succeeded(connection: Executor, project_id: str, webhook_id: str) -> None:
    """Resets the webhook's consecutive failures."""
    await connection.execute(
        update(_webhooks)
        .where(
            _webhooks.c.project_id == project_id,
            _webhooks.c.id == webhook_id,
            _webhooks.c.consecutive_failures != 0,
        )
        .values(consecutive_failures=0)
    )


async def webhook_failed(connection: Executor, project_id: str, webhook_id: str) -> int | None:
    """Counts one more consecutive failure; returns the new count, or None for a webhook that is
    gone or disabled."""
    counted = await connection.execute(
        update(_webhooks)
        .where(
            _webhooks.c.project_id == project_id,
            _webhooks.c.id == webhook_id,
            _webhooks.c.enabled.is_(True),
        )
        .values(consecutive_failures=_webhooks.c.consecutive_failures + 1)
        .returning(_webhooks.c.consecutive_failures)
    )
    value = counted.scalar()
    return None if value is None else int(value)


async def disable_webhook(
    connection: Executor, project_id: str, webhook_id: str, reason: str, now_us: int
) -> int:
    """Disables the webhook with `reason` and fails its pending deliveries that no node is
    sending right now (a leased one fails when its attempt is recorded, or is skipped later).
    Returns how many deliveries failed."""
    await connection.execute(
        update(_webhooks)
        .where(_webhooks.c.project_id == project_id, _webhooks.c.id == webhook_id)
        .values(enabled=False, disabled_reason=reason[:200], updated_us=now_us)
    )
    return await fail_pending(connection, project_id, webhook_id, now_us)


async def fail_pending(connection: Executor, project_id: str, webhook_id: str, now_us: int) -> int:
    """Marks FAILED the webhook's pending deliveries that are not leased now; returns how many."""
    failed = await connection.execute(
        update(_deliveries)
        .where(
            _deliveries.c.project_id == project_id,
            _deliveries.c.webhook_id == webhook_id,
            _deliveries.c.state == PENDING,
            _deliveries.c.lease_until_us <= now_us,
        )
        .values(state=FAILED)
        .returning(_deliveries.c.id)
    )
    return len(failed.all())
