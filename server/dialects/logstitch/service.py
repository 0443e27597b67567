"""The LogStitch servicer: LogStitchService over the pure translator in
`server.dialects.logstitch.translate` (docs/vendors/logstitch.md).

This module serves the events API (§5, §6) and is the one place that composes the servicers of the
rest: `keys` (keys and viewer tokens), `redaction`, `streams`, `alerts`, `alert_rules` and
`webhooks`. What they share is in `calls` (endpoints, key checks, answers), `common` (the error
shape, `request_id`, times), `validation` and `pages`; no servicer module imports another.

Both events endpoints check, in order (§4): the `Authorization: Bearer` key (401 `unauthorized`
when missing or not Bearer, `invalid_api_key`, `key_revoked`), that it is a project or master key
(a vendor's write-only key: 403 `forbidden`), the project (a project key's own; a master key's
`project_id` query parameter, else `default`; any other: 403 `forbidden`), then the request itself
(400 `validation_error`). A viewer token (`vt_…`) may only list: its own project's events of its
own tenant, whatever `tenant_id` the query names; sending with one is 403 `forbidden`. Every body
carries `request_id`: `req_` and the call's request id.
"""

from __future__ import annotations

import dataclasses

from ingestd.compat.logstitch.v1 import logstitch_service_pb2 as pb
from server.dialects.base import VendorContext
from server.dialects.logstitch import query as logstitch_query
from server.dialects.logstitch import translate as logstitch
from server.dialects.logstitch.alert_rules import LogStitchAlertRulesServicer
from server.dialects.logstitch.alerts import LogStitchAlertsServicer
from server.dialects.logstitch.calls import (
    SERVICE,
    authenticate,
    endpoints,
    key_revoked,
    prepare_events,
    project_of,
    respond,
)
from server.dialects.logstitch.common import error
from server.dialects.logstitch.keys import LogStitchKeysServicer
from server.dialects.logstitch.redaction import LogStitchRedactionServicer
from server.dialects.logstitch.streams import LogStitchStreamsServicer
from server.dialects.logstitch.webhooks import LogStitchWebhooksServicer
from server.errors import PermissionDenied
from server.ingest import Outcome
from server.keys import MASTER, PROJECT, VIEWER
from server.pipeline import Call, Endpoint

__all__ = ["SERVICE", "LogStitchServicer"]

#: The keys that send events.
_EVENT_KEYS = (MASTER, PROJECT)
#: The credentials that read events: a viewer token reads only its own tenant's.
_READ_KEYS = (MASTER, PROJECT, VIEWER)


class LogStitchServicer:
    """LogStitchService: the events endpoints, and every other servicer's."""

    def __init__(self, context: VendorContext) -> None:
        self._context = context

    def endpoints(self) -> list[Endpoint]:
        # Only SendEvents writes through `Ingest`, whose commit re-checks a cached key.
        return [
            *endpoints({"SendEvents": self.send_events}, cached_auth=True),
            *endpoints({"ListEvents": self.list_events}),
            *LogStitchKeysServicer(self._context).endpoints(),
            *LogStitchRedactionServicer(self._context).endpoints(),
            *LogStitchStreamsServicer(self._context).endpoints(),
            *LogStitchAlertsServicer(self._context).endpoints(),
            *LogStitchAlertRulesServicer(self._context).endpoints(),
            *LogStitchWebhooksServicer(self._context).endpoints(),
        ]

    async def send_events(self, call: Call, request: pb.SendEventsRequest) -> pb.SendEventsResponse:
        """201 `{"ids", "redacted_count", "request_id"}`: ids in input order; a repeated
        `idempotency_key` stores nothing new and answers the first event's id. Past the project's
        daily event limit: 429 `daily_event_limit_reached`, and nothing is stored."""
        principal = await authenticate(call, _EVENT_KEYS)
        project = await project_of(self._context, principal, request.project_id, write=True)
        rows, _, redacted = await prepare_events(self._context, project, request.body.data)
        written = await self._context.ingest.commit(call, rows)
        if written.outcome is Outcome.REVOKED:
            raise key_revoked()
        if written.outcome is Outcome.OVER_QUOTA:  # the project's daily event limit
            message = f"Daily limit of {written.limit:,} events exceeded; it resets at 00:00 UTC"
            raise error(429, "daily_event_limit_reached", message)
        duplicates = written.duplicates
        call.log.update(project=project, accepted=len(written.stored) - duplicates, duplicates=duplicates)
        body = {
            "ids": [logstitch.vendor_id(s.event_id) for s in written.stored],
            "redacted_count": redacted,
        }
        return respond(call, pb.SendEventsResponse, 201, body)

    async def list_events(self, call: Call, request: pb.ListEventsRequest) -> pb.ListEventsResponse:
        """200 `{"events", "cursor", "has_more", "request_id"}`, newest first."""
        principal = await authenticate(call, _READ_KEYS)
        if principal.kind == VIEWER:
            try:
                project, tenant = await self._context.access.events(principal, request.project_id)
            except PermissionDenied:
                raise error(403, "forbidden", "This token may not read this project") from None
        else:
            project = await project_of(self._context, principal, request.project_id, write=False)
            tenant = ""
        query = logstitch_query.parse_query(request)
        if tenant:
            # A viewer token is held to its tenant, whatever `tenant_id` the query names.
            query = dataclasses.replace(query, tenant_id=tenant)
        page = await logstitch_query.list_page(self._context.queries, project, query)
        call.log.update(project=project, returned=len(page.items))
        body = {"events": [logstitch_query.listed(event) for event in page.items], **page.fields()}
        return respond(call, pb.ListEventsResponse, 200, body)
