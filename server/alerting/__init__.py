"""Alerting: rules evaluated as events commit, the alerts they open, webhook delivery, and
check-in monitors.

Rooms (each module owns its storage module; none imports a transport):
- `catalog`: the built-in rules and stored rows → `AlertRule` messages.
- `matching`: a project's enabled rules compiled once; which events each rule counts (pure).
- `evaluator`: the group writer's commit hook: counts, cooldowns, alerts and their outbox rows,
  in the events' own transaction; monitors from check-ins.
- `monitors`: check-in monitors, the overdue sweep, and their RPCs.
- `service`: the AlertService method prefix.
- `rules`: rule CRUD and its RPCs.  `alerts`: listing and state changes and their RPCs.
- `webhooks`: webhook CRUD, the delivery log and their RPCs.  `delivery`: signing, the SSRF
  guard and the dispatcher that drains the outbox.
"""

from __future__ import annotations

from dataclasses import dataclass

from server.alerting.alerts import Alerts
from server.alerting.monitors import Monitors
from server.alerting.rules import AlertRules
from server.alerting.webhooks import Webhooks
from server.pipeline import Endpoint


@dataclass(frozen=True, slots=True)
class Alerting:
    """The alerting domain objects the transports and dialects use."""

    rules: AlertRules
    alerts: Alerts
    webhooks: Webhooks
    monitors: Monitors

    def endpoints(self) -> list[Endpoint]:
        """AlertService's endpoints."""
        return [
            *self.rules.endpoints(),
            *self.alerts.endpoints(),
            *self.webhooks.endpoints(),
            *self.monitors.endpoints(),
        ]
