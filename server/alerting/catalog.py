"""The built-in alert rules, and how stored rule rows become `ingestd.v1.AlertRule` messages.

Built-in rules exist in every project without a row. A row with a built-in's id holds the
project's changes to it, of which only `enabled` and `cooldown_s` mean anything. LogStitch's six
detection rules come first, under LogStitch's ids and defaults; ingestd's own follow.

`detector` says how a built-in rule counts when counting matching events is not enough:
- `new_fingerprint`: an error whose fingerprint the project has never seen (a new issue);
- `failed_check_in`: a check-in whose status is `error`; an `ok` check-in resolves the alert;
- `missed_check_in`: a monitor whose next check-in is overdue (found by the monitor sweep, not by
  an event); an `ok` check-in resolves the alert;
- `distinct:<path>`: the number of distinct values at `<path>` within the window, per group.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from google.protobuf import timestamp_pb2

from ingestd.v1 import alerting_pb2 as A
from ingestd.v1 import event_pb2 as E

DEFAULT_COOLDOWN_S = 3600

NEW_FINGERPRINT = "new_fingerprint"
FAILED_CHECK_IN = "failed_check_in"
MISSED_CHECK_IN = "missed_check_in"
DISTINCT = "distinct:"

#: Group-by names and the dot path in the event's canonical JSON each stands for.
GROUP_BY_PATHS: dict[str, str] = {
    "actor_id": "audit.actor.id",
    "tenant_id": "audit.tenant_id",
    "service": "service",
    "environment": "environment",
    "fingerprint": "fingerprint",
    "check_in_slug": "check_in.slug",
}


def _builtin(
    rule_id: str,
    name: str,
    *,
    threshold: int,
    window_s: int,
    group_by: str,
    severity: int,
    kinds: Sequence[int] = (E.KIND_AUDIT,),
    action_pattern: str = "",
    category: str = "",
    enabled: bool = True,
    cooldown_s: int = DEFAULT_COOLDOWN_S,
    detector: str = "",
    auto_resolve: bool = False,
) -> A.AlertRule:
    return A.AlertRule(
        id=rule_id,
        type=A.ALERT_RULE_TYPE_BUILTIN,
        name=name,
        condition=A.AlertCondition(kinds=kinds, action_pattern=action_pattern, category=category),  # type: ignore[arg-type]
        threshold=threshold,
        window_seconds=window_s,
        group_by=group_by,
        severity=severity,  # type: ignore[arg-type]
        enabled=enabled,
        cooldown_seconds=cooldown_s,
        detector=detector,
        auto_resolve=auto_resolve,
    )


BUILTINS: tuple[A.AlertRule, ...] = (
    # LogStitch's documented detection rules (docs/security-alerts).
    _builtin("auth_brute_force", "Auth Brute Force", action_pattern="auth.failed*", threshold=5,
             window_s=300, group_by="actor_id", severity=A.ALERT_SEVERITY_HIGH),
    _builtin("privilege_escalation_burst", "Privilege Escalation Burst", action_pattern="*.role.updated",
             threshold=3, window_s=600, group_by="actor_id", severity=A.ALERT_SEVERITY_CRITICAL),
    _builtin("rapid_api_key_creation", "Rapid API Key Creation", action_pattern="*.api_key.created",
             threshold=3, window_s=300, group_by="actor_id", severity=A.ALERT_SEVERITY_MEDIUM),
    _builtin("bulk_data_export", "Bulk Data Export", action_pattern="*.exported", threshold=5,
             window_s=600, group_by="actor_id", severity=A.ALERT_SEVERITY_MEDIUM),
    _builtin("account_deletion_spike", "Account Deletion Spike", action_pattern="*.deleted", threshold=5,
             window_s=600, group_by="tenant_id", severity=A.ALERT_SEVERITY_HIGH),
    _builtin("suspicious_ip_change", "Suspicious IP Change", action_pattern="*", threshold=3,
             window_s=1800, group_by="actor_id", severity=A.ALERT_SEVERITY_MEDIUM, enabled=False,
             detector=DISTINCT + "audit.context.ip_address"),
    # ingestd's own.
    _builtin("security_event", "Security event", category="security", threshold=1, window_s=60,
             group_by="", severity=A.ALERT_SEVERITY_HIGH, cooldown_s=300),
    _builtin("new_issue", "New issue", kinds=(E.KIND_ERROR,), threshold=1, window_s=60,
             group_by="fingerprint", severity=A.ALERT_SEVERITY_MEDIUM, cooldown_s=0,
             detector=NEW_FINGERPRINT),
    _builtin("error_spike", "Error spike", kinds=(E.KIND_ERROR,), threshold=100, window_s=300,
             group_by="service", severity=A.ALERT_SEVERITY_HIGH),
    _builtin("check_in_failed", "Failed check-in", kinds=(E.KIND_CHECK_IN,), threshold=1, window_s=60,
             group_by="check_in_slug", severity=A.ALERT_SEVERITY_HIGH, cooldown_s=0,
             detector=FAILED_CHECK_IN, auto_resolve=True),
    _builtin("check_in_missed", "Missed check-in", kinds=(E.KIND_CHECK_IN,), threshold=1, window_s=60,
             group_by="check_in_slug", severity=A.ALERT_SEVERITY_HIGH, cooldown_s=0,
             detector=MISSED_CHECK_IN, auto_resolve=True),
)  # fmt: skip

BUILTIN_IDS: frozenset[str] = frozenset(rule.id for rule in BUILTINS)
_BY_ID = {rule.id: rule for rule in BUILTINS}


class RuleRow(Protocol):
    """What a stored rule row has (`storage.models.AlertRule`, or a Core row of its table)."""

    id: str
    type: int
    name: str
    condition: bytes
    threshold: int
    window_s: int
    group_by: str
    severity: int
    enabled: bool
    cooldown_s: int
    created_us: int | None
    updated_us: int | None


def _timestamp(us: int | None) -> timestamp_pb2.Timestamp | None:
    if us is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromMicroseconds(us)
    return stamp


def from_row(row: RuleRow) -> A.AlertRule:
    """The rule a row stands for: a built-in with the row's changes, or a custom rule."""
    base = _BY_ID.get(row.id)
    if base is not None:
        rule = A.AlertRule()
        rule.CopyFrom(base)
        rule.enabled = row.enabled
        rule.cooldown_seconds = row.cooldown_s
    else:
        rule = A.AlertRule(
            id=row.id,
            type=A.ALERT_RULE_TYPE_CUSTOM,
            name=row.name,
            condition=A.AlertCondition.FromString(row.condition),
            threshold=row.threshold,
            window_seconds=row.window_s,
            group_by=row.group_by,
            severity=row.severity,  # type: ignore[arg-type]
            enabled=row.enabled,
            cooldown_seconds=row.cooldown_s,
        )
        created = _timestamp(row.created_us)
        if created is not None:
            rule.create_time.CopyFrom(created)
    updated = _timestamp(row.updated_us)
    if updated is not None:
        rule.update_time.CopyFrom(updated)
    return rule


def effective_rules(rows: Iterable[RuleRow]) -> list[A.AlertRule]:
    """A project's rules from its rows: every built-in (with the project's changes), then the
    custom rules in the rows' order."""
    by_id = {row.id: row for row in rows}
    rules = [from_row(by_id[b.id]) if b.id in by_id else _copy(b) for b in BUILTINS]
    rules.extend(from_row(row) for row in by_id.values() if row.id not in BUILTIN_IDS)
    return rules


def builtin(rule_id: str) -> A.AlertRule | None:
    """A copy of the built-in rule `rule_id`, with its defaults, or None."""
    base = _BY_ID.get(rule_id)
    return _copy(base) if base is not None else None


def _copy(rule: A.AlertRule) -> A.AlertRule:
    copy = A.AlertRule()
    copy.CopyFrom(rule)
    return copy
