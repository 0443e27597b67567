"""LogStitch's alert webhooks: /api/v1/alerts/webhooks[/:id], and ingestd's delivery log at
/api/v1/alerts/webhooks/:id/deliveries (docs/vendors/logstitch.md §14).

Keys: a master key only (a project key: 403 `forbidden`), addressing the `project_id` query
parameter's project, else `default`.

LogStitch documents the operations but not the shapes; these follow its rules' shapes:
- a webhook: `{id, url, description, enabled, min_severity ("low"|"medium"|"high"|"critical",
  or null: every alert), secret_prefix, consecutive_failures, disabled_reason (null unless ingestd
  disabled it), created_at, updated_at}`, times ISO 8601 with milliseconds (or null).
- GET 200 `{"webhooks": [...], "cursor", "has_more", "request_id"}`, oldest first, never a
  secret, with `limit` and `cursor` as every LogStitch list.
- POST 201 `{"webhook": {..., "secret": "whsec_…"}, "request_id"}`, from `{url (required, an
  absolute URL: Zod's "Invalid url"), description? (at most 100 characters), enabled? (default
  true), min_severity? (null: every alert)}`. The answer to creation is the only one with the
  signing secret. A URL whose host is private, loopback or link-local (unless the server's
  `webhook_allowed_networks` allows it), or not http(s): 400 `validation_error` with a detail on
  `url`. A project whose limits turn webhooks off: 403 `webhooks_not_available`.
- PATCH 200 `{"webhook": {...}, "request_id"}` applies the keys the body has (output-only keys as
  listed are ignored; any other: "Unrecognized key"); turning `enabled` on again resets
  `consecutive_failures`. DELETE 200 `{"id", "deleted": true, "request_id"}`: nothing more is
  delivered to it. An unknown webhook: 404 `not_found`.
- A delivery to a webhook registered here is ingestd's signed POST (README, "Receiving
  webhooks") whose `alert` is the alert as `GET /api/v1/alerts` shows it: `status`, not `state`,
  `evt_` event ids, and a null `group_key` for a project-wide rule (`payload`). A webhook
  registered through ingestd's own API keeps ingestd's documented body, also for LogStitch's
  alerts: the shape belongs to the receiver that registered, not to the alert.
- GET .../deliveries 200 `{"deliveries": [{id, alert_id, event_type ("alert.opened" |
  "alert.resolved"), status ("pending"|"delivered"|"failed"), attempts: [{at, status_code (null
  when no answer came), error (null on success), duration_ms}], next_attempt_at (null unless
  pending), created_at}], "cursor", "has_more", "request_id"}`, newest first; `limit` (1-100,
  default 50) and `cursor` as every LogStitch list.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import orjson
from google.protobuf import timestamp_pb2

from ingestd.compat.logstitch.v1 import logstitch_service_pb2 as pb
from ingestd.v1 import alerting_pb2 as A
from server.dialects.base import VendorContext
from server.dialects.logstitch import translate as logstitch
from server.dialects.logstitch.calls import authenticate, endpoints, project_of, respond
from server.dialects.logstitch.common import (
    DIALECT,
    Detail,
    error,
    timestamp,
    validation_error,
)
from server.dialects.logstitch.pages import LISTED_ID, encode_cursor, page_of, requested_page
from server.dialects.logstitch.severity import SEVERITIES, SEVERITY_NAMES
from server.dialects.logstitch.validation import (
    invalid,
    object_body,
    read_bool,
    read_enum,
    read_string,
)
from server.errors import FailedPrecondition, InvalidArgument, NotFound
from server.keys import MASTER
from server.pipeline import Call, Endpoint

MAX_URL_CHARS = 2048
MAX_DESCRIPTION_CHARS = 100

_WRITABLE = ("url", "description", "enabled", "min_severity")
_IGNORED_ON_UPDATE = frozenset(
    {"id", "secret_prefix", "consecutive_failures", "disabled_reason", "created_at", "updated_at"}
)
_DELIVERY_STATES = {
    A.DELIVERY_STATE_PENDING: "pending",
    A.DELIVERY_STATE_DELIVERED: "delivered",
    A.DELIVERY_STATE_FAILED: "failed",
}
_DELIVERY_ID = re.compile(r"dl_[0-9A-Za-z_-]{1,60}")


class LogStitchWebhooksServicer:
    """The webhook endpoints of LogStitchService."""

    def __init__(self, context: VendorContext) -> None:
        self._context = context

    def endpoints(self) -> list[Endpoint]:
        return endpoints(
            {
                "ListWebhooks": self.list_webhooks,
                "CreateWebhook": self.create_webhook,
                "UpdateWebhook": self.update_webhook,
                "DeleteWebhook": self.delete_webhook,
                "ListWebhookDeliveries": self.list_deliveries,
            }
        )

    async def list_webhooks(self, call: Call, request: pb.ListWebhooksRequest) -> pb.ListWebhooksResponse:
        principal = await authenticate(call, (MASTER,))
        project = await project_of(self._context, principal, request.project_id, write=False)
        limit, after = requested_page(request.limit, request.cursor, LISTED_ID)
        page = page_of(
            await self._context.alerting.webhooks.list_webhooks(project), _webhook_id, after, limit
        )
        call.log.update(project=project, returned=len(page.items))
        body = {"webhooks": [shown(w) for w in page.items], **page.fields()}
        return respond(call, pb.ListWebhooksResponse, 200, body)

    async def create_webhook(self, call: Call, request: pb.CreateWebhookRequest) -> pb.CreateWebhookResponse:
        principal = await authenticate(call, (MASTER,))
        project = await project_of(self._context, principal, request.project_id, write=False)
        body = object_body(request.body.data)
        found: list[Detail] = [] if "url" in body else [("url", "Required")]
        webhook = A.Webhook(enabled=True)
        _apply(body, webhook, found)
        if found:
            raise validation_error(found)
        # Its deliveries take LogStitch's shape (`payload`).
        webhooks = self._context.alerting.webhooks
        created = await _domain(webhooks.create_webhook(project, webhook, dialect=DIALECT))
        call.log.update(project=project, webhook=created.id)
        body_out = {"webhook": {**shown(created), "secret": created.secret}}
        return respond(call, pb.CreateWebhookResponse, 201, body_out)

    async def update_webhook(self, call: Call, request: pb.UpdateWebhookRequest) -> pb.UpdateWebhookResponse:
        principal = await authenticate(call, (MASTER,))
        project = await project_of(self._context, principal, request.project_id, write=False)
        body = object_body(request.body.data)
        found: list[Detail] = [
            (k, "Unrecognized key") for k in body if k not in _WRITABLE and k not in _IGNORED_ON_UPDATE
        ]
        update = A.Webhook()
        _apply(body, update, found)
        mask = [k for k in _WRITABLE if k in body]
        if not mask and not found:
            found.append(("", "Set at least one of: " + ", ".join(_WRITABLE)))
        if found:
            raise validation_error(found)
        webhooks = self._context.alerting.webhooks
        updated = await _domain(webhooks.update_webhook(project, request.id, update, mask))
        call.log.update(project=project, webhook=updated.id)
        return respond(call, pb.UpdateWebhookResponse, 200, {"webhook": shown(updated)})

    async def delete_webhook(self, call: Call, request: pb.DeleteWebhookRequest) -> pb.DeleteWebhookResponse:
        principal = await authenticate(call, (MASTER,))
        project = await project_of(self._context, principal, request.project_id, write=False)
        await _domain(self._context.alerting.webhooks.delete_webhook(project, request.id))
        call.log.update(project=project, webhook=request.id)
        return respond(call, pb.DeleteWebhookResponse, 200, {"id": request.id, "deleted": True})

    async def list_deliveries(
        self, call: Call, request: pb.ListWebhookDeliveriesRequest
    ) -> pb.ListWebhookDeliveriesResponse:
        principal = await authenticate(call, (MASTER,))
        project = await project_of(self._context, principal, request.project_id, write=False)
        limit, after = requested_page(request.limit, request.cursor, _DELIVERY_ID)
        webhooks = self._context.alerting.webhooks
        deliveries, next_after = await _domain(
            webhooks.list_deliveries(project, request.id, limit=limit, after=after)
        )
        call.log.update(project=project, webhook=request.id, returned=len(deliveries))
        body = {
            "deliveries": [_delivery(d) for d in deliveries],
            "cursor": encode_cursor(next_after) if next_after else None,
            "has_more": next_after is not None,
        }
        return respond(call, pb.ListWebhookDeliveriesResponse, 200, body)


def payload(delivery: bytes) -> bytes:
    """A delivery body of ingestd's (`storage.webhooks.alert_payload`) in LogStitch's shape: the
    same envelope (`id`, `type`, `created_at`, `project`), its `alert` as the alerts API shows
    one (`server.dialects.logstitch.alerts.shown`). Pure, so every attempt sends the same bytes."""
    body = orjson.loads(delivery)
    alert = body["alert"]
    body["alert"] = {
        "id": alert["id"],
        "rule_id": alert["rule_id"],
        "rule_name": alert["rule_name"],
        "severity": alert["severity"],
        "status": alert["state"],
        "group_key": alert["group_key"] or None,
        "event_count": alert["event_count"],
        "summary": alert["summary"],
        "event_ids": [logstitch.vendor_id(event_id) for event_id in alert["event_ids"]],
        "created_at": alert["created_at"],
        "acknowledged_at": alert["acknowledged_at"],
        "resolved_at": alert["resolved_at"],
    }
    return orjson.dumps(body)


def shown(webhook: A.Webhook) -> dict[str, Any]:
    """A webhook in LogStitch's shape, without its secret."""
    return {
        "id": webhook.id,
        "url": webhook.url,
        "description": webhook.description,
        "enabled": webhook.enabled,
        "min_severity": SEVERITY_NAMES.get(webhook.min_severity),
        "secret_prefix": webhook.secret_prefix,
        "consecutive_failures": webhook.consecutive_failures,
        "disabled_reason": webhook.disabled_reason or None,
        "created_at": _time(webhook, "create_time"),
        "updated_at": _time(webhook, "update_time"),
    }


def _delivery(delivery: A.WebhookDelivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "alert_id": delivery.alert_id,
        "event_type": delivery.event_type,
        "status": _DELIVERY_STATES.get(delivery.state, "pending"),
        "attempts": [
            {
                "at": timestamp(attempt.time),
                "status_code": attempt.status_code or None,
                "error": attempt.error or None,
                "duration_ms": attempt.duration_ms,
            }
            for attempt in delivery.attempts
        ],
        "next_attempt_at": _time(delivery, "next_attempt_time"),
        "created_at": _time(delivery, "create_time"),
    }


def _time(message: A.Webhook | A.WebhookDelivery, name: str) -> str | None:
    stamp: timestamp_pb2.Timestamp = getattr(message, name)
    return timestamp(stamp) if message.HasField(name) else None


def _webhook_id(webhook: A.Webhook) -> str:
    return webhook.id


def _apply(body: dict[str, Any], webhook: A.Webhook, found: list[Detail]) -> None:
    """Copies the writable keys `body` has into `webhook`, listing bad values in `found`."""
    url = read_string(body, "url", found, max_chars=MAX_URL_CHARS)
    if url is not None:
        if _is_url(url):
            webhook.url = url
        else:
            found.append(("url", "Invalid url"))
    description = read_string(body, "description", found, max_chars=MAX_DESCRIPTION_CHARS)
    if description is not None:
        webhook.description = description
    enabled = read_bool(body, "enabled", found)
    if enabled is not None:
        webhook.enabled = enabled
    # null: deliver alerts of every severity.
    if body.get("min_severity", "") is None:
        webhook.min_severity = A.ALERT_SEVERITY_UNSPECIFIED
    else:
        severity = read_enum(body, "min_severity", tuple(SEVERITIES), found)
        if severity is not None:
            webhook.min_severity = SEVERITIES[severity]


def _is_url(text: str) -> bool:
    """Whether `text` is an absolute URL, as JavaScript's `new URL()` (Zod's `.url()`) would
    read it; whether ingestd may post to it is the domain's question."""
    try:
        parts = urlsplit(text)
        _ = parts.port  # a malformed port raises ValueError
    except ValueError:
        return False
    return bool(parts.scheme and parts.hostname) and not any(c.isspace() for c in text)


async def _domain(awaitable: Any) -> Any:
    """The domain call's result, its errors turned into LogStitch's answers."""
    try:
        return await awaitable
    except InvalidArgument as exc:
        raise invalid(exc) from None
    except NotFound:
        raise error(404, "not_found", "Webhook not found") from None
    except FailedPrecondition as exc:
        if exc.reason != "WEBHOOKS_NOT_AVAILABLE":
            raise
        raise error(
            403, "webhooks_not_available", "Webhooks are not available on this project's plan"
        ) from None
