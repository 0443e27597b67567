"""LogStitch's alerts API: /api/v1/alerts/rules, /api/v1/alerts and /api/v1/alerts/webhooks.

Skeleton: being written.
"""

from __future__ import annotations

from server.alerting.todo import todo
from server.dialects.base import VendorContext, method
from server.pipeline import Endpoint

SERVICE = "ingestd.compat.logstitch.v1.LogStitchService"
_RPCS = (
    "ListAlertRules",
    "CreateAlertRule",
    "UpdateAlertRule",
    "DeleteAlertRule",
    "ListAlerts",
    "UpdateAlert",
    "ListWebhooks",
    "CreateWebhook",
    "UpdateWebhook",
    "DeleteWebhook",
    "ListWebhookDeliveries",
)


class LogStitchAlertsServicer:
    def __init__(self, context: VendorContext) -> None:
        self._context = context

    def endpoints(self) -> list[Endpoint]:
        return [Endpoint(method(SERVICE, name), todo, handler_auth=True) for name in _RPCS]
