"""Sentry's cron check-ins (https://develop.sentry.dev/sdk/telemetry/check-ins/,
docs/vendors/sentry.md §5.3) as `check_in` events, which feed ingestd's monitors. Pure."""

from __future__ import annotations

from typing import Any

from ingestd.v1 import event_pb2
from server.dialects.common import fill_struct
from server.dialects.sentry import crontab
from server.dialects.sentry.envelope import event_id
from server.dialects.sentry.fields import JsonObject, number, obj, storable, text
from server.normalize import MAX_CHECK_IN_INTERVAL_S, MAX_SHORT_CHARS

E = event_pb2

STATUSES: dict[str, int] = {
    "in_progress": E.CHECK_IN_STATUS_IN_PROGRESS,
    "ok": E.CHECK_IN_STATUS_OK,
    "error": E.CHECK_IN_STATUS_ERROR,
}
#: An interval schedule's units, in seconds; a month and a year at their longest, so a monitor
#: never reports a run missed before it was due.
UNIT_SECONDS: dict[str, int] = {
    "minute": 60,
    "hour": 3_600,
    "day": 86_400,
    "week": 7 * 86_400,
    "month": 31 * 86_400,
    "year": 366 * 86_400,
}


def check_in(payload: JsonObject) -> event_pb2.Event | str:
    """A check-in as a `check_in` event, or why Relay would drop it: a missing `monitor_slug`
    or a status other than `in_progress`, `ok` and `error`.

    The event's idempotency key is `check_in:<check_in_id>:<status>`, so a retried check-in is
    stored once while its closing `ok` (which reuses the id) is stored too.
    """
    slug = payload.get("monitor_slug")
    status = payload.get("status")
    if not isinstance(slug, str) or not slug or len(slug) > MAX_SHORT_CHARS:
        return "check_in without a usable monitor_slug"
    if status not in STATUSES:
        return f"check_in status {text(status)!r}"
    config = obj(payload.get("monitor_config"))
    duration_s = number(payload.get("duration"))
    event = E.Event(
        kind=E.KIND_CHECK_IN,
        message=slug,
        level=E.LEVEL_ERROR if status == "error" else E.LEVEL_INFO,
        release=text(payload.get("release")),
        environment=text(payload.get("environment")),
        trace_id=text(obj(obj(payload.get("contexts")).get("trace")).get("trace_id")),
        check_in=E.CheckInBody(
            slug=slug,
            status=STATUSES[status],  # type: ignore[arg-type]
            expected_interval_seconds=expected_interval_s(config),
            duration_ms=max(duration_s, 0.0) * 1000 if duration_s is not None else 0.0,
        ),
    )
    check_in_id = event_id(payload.get("check_in_id"))
    if check_in_id is not None:
        event.idempotency_key = f"check_in:{check_in_id}:{status}"
    context: dict[str, Any] = {"check_in_id": check_in_id, "duration": duration_s}
    if config:
        context["monitor_config"] = storable(config)
    fill_struct(event.context, {k: v for k, v in context.items() if v is not None})
    return event


def expected_interval_s(config: JsonObject) -> int:
    """The interval a monitor expects between check-ins, from `monitor_config`: the schedule's
    interval (a crontab's longest gap, see `server.dialects.sentry.crontab`) plus the
    `checkin_margin` minutes, at most 366 days; 0 (the monitor keeps its own) without a schedule
    ingestd reads."""
    schedule = obj(config.get("schedule"))
    kind, value = schedule.get("type"), schedule.get("value")
    interval: int | None = None
    if kind == "interval":
        count = number(value)
        unit = UNIT_SECONDS.get(text(schedule.get("unit")))
        if count is not None and count > 0 and unit is not None:
            interval = int(min(count * unit, MAX_CHECK_IN_INTERVAL_S))
    elif kind == "crontab" and isinstance(value, str):
        interval = crontab.longest_gap_s(value)
    if interval is None:
        return 0
    margin = number(config.get("checkin_margin"))
    if margin is not None and margin > 0:
        interval += int(min(margin, MAX_CHECK_IN_INTERVAL_S) * 60)
    return min(interval, MAX_CHECK_IN_INTERVAL_S)
