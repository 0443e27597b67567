"""Redaction rules as values: validation, and the conversions between rows, protos and engine specs.

A project's rule list is every built-in rule (its row if one overrides the defaults) in the
built-ins' order, then its custom rules oldest first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from google.protobuf import timestamp_pb2

from ingestd.v1 import redaction_pb2
from server.errors import InvalidArgument
from server.redaction import builtins
from server.redaction.engine import BUILTIN, FIELD, PATTERN, RuleSpec
from storage.models import RedactionRule as RuleRow

Rule = redaction_pb2.RedactionRule
REPLACE = redaction_pb2.REDACTION_BEHAVIOR_REPLACE
_BEHAVIORS = frozenset(
    {
        redaction_pb2.REDACTION_BEHAVIOR_REPLACE,
        redaction_pb2.REDACTION_BEHAVIOR_MASK,
        redaction_pb2.REDACTION_BEHAVIOR_HASH,
        redaction_pb2.REDACTION_BEHAVIOR_REMOVE,
    }
)
MAX_NAME_CHARS = 100
MAX_PATTERN_CHARS = 1000
MAX_FIELDS = 50
MAX_FIELD_CHARS = 200
# A quantified group that itself contains a quantifier, such as `(a+)+` or `(\w*x)*`: the shape of
# regexes whose backtracking can take exponential time on a crafted value. Refused outright,
# since a rule runs on every event of a project.
_NESTED_QUANTIFIER = re.compile(r"\((?:[^()\\]|\\.)*(?:[+*]|,\})(?:[^()\\]|\\.)*\)(?:[+*]|\{[0-9]*,)")


def defaults() -> list[Rule]:
    """The built-in rules with their defaults."""
    return [builtin_rule(b, None) for b in builtins.BUILTINS]


def builtin_rule(builtin: builtins.Builtin, row: RuleRow | None) -> Rule:
    rule = Rule(
        id=builtin.rule_id,
        type=BUILTIN,
        name=builtin.name,
        behavior=REPLACE if row is None else row.behavior,  # type: ignore[arg-type]
        enabled=builtin.enabled if row is None else row.enabled,
        builtin_id=builtin.id,
    )
    if row is not None and row.updated_us is not None:
        _set_time(rule.update_time, row.updated_us)
    return rule


def custom_rule(row: RuleRow) -> Rule:
    rule = Rule(
        id=row.id,
        type=row.type,  # type: ignore[arg-type]
        name=row.name,
        behavior=row.behavior,  # type: ignore[arg-type]
        enabled=row.enabled,
        pattern=row.pattern,
        fields=[f for f in row.fields.split("\n") if f],
    )
    if row.created_us is not None:
        _set_time(rule.create_time, row.created_us)
    if row.updated_us is not None:
        _set_time(rule.update_time, row.updated_us)
    return rule


def project_rules(rows: Iterable[RuleRow]) -> list[Rule]:
    """A project's rule list from its rows."""
    overrides: dict[str, RuleRow] = {}
    custom: list[RuleRow] = []
    for row in rows:
        if row.id.startswith(builtins.BUILTIN_PREFIX):
            overrides[row.id] = row
        else:
            custom.append(row)
    custom.sort(key=lambda r: (r.created_us or 0, r.id))
    return [builtin_rule(b, overrides.get(b.rule_id)) for b in builtins.BUILTINS] + [
        custom_rule(r) for r in custom
    ]


def specs(rules: Sequence[Rule]) -> tuple[RuleSpec, ...]:
    """The enabled rules, as the engine compiles them."""
    return tuple(
        RuleSpec(r.id, r.type, r.behavior, r.builtin_id, r.pattern, tuple(r.fields))
        for r in rules
        if r.enabled
    )


def builtin_of(rule_id: str) -> builtins.Builtin | None:
    if not rule_id.startswith(builtins.BUILTIN_PREFIX):
        return None
    return builtins.BY_ID.get(rule_id[len(builtins.BUILTIN_PREFIX) :])


def check_behavior(behavior: int, at: str, found: list[tuple[str, str]]) -> None:
    if behavior and behavior not in _BEHAVIORS:
        found.append((at, f"unknown behavior {behavior}"))


def check_custom(rule: Rule, at: str = "rule") -> None:
    """Checks a custom rule as it will be stored.

    Raises:
        InvalidArgument: each violation, with paths under `at` (`rule.pattern`).
    """
    found: list[tuple[str, str]] = []
    if rule.type == BUILTIN:
        found.append((f"{at}.type", "built-in rules cannot be created"))
    elif rule.type not in (PATTERN, FIELD):
        found.append((f"{at}.type", "must be a pattern or a field rule"))
    if not 1 <= len(rule.name) <= MAX_NAME_CHARS:
        found.append((f"{at}.name", f"must be 1 to {MAX_NAME_CHARS} characters"))
    check_behavior(rule.behavior, f"{at}.behavior", found)
    if rule.type == PATTERN:
        _check_pattern(rule.pattern, f"{at}.pattern", found)
        if rule.fields:
            found.append((f"{at}.fields", "only a field rule has fields"))
    elif rule.type == FIELD:
        _check_fields(rule.fields, f"{at}.fields", found)
        if rule.pattern:
            found.append((f"{at}.pattern", "only a pattern rule has a pattern"))
    if found:
        raise InvalidArgument(found)


def _check_pattern(pattern: str, at: str, found: list[tuple[str, str]]) -> None:
    if not pattern:
        found.append((at, "is required for a pattern rule"))
        return
    if len(pattern) > MAX_PATTERN_CHARS:
        found.append((at, f"longer than {MAX_PATTERN_CHARS} characters"))
        return
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        found.append((at, f"not a valid regular expression: {exc}"))
        return
    if compiled.fullmatch(""):
        found.append((at, "must not match the empty string"))
    elif _NESTED_QUANTIFIER.search(pattern):
        found.append((at, "nested quantifiers, such as (a+)+, can take exponential time"))


def _check_fields(fields: Sequence[str], at: str, found: list[tuple[str, str]]) -> None:
    if not 1 <= len(fields) <= MAX_FIELDS:
        found.append((at, f"must name 1 to {MAX_FIELDS} field paths"))
    for i, path in enumerate(fields):
        if not path or len(path) > MAX_FIELD_CHARS or "\n" in path or "" in path.split("."):
            found.append((f"{at}[{i}]", f"must be a dot path of 1 to {MAX_FIELD_CHARS} characters"))


def _set_time(target: timestamp_pb2.Timestamp, us: int) -> None:
    target.FromMicroseconds(us)
