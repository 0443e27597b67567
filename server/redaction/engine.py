"""A compiled rule set: the prefilter over serialized events and the walk that redacts an Event.

Contracts:
- `CompiledRedactor.might_match(payload)` is False only when no enabled rule can change anything
  in the event those bytes encode. Built-in rules use their gates (`builtins`: one translate
  pass, then literal searches; about 10 µs for a 600-byte event); a custom pattern or field
  rule makes it always True, since a Python regex cannot in general be turned into a superset
  test over UTF-8 bytes, and field paths name proto fields that do not appear in the bytes at
  all: a project with custom rules pays for a walk of every event (about 60-100 µs for a 600-byte event).
- `redact(event)` walks every string of the event (scalars, repeated, map keys' values,
  `google.protobuf.Struct`/`Value`/`ListValue`, nested messages), skipping the server-owned `id`,
  `project` and `dialect`, and returns how many values changed.
- A value's path is its proto field names, then Struct and map keys, joined by `.`; list items
  add no segment. A field rule's path matches where it ends a value's path (`metadata.password`
  matches `audit.metadata.password`), `*` standing for one segment. A matched message has every
  string below it redacted whole; a matched Struct value is replaced whole (or removed).
- An idempotency key that any rule changes is replaced whole by `[sha256:…]` of it, so that two
  different keys never become one (which would drop an event as a duplicate).
- Order: a field rule or a sensitive key redacts the whole value first; otherwise value rules
  run in order (built-ins in their listed order, then custom rules oldest first), each on the
  text the previous left.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf import struct_pb2
from google.protobuf.json_format import MessageToJson
from google.protobuf.message import Message

from ingestd.v1 import event_pb2, redaction_pb2
from server.redaction import builtins
from server.redaction.builtins import HASH, MASK, REMOVE, SENSITIVE_FIELDS

BUILTIN = redaction_pb2.REDACTION_RULE_TYPE_BUILTIN
PATTERN = redaction_pb2.REDACTION_RULE_TYPE_PATTERN
FIELD = redaction_pb2.REDACTION_RULE_TYPE_FIELD

REDACTED = "[REDACTED]"
_ZEROS = re.compile(b"0+").match
_SKIPPED_TOP = frozenset({"id", "project", "dialect"})
_STRUCT = struct_pb2.Struct.DESCRIPTOR.full_name
_VALUE = struct_pb2.Value.DESCRIPTOR.full_name
_LIST = struct_pb2.ListValue.DESCRIPTOR.full_name
# An audit change's `before`/`after` are the values of the field it names: that name is their key.
_AUDIT_CHANGE = event_pb2.AuditChange.DESCRIPTOR.full_name


@dataclass(frozen=True)
class RuleSpec:
    """An enabled rule as the engine needs it. Equal rule sets compile to one redactor."""

    id: str
    type: int
    behavior: int
    builtin_id: str = ""
    pattern: str = ""
    fields: tuple[str, ...] = ()


def hashed(text: str) -> str:
    return "[sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16] + "]"


def whole(behavior: int, text: str) -> str | None:
    """A whole value redacted by `behavior`; None to remove it."""
    if behavior == REMOVE:
        return None
    if behavior == MASK:
        return builtins.mask_tail(text)
    if behavior == HASH:
        return hashed(text)
    return REDACTED


class _ValueRule:
    def __init__(
        self,
        rule_id: str,
        regex: re.Pattern[str],
        behavior: int,
        check: Callable[[str], bool] | None,
        mask: Callable[[str], str],
        gate: Callable[[bytes, bytes], bool] | None = None,
    ) -> None:
        self.id = rule_id
        #: The rule's own prefilter (raw payload, folded payload); None: always runs.
        self.gate = gate
        self._regex = regex
        self._behavior = behavior
        self._check = check
        self._mask = mask

    def apply(self, text: str) -> str:
        return self._regex.sub(self._replace, text)

    def _replace(self, match: re.Match[str]) -> str:
        found = match.group(0)
        if self._check is not None and not self._check(found):
            return found
        behavior = self._behavior
        if behavior == REMOVE:
            return ""
        if behavior == MASK:
            return self._mask(found)
        if behavior == HASH:
            return hashed(found)
        return REDACTED


class _FieldRule:
    def __init__(self, rule_id: str, behavior: int, paths: Sequence[str]) -> None:
        self.id = rule_id
        self.behavior = behavior
        self.paths = [tuple(p.split(".")) for p in paths]

    def matches(self, path: tuple[str, ...]) -> bool:
        for segments in self.paths:
            n = len(segments)
            if n <= len(path) and all(s == "*" or s == p for s, p in zip(segments, path[-n:], strict=True)):
                return True
        return False


# What the walk does with a field: a plan per message type, built once.
_STR, _STRS, _MAP, _MSG, _MSGS, _MAP_MSG = range(6)
_Plan = list[tuple[str, int]]
# Descriptors are typed loosely: the upb and pure-Python descriptor classes differ for mypy.
_plans: dict[str, _Plan] = {}


def _plan(descriptor: Any) -> _Plan:
    known = _plans.get(descriptor.full_name)
    if known is not None:
        return known
    plan: _Plan = []
    _plans[descriptor.full_name] = plan  # before recursing: message types may nest themselves
    for field in descriptor.fields:
        if field.type == field.TYPE_STRING:
            plan.append((field.name, _STRS if field.is_repeated else _STR))
        elif field.type == field.TYPE_MESSAGE:
            sub = field.message_type
            if sub.GetOptions().map_entry:
                value = sub.fields_by_name["value"]
                if value.type == value.TYPE_STRING:
                    plan.append((field.name, _MAP))
                elif value.type == value.TYPE_MESSAGE and _has_strings(value.message_type):
                    plan.append((field.name, _MAP_MSG))
            elif _has_strings(sub):
                plan.append((field.name, _MSGS if field.is_repeated else _MSG))
    return plan


def _has_strings(descriptor: Any) -> bool:
    return descriptor.full_name in (_STRUCT, _VALUE, _LIST) or bool(_plan(descriptor))


def _digit_runs(runs: Sequence[tuple[int, Callable[[bytes], bool]]], payload: bytes, folded: bytes) -> bool:
    """Whether a digit detector's test passes on a run of folded `0`s long enough for it (`runs`
    sorted by length): every match of theirs lies in one run, and most runs are short ids."""
    needle = b"0" * runs[0][0]
    start = folded.find(needle)
    while start >= 0:
        end = _ZEROS(folded, start).end()  # type: ignore[union-attr]
        for length, confirm in runs:
            if end - start >= length and confirm(payload[start:end]):
                return True
        start = folded.find(needle, end)
    return False


def _gate_of(builtin: builtins.Builtin) -> Callable[[bytes, bytes], bool]:
    """One built-in's whole prefilter."""
    raws = tuple(re.compile(source.encode()).search for source in builtin.raw_gates)
    runs = (builtin.run,) if builtin.run is not None else ()
    gates = builtin.gates

    def gate(payload: bytes, folded: bytes) -> bool:
        return (
            any(search(payload) is not None for search in raws)
            or bool(runs and _digit_runs(runs, payload, folded))
            or any(test(payload, folded) for test in gates)
        )

    return gate


class _Walk:
    """One redaction pass: its count and, when asked, its matches."""

    __slots__ = ("count", "matches", "values")

    def __init__(self, values: list[_ValueRule], *, record: bool) -> None:
        self.values = values
        self.count = 0
        self.matches: list[tuple[str, str]] | None = [] if record else None

    def hit(self, rule_id: str, path: tuple[str, ...]) -> None:
        if self.matches is not None:
            self.matches.append((rule_id, ".".join(path)))


class CompiledRedactor:
    """A rule set compiled once: see the module docstring for the contracts."""

    def __init__(self, specs: Sequence[RuleSpec]) -> None:
        self.specs = tuple(specs)
        self._values: list[_ValueRule] = []
        self._fields: list[_FieldRule] = []
        self._sensitive_behavior: int | None = None
        self._sensitive_id = ""
        gates: list[builtins.Gate] = []
        raw: list[str] = []
        runs: list[tuple[int, Callable[[bytes], bool]]] = []
        always = False
        for spec in specs:
            if spec.type == BUILTIN:
                builtin = builtins.BY_ID[spec.builtin_id]
                gates.extend(builtin.gates)
                raw.extend(builtin.raw_gates)
                if builtin.run is not None:
                    runs.append(builtin.run)
                if builtin.id == SENSITIVE_FIELDS:
                    self._sensitive_behavior = spec.behavior
                    self._sensitive_id = spec.id
                    continue
                regex = builtins.compile_value(builtin)
                self._values.append(
                    _ValueRule(spec.id, regex, spec.behavior, builtin.check, builtin.mask, _gate_of(builtin))
                )
            elif spec.type == PATTERN:
                regex = re.compile(spec.pattern)
                self._values.append(_ValueRule(spec.id, regex, spec.behavior, None, builtins.mask_tail))
                always = True
            elif spec.type == FIELD:
                self._fields.append(_FieldRule(spec.id, spec.behavior, spec.fields))
                always = True
        self._always = always
        self._gates = tuple(gates)
        self._raw = tuple(re.compile(source.encode()).search for source in raw)
        self._runs = tuple(sorted(runs, key=lambda run: run[0]))

    def might_match(self, payload: bytes) -> bool:
        if self._always:
            return True
        for search in self._raw:
            if search(payload) is not None:
                return True
        if not (self._runs or self._gates):
            return False
        folded = payload.translate(builtins.FOLD)
        if self._runs and _digit_runs(self._runs, payload, folded):
            return True
        return any(gate(payload, folded) for gate in self._gates)

    def redact(self, event: event_pb2.Event) -> int:
        walk = _Walk(self._active(event), record=False)
        self._message(event, (), walk, top=True)
        return walk.count

    def redact_recording(self, event: event_pb2.Event) -> tuple[int, list[tuple[str, str]]]:
        """`redact`, also returning each redaction as (rule id, value path) in visiting order.
        Every value rule runs on every string, without `redact`'s per-rule prefilter: this is
        the reference the prefilters are tested against (and TestRedaction's, off the hot path)."""
        walk = _Walk(self._values, record=True)
        self._message(event, (), walk, top=True)
        assert walk.matches is not None
        return walk.count, walk.matches

    def _active(self, event: event_pb2.Event) -> list[_ValueRule]:
        """The value rules that may match in `event`: built-ins whose own prefilter passes (most
        events that reach the walk need one rule, not all), and every custom pattern."""
        values = self._values
        if not any(rule.gate is not None for rule in values):
            return values
        payload = event.SerializeToString()
        folded = payload.translate(builtins.FOLD)
        return [rule for rule in values if rule.gate is None or rule.gate(payload, folded)]

    # The walk. Each visitor returns the new text of a string, or None to leave it.

    def _field_rule(self, path: tuple[str, ...]) -> _FieldRule | None:
        for rule in self._fields:
            if rule.matches(path):
                return rule
        return None

    def _forced_by_path(self, path: tuple[str, ...]) -> tuple[str, int] | None:
        """The field rule that redacts everything under the message at `path`, if any."""
        if not self._fields:
            return None
        rule = self._field_rule(path)
        return None if rule is None else (rule.id, rule.behavior)

    def _whole_rule(self, path: tuple[str, ...], key: str | None) -> tuple[str, int] | None:
        """The (rule id, behavior) that redacts the value at `path` whole, if any: a field rule,
        else `sensitive_fields` when the value sits under a sensitive key."""
        if self._fields:
            rule = self._field_rule(path)
            if rule is not None:
                return rule.id, rule.behavior
        if key is not None and self._sensitive_behavior is not None and builtins.sensitive_key(key):
            return self._sensitive_id, self._sensitive_behavior
        return None

    def _text(self, text: str, path: tuple[str, ...], walk: _Walk) -> str:
        if not text:
            return text
        for rule in walk.values:
            new = rule.apply(text)
            if new != text:
                walk.hit(rule.id, path)
                text = new
        return text

    def _string(
        self, text: str, path: tuple[str, ...], key: str | None, forced: tuple[str, int] | None, walk: _Walk
    ) -> str | None:
        """The new value of a string (None: remove it), or `text` itself when unchanged. An
        empty string has nothing to hide (and the prefilter relies on that: see `builtins`)."""
        if not text:
            return text
        rule = forced or self._whole_rule(path, key)
        if rule is not None:
            walk.hit(rule[0], path)
            walk.count += 1
            return whole(rule[1], text)
        new = self._text(text, path, walk)
        if new != text:
            walk.count += 1
        return new

    def _message(
        self,
        message: Message,
        path: tuple[str, ...],
        walk: _Walk,
        *,
        top: bool = False,
        forced: tuple[str, int] | None = None,
    ) -> None:
        descriptor = message.DESCRIPTOR
        name_of = descriptor.full_name
        if name_of == _STRUCT:
            self._struct(message, path, walk, forced)  # type: ignore[arg-type]
            return
        if name_of == _LIST:
            self._list(message, path, None, walk, forced)  # type: ignore[arg-type]
            return
        if name_of == _VALUE:
            self._value_in_place(message, path, None, walk, forced)  # type: ignore[arg-type]
            return
        change_key: str | None = None
        if name_of == _AUDIT_CHANGE:
            change_key = message.field  # type: ignore[attr-defined]
        for name, kind in _plan(descriptor):
            if top and name in _SKIPPED_TOP:
                continue
            at = (*path, name)
            if kind == _STR:
                text = getattr(message, name)
                if text:
                    new = self._string(text, at, None, forced, walk)
                    if new != text:
                        if top and name == "idempotency_key":
                            # Replaced whole by its hash, whatever the rule's behavior, so that
                            # deduplication still tells different keys apart.
                            new = hashed(text)
                        setattr(message, name, new or "")
            elif kind == _STRS:
                items = getattr(message, name)
                for i in range(len(items) - 1, -1, -1):
                    text = items[i]
                    new = self._string(text, at, None, forced, walk)
                    if new is None:
                        del items[i]
                    elif new != text:
                        items[i] = new
            elif kind == _MAP:
                entries = getattr(message, name)
                for key in list(entries):
                    text = entries[key]
                    new = self._string(text, (*at, key), key, forced, walk)
                    if new is None:
                        del entries[key]
                    elif new != text:
                        entries[key] = new
            elif kind == _MAP_MSG:
                entries = getattr(message, name)
                for key in list(entries):
                    self._message(entries[key], (*at, key), walk, forced=forced)
            elif kind == _MSG:
                if message.HasField(name):
                    sub = getattr(message, name)
                    if change_key is not None and name in ("before", "after"):
                        self._value_in_place(sub, at, change_key, walk, forced)
                        continue
                    self._message(sub, at, walk, forced=forced or self._forced_by_path(at))
            else:
                rule = forced or self._forced_by_path(at)
                for sub in getattr(message, name):
                    self._message(sub, at, walk, forced=rule)

    def _struct(
        self, struct: struct_pb2.Struct, path: tuple[str, ...], walk: _Walk, forced: tuple[str, int] | None
    ) -> None:
        fields = struct.fields
        for key in list(fields):
            value = fields[key]
            at = (*path, key)
            rule = forced or self._whole_rule(at, key)
            if rule is not None and _has_content(value):
                walk.hit(rule[0], at)
                walk.count += 1
                new = whole(rule[1], _text_of(value))
                if new is None:
                    del fields[key]
                else:
                    value.string_value = new
                continue
            self._value_in_place(value, at, None, walk, None)

    def _list(
        self,
        items: struct_pb2.ListValue,
        path: tuple[str, ...],
        key: str | None,
        walk: _Walk,
        forced: tuple[str, int] | None,
    ) -> None:
        values = items.values
        for i in range(len(values) - 1, -1, -1):
            if self._value_in_place(values[i], path, key, walk, forced):
                del values[i]

    def _value_in_place(
        self,
        value: struct_pb2.Value,
        path: tuple[str, ...],
        key: str | None,
        walk: _Walk,
        forced: tuple[str, int] | None,
    ) -> bool:
        """Redacts a Value in place; True when it is to be removed from its list."""
        kind = value.WhichOneof("kind")
        if kind == "string_value":
            text = value.string_value
            new = self._string(text, path, key, forced, walk)
            if new is None:
                value.string_value = ""
                return True
            if new != text:
                value.string_value = new
        elif kind == "struct_value":
            rule = forced or (self._whole_rule(path, key) if key is not None else None)
            if rule is not None:
                self._replace_whole(value, rule, path, walk)
            else:
                self._struct(value.struct_value, path, walk, None)
        elif kind == "list_value":
            self._list(value.list_value, path, key, walk, forced)
        elif kind in ("number_value", "bool_value"):
            rule = forced or (self._whole_rule(path, key) if key is not None else None)
            if rule is not None:
                self._replace_whole(value, rule, path, walk)
        return False

    def _replace_whole(
        self, value: struct_pb2.Value, rule: tuple[str, int], path: tuple[str, ...], walk: _Walk
    ) -> None:
        walk.hit(rule[0], path)
        walk.count += 1
        new = whole(rule[1], _text_of(value))
        if new is None:
            value.null_value = struct_pb2.NULL_VALUE
        else:
            value.string_value = new


def _has_content(value: struct_pb2.Value) -> bool:
    kind = value.WhichOneof("kind")
    return kind not in (None, "null_value") and not (kind == "string_value" and not value.string_value)


def _text_of(value: struct_pb2.Value) -> str:
    if value.WhichOneof("kind") == "string_value":
        return value.string_value
    # Sorted, because a Struct's map iterates in no fixed order (a copy may differ from its
    # original), and a masked or hashed value must not depend on it.
    return MessageToJson(value, indent=None, sort_keys=True)
