"""Which events each rule counts: a project's enabled rules compiled once (pure, no I/O).

`RuleSet.tally(rows)` counts a writer group's rows per rule and group. The rows' columns (kind,
level, service, environment, fingerprint) decide most rules without decoding anything: rules are
indexed by kind, so an event of a kind no rule names costs one dict lookup. The payload is decoded only when a
candidate rule needs a field the columns do not carry (an action pattern, a category, a
`field_equals` path, a group-by path, a detector), and then once for all such rules.

Dot paths name the event's proto fields (`audit.actor.id`, `check_in.slug`), then keys inside
its maps and JSON values (`tags.region`, `context.user.plan`). Values compare as text: strings as
they are, enums by name (`CHECK_IN_STATUS_ERROR`), numbers and booleans as their JSON text.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import struct_pb2
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from ingestd.v1 import alerting_pb2 as A
from ingestd.v1 import event_pb2 as E
from server.alerting import catalog
from storage.events import EventRow

#: The longest group key or distinct value kept (the columns' size); longer ones are cut.
MAX_KEY = 200

# Group-by paths a row's columns carry, so grouping by them decodes nothing.
_COLUMN_PATHS = {"service": 6, "environment": 7, "fingerprint": 10}


def compile_glob(pattern: str) -> re.Pattern[str]:
    """`*` stands for any text (empty too); everything else is literal: `auth.failed*` matches
    `auth.failed` and `auth.failed_mfa`, `*.deleted` matches `user.deleted`."""
    return re.compile("(?s:" + ".*".join(re.escape(part) for part in pattern.split("*")) + r")\Z")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isfinite(value) and value == int(value):
            return str(int(value))
        return repr(value)
    return str(value)


def _struct_value(value: struct_pb2.Value, rest: Sequence[str]) -> str | None:
    for part in rest:
        if value.WhichOneof("kind") != "struct_value" or part not in value.struct_value.fields:
            return None
        value = value.struct_value.fields[part]
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return value.string_value
    if kind == "number_value":
        return _text(value.number_value)
    if kind == "bool_value":
        return _text(value.bool_value)
    return None  # null, lists and objects are no text to compare


def resolve(message: Message, path: Sequence[str]) -> str | None:
    """The text at `path` within `message`, or None where the path leads nowhere (an unset
    message field, a missing key, a list or object)."""
    for index, part in enumerate(path):
        if isinstance(message, struct_pb2.Struct):
            if part not in message.fields:
                return None
            return _struct_value(message.fields[part], path[index + 1 :])
        field: Any = message.DESCRIPTOR.fields_by_name.get(part)
        if field is None or field.is_repeated and not _is_map(field):
            return None
        if _is_map(field):
            entries = getattr(message, part)
            key = path[index + 1] if index + 1 < len(path) else None
            if key is None or key not in entries or index + 2 != len(path):
                return None
            return _text(entries[key])
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if not message.HasField(part):
                return None
            message = getattr(message, part)
            continue
        if index + 1 != len(path):
            return None
        value = getattr(message, part)
        if field.type == FieldDescriptor.TYPE_ENUM:
            named = field.enum_type.values_by_number.get(value)
            return named.name if named is not None else str(value)
        return _text(value)
    if isinstance(message, struct_pb2.Value):
        return _struct_value(message, ())
    return None  # the path ends on a message


def _is_map(field: Any) -> bool:
    return bool(
        field.is_repeated
        and field.type == FieldDescriptor.TYPE_MESSAGE
        and field.message_type.GetOptions().map_entry
    )


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """One enabled rule, ready to match. Times are in microseconds."""

    rule: A.AlertRule
    id: str
    threshold: int
    window_us: int
    cooldown_us: int
    #: The counter bucket width: a tenth of the window, at least a second.
    bucket_us: int
    detector: str
    min_level: int
    service: str
    environment: str
    action: re.Pattern[str] | None
    category: str
    field_equals: tuple[tuple[tuple[str, ...], str], ...]
    #: The row column holding the group value, or -1.
    group_column: int
    #: The dot path of the group value when no column holds it; empty with `group_column` -1
    #: for a project-wide rule.
    group_path: tuple[str, ...]
    distinct_path: tuple[str, ...]
    needs_payload: bool
    #: Byte strings every event this rule counts holds in its serialized form (the longest literal
    #: run of the action glob, the category): a row lacking one is skipped without decoding.
    literals: tuple[bytes, ...]
    #: Decided by its group column alone: no level, service, environment or payload condition.
    column_only: bool


def compile_rule(rule: A.AlertRule) -> CompiledRule:
    """One rule, compiled."""
    condition = rule.condition
    window_us = max(rule.window_seconds, 1) * 1_000_000
    group_path = catalog.GROUP_BY_PATHS.get(rule.group_by, rule.group_by)
    group_column = _COLUMN_PATHS.get(group_path, -1)
    path = tuple(group_path.split(".")) if group_path and group_column < 0 else ()
    is_distinct = rule.detector.startswith(catalog.DISTINCT)
    distinct = rule.detector.removeprefix(catalog.DISTINCT) if is_distinct else ""
    field_equals = tuple(sorted((tuple(k.split(".")), v) for k, v in condition.field_equals.items()))
    action = compile_glob(condition.action_pattern) if condition.action_pattern not in ("", "*") else None
    # An action pattern applies to audit events only: `*` still rules out the other kinds.
    audit_only = bool(condition.action_pattern or condition.category)
    needs_payload = bool(
        audit_only or field_equals or path or distinct or rule.detector == catalog.FAILED_CHECK_IN
    )
    # Protobuf stores strings as their UTF-8 bytes, so a value's text appears verbatim in the
    # payload: a substring test rules most events out at a fraction of the cost of decoding.
    literals = [max(condition.action_pattern.split("*"), key=len).encode()] if action is not None else []
    if condition.category:
        literals.append(condition.category.encode())
    return CompiledRule(
        rule=rule,
        id=rule.id,
        threshold=max(rule.threshold, 1),
        window_us=window_us,
        cooldown_us=max(rule.cooldown_seconds, 0) * 1_000_000,
        bucket_us=max(round(window_us / 10 / 1_000_000), 1) * 1_000_000,
        detector=rule.detector,
        min_level=condition.min_level,
        service=condition.service,
        environment=condition.environment,
        action=action,
        category=condition.category,
        field_equals=field_equals,
        group_column=group_column,
        group_path=path,
        distinct_path=tuple(distinct.split(".")) if distinct else (),
        needs_payload=needs_payload,
        literals=tuple(literal for literal in literals if literal),
        column_only=not needs_payload
        and group_column >= 0
        and not (condition.min_level or condition.service or condition.environment),
    )


@dataclass(slots=True)
class Tally:
    """How many events of one writer group a rule counts for one group key ("" for a
    project-wide rule), and, for a `distinct:` detector, their values at its path."""

    rule: CompiledRule
    count: int = 0
    values: set[str] = field(default_factory=set)


class _Decoded(dict[int, E.Event]):
    """Payloads decoded so far, by row position: each at most once, whichever rules need it."""

    def __init__(self, rows: Sequence[EventRow]) -> None:
        super().__init__()
        self._rows = rows

    def __missing__(self, index: int) -> E.Event:
        event = self[index] = E.Event.FromString(self._rows[index].payload)
        return event


class RuleSet:
    """A project's enabled rules, indexed by the kinds they count."""

    def __init__(self, rules: Sequence[A.AlertRule]) -> None:
        enabled = [r for r in rules if r.enabled and r.detector != catalog.MISSED_CHECK_IN]
        #: Every rule of the project by id, enabled or not (the monitor sweep and auto-resolve
        #: look rules up).
        self.rules: dict[str, A.AlertRule] = {r.id: r for r in rules}
        self.compiled: dict[str, CompiledRule] = {r.id: compile_rule(r) for r in enabled}
        any_kind = tuple(c for c in self.compiled.values() if not c.rule.condition.kinds)
        by_kind: dict[int, list[CompiledRule]] = {}
        for c in self.compiled.values():
            for kind in c.rule.condition.kinds:
                by_kind.setdefault(kind, []).append(c)
        self._any_kind = any_kind
        self._by_kind = {kind: (*found, *any_kind) for kind, found in by_kind.items()}

    def candidates(self, kind: int) -> tuple[CompiledRule, ...]:
        """The rules that may count an event of `kind`."""
        return self._by_kind.get(kind, self._any_kind)

    def tally(self, rows: Sequence[EventRow]) -> dict[tuple[str, str], Tally]:
        """What the rules count among `rows`, per (rule id, group key).

        Rule by rule over the rows of the kinds each counts, so a rule that reads only columns
        costs one counting pass; payloads are decoded only for rules that need them, once each.
        """
        by_kind: dict[int, list[int]] = {}
        by_kind_get = by_kind.get
        for index, row in enumerate(rows):
            found = by_kind_get(row[2])
            if found is None:
                by_kind[row[2]] = [index]
            else:
                found.append(index)
        tallies: dict[tuple[str, str], Tally] = {}
        decoded = _Decoded(rows)
        for kind, indexes in by_kind.items():
            for c in self._by_kind.get(kind, self._any_kind):
                if c.column_only:
                    column = c.group_column
                    counts: Counter[str] = Counter([rows[i][column] for i in indexes])  # type: ignore[misc]
                    for group_key, count in counts.items():
                        if group_key:
                            key = (c.id, group_key[:MAX_KEY])
                            tally = tallies.get(key)
                            if tally is None:
                                tally = tallies[key] = Tally(c)
                            tally.count += count
                    continue
                for i in indexes:
                    found_key = self._group_of(c, rows[i], i, decoded)
                    if found_key is None:
                        continue
                    group_key, value = found_key
                    key = (c.id, group_key)
                    tally = tallies.get(key)
                    if tally is None:
                        tally = tallies[key] = Tally(c)
                    tally.count += 1
                    if value:
                        tally.values.add(value)
        return tallies

    def event_ids(self, rule_id: str, group_key: str, rows: Sequence[EventRow]) -> list[str]:
        """The ids of the `rows` that `rule_id` counts for `group_key`, in order: to show in an
        alert (rarely needed, so recomputed rather than kept for every tally)."""
        c = self.compiled[rule_id]
        decoded = _Decoded(rows)
        return [
            row.id
            for i, row in enumerate(rows)
            if row.kind in c.rule.condition.kinds or not c.rule.condition.kinds
            if (found := self._group_of(c, row, i, decoded)) is not None and found[0] == group_key
        ]

    @staticmethod
    def _group_of(c: CompiledRule, row: EventRow, index: int, decoded: _Decoded) -> tuple[str, str] | None:
        """(group key, distinct value) if rule `c` counts `row` (of a kind it counts), else None."""
        if c.min_level and row.level < c.min_level:
            return None
        if c.service and row.service != c.service:
            return None
        if c.environment and row.environment != c.environment:
            return None
        group_key = ""
        if c.group_column >= 0:
            group_key = row[c.group_column] or ""  # type: ignore[assignment]
            if not group_key:
                return None
        value = ""
        if c.needs_payload:
            payload = row.payload
            for literal in c.literals:
                if literal not in payload:
                    return None
            event = decoded[index]
            if not _payload_matches(c, event):
                return None
            if c.group_path:
                group_key = resolve(event, c.group_path) or ""
                if not group_key:
                    return None
            if c.distinct_path:
                value = resolve(event, c.distinct_path) or ""
                if not value:
                    return None
        return group_key[:MAX_KEY], value[:MAX_KEY]


def _payload_matches(c: CompiledRule, event: E.Event) -> bool:
    if c.action is not None or c.category:
        if event.WhichOneof("body") != "audit":
            return False
        if c.action is not None and not c.action.match(event.audit.action):
            return False
        if c.category and event.audit.category != c.category:
            return False
    if c.detector == catalog.FAILED_CHECK_IN and event.check_in.status != E.CHECK_IN_STATUS_ERROR:
        return False
    return all(resolve(event, path) == expected for path, expected in c.field_equals)
