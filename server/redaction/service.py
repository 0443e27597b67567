"""The redaction rules of each project, and their compiled redactors.

`RedactionRules` is `Ingest`'s source of redactors and serves AdminService's redaction RPCs; the
LogStitch servicer uses the same domain methods (`list_rules`, `create_rule`, ...).

Caching: a project's redactor is cached for `settings.settings_cache_ttl_s` (by the injected
clock) and dropped at once on any change made through this node; another node's change is seen
within the TTL. Equal enabled rule sets share one compiled redactor, so projects on the
defaults compile nothing more. The anonymous stream (no project) gets the built-in defaults.
"""

from __future__ import annotations

import dataclasses

from google.protobuf import field_mask_pb2
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ingestd.v1 import admin_service_pb2 as pb
from ingestd.v1 import event_pb2
from server.access import Access
from server.clock import Clock
from server.config import Settings
from server.errors import FailedPrecondition, InvalidArgument, NotFound
from server.ids import UuidV7
from server.ingest import Redactor
from server.pipeline import Call
from server.redaction import rules as R
from server.redaction.engine import FIELD, PATTERN, CompiledRedactor, RuleSpec
from server.settings_cache import SettingsCache
from storage.models import RedactionRule as RuleRow
from storage.redaction import RedactionRuleRepository

_CUSTOM_FIELDS = frozenset({"name", "pattern", "fields", "behavior", "enabled"})
_BUILTIN_FIELDS = frozenset({"behavior", "enabled"})
# Distinct rule sets compiled and kept; past it the memo starts afresh (rule sets are few).
_MAX_COMPILED = 1024


@dataclasses.dataclass(frozen=True)
class Tested:
    """What `test` found: the redacted copy, each (rule id, path) redaction, and the count."""

    redacted: event_pb2.Event
    matches: list[tuple[str, str]]
    redacted_count: int


class RedactionRules:
    """AdminService's redaction RPCs, and `Ingest`'s source of redactors."""

    def __init__(
        self,
        access: Access,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        ids: UuidV7,
        settings: Settings,
    ) -> None:
        self._access = access
        self._sessions = sessions
        self._clock = clock
        self._ids = ids
        self._cached = SettingsCache(self._compiled_of, clock, settings.settings_cache_ttl_s)
        self._compiled: dict[tuple[RuleSpec, ...], CompiledRedactor | None] = {}
        self._anonymous = self._compile(R.specs(R.defaults()))

    # Ingest's source of redactors.

    async def redactor(self, project: str | None) -> Redactor | None:
        if project is None:
            return self._anonymous
        return await self._cached.get(project)

    async def _compiled_of(self, project: str) -> CompiledRedactor | None:
        return self._compile(R.specs(await self._load(project)))

    def _compile(self, specs: tuple[RuleSpec, ...]) -> CompiledRedactor | None:
        if not specs:
            return None
        if specs not in self._compiled:
            if len(self._compiled) >= _MAX_COMPILED:
                self._compiled.clear()
            self._compiled[specs] = CompiledRedactor(specs)
        return self._compiled[specs]

    async def _load(self, project: str) -> list[R.Rule]:
        async with self._sessions() as session:
            return R.project_rules(await RedactionRuleRepository(session).of_project(project))

    # The domain, for every transport. `project` is already authorized.

    async def list_rules(self, project: str) -> list[R.Rule]:
        """Every built-in rule, then the custom rules oldest first."""
        return await self._load(project)

    async def create_rule(self, project: str, rule: R.Rule) -> R.Rule:
        """Creates a custom rule; its output-only fields are ignored.

        Raises:
            InvalidArgument: the rule is not a valid pattern or field rule (`rule.pattern`, ...).
        """
        R.check_custom(rule)
        now = self._clock.now_us()
        row = RuleRow(
            project_id=project,
            id="rr_" + self._ids.new(),
            type=rule.type,
            name=rule.name,
            pattern=rule.pattern if rule.type == PATTERN else "",
            fields="\n".join(rule.fields) if rule.type == FIELD else "",
            behavior=rule.behavior or R.REPLACE,
            enabled=rule.enabled if rule.HasField("enabled") else True,
            created_us=now,
            updated_us=None,
        )
        async with self._sessions() as session, session.begin():
            await RedactionRuleRepository(session).add(row)
        self._cached.forget(project)
        return R.custom_rule(row)

    async def update_rule(self, project: str, rule_id: str, update: R.Rule, mask: list[str]) -> R.Rule:
        """Applies the fields of `update` that `mask` names; with an empty mask, every writable
        field `update` sets (a non-empty string or list, a behavior, `enabled` when present). Of a
        built-in rule only `behavior` and `enabled` change.

        Raises:
            InvalidArgument: a mask path that is unknown or not writable here (`update_mask`), or
                an invalid result (`update.pattern`, ...).
            NotFound: no such rule (reason `REDACTION_RULE_NOT_FOUND`).
        """
        builtin = R.builtin_of(rule_id)
        writable = _BUILTIN_FIELDS if builtin is not None else _CUSTOM_FIELDS
        if mask:
            refused = [p for p in mask if p not in writable]
            if refused:
                what = "a built-in rule" if builtin is not None else "a custom rule"
                raise InvalidArgument([("update_mask", f"{', '.join(refused)}: not writable on {what}")])
            paths = set(mask)
        else:
            paths = {f for f in writable if _is_set(update, f)}
            if not paths:
                raise InvalidArgument([("update", "sets no writable field")])
        found: list[tuple[str, str]] = []
        R.check_behavior(update.behavior, "update.behavior", found)
        if "enabled" in paths and not update.HasField("enabled"):
            found.append(("update.enabled", "is required when the mask names it"))
        if found:
            raise InvalidArgument(found)
        now = self._clock.now_us()
        async with self._sessions() as session, session.begin():
            repository = RedactionRuleRepository(session)
            row = await repository.get(project, rule_id)
            if builtin is not None:
                current = R.builtin_rule(builtin, row)
                if row is None:
                    row = RuleRow(
                        project_id=project,
                        id=rule_id,
                        type=current.type,
                        name="",
                        pattern="",
                        fields="",
                        behavior=current.behavior,
                        enabled=current.enabled,
                        created_us=None,
                    )
                    await repository.add(row)
            elif row is None:
                raise NotFound(f"redaction rule {rule_id!r} not found", reason="REDACTION_RULE_NOT_FOUND")
            else:
                current = R.custom_rule(row)
            for path in paths:
                if path == "fields":
                    current.ClearField("fields")
                    current.fields.extend(update.fields)
                elif path == "behavior":
                    current.behavior = update.behavior or R.REPLACE
                else:
                    setattr(current, path, getattr(update, path))
            if builtin is None:
                R.check_custom(current, at="update")
                row.name = current.name
                row.pattern = current.pattern
                row.fields = "\n".join(current.fields)
            row.behavior = current.behavior
            row.enabled = current.enabled
            row.updated_us = now
            await session.flush()
        self._cached.forget(project)
        return R.builtin_rule(builtin, row) if builtin is not None else R.custom_rule(row)

    async def delete_rule(self, project: str, rule_id: str) -> None:
        """Deletes a custom rule.

        Raises:
            FailedPrecondition: a built-in rule (reason `BUILTIN_RULE`): disable it instead.
            NotFound: no such rule (reason `REDACTION_RULE_NOT_FOUND`).
        """
        if R.builtin_of(rule_id) is not None:
            raise FailedPrecondition(
                f"built-in rule {rule_id!r} cannot be deleted; disable it instead", reason="BUILTIN_RULE"
            )
        async with self._sessions() as session, session.begin():
            deleted = rule_id and await RedactionRuleRepository(session).delete(project, rule_id)
        if not deleted:
            raise NotFound(f"redaction rule {rule_id!r} not found", reason="REDACTION_RULE_NOT_FOUND")
        self._cached.forget(project)

    async def test(self, project: str, sample: event_pb2.Event) -> Tested:
        """Runs the project's enabled rules, as they are now in the database, on a copy of
        `sample`. Stores nothing."""
        redacted = event_pb2.Event()
        redacted.CopyFrom(sample)
        compiled = self._compile(R.specs(await self._load(project)))
        if compiled is None:
            return Tested(redacted, [], 0)
        count, matches = compiled.redact_recording(redacted)
        return Tested(redacted, matches, count)

    # AdminService.

    async def list_redaction_rules_rpc(
        self, call: Call, request: pb.ListRedactionRulesRequest
    ) -> pb.ListRedactionRulesResponse:
        project = await self._access.project(call.principal, request.project)
        return pb.ListRedactionRulesResponse(rules=await self.list_rules(project))

    async def create_redaction_rule_rpc(
        self, call: Call, request: pb.CreateRedactionRuleRequest
    ) -> pb.CreateRedactionRuleResponse:
        project = await self._access.administer_project(call.principal, request.project)
        rule = await self.create_rule(project, request.rule)
        call.log.update(project=project, rule=rule.id)
        return pb.CreateRedactionRuleResponse(rule=rule)

    async def update_redaction_rule_rpc(
        self, call: Call, request: pb.UpdateRedactionRuleRequest
    ) -> pb.UpdateRedactionRuleResponse:
        project = await self._access.administer_project(call.principal, request.project)
        mask: field_mask_pb2.FieldMask = request.update_mask
        rule = await self.update_rule(project, request.rule, request.update, list(mask.paths))
        call.log.update(project=project, rule=rule.id)
        return pb.UpdateRedactionRuleResponse(rule=rule)

    async def delete_redaction_rule_rpc(
        self, call: Call, request: pb.DeleteRedactionRuleRequest
    ) -> pb.DeleteRedactionRuleResponse:
        project = await self._access.administer_project(call.principal, request.project)
        await self.delete_rule(project, request.rule)
        call.log.update(project=project, rule=request.rule)
        return pb.DeleteRedactionRuleResponse()

    async def test_redaction_rpc(
        self, call: Call, request: pb.TestRedactionRequest
    ) -> pb.TestRedactionResponse:
        project = await self._access.project(call.principal, request.project)
        tested = await self.test(project, request.sample)
        response = pb.TestRedactionResponse(redacted=tested.redacted, redacted_count=tested.redacted_count)
        for rule_id, field in tested.matches:
            response.matches.add(rule_id=rule_id, field=field)
        return response


def _is_set(update: R.Rule, field: str) -> bool:
    if field == "enabled":
        return update.HasField("enabled")
    return bool(getattr(update, field))
