"""Rule evaluation on ingest: the group writer's commit hook.

Per writer group and project, matches are first tallied in memory per (rule, group), so a group
of events costs a few statements, not a few per event:
- counting rules (threshold above 1): one upsert of counter buckets for all their groups, then one
  SUM over each group's window. A group this node knows to be cooling down skips the SUM, and
  skips counting too until one window before its cooldown ends (those events would have left the
  window by the time it may fire again): a group that just fired costs nothing for a while;
- threshold-1 rules fire on the match itself (no counters);
- `new_fingerprint`: one insert-if-absent of the fingerprints this node has not confirmed known;
- `distinct:<path>`: one upsert of values, one COUNT per group's window.
A group that reaches its threshold claims its cooldown in `alert_groups` (only one node wins),
and the winner writes the alert and its webhook outbox rows, all in the events' transaction.
Check-ins also update their monitor, and an `ok` one resolves the slug's auto-resolving alerts.

Windows use the server's receive time (`now_us`) and whole counter buckets: a bucket counts while
its start is within the window, so the window is at most one bucket (a tenth) shorter, never
longer, than the rule says.

Rule sets are cached per project for `settings_cache_ttl_s` (by the injected clock) and dropped at
once when this node changes a rule; another node's change is seen within the TTL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from ingestd.v1 import alerting_pb2 as A
from ingestd.v1 import event_pb2 as E
from server.alerting import catalog
from server.alerting.matching import MAX_KEY, CompiledRule, RuleSet, Tally
from server.clock import Clock
from server.config import Settings
from server.ids import UuidV7
from storage import alert_state, monitors, webhooks
from storage.events import EventRow

#: How many event ids an alert keeps.
MAX_EVENT_IDS = 10
_log = structlog.get_logger("ingestd.alerting")
#: The check-in interval of a monitor whose check-ins never said.
DEFAULT_INTERVAL_S = 300
#: Counter buckets older than this are deleted, now and then.
_KEEP_COUNTERS_US = 2 * 86_400 * 1_000_000
_PURGE_EVERY_US = 3600 * 1_000_000
#: Bounds on per-process memory: past these, a cache starts afresh (costing a few statements).
_MAX_KNOWN = 100_000
_MAX_QUIET = 100_000

_OK_CHECK_INS = (E.CHECK_IN_STATUS_UNSPECIFIED, E.CHECK_IN_STATUS_OK)
_AUTO_RESOLVED_BY_OK = (catalog.FAILED_CHECK_IN, catalog.MISSED_CHECK_IN)
_GROUP_NAMES = {path: name for name, path in catalog.GROUP_BY_PATHS.items()}


@dataclass(slots=True)
class _Plan:
    """The statements one project's tallies call for, worked out before any is run."""

    tallies: dict[tuple[str, str], Tally]
    #: (rule, group) → the count it fires with, once known to reach its threshold.
    reached: dict[tuple[str, str], int] = field(default_factory=dict)
    #: (rule, group, bucket) → events to add.
    counted: dict[tuple[str, str, int], int] = field(default_factory=dict)
    #: (rule, group) → the start of the window to sum.
    sums: dict[tuple[str, str], int] = field(default_factory=dict)
    distinct: list[tuple[str, str, str]] = field(default_factory=list)
    distinct_since: dict[tuple[str, str], int] = field(default_factory=dict)
    fingerprints: list[str] = field(default_factory=list)

    def needs_database(self) -> bool:
        return bool(self.reached or self.counted or self.distinct or self.fingerprints)


class AlertEvaluator:
    """Counts newly committed events against their project's enabled rules, in the events' own
    transaction, and opens alerts (with their webhook outbox rows) when a rule fires."""

    def __init__(self, clock: Clock, ids: UuidV7, settings: Settings) -> None:
        self._clock = clock
        self._ids = ids
        self._settings = settings
        self._ttl_us = int(settings.settings_cache_ttl_s * 1_000_000)
        self._cache: dict[str, tuple[int, RuleSet]] = {}
        self._purged: dict[str, int] = {}
        # Fingerprints confirmed stored (by an insert that found them present), so repeats of an
        # issue cost no statement. Only confirmed ones: a fingerprint this node inserted may yet
        # roll back with its group.
        self._known: set[tuple[str, str]] = set()
        # When each (project, rule, group) last fired, as this node last learned: while that is
        # within the rule's cooldown the group cannot fire, so its window is not summed (nor,
        # until a window before the cooldown ends, counted).
        self._fired: dict[tuple[str, str, str], int] = {}

    def invalidate(self, project: str) -> None:
        """Drops the cached rule set of `project`, whose rules just changed on this node."""
        self._cache.pop(project, None)

    async def rules(self, connection: AsyncConnection, project: str, now_us: int) -> RuleSet:
        """The project's rule set, cached."""
        cached = self._cache.get(project)
        if cached is not None and cached[0] > now_us:
            return cached[1]
        rows = await alert_state.rule_rows(connection, project)
        rule_set = RuleSet(catalog.effective_rules(rows))
        self._cache[project] = (now_us + self._ttl_us, rule_set)
        if now_us - self._purged.get(project, 0) >= _PURGE_EVERY_US:
            self._purged[project] = now_us
            await alert_state.purge_counters(connection, project, now_us - _KEEP_COUNTERS_US)
        return rule_set

    async def on_commit(self, connection: AsyncConnection, rows: Sequence[EventRow], now_us: int) -> None:
        """`storage.writer.CommitHook`.

        What to do is worked out in memory first; only when that needs the database does it open
        a savepoint (so its failure leaves the events' transaction intact) and run statements.
        Events no rule counts, and groups cooling down, cost no statement and no savepoint.
        """
        projects = {row[0] for row in rows}
        if len(projects) == 1:
            by_project = {projects.pop(): rows}
        else:
            by_project = {project: [row for row in rows if row[0] == project] for project in projects}
        for project, project_rows in sorted(by_project.items()):
            # Each project's rules, and each of its monitors, in a savepoint of its own: what fails
            # costs no other project, and no other part of its own, its evaluation.
            try:
                rule_set = self._cached(project, now_us)
                if rule_set is None:
                    async with connection.begin_nested():
                        rule_set = await self.rules(connection, project, now_us)
            except Exception:
                _log.exception("alert_evaluation_failed", project=project, stage="rules")
                continue
            tallies = rule_set.tally(project_rows)
            plan = self._plan(project, tallies, now_us) if tallies else None
            if plan is not None:
                try:
                    async with connection.begin_nested():
                        await self._apply(connection, project, rule_set, plan, project_rows, now_us)
                except Exception:
                    _log.exception("alert_evaluation_failed", project=project, stage="alerts")
            check_ins = [row for row in project_rows if row[2] == E.KIND_CHECK_IN]
            if check_ins:
                await self._record_check_ins(connection, project, rule_set, check_ins, now_us)

    def _cached(self, project: str, now_us: int) -> RuleSet | None:
        cached = self._cache.get(project)
        return cached[1] if cached is not None and cached[0] > now_us else None

    def _plan(self, project: str, tallies: dict[tuple[str, str], Tally], now_us: int) -> _Plan | None:
        """What the tallies call for, or None when nothing needs the database."""
        plan = _Plan(tallies)
        for key, tally in tallies.items():
            rule = tally.rule
            quiet_us = self._quiet_until(project, key, rule)
            if rule.detector == catalog.NEW_FINGERPRINT:
                if (project, key[1]) not in self._known:
                    plan.fingerprints.append(key[1])
            elif rule.threshold <= 1:
                if now_us >= quiet_us:
                    plan.reached[key] = tally.count
            elif now_us < quiet_us - rule.window_us:
                # Cooling down for longer than a window: by the time the group may fire again,
                # these events have left its window, so they need not be counted at all.
                continue
            elif rule.detector.startswith(catalog.DISTINCT):
                plan.distinct.extend((key[0], key[1], value) for value in tally.values)
                if now_us >= quiet_us:
                    plan.distinct_since[key] = now_us - rule.window_us
            else:
                plan.counted[(key[0], key[1], now_us - now_us % rule.bucket_us)] = tally.count
                if now_us >= quiet_us:
                    plan.sums[key] = now_us - rule.window_us
        return plan if plan.needs_database() else None

    async def _apply(
        self,
        connection: AsyncConnection,
        project: str,
        rule_set: RuleSet,
        plan: _Plan,
        rows: Sequence[EventRow],
        now_us: int,
    ) -> None:
        tallies, reached = plan.tallies, plan.reached
        if plan.fingerprints:
            new = await alert_state.new_fingerprints(connection, project, plan.fingerprints, now_us)
            if len(self._known) >= _MAX_KNOWN:
                self._known.clear()
            self._known.update((project, f) for f in plan.fingerprints if f not in new)
            for key, tally in tallies.items():
                if tally.rule.detector == catalog.NEW_FINGERPRINT and key[1] in new:
                    reached[key] = tally.count
        if plan.counted:
            await alert_state.add_counts(connection, project, plan.counted)
            for key, total in (await alert_state.window_counts(connection, project, plan.sums)).items():
                if total >= tallies[key].rule.threshold:
                    reached[key] = total
        if plan.distinct:
            await alert_state.add_distinct(connection, project, plan.distinct, now_us)
            totals = await alert_state.distinct_counts(connection, project, plan.distinct_since)
            for key, total in totals.items():
                if total >= tallies[key].rule.threshold:
                    reached[key] = total
        for key in sorted(reached):
            tally = tallies[key]
            await self.fire(
                connection,
                project,
                tally.rule.rule,
                key[1],
                now_us,
                count=reached[key],
                event_ids=rule_set.event_ids(key[0], key[1], rows),
                summary=_summary(tally.rule.rule, key[1], reached[key]),
            )

    def _quiet_until(self, project: str, key: tuple[str, str], rule: CompiledRule) -> int:
        """Until when (rule, group) is known to be cooling down; 0 when not known to be."""
        fired = self._fired.get((project, *key))
        return fired + rule.cooldown_us if fired is not None and rule.cooldown_us > 0 else 0

    async def fire(
        self,
        connection: AsyncConnection,
        project: str,
        rule: A.AlertRule,
        group_key: str,
        now_us: int,
        *,
        count: int,
        event_ids: Sequence[str] = (),
        summary: str,
    ) -> A.Alert | None:
        """Opens an alert of `rule` for `group_key`, with its webhook deliveries, in the caller's
        transaction, unless the group is cooling down (or, for an auto-resolving rule, still has
        a live alert); returns it, or None when another node or an earlier event already fired.

        This is the one way alerts open: the evaluator's and the monitor sweep's.
        """
        group = (rule.id, group_key)
        cooldown_us = rule.cooldown_seconds * 1_000_000
        won = await alert_state.claim(
            connection, project, group, now_us, cooldown_us, one_live_alert=rule.auto_resolve
        )
        if not won:
            # Remembered only on a loss: that firing is committed (PostgreSQL's upsert waited for
            # it), whereas this transaction's own may yet roll back.
            if cooldown_us > 0:
                if len(self._fired) >= _MAX_QUIET:
                    self._fired.clear()
                self._fired[(project, *group)] = await alert_state.last_fired(connection, project, group)
            return None
        alert = A.Alert(
            id="al_" + self._ids.new(),
            rule_id=rule.id,
            rule_name=rule.name,
            severity=rule.severity,
            state=A.ALERT_STATE_OPEN,
            group_key=group_key,
            event_count=count,
            summary=summary,
            event_ids=list(event_ids)[-MAX_EVENT_IDS:],
        )
        alert.create_time.FromMicroseconds(now_us)
        await alert_state.insert_alert(connection, project, alert, now_us)
        await webhooks.enqueue_deliveries(connection, project, alert, "alert.opened", now_us, self._ids.new)
        return alert

    async def _record_check_ins(
        self, connection: AsyncConnection, project: str, rule_set: RuleSet, rows: list[EventRow], now_us: int
    ) -> None:
        last: dict[str, tuple[EventRow, E.CheckInBody]] = {}
        for row in rows:
            body = E.Event.FromString(row.payload).check_in
            if body.slug:
                last[body.slug[:MAX_KEY]] = (row, body)
        auto_resolved = sorted(
            rule.id
            for rule in rule_set.rules.values()
            if rule.auto_resolve and rule.detector in _AUTO_RESOLVED_BY_OK
        )
        for slug, (row, body) in sorted(last.items()):
            try:
                async with connection.begin_nested():
                    await self._record_check_in(connection, project, slug, row, body, auto_resolved, now_us)
            except Exception:
                _log.exception("alert_evaluation_failed", project=project, stage="monitor", slug=slug)

    async def _record_check_in(
        self,
        connection: AsyncConnection,
        project: str,
        slug: str,
        row: EventRow,
        body: E.CheckInBody,
        auto_resolved: list[str],
        now_us: int,
    ) -> None:
        failed = body.status == E.CHECK_IN_STATUS_ERROR
        await monitors.record_check_in(
            connection,
            project,
            slug,
            environment=row.environment,
            interval_s=max(body.expected_interval_seconds, 0),
            status=A.MONITOR_STATUS_FAILING if failed else A.MONITOR_STATUS_OK,
            last_status=body.status or E.CHECK_IN_STATUS_OK,
            now_us=now_us,
            default_interval_s=DEFAULT_INTERVAL_S,
        )
        if body.status in _OK_CHECK_INS and auto_resolved:
            resolved = await alert_state.resolve_live(connection, project, auto_resolved, slug, now_us)
            for alert in resolved:
                await webhooks.enqueue_deliveries(
                    connection, project, alert, "alert.resolved", now_us, self._ids.new
                )


def _summary(rule: A.AlertRule, group_key: str, count: int) -> str:
    """One line, such as `5 events matching auth.failed* for actor_id u_1 in 300s`."""
    if rule.detector == catalog.NEW_FINGERPRINT:
        return f"New issue: fingerprint {group_key}"
    if rule.detector == catalog.FAILED_CHECK_IN:
        return f"Check-in {group_key} reported an error"
    what = rule.condition.action_pattern or rule.condition.category or rule.name
    text = f"{count} event{'s' if count != 1 else ''} matching {what}"
    if rule.detector.startswith(catalog.DISTINCT):
        path = rule.detector.removeprefix(catalog.DISTINCT)
        text = f"{count} distinct {path} values"
    if group_key:
        text += f" for {_GROUP_NAMES.get(rule.group_by, rule.group_by)} {group_key}"
    return f"{text} in {rule.window_seconds}s"
