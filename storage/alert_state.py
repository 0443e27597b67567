"""Rule state shared by every node: the rules themselves, windowed counters, cooldown claims,
known fingerprints, distinct values, and the alerts rules open. Functions take the caller's
connection (the group writer's, or a sweep's) and never commit.

Statements that touch several keys sort them first, so two nodes lock rows in the same order and
never deadlock each other on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, cast

from sqlalchemy import Row, Table, and_, bindparam, delete, exists, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from ingestd.v1 import alerting_pb2 as A
from storage.models import Alert, AlertCounter, AlertDistinct, AlertGroup, AlertRule, KnownFingerprint

_rules = cast(Table, AlertRule.__table__)
_counters = cast(Table, AlertCounter.__table__)
_groups = cast(Table, AlertGroup.__table__)
_distinct = cast(Table, AlertDistinct.__table__)
_known = cast(Table, KnownFingerprint.__table__)
_alerts = cast(Table, Alert.__table__)

#: Alert states an alert is still live in.
LIVE_STATES = (A.ALERT_STATE_OPEN, A.ALERT_STATE_ACKNOWLEDGED)

#: (rule id, group key) of a count.
GroupId = tuple[str, str]


class _Statements:
    """The hot statements of one dialect, built once: SQLAlchemy then reuses their compiled form,
    where a statement built per call (multi-row VALUES above all) costs milliseconds to compile."""

    def __init__(self, dialect: Any) -> None:
        counters = dialect.insert(_counters)
        self.add_counts = counters.on_conflict_do_update(
            index_elements=list(_counters.primary_key.columns),
            set_={"count": _counters.c.count + counters.excluded.count},
        )
        distinct = dialect.insert(_distinct)
        self.add_distinct = distinct.on_conflict_do_update(
            index_elements=list(_distinct.primary_key.columns),
            set_={"last_seen_us": distinct.excluded.last_seen_us},
        )
        self.add_known = (
            dialect.insert(_known)
            .on_conflict_do_nothing(index_elements=list(_known.primary_key.columns))
            .returning(_known.c.fingerprint)
        )
        g = _groups.c
        claims = dialect.insert(_groups)
        allowed = g.last_fired_us <= bindparam("cutoff_us")
        # A resolved alert must be visible to count as over: an alert another transaction is
        # still writing is not, and keeps the group claimed.
        resolved = exists().where(
            _alerts.c.project_id == g.project_id,
            _alerts.c.id == g.open_alert_id,
            _alerts.c.state == A.ALERT_STATE_RESOLVED,
        )
        self.claim, self.claim_closed = (
            claims.on_conflict_do_update(
                index_elements=list(_groups.primary_key.columns),
                set_={"last_fired_us": claims.excluded.last_fired_us},
                where=where,
            ).returning(g.rule_id)
            for where in (allowed, and_(allowed, or_(g.open_alert_id.is_(None), resolved)))
        )


_STATEMENTS = {"sqlite": _Statements(sqlite), "postgresql": _Statements(postgresql)}
_WINDOW_SUM = select(func.coalesce(func.sum(_counters.c.count), 0)).where(
    _counters.c.project_id == bindparam("project_id"),
    _counters.c.rule_id == bindparam("rule_id"),
    _counters.c.group_key == bindparam("group_key"),
    _counters.c.bucket_us >= bindparam("since_us"),
)
_DISTINCT_COUNT = select(func.count()).where(
    _distinct.c.project_id == bindparam("project_id"),
    _distinct.c.rule_id == bindparam("rule_id"),
    _distinct.c.group_key == bindparam("group_key"),
    _distinct.c.last_seen_us >= bindparam("since_us"),
)


def _statements(connection: AsyncConnection) -> _Statements:
    return _STATEMENTS[connection.dialect.name]


async def rule_rows(connection: AsyncConnection, project: str) -> Sequence[Row[Any]]:
    """The project's `alert_rules` rows, oldest custom rule first."""
    statement = (
        select(_rules).where(_rules.c.project_id == project).order_by(_rules.c.created_us, _rules.c.id)
    )
    return (await connection.execute(statement)).all()


async def add_counts(
    connection: AsyncConnection, project: str, counts: dict[tuple[str, str, int], int]
) -> None:
    """Adds `counts[(rule id, group key, bucket start)]` to the buckets, creating them."""
    if not counts:
        return
    values = [
        {"project_id": project, "rule_id": r, "group_key": g, "bucket_us": b, "count": n}
        for (r, g, b), n in sorted(counts.items())
    ]
    await connection.execute(_statements(connection).add_counts, values)


async def window_counts(
    connection: AsyncConnection, project: str, since: dict[GroupId, int]
) -> dict[GroupId, int]:
    """Per (rule, group): the events counted in buckets starting at or after `since[...]`."""
    found: dict[GroupId, int] = {}
    for (rule_id, group_key), since_us in sorted(since.items()):
        params = {"project_id": project, "rule_id": rule_id, "group_key": group_key, "since_us": since_us}
        found[(rule_id, group_key)] = int((await connection.execute(_WINDOW_SUM, params)).scalar_one())
    return found


async def purge_counters(connection: AsyncConnection, project: str, before_us: int) -> None:
    """Deletes the project's counter buckets and distinct values older than `before_us`."""
    await connection.execute(
        delete(_counters).where(_counters.c.project_id == project, _counters.c.bucket_us < before_us)
    )
    await connection.execute(
        delete(_distinct).where(_distinct.c.project_id == project, _distinct.c.last_seen_us < before_us)
    )


async def add_distinct(
    connection: AsyncConnection, project: str, values: Iterable[tuple[str, str, str]], now_us: int
) -> None:
    """Records each (rule id, group key, value) as seen now."""
    rows = [
        {"project_id": project, "rule_id": r, "group_key": g, "value": v, "last_seen_us": now_us}
        for r, g, v in sorted(set(values))
    ]
    if rows:
        await connection.execute(_statements(connection).add_distinct, rows)


async def distinct_counts(
    connection: AsyncConnection, project: str, since: dict[GroupId, int]
) -> dict[GroupId, int]:
    """Per (rule, group): the distinct values last seen at or after `since[...]`."""
    found: dict[GroupId, int] = {}
    for (rule_id, group_key), since_us in sorted(since.items()):
        params = {"project_id": project, "rule_id": rule_id, "group_key": group_key, "since_us": since_us}
        found[(rule_id, group_key)] = int((await connection.execute(_DISTINCT_COUNT, params)).scalar_one())
    return found


async def new_fingerprints(
    connection: AsyncConnection, project: str, fingerprints: Iterable[str], now_us: int
) -> set[str]:
    """Records the fingerprints; returns those no node had recorded before."""
    rows = [
        {"project_id": project, "fingerprint": f, "first_seen_us": now_us} for f in sorted(set(fingerprints))
    ]
    if not rows:
        return set()
    result = await connection.execute(_statements(connection).add_known, rows)
    return {f for (f,) in result}


async def claim(
    connection: AsyncConnection,
    project: str,
    group: GroupId,
    now_us: int,
    cooldown_us: int,
    *,
    one_live_alert: bool = False,
) -> bool:
    """Claims the right to fire for (rule, group) now: true for exactly one caller, however many
    nodes try, unless the group fired within `cooldown_us`. With `one_live_alert`, also refused
    while the group's last alert is neither resolved nor gone.

    The conflicting row is locked before its condition is checked (PostgreSQL re-reads it once a
    concurrent claimer commits), so a second claimer sees the first one's `last_fired_us`.
    """
    statements = _statements(connection)
    statement = statements.claim_closed if one_live_alert else statements.claim
    params = {
        "project_id": project,
        "rule_id": group[0],
        "group_key": group[1],
        "last_fired_us": now_us,
        "open_alert_id": None,
        "cutoff_us": now_us - cooldown_us,
    }
    return (await connection.execute(statement, params)).first() is not None


async def last_fired(connection: AsyncConnection, project: str, group: GroupId) -> int:
    """When (rule, group) last fired, or 0."""
    g = _groups.c
    statement = select(g.last_fired_us).where(
        g.project_id == project, g.rule_id == group[0], g.group_key == group[1]
    )
    return int((await connection.execute(statement)).scalar() or 0)


async def insert_alert(connection: AsyncConnection, project: str, alert: A.Alert, created_us: int) -> None:
    """Stores a newly opened `alert` and makes it its group's open alert."""
    await connection.execute(
        _alerts.insert().values(
            project_id=project,
            id=alert.id,
            rule_id=alert.rule_id,
            rule_name=alert.rule_name,
            severity=alert.severity,
            state=alert.state,
            group_key=alert.group_key,
            event_count=alert.event_count,
            summary=alert.summary,
            event_ids="\n".join(alert.event_ids),
            created_us=created_us,
            acknowledged_us=None,
            resolved_us=None,
        )
    )
    g = _groups.c
    await connection.execute(
        update(_groups)
        .where(g.project_id == project, g.rule_id == alert.rule_id, g.group_key == alert.group_key)
        .values(open_alert_id=alert.id)
    )


async def resolve_live(
    connection: AsyncConnection, project: str, rule_ids: Sequence[str], group_key: str, now_us: int
) -> list[A.Alert]:
    """Resolves the open and acknowledged alerts of `rule_ids` for `group_key`; returns them as
    they are now."""
    a = _alerts.c
    statement = (
        update(_alerts)
        .where(
            a.project_id == project,
            a.rule_id.in_(sorted(rule_ids)),
            a.group_key == group_key,
            a.state.in_(LIVE_STATES),
        )
        .values(state=A.ALERT_STATE_RESOLVED, resolved_us=now_us)
        .returning(*_alerts.c)
    )
    return [alert_message(row) for row in await connection.execute(statement)]


def alert_message(row: Any) -> A.Alert:
    """An `alerts` row as the API shows it."""
    alert = A.Alert(
        id=row.id,
        rule_id=row.rule_id,
        rule_name=row.rule_name,
        severity=row.severity,
        state=row.state,
        group_key=row.group_key,
        event_count=row.event_count,
        summary=row.summary,
        event_ids=[i for i in row.event_ids.split("\n") if i],
    )
    alert.create_time.FromMicroseconds(row.created_us)
    if row.acknowledged_us is not None:
        alert.acknowledge_time.FromMicroseconds(row.acknowledged_us)
    if row.resolved_us is not None:
        alert.resolve_time.FromMicroseconds(row.resolved_us)
    return alert
