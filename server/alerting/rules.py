"""Alert rules of each project: CRUD over `alert_rules`, and AlertService's rule RPCs.

Field names: the domain methods raise `InvalidArgument` with the bare `AlertRule` field names
(`threshold`, `condition.action_pattern`; `update_mask` for the mask itself; an empty name for the
whole rule), so each transport can put them where its request holds the rule: the canonical RPCs
prefix them with `rule.` (CreateAlertRule) or `update.` (UpdateAlertRule), and LogStitch maps
them to its own body fields.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ingestd.v1 import alert_service_pb2 as S
from ingestd.v1 import alerting_pb2 as A
from ingestd.v1 import event_pb2 as E
from server.access import Access
from server.alerting import catalog
from server.alerting.service import SERVICE
from server.clock import Clock
from server.errors import FailedPrecondition, InvalidArgument, NotFound
from server.ids import UuidV7
from server.pipeline import Call, Endpoint
from server.quotas import ProjectQuotas
from storage.alert_rules import AlertRuleRepository
from storage.engine import begin_write
from storage.models import AlertRule as RuleRow

#: Every field a custom rule lets change, in `AlertRule`'s order.
WRITABLE = (
    "name",
    "condition",
    "threshold",
    "window_seconds",
    "group_by",
    "severity",
    "enabled",
    "cooldown_seconds",
)
#: The fields a built-in rule lets change.
BUILTIN_WRITABLE = ("enabled", "cooldown_seconds")
_CONDITION_FIELDS = tuple(f.name for f in A.AlertCondition.DESCRIPTOR.fields)

MAX_NAME = 100
MAX_THRESHOLD = 1_000_000
MIN_WINDOW_S, MAX_WINDOW_S = 60, 86_400
MAX_COOLDOWN_S = 604_800
MAX_TEXT = 200
MAX_FIELD_EQUALS = 20
_PATTERN = re.compile(r"[A-Za-z0-9_.*-]*")
_DOT_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_KINDS = frozenset(E.Kind.values()) - {E.KIND_UNSPECIFIED}
_LEVELS = frozenset(E.Level.values())
_SEVERITIES = frozenset(A.AlertSeverity.values()) - {A.ALERT_SEVERITY_UNSPECIFIED}


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
            Endpoint(SERVICE + "ListAlertRules", self.list_alert_rules_rpc),
            Endpoint(SERVICE + "CreateAlertRule", self.create_alert_rule_rpc),
            Endpoint(SERVICE + "UpdateAlertRule", self.update_alert_rule_rpc),
            Endpoint(SERVICE + "DeleteAlertRule", self.delete_alert_rule_rpc),
        ]

    # The domain, for every transport. `project` is already authorized.

    async def list_rules(self, project: str) -> list[A.AlertRule]:
        """Every built-in rule (with the project's changes), then the custom rules oldest first."""
        async with self._sessions() as session:
            return catalog.effective_rules(await AlertRuleRepository(session).of_project(project))

    async def create_rule(self, project: str, rule: A.AlertRule) -> A.AlertRule:
        """Creates a custom rule from `rule`'s writable fields; returns it as stored (id `ar_…`).
        Unset, `enabled` is true and `cooldown_seconds` 3,600.

        Raises:
            InvalidArgument: a field is missing or out of range; field names as in `AlertRule`
                (`name`, `threshold`, `window_seconds`, `cooldown_seconds`, `group_by`,
                `severity`, `condition.action_pattern`, ...).
            ResourceExhausted: reason `ALERT_RULE_LIMIT_REACHED`.
        """
        check(rule)
        now = self._clock.now_us()
        row = RuleRow(
            project_id=project,
            id="ar_" + self._ids.new(),
            type=A.ALERT_RULE_TYPE_CUSTOM,
            name=rule.name,
            condition=rule.condition.SerializeToString(deterministic=True),
            threshold=rule.threshold,
            window_s=rule.window_seconds,
            group_by=rule.group_by,
            severity=rule.severity,
            enabled=rule.enabled if rule.HasField("enabled") else True,
            cooldown_s=rule.cooldown_seconds
            if rule.HasField("cooldown_seconds")
            else catalog.DEFAULT_COOLDOWN_S,
            created_us=now,
            updated_us=now,
        )
        async with self._sessions() as session, session.begin():
            await begin_write(session)
            repository = AlertRuleRepository(session)
            await self._quotas.check_alert_rule_limit(project, await repository.count_custom(project))
            await repository.add(row)
        self._on_change(project)
        return catalog.from_row(row)

    async def update_rule(
        self, project: str, rule_id: str, update: A.AlertRule, mask: Sequence[str]
    ) -> A.AlertRule:
        """Applies the `mask` fields of `update` (every writable field when empty).

        With an empty mask, "every writable field" is every one `update` sets: a non-empty
        string, a non-zero number, a condition, `enabled` or `cooldown_seconds` when present. Of
        a built-in rule only `enabled` and `cooldown_seconds` change: an empty mask applies just
        those, and a mask naming another field is refused. A mask path may name a field of the
        condition, such as `condition.kinds`.

        Raises:
            NotFound: no such rule (reason `ALERT_RULE_NOT_FOUND`).
            InvalidArgument: a bad value, or a field a built-in rule does not let change.
        """
        base = catalog.builtin(rule_id)
        paths = _paths(base is not None, update, mask)
        now = self._clock.now_us()
        async with self._sessions() as session, session.begin():
            await begin_write(session)
            repository = AlertRuleRepository(session)
            row = await repository.get(project, rule_id)
            if base is not None:
                current = catalog.from_row(row) if row is not None else base
                _apply(current, update, paths)
                check(current)
                if row is None:
                    row = _builtin_row(project, rule_id)
                    await repository.add(row)
            elif row is None or row.type != A.ALERT_RULE_TYPE_CUSTOM:
                raise _not_found(rule_id)
            else:
                current = catalog.from_row(row)
                _apply(current, update, paths)
                check(current)
                row.name = current.name
                row.condition = current.condition.SerializeToString(deterministic=True)
                row.threshold = current.threshold
                row.window_s = current.window_seconds
                row.group_by = current.group_by
                row.severity = current.severity
            row.enabled = current.enabled
            row.cooldown_s = current.cooldown_seconds
            row.updated_us = now
            await session.flush()
        self._on_change(project)
        return catalog.from_row(row)

    async def delete_rule(self, project: str, rule_id: str) -> None:
        """Deletes a custom rule and its counters and state; its alerts stay.

        Raises:
            NotFound: no such rule.
            FailedPrecondition: a built-in rule (reason `BUILTIN_RULE`).
        """
        if rule_id in catalog.BUILTIN_IDS:
            raise FailedPrecondition(
                "built-in rules cannot be deleted; disable them instead", reason="BUILTIN_RULE"
            )
        async with self._sessions() as session, session.begin():
            deleted = bool(rule_id) and await AlertRuleRepository(session).delete_custom(project, rule_id)
        if not deleted:
            raise _not_found(rule_id)
        self._on_change(project)

    # AlertService.

    async def list_alert_rules_rpc(
        self, call: Call, request: S.ListAlertRulesRequest
    ) -> S.ListAlertRulesResponse:
        project = await self._access.project(call.principal, request.project)
        return S.ListAlertRulesResponse(rules=await self.list_rules(project))

    async def create_alert_rule_rpc(
        self, call: Call, request: S.CreateAlertRuleRequest
    ) -> S.CreateAlertRuleResponse:
        project = await self._access.administer_project(call.principal, request.project)
        with _prefixed("rule"):
            rule = await self.create_rule(project, request.rule)
        call.log.update(project=project, rule=rule.id)
        return S.CreateAlertRuleResponse(rule=rule)

    async def update_alert_rule_rpc(
        self, call: Call, request: S.UpdateAlertRuleRequest
    ) -> S.UpdateAlertRuleResponse:
        project = await self._access.administer_project(call.principal, request.project)
        with _prefixed("update"):
            rule = await self.update_rule(
                project, request.rule, request.update, list(request.update_mask.paths)
            )
        call.log.update(project=project, rule=rule.id, update_mask=",".join(request.update_mask.paths) or "*")
        return S.UpdateAlertRuleResponse(rule=rule)

    async def delete_alert_rule_rpc(
        self, call: Call, request: S.DeleteAlertRuleRequest
    ) -> S.DeleteAlertRuleResponse:
        project = await self._access.administer_project(call.principal, request.project)
        await self.delete_rule(project, request.rule)
        call.log.update(project=project, rule=request.rule)
        return S.DeleteAlertRuleResponse()


def check(rule: A.AlertRule) -> None:
    """Checks the writable fields of a rule as it would be stored; `enabled` and
    `cooldown_seconds` may be unset (their defaults).

    Raises:
        InvalidArgument: every bad field, by its bare `AlertRule` name.
    """
    found: list[tuple[str, str]] = []
    if not rule.name.strip():
        found.append(("name", "is required"))
    elif len(rule.name) > MAX_NAME:
        found.append(("name", f"must be at most {MAX_NAME} characters"))
    if not 1 <= rule.threshold <= MAX_THRESHOLD:
        found.append(("threshold", f"must be between 1 and {MAX_THRESHOLD:,}"))
    if not MIN_WINDOW_S <= rule.window_seconds <= MAX_WINDOW_S:
        found.append(("window_seconds", f"must be between {MIN_WINDOW_S} and {MAX_WINDOW_S:,}"))
    if rule.HasField("cooldown_seconds") and not 0 <= rule.cooldown_seconds <= MAX_COOLDOWN_S:
        found.append(("cooldown_seconds", f"must be between 0 and {MAX_COOLDOWN_S:,}"))
    if rule.severity not in _SEVERITIES:
        found.append(("severity", "is required: low, medium, high or critical"))
    if rule.group_by and rule.group_by not in catalog.GROUP_BY_PATHS and not _is_dot_path(rule.group_by):
        names = ", ".join(catalog.GROUP_BY_PATHS)
        found.append(("group_by", f"must be empty, one of {names}, or a dot path such as context.region"))
    _check_condition(rule.condition, found)
    if found:
        raise InvalidArgument(found)


def _check_condition(condition: A.AlertCondition, found: list[tuple[str, str]]) -> None:
    pattern = condition.action_pattern
    if len(pattern) > MAX_TEXT or not _PATTERN.fullmatch(pattern):
        found.append(
            (
                "condition.action_pattern",
                f"must be at most {MAX_TEXT} characters of letters, digits, _ . - and *",
            )
        )
    for n, kind in enumerate(condition.kinds):
        if kind not in _KINDS:
            found.append((f"condition.kinds[{n}]", "is not a kind of event"))
    if condition.min_level not in _LEVELS:
        found.append(("condition.min_level", "is not a level"))
    for name in ("service", "environment", "category"):
        if len(getattr(condition, name)) > MAX_TEXT:
            found.append((f"condition.{name}", f"must be at most {MAX_TEXT} characters"))
    if len(condition.field_equals) > MAX_FIELD_EQUALS:
        found.append(("condition.field_equals", f"may hold at most {MAX_FIELD_EQUALS} entries"))
    for path, value in sorted(condition.field_equals.items()):
        if not _is_dot_path(path):
            found.append((f"condition.field_equals[{path!r}]", "must be a dot path such as context.region"))
        elif len(value) > MAX_TEXT:
            found.append((f"condition.field_equals[{path!r}]", f"must be at most {MAX_TEXT} characters"))


def _is_dot_path(text: str) -> bool:
    return len(text) <= MAX_TEXT and _DOT_PATH.fullmatch(text) is not None


def _paths(builtin: bool, update: A.AlertRule, mask: Sequence[str]) -> list[str]:
    """The fields of `update` to apply, checked against what the rule lets change."""
    if not mask:
        writable = BUILTIN_WRITABLE if builtin else WRITABLE
        paths = [f for f in writable if _is_set(update, f)]
        if not paths:
            raise InvalidArgument([("", "sets no field that can change")])
        return paths
    found: list[tuple[str, str]] = []
    for path in mask:
        top = path.split(".", 1)[0]
        if top not in WRITABLE or (
            path != top and (top != "condition" or path[10:] not in _CONDITION_FIELDS)
        ):
            found.append(("update_mask", f"{path}: not a writable field of an alert rule"))
        elif builtin and top not in BUILTIN_WRITABLE:
            found.append((top, f"a built-in rule's {top} cannot change; only enabled and cooldown_seconds"))
        elif path in BUILTIN_WRITABLE and not update.HasField(path):
            found.append((path, "is required when the mask names it"))
    if found:
        raise InvalidArgument(found)
    return list(dict.fromkeys(mask))


def _is_set(update: A.AlertRule, field: str) -> bool:
    if field in ("enabled", "cooldown_seconds", "condition"):
        return update.HasField(field)
    return bool(getattr(update, field))


def _apply(current: A.AlertRule, update: A.AlertRule, paths: Sequence[str]) -> None:
    for path in paths:
        if path == "condition":
            current.condition.CopyFrom(update.condition)
        elif path.startswith("condition."):
            name = path.removeprefix("condition.")
            current.condition.ClearField(name)
            source = getattr(update.condition, name)
            target = getattr(current.condition, name)
            if name == "kinds":
                target.extend(source)
            elif name == "field_equals":
                target.update(source)
            else:
                setattr(current.condition, name, source)
        else:
            setattr(current, path, getattr(update, path))


def _builtin_row(project: str, rule_id: str) -> RuleRow:
    """The row of a project's changes to a built-in rule; only `enabled` and `cooldown_s` mean
    anything, the other columns keep their defaults."""
    return RuleRow(
        project_id=project,
        id=rule_id,
        type=A.ALERT_RULE_TYPE_BUILTIN,
        name="",
        condition=b"",
        threshold=1,
        window_s=60,
        group_by="",
        severity=A.ALERT_SEVERITY_UNSPECIFIED,
        created_us=None,
    )


def _not_found(rule_id: str) -> NotFound:
    return NotFound(f"alert rule {rule_id!r} not found", reason="ALERT_RULE_NOT_FOUND")


class _prefixed:
    """Re-raises the domain's `InvalidArgument` with the rule's fields under `prefix` (`rule`,
    `update`), the request field that holds the rule; `update_mask` stays as it is."""

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, error: BaseException | None, traceback: object) -> None:
        if isinstance(error, InvalidArgument):
            raise InvalidArgument([(self._field(f), d) for f, d in error.violations]) from None

    def _field(self, name: str) -> str:
        if name == "update_mask":
            return name
        return f"{self._prefix}.{name}" if name else self._prefix
