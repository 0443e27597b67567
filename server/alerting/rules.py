"""Alert rules of each project: CRUD over `alert_rules`, and AlertService's rule RPCs.

Skeleton: signatures are fixed; bodies are being written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ingestd.v1 import alerting_pb2 as A
from server.access import Access
from server.alerting.todo import SERVICE, todo
from server.clock import Clock
from server.ids import UuidV7
from server.pipeline import Endpoint
from server.quotas import ProjectQuotas


class AlertRules:
    """Alert rule CRUD. `on_change(project)` is called after every committed change, so the
    evaluator drops its cached rule set for the project at once."""

    def __init__(
        self,
        access: Access,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        ids: UuidV7,
        quotas: ProjectQuotas,
        on_change: Callable[[str], None],
    ) -> None:
        self._access = access
        self._sessions = sessions
        self._clock = clock
        self._ids = ids
        self._quotas = quotas
        self._on_change = on_change

    def endpoints(self) -> list[Endpoint]:
        """ListAlertRules, CreateAlertRule, UpdateAlertRule, DeleteAlertRule."""
        return [
            Endpoint(SERVICE + name, todo)
            for name in ("ListAlertRules", "CreateAlertRule", "UpdateAlertRule", "DeleteAlertRule")
        ]

    async def list_rules(self, project: str) -> list[A.AlertRule]:
        """Every built-in rule (with the project's changes), then the custom rules oldest first."""
        raise NotImplementedError

    async def create_rule(self, project: str, rule: A.AlertRule) -> A.AlertRule:
        """Creates a custom rule from `rule`'s writable fields; returns it as stored (id `ar_…`).

        Raises:
            InvalidArgument: a field is missing or out of range; field names as in `AlertRule`
                (`name`, `threshold`, `window_seconds`, `cooldown_seconds`, `group_by`,
                `severity`, `condition.action_pattern`, ...).
            ResourceExhausted: reason `ALERT_RULE_LIMIT_REACHED`.
        """
        raise NotImplementedError

    async def update_rule(
        self, project: str, rule_id: str, update: A.AlertRule, mask: Sequence[str]
    ) -> A.AlertRule:
        """Applies the `mask` fields of `update` (every writable field when empty).

        Raises:
            NotFound: no such rule (reason `ALERT_RULE_NOT_FOUND`).
            InvalidArgument: a bad value, or a field a built-in rule does not let change.
        """
        raise NotImplementedError

    async def delete_rule(self, project: str, rule_id: str) -> None:
        """Deletes a custom rule and its counters and state; its alerts stay.

        Raises:
            NotFound: no such rule.
            FailedPrecondition: a built-in rule (reason `BUILTIN_RULE`).
        """
        raise NotImplementedError
