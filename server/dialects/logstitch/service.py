"""The LogStitch servicer: LogStitchService over the pure translator in `server.dialects.logstitch.translate`.

This module serves the events API; the admin endpoints live in `logstitch_keys_service` (keys and
viewer tokens), `logstitch_redaction_service` and `logstitch_streams_service`, and the shared
error shape and key checks in `logstitch_common`.

Both events endpoints check, in order: the `Authorization: Bearer` key (401 `unauthorized` when missing or
not Bearer, `invalid_api_key`, `key_revoked`), that it is a project or master key (a vendor's
write-only key: 403 `forbidden`), the project (a project key's own; a master key's `project_id`
query parameter, else `default`; any other: 403 `forbidden`), then the request itself (400
`validation_error`). A viewer token (`vt_…`) may only list: its own project's events of its own
tenant, whatever `tenant_id` the query names; sending with one is 403 `forbidden`. Every body
carries `request_id`: `req_` and the call's request id.
"""

from __future__ import annotations

import dataclasses

from ingestd.compat.logstitch.v1 import logstitch_service_pb2 as pb
from server.dialects.base import VendorContext, method
from server.dialects.logstitch import query as logstitch_query
from server.dialects.logstitch import translate as logstitch
from server.dialects.logstitch.alerts import LogStitchAlertsServicer
from server.dialects.logstitch.common import (
    SERVICE,
    Refusal,
    answer,
    authenticate,
    prepare_events,
    project_of,
    refuse,
)
from server.dialects.logstitch.keys import LogStitchKeysServicer
from server.dialects.logstitch.redaction import LogStitchRedactionServicer
from server.dialects.logstitch.streams import LogStitchStreamsServicer
from server.errors import PermissionDenied
from server.ingest import Outcome
from server.keys import MASTER, PROJECT, VIEWER
from server.pipeline import Call, Endpoint

#: The keys that send events.
_EVENT_KEYS = (MASTER, PROJECT)
#: The credentials that read events: a viewer token reads only its own tenant's.
_READ_KEYS = (MASTER, PROJECT, VIEWER)


class LogStitchServicer:
    """LogStitchService."""

    def __init__(self, context: VendorContext) -> None:
        self._context = context

    def endpoints(self) -> list[Endpoint]:
        return [
            Endpoint(method(SERVICE, "SendEvents"), self.send_events, handler_auth=True, cached_auth=True),
            Endpoint(method(SERVICE, "ListEvents"), self.list_events, handler_auth=True),
            *LogStitchKeysServicer(self._context).endpoints(),
            *LogStitchRedactionServicer(self._context).endpoints(),
            *LogStitchStreamsServicer(self._context).endpoints(),
            *LogStitchAlertsServicer(self._context).endpoints(),
        ]

    async def send_events(self, call: Call, request: pb.SendEventsRequest) -> pb.SendEventsResponse:
        """201 `{"ids", "redacted_count", "request_id"}`: ids in input order; a repeated
        `idempotency_key` stores nothing new and answers the first event's id. Past the project's
        daily event limit: 429 `daily_event_limit_reached`, and nothing is stored."""
        try:
            principal = await authenticate(call, _EVENT_KEYS)
            project = await project_of(self._context, principal, request.project_id, write=True)
            rows, _, redacted = await prepare_events(self._context, project, request.body.data)
            written = await self._context.ingest.commit(call, rows)
            if written.outcome is Outcome.REVOKED:
                raise Refusal(401, "key_revoked", "This API key has been revoked")
            if written.outcome is Outcome.OVER_QUOTA:  # the project's daily event limit
                message = f"Daily limit of {written.limit:,} events exceeded; it resets at 00:00 UTC"
                raise Refusal(429, "daily_event_limit_reached", message)
        except Refusal as refusal:
            return refuse(call, pb.SendEventsResponse, refusal)
        duplicates = written.duplicates
        call.log.update(project=project, accepted=len(written.stored) - duplicates, duplicates=duplicates)
        body_out = {
            "ids": [logstitch.vendor_id(s.event_id) for s in written.stored],
            "redacted_count": redacted,
        }
        return answer(call, pb.SendEventsResponse, 201, body_out)

    async def list_events(self, call: Call, request: pb.ListEventsRequest) -> pb.ListEventsResponse:
        """200 `{"events", "cursor", "has_more", "request_id"}`, newest first."""
        try:
            principal = await authenticate(call, _READ_KEYS)
            if principal.kind == VIEWER:
                try:
                    project, tenant = await self._context.access.events(principal, request.project_id)
                except PermissionDenied:
                    raise Refusal(403, "forbidden", "This token may not read this project") from None
            else:
                project = await project_of(self._context, principal, request.project_id, write=False)
                tenant = ""
            try:
                query = logstitch_query.parse_query(request)
            except logstitch.Invalid as exc:
                raise Refusal(400, "validation_error", exc.message, exc.details) from None
            if tenant:
                # A viewer token is held to its tenant, whatever `tenant_id` the query names.
                query = dataclasses.replace(query, tenant_id=tenant)
        except Refusal as refusal:
            return refuse(call, pb.ListEventsResponse, refusal)
        page = await logstitch_query.list_page(self._context.queries, project, query)
        call.log.update(project=project, returned=len(page.events))
        body = {
            "events": [logstitch_query.listed(event) for event in page.events],
            "cursor": page.cursor,
            "has_more": page.has_more,
        }
        return answer(call, pb.ListEventsResponse, 200, body)
