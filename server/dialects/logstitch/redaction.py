"""LogStitch's redaction rules: /api/v1/redaction/rules and /api/v1/redaction/test
(docs/vendors/logstitch.md §11).

Keys: listing and testing take a master or project key; create, update (PUT) and delete take a
master key only (a project key: 403 `forbidden`). A master key addresses the `project_id` query
parameter's project, else `default`.

Shapes (LogStitch's documented list shape; the rest, undocumented, follow it):
- a rule: `{id, type ("builtin"|"pattern"|"field_redact"), name, behavior
  ("replace"|"mask"|"hash"|"remove"), enabled}` plus `builtin_id` (built-in), `pattern` (pattern)
  or `fields` (field_redact), and `created_at` (custom rules, ISO 8601 with milliseconds).
- GET 200 `{"rules": [...], "cursor", "has_more", "request_id"}`, built-in rules then custom
  ones oldest first, with `limit` and `cursor` as every LogStitch list; POST 201 `{"rule": {...},
  "request_id"}`; PUT 200 `{"rule": {...}, "request_id"}` applying the keys the body has (`id`,
  `type`, `builtin_id`, `created_at` are ignored; of a built-in rule only `behavior` and `enabled`
  may change); DELETE 200 `{"id", "deleted": true, "request_id"}`.
- Deleting a built-in rule: 400 `validation_error` with the detail `{"field": "id", "message":
  "Built-in rules cannot be deleted; disable them with PUT instead"}`. LogStitch documents that
  built-in rules cannot be deleted but not the error; `validation_error` is the documented code
  every LogStitch client already handles, and the detail says what to do instead.
- An unknown rule: 404 `not_found`. A bad body, regex (or one with nested quantifiers, or longer
  than 1,000 characters): 400 `validation_error` with details.
- POST /api/v1/redaction/test: the body is one LogStitch event, or `{"event": {...}}`; 200
  `{"redacted": <the event as it would be stored>, "matches": [{"rule_id", "field"}],
  "redacted_count", "request_id"}`. `field` is the value's path in the LogStitch event, such as
  `metadata.password`. Nothing is stored.
"""

from __future__ import annotations

from typing import Any

from ingestd.compat.logstitch.v1 import logstitch_service_pb2 as pb
from ingestd.v1 import redaction_pb2
from server.dialects.base import VendorContext
from server.dialects.common import zod_expected
from server.dialects.logstitch import query as logstitch_query
from server.dialects.logstitch import translate as logstitch
from server.dialects.logstitch.calls import authenticate, endpoints, project_of, respond
from server.dialects.logstitch.common import Detail, error, timestamp, validation_error
from server.dialects.logstitch.pages import LISTED_ID, page_of, requested_page
from server.dialects.logstitch.validation import object_body
from server.errors import FailedPrecondition, InvalidArgument, NotFound
from server.keys import MASTER, PROJECT
from server.pipeline import Call, Endpoint

Rule = redaction_pb2.RedactionRule

_TYPES = {
    "builtin": redaction_pb2.REDACTION_RULE_TYPE_BUILTIN,
    "pattern": redaction_pb2.REDACTION_RULE_TYPE_PATTERN,
    "field_redact": redaction_pb2.REDACTION_RULE_TYPE_FIELD,
}
_TYPE_NAMES = {number: name for name, number in _TYPES.items()}
_BEHAVIORS = {
    "replace": redaction_pb2.REDACTION_BEHAVIOR_REPLACE,
    "mask": redaction_pb2.REDACTION_BEHAVIOR_MASK,
    "hash": redaction_pb2.REDACTION_BEHAVIOR_HASH,
    "remove": redaction_pb2.REDACTION_BEHAVIOR_REMOVE,
}
_BEHAVIOR_NAMES = {number: name for name, number in _BEHAVIORS.items()}
# Output-only keys a client may send back from a listed rule; ignored on PUT.
_IGNORED_ON_UPDATE = frozenset({"id", "type", "builtin_id", "created_at", "updated_at"})
_WRITABLE = ("name", "pattern", "fields", "behavior", "enabled")


class LogStitchRedactionServicer:
    """The redaction endpoints of LogStitchService."""

    def __init__(self, context: VendorContext) -> None:
        self._context = context

    def endpoints(self) -> list[Endpoint]:
        return endpoints(
            {
                "ListRedactionRules": self.list_redaction_rules,
                "CreateRedactionRule": self.create_redaction_rule,
                "UpdateRedactionRule": self.update_redaction_rule,
                "DeleteRedactionRule": self.delete_redaction_rule,
                "TestRedaction": self.test_redaction,
            }
        )

    async def list_redaction_rules(
        self, call: Call, request: pb.ListRedactionRulesRequest
    ) -> pb.ListRedactionRulesResponse:
        principal = await authenticate(call, (MASTER, PROJECT))
        project = await project_of(self._context, principal, request.project_id, write=False)
        limit, after = requested_page(request.limit, request.cursor, LISTED_ID)
        page = page_of(await self._context.redaction.list_rules(project), _rule_id, after, limit)
        call.log.update(project=project, returned=len(page.items))
        body = {"rules": [shown(r) for r in page.items], **page.fields()}
        return respond(call, pb.ListRedactionRulesResponse, 200, body)

    async def create_redaction_rule(
        self, call: Call, request: pb.CreateRedactionRuleRequest
    ) -> pb.CreateRedactionRuleResponse:
        principal = await authenticate(call, (MASTER,))
        project = await project_of(self._context, principal, request.project_id, write=False)
        body = object_body(request.body.data)
        found: list[Detail] = []
        rule = Rule()
        kind = body.get("type")
        if kind is None:
            found.append(("type", "Required"))
        elif kind not in ("pattern", "field_redact"):
            found.append(("type", "Invalid enum value. Expected 'pattern' | 'field_redact'"))
        else:
            rule.type = _TYPES[kind]
        if "name" not in body:
            found.append(("name", "Required"))
        _apply(body, rule, found)
        if found:
            raise validation_error(found)
        created = await _domain(self._context.redaction.create_rule(project, rule))
        call.log.update(project=project, rule=created.id)
        return respond(call, pb.CreateRedactionRuleResponse, 201, {"rule": shown(created)})

    async def update_redaction_rule(
        self, call: Call, request: pb.UpdateRedactionRuleRequest
    ) -> pb.UpdateRedactionRuleResponse:
        principal = await authenticate(call, (MASTER,))
        project = await project_of(self._context, principal, request.project_id, write=False)
        body = object_body(request.body.data)
        found: list[Detail] = []
        unknown = [k for k in body if k not in _WRITABLE and k not in _IGNORED_ON_UPDATE]
        found.extend((k, "Unrecognized key") for k in unknown)
        update = Rule()
        _apply(body, update, found)
        mask = [k for k in _WRITABLE if k in body]
        if not mask and not found:
            found.append(("", "Set at least one of: " + ", ".join(_WRITABLE)))
        if found:
            raise validation_error(found)
        updated = await _domain(self._context.redaction.update_rule(project, request.id, update, mask))
        call.log.update(project=project, rule=updated.id)
        return respond(call, pb.UpdateRedactionRuleResponse, 200, {"rule": shown(updated)})

    async def delete_redaction_rule(
        self, call: Call, request: pb.DeleteRedactionRuleRequest
    ) -> pb.DeleteRedactionRuleResponse:
        principal = await authenticate(call, (MASTER,))
        project = await project_of(self._context, principal, request.project_id, write=False)
        await _domain(self._context.redaction.delete_rule(project, request.id))
        call.log.update(project=project, rule=request.id)
        return respond(call, pb.DeleteRedactionRuleResponse, 200, {"id": request.id, "deleted": True})

    async def test_redaction(self, call: Call, request: pb.TestRedactionRequest) -> pb.TestRedactionResponse:
        principal = await authenticate(call, (MASTER, PROJECT))
        project = await project_of(self._context, principal, request.project_id, write=False)
        body = object_body(request.body.data)
        sample = body["event"] if isinstance(body.get("event"), dict) and "action" not in body else body
        [event] = logstitch.to_events(sample)
        if not event.HasField("occurred_at"):
            event.occurred_at.FromMicroseconds(self._context.clock.now_us())
        tested = await self._context.redaction.test(project, event)
        call.log.update(project=project, redacted=tested.redacted_count)
        body_out = {
            "redacted": logstitch_query.as_sent(tested.redacted),
            "matches": [{"rule_id": r, "field": _vendor_path(f)} for r, f in tested.matches],
            "redacted_count": tested.redacted_count,
        }
        return respond(call, pb.TestRedactionResponse, 200, body_out)


def shown(rule: Rule) -> dict[str, Any]:
    """A rule in LogStitch's shape."""
    out: dict[str, Any] = {
        "id": rule.id,
        "type": _TYPE_NAMES.get(rule.type, "pattern"),
        "name": rule.name,
        "behavior": _BEHAVIOR_NAMES.get(rule.behavior, "replace"),
        "enabled": rule.enabled,
    }
    if rule.type == redaction_pb2.REDACTION_RULE_TYPE_BUILTIN:
        out["builtin_id"] = rule.builtin_id
    elif rule.type == redaction_pb2.REDACTION_RULE_TYPE_PATTERN:
        out["pattern"] = rule.pattern
    else:
        out["fields"] = list(rule.fields)
    if rule.HasField("create_time"):
        out["created_at"] = timestamp(rule.create_time)
    return out


def _rule_id(rule: Rule) -> str:
    return rule.id


def _apply(body: dict[str, Any], rule: Rule, found: list[Detail]) -> None:
    """Copies the writable keys `body` has into `rule`, listing type errors in `found`."""
    for key in ("name", "pattern"):
        if key in body:
            value = body[key]
            if isinstance(value, str):
                setattr(rule, key, value)
            else:
                found.append((key, zod_expected("string", value)))
    if "fields" in body:
        fields = body["fields"]
        if isinstance(fields, list) and all(isinstance(f, str) for f in fields):
            rule.fields.extend(fields)
        else:
            found.append(("fields", "Expected array of strings"))
    if "behavior" in body:
        behavior = body["behavior"]
        if behavior in _BEHAVIORS:
            rule.behavior = _BEHAVIORS[behavior]
        else:
            found.append(("behavior", "Invalid enum value. Expected 'replace' | 'hash' | 'mask' | 'remove'"))
    if "enabled" in body:
        enabled = body["enabled"]
        if isinstance(enabled, bool):
            rule.enabled = enabled
        else:
            found.append(("enabled", zod_expected("boolean", enabled)))


async def _domain(awaitable: Any) -> Any:
    """The domain call's result, its errors turned into LogStitch's answers."""
    try:
        return await awaitable
    except InvalidArgument as exc:
        raise validation_error([(_vendor_field(f), d) for f, d in exc.violations]) from None
    except FailedPrecondition:
        raise error(
            400,
            "validation_error",
            "Built-in rules cannot be deleted",
            [("id", "Built-in rules cannot be deleted; disable them with PUT instead")],
        ) from None
    except NotFound:
        raise error(404, "not_found", "Redaction rule not found") from None


def _vendor_field(field: str) -> str:
    """`rule.pattern` / `update.fields[0]` / `update_mask` as the body's key."""
    head, _, rest = field.partition(".")
    if head in ("rule", "update") and rest:
        return rest
    return "" if field in ("update", "update_mask") else field


def _vendor_path(path: str) -> str:
    """A canonical value path in LogStitch's event: its audit body's fields are the event's."""
    return path.removeprefix("audit.")
