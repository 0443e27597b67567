"""LogStitch's alerts API: /api/v1/alerts[/:id] (docs/vendors/logstitch.md §13).

Keys: a master or project key; a master key addresses the `project_id` query parameter's
project, else `default`.

An alert (LogStitch documents the operations, not the shape): `{id, rule_id, rule_name, severity
("low"|"medium"|"high"|"critical"), status ("open"|"acknowledged"|"resolved"), group_key (such as
the actor id; null for a project-wide rule), event_count, summary, event_ids (LogStitch event ids,
`evt_…`, of up to ten events that made it fire), created_at, acknowledged_at (or null),
resolved_at (or null)}`, times ISO 8601 with milliseconds. The state is named `status`, as audit
and incident APIs name it; it is not repeated as `state`.

- GET /api/v1/alerts 200 `{"alerts": [...], "cursor", "has_more", "request_id"}`, newest first.
  Query: `status` (or `state`): open|acknowledged|resolved; `rule_id`; `severity`; `start_date`
  and `end_date` (ISO 8601, both inclusive, on the time the alert opened); `limit` (1-100, default
  50) and `cursor`, as the events listing reads them. A bad value: 400 `validation_error` with a
  detail per parameter.
- PATCH /api/v1/alerts/:id `{"status": "open"|"acknowledged"|"resolved"}` (or `state`) → 200
  `{"alert": {...}, "request_id"}`. A move other than open→acknowledged or
  open|acknowledged→resolved, back to `open` included: 409 `conflict` ("Cannot transition alert
  from resolved to acknowledged"), LogStitch's documented code for a request that clashes with the
  resource's state; `status` is one of the three states, so only another value is a 400
  `validation_error`. An unknown alert: 404 `not_found`.
"""

from __future__ import annotations

import re
from typing import Any

from ingestd.compat.logstitch.v1 import logstitch_service_pb2 as pb
from ingestd.v1 import alerting_pb2 as A
from server.alerting.alerts import AlertFilter
from server.dialects.answer import Answer
from server.dialects.base import VendorContext
from server.dialects.logstitch import translate as logstitch
from server.dialects.logstitch.calls import authenticate, endpoints, project_of, respond
from server.dialects.logstitch.common import INVALID_QUERY, Detail, error, timestamp, validation_error
from server.dialects.logstitch.pages import encode_cursor, read_page
from server.dialects.logstitch.severity import SEVERITIES, SEVERITY_NAMES
from server.dialects.logstitch.validation import invalid, object_body, read_date_us, read_enum
from server.errors import FailedPrecondition, InvalidArgument, NotFound
from server.keys import MASTER, PROJECT
from server.pipeline import Call, Endpoint

STATES = {
    "open": A.ALERT_STATE_OPEN,
    "acknowledged": A.ALERT_STATE_ACKNOWLEDGED,
    "resolved": A.ALERT_STATE_RESOLVED,
}
_STATE_NAMES = {number: name for name, number in STATES.items()}
_ALERT_ID = re.compile(r"al_[0-9A-Za-z_-]{1,60}")


class LogStitchAlertsServicer:
    """The alerts endpoints of LogStitchService."""

    def __init__(self, context: VendorContext) -> None:
        self._context = context

    def endpoints(self) -> list[Endpoint]:
        return endpoints({"ListAlerts": self.list_alerts, "UpdateAlert": self.update_alert})

    async def list_alerts(self, call: Call, request: pb.ListAlertsRequest) -> pb.ListAlertsResponse:
        principal = await authenticate(call, (MASTER, PROJECT))
        project = await project_of(self._context, principal, request.project_id, write=False)
        where, limit, after = _query(request)
        alerts, next_after = await self._context.alerting.alerts.list_alerts(
            project, where, limit=limit, after=after
        )
        call.log.update(project=project, returned=len(alerts))
        body = {
            "alerts": [shown(a) for a in alerts],
            "cursor": encode_cursor(next_after) if next_after else None,
            "has_more": next_after is not None,
        }
        return respond(call, pb.ListAlertsResponse, 200, body)

    async def update_alert(self, call: Call, request: pb.UpdateAlertRequest) -> pb.UpdateAlertResponse:
        principal = await authenticate(call, (MASTER, PROJECT))
        project = await project_of(self._context, principal, request.project_id, write=False)
        body = object_body(request.body.data)
        key = "status" if "status" in body or "state" not in body else "state"
        found: list[Detail] = [] if key in body else [("status", "Required")]
        target = read_enum(body, key, tuple(STATES), found)
        if found or target is None:
            raise validation_error(found)
        alert = await _transition(self._context, project, request.id, STATES[target])
        call.log.update(project=project, alert=alert.id, state=target)
        return respond(call, pb.UpdateAlertResponse, 200, {"alert": shown(alert)})


def shown(alert: A.Alert) -> dict[str, Any]:
    """An alert in LogStitch's shape."""

    def time(name: str) -> str | None:
        return timestamp(getattr(alert, name)) if alert.HasField(name) else None

    return {
        "id": alert.id,
        "rule_id": alert.rule_id,
        "rule_name": alert.rule_name,
        "severity": SEVERITY_NAMES.get(alert.severity, "medium"),
        "status": _STATE_NAMES.get(alert.state, "open"),
        "group_key": alert.group_key or None,
        "event_count": alert.event_count,
        "summary": alert.summary,
        "event_ids": [logstitch.vendor_id(e) for e in alert.event_ids],
        "created_at": time("create_time"),
        "acknowledged_at": time("acknowledge_time"),
        "resolved_at": time("resolve_time"),
    }


def _query(request: pb.ListAlertsRequest) -> tuple[AlertFilter, int, str | None]:
    """The filter, page size and `after` id of a list request.

    Raises:
        Answer: 400 `validation_error`, a detail per bad parameter.
    """
    found: list[Detail] = []
    # `state` is the name some clients use for `status`; a detail names it `status` either way.
    given = (("status", request.status or request.state), ("severity", request.severity))
    params = {name: value for name, value in given if value}
    state = read_enum(params, "status", tuple(STATES), found)
    severity = read_enum(params, "severity", tuple(SEVERITIES), found)
    start_us = read_date_us(request.start_date, "start_date", found)
    end_us = read_date_us(request.end_date, "end_date", found)
    limit, after = read_page(request.limit, request.cursor, _ALERT_ID, found)
    if found:
        raise validation_error(found, INVALID_QUERY)
    where = AlertFilter(
        state=STATES[state] if state else A.ALERT_STATE_UNSPECIFIED,
        rule_id=request.rule_id,
        severity=SEVERITIES[severity] if severity else A.ALERT_SEVERITY_UNSPECIFIED,
        start_us=start_us,
        # `end_date` is inclusive; the filter's end is not.
        end_us=None if end_us is None else end_us + 1,
    )
    return where, limit, after


async def _transition(context: VendorContext, project: str, alert_id: str, state: A.AlertState) -> A.Alert:
    """The alert moved to `state`, the domain's errors turned into LogStitch's answers.

    No alert ever goes back to `open`: that move is refused as the domain refuses every move it
    does not allow, with the alert's current state, so an unknown alert is still 404.
    """
    alerts = context.alerting.alerts
    try:
        if state == A.ALERT_STATE_OPEN:
            current = await alerts.get_alert(project, alert_id)
            raise _conflict(_STATE_NAMES.get(current.state, "its state"), "open")
        return await alerts.transition(project, alert_id, state)
    except InvalidArgument as exc:
        raise invalid(exc) from None
    except NotFound:
        raise error(404, "not_found", "Alert not found") from None
    except FailedPrecondition as exc:
        if exc.reason != "INVALID_TRANSITION":
            raise
        source = exc.metadata.get("from", "its state")
        target = exc.metadata.get("to", _STATE_NAMES.get(state, "that state"))
        raise _conflict(source, target) from None


def _conflict(source: str, target: str) -> Answer:
    return error(409, "conflict", f"Cannot transition alert from {source} to {target}")
