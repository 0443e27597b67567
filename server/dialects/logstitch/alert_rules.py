"""LogStitch's alert rules: /api/v1/alerts/rules[/:id] (docs/vendors/logstitch.md §12).

Keys: listing takes a master or project key; create, update (PATCH) and delete take a master key
only (a project key: 403 `forbidden`). A master key addresses the `project_id` query parameter's
project, else `default`.

A rule, as LogStitch documents it: `{id, type ("builtin"|"custom"), name, action_pattern,
threshold, window_seconds, group_by, severity ("low"|"medium"|"high"|"critical"), enabled,
cooldown_seconds}` plus `created_at` (custom rules, ISO 8601 with milliseconds). LogStitch's six
detection rules (`auth_brute_force`, ...) appear exactly so. Choices where ingestd has more:
- ingestd's own built-ins (`security_event`, `new_issue`, `error_spike`, `check_in_failed`,
  `check_in_missed`) match no action: their `action_pattern` is `null`, as is `group_by` for a
  project-wide rule (`security_event`).
- A rule that counts more than audit events by action (a non-audit built-in, or a rule made
  through the canonical API) carries the extra keys it needs, and only those: `kinds` (such as
  `["error"]`, when not just audit events), `category`, `service`, `environment`, `min_level`,
  `field_equals`, and `detector` (such as `new_fingerprint`; see `server.alerting.catalog`).

Requests and answers:
- GET 200 `{"rules": [...], "cursor", "has_more", "request_id"}`: the built-ins, then custom rules
  oldest first, with `limit` and `cursor` as every LogStitch list.
- POST 201 `{"rule": {...}, "request_id"}` from `{name (1-100 characters), action_pattern (a
  glob, 1 character or more), threshold (an integer, 1 or more), window_seconds (an integer, 60 to
  3,600), group_by ("actor_id"|"tenant_id"), severity, cooldown_seconds? (an integer, 0 to
  604,800; default 3,600), enabled? (default true)}`; the rule counts audit events. Bad values:
  400 `validation_error` with Zod v3's messages ("Required", "Expected number, received string",
  "Number must be greater than or equal to 60", "Invalid enum value. Expected 'actor_id' |
  'tenant_id', received 'x'", ...). Past the project's custom rule limit: 403
  `alert_rule_limit_reached`.
- PATCH 200 `{"rule": {...}, "request_id"}` applies the writable keys the body has (`id`, `type`,
  `created_at`, `updated_at` and the extra keys above are ignored, so a listed rule can be sent
  back; any other key: "Unrecognized key"). Of a built-in rule only `enabled` and
  `cooldown_seconds` may change: any other writable key is refused with a detail on that key, even
  when its value is unchanged.
- DELETE 200 `{"id", "deleted": true, "request_id"}`. A built-in rule: 400 `validation_error` with
  the detail `{"field": "id", "message": "Built-in rules cannot be deleted; disable them with
  PATCH instead"}` (LogStitch documents the rule, not the error; this is the redaction API's
  answer to the same case). An unknown rule: 404 `not_found`.
"""

from __future__ import annotations

from typing import Any

from ingestd.compat.logstitch.v1 import logstitch_service_pb2 as pb
from ingestd.v1 import alerting_pb2 as A
from ingestd.v1 import event_pb2 as E
from server.alerting import catalog
from server.dialects.base import VendorContext
from server.dialects.logstitch.calls import authenticate, endpoints, project_of, respond
from server.dialects.logstitch.common import Detail, error, timestamp, validation_error
from server.dialects.logstitch.pages import LISTED_ID, page_of, requested_page
from server.dialects.logstitch.severity import SEVERITIES, SEVERITY_NAMES
from server.dialects.logstitch.validation import (
    invalid,
    object_body,
    read_bool,
    read_enum,
    read_integer,
    read_string,
)
from server.errors import FailedPrecondition, InvalidArgument, NotFound, ResourceExhausted
from server.keys import MASTER, PROJECT
from server.pipeline import Call, Endpoint

MAX_NAME_CHARS = 100
MIN_WINDOW_S = 60
MAX_WINDOW_S = 3600
MAX_COOLDOWN_S = 604_800

_TYPE_NAMES = {A.ALERT_RULE_TYPE_BUILTIN: "builtin", A.ALERT_RULE_TYPE_CUSTOM: "custom"}
_GROUP_BY = ("actor_id", "tenant_id")
_WRITABLE = (
    "name",
    "action_pattern",
    "threshold",
    "window_seconds",
    "group_by",
    "severity",
    "enabled",
    "cooldown_seconds",
)
_REQUIRED = _WRITABLE[:6]
_BUILTIN_WRITABLE = ("enabled", "cooldown_seconds")
# Output-only keys a client may send back from a listed rule; ignored on PATCH.
_IGNORED_ON_UPDATE = frozenset(
    {"id", "type", "created_at", "updated_at", "kinds", "category", "service", "environment"}
    | {"min_level", "field_equals", "detector"}
)


class LogStitchAlertRulesServicer:
    """The alert rule endpoints of LogStitchService."""

    def __init__(self, context: VendorContext) -> None:
        self._context = context

    def endpoints(self) -> list[Endpoint]:
        return endpoints(
            {
                "ListAlertRules": self.list_alert_rules,
                "CreateAlertRule": self.create_alert_rule,
                "UpdateAlertRule": self.update_alert_rule,
                "DeleteAlertRule": self.delete_alert_rule,
            }
        )

    async def list_alert_rules(
        self, call: Call, request: pb.ListAlertRulesRequest
    ) -> pb.ListAlertRulesResponse:
        principal = await authenticate(call, (MASTER, PROJECT))
        project = await project_of(self._context, principal, request.project_id, write=False)
        limit, after = requested_page(request.limit, request.cursor, LISTED_ID)
        page = page_of(await self._context.alerting.rules.list_rules(project), _rule_id, after, limit)
        call.log.update(project=project, returned=len(page.items))
        body = {"rules": [shown(r) for r in page.items], **page.fields()}
        return respond(call, pb.ListAlertRulesResponse, 200, body)

    async def create_alert_rule(
        self, call: Call, request: pb.CreateAlertRuleRequest
    ) -> pb.CreateAlertRuleResponse:
        principal = await authenticate(call, (MASTER,))
        project = await project_of(self._context, principal, request.project_id, write=False)
        body = object_body(request.body.data)
        found: list[Detail] = [(key, "Required") for key in _REQUIRED if key not in body]
        rule = A.AlertRule(
            condition=A.AlertCondition(kinds=[E.KIND_AUDIT]),
            enabled=True,
            cooldown_seconds=catalog.DEFAULT_COOLDOWN_S,
        )
        _apply(body, rule, found)
        if found:
            raise validation_error(found)
        created = await _domain(self._context.alerting.rules.create_rule(project, rule))
        call.log.update(project=project, rule=created.id)
        return respond(call, pb.CreateAlertRuleResponse, 201, {"rule": shown(created)})

    async def update_alert_rule(
        self, call: Call, request: pb.UpdateAlertRuleRequest
    ) -> pb.UpdateAlertRuleResponse:
        principal = await authenticate(call, (MASTER,))
        project = await project_of(self._context, principal, request.project_id, write=False)
        body = object_body(request.body.data)
        found: list[Detail] = [
            (k, "Unrecognized key") for k in body if k not in _WRITABLE and k not in _IGNORED_ON_UPDATE
        ]
        keys = [k for k in _WRITABLE if k in body]
        if request.id in catalog.BUILTIN_IDS:
            message = "Built-in rules only allow changing enabled and cooldown_seconds"
            found.extend((k, message) for k in keys if k not in _BUILTIN_WRITABLE)
        update = A.AlertRule()
        _apply(body, update, found)
        if not keys and not found:
            found.append(("", "Set at least one of: " + ", ".join(_WRITABLE)))
        if found:
            raise validation_error(found)
        mask = ["condition.action_pattern" if k == "action_pattern" else k for k in keys]
        updated = await _domain(self._context.alerting.rules.update_rule(project, request.id, update, mask))
        call.log.update(project=project, rule=updated.id)
        return respond(call, pb.UpdateAlertRuleResponse, 200, {"rule": shown(updated)})

    async def delete_alert_rule(
        self, call: Call, request: pb.DeleteAlertRuleRequest
    ) -> pb.DeleteAlertRuleResponse:
        principal = await authenticate(call, (MASTER,))
        project = await project_of(self._context, principal, request.project_id, write=False)
        await _domain(self._context.alerting.rules.delete_rule(project, request.id))
        call.log.update(project=project, rule=request.id)
        return respond(call, pb.DeleteAlertRuleResponse, 200, {"id": request.id, "deleted": True})


def shown(rule: A.AlertRule) -> dict[str, Any]:
    """A rule in LogStitch's shape, with the extra keys a non-audit rule needs."""
    condition = rule.condition
    out: dict[str, Any] = {
        "id": rule.id,
        "type": _TYPE_NAMES.get(rule.type, "custom"),
        "name": rule.name,
        "action_pattern": condition.action_pattern or None,
        "threshold": rule.threshold,
        "window_seconds": rule.window_seconds,
        "group_by": rule.group_by or None,
        "severity": SEVERITY_NAMES.get(rule.severity, "medium"),
        "enabled": rule.enabled,
        "cooldown_seconds": rule.cooldown_seconds,
    }
    if rule.type == A.ALERT_RULE_TYPE_CUSTOM and rule.HasField("create_time"):
        out["created_at"] = timestamp(rule.create_time)
    if list(condition.kinds) != [E.KIND_AUDIT]:
        out["kinds"] = [E.Kind.Name(k).removeprefix("KIND_").lower() for k in condition.kinds]
    for key in ("category", "service", "environment"):
        if getattr(condition, key):
            out[key] = getattr(condition, key)
    if condition.min_level:
        out["min_level"] = E.Level.Name(condition.min_level).removeprefix("LEVEL_").lower()
    if condition.field_equals:
        out["field_equals"] = dict(condition.field_equals)
    if rule.detector:
        out["detector"] = rule.detector
    return out


def _rule_id(rule: A.AlertRule) -> str:
    return rule.id


def _apply(body: dict[str, Any], rule: A.AlertRule, found: list[Detail]) -> None:
    """Copies the writable keys `body` has into `rule`, listing bad values in `found`."""
    name = read_string(body, "name", found, min_chars=1, max_chars=MAX_NAME_CHARS)
    if name is not None:
        rule.name = name
    pattern = read_string(body, "action_pattern", found, min_chars=1)
    if pattern is not None:
        rule.condition.action_pattern = pattern
    threshold = read_integer(body, "threshold", found, minimum=1, positive=True)
    if threshold is not None:
        rule.threshold = threshold
    window = read_integer(body, "window_seconds", found, minimum=MIN_WINDOW_S, maximum=MAX_WINDOW_S)
    if window is not None:
        rule.window_seconds = window
    group_by = read_enum(body, "group_by", _GROUP_BY, found)
    if group_by is not None:
        rule.group_by = group_by
    severity = read_enum(body, "severity", tuple(SEVERITIES), found)
    if severity is not None:
        rule.severity = SEVERITIES[severity]
    enabled = read_bool(body, "enabled", found)
    if enabled is not None:
        rule.enabled = enabled
    cooldown = read_integer(body, "cooldown_seconds", found, minimum=0, maximum=MAX_COOLDOWN_S)
    if cooldown is not None:
        rule.cooldown_seconds = cooldown


async def _domain(awaitable: Any) -> Any:
    """The domain call's result, its errors turned into LogStitch's answers."""
    try:
        return await awaitable
    except InvalidArgument as exc:
        raise invalid(exc) from None
    except FailedPrecondition:  # BUILTIN_RULE: the only precondition of rule CRUD
        raise error(
            400,
            "validation_error",
            "Built-in rules cannot be deleted",
            [("id", "Built-in rules cannot be deleted; disable them with PATCH instead")],
        ) from None
    except NotFound:
        raise error(404, "not_found", "Alert rule not found") from None
    except ResourceExhausted as exc:
        if exc.reason != "ALERT_RULE_LIMIT_REACHED":
            raise
        limit = exc.metadata.get("limit", "")
        message = (
            f"This project has reached its limit of {limit} custom alert rules; "
            "custom alert rules beyond it need a paid plan"
        )
        raise error(403, "alert_rule_limit_reached", message) from None
