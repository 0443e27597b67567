"""The LogStitch servicer: LogStitchService over the pure translator in `server.dialects.logstitch`.

Both endpoints check, in order: the `Authorization: Bearer` key (401 `unauthorized` when missing or
not Bearer, `invalid_api_key`, `key_revoked`), that it is a project or master key (a vendor's
write-only key: 403 `forbidden`), the project (a project key's own; a master key's `project_id`
query parameter, else `default`; any other: 403 `forbidden`), then the request itself (400
`validation_error`). Every body carries `request_id`: `req_` and the call's request id.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import orjson

from ingestd.compat.logstitch.v1 import logstitch_service_pb2 as pb
from server.dialects import logstitch, logstitch_query
from server.dialects.base import VendorContext, method, reply
from server.errors import PermissionDenied, Unauthenticated
from server.keys import MASTER, WRITE_ONLY
from server.pipeline import Call, Endpoint

R = TypeVar("R", pb.SendEventsResponse, pb.ListEventsResponse)

SERVICE = "ingestd.compat.logstitch.v1.LogStitchService"
#: The project a master key uses when the request names none.
MASTER_DEFAULT_PROJECT = "default"


class _Refusal(Exception):
    """A documented LogStitch error, answered by the handler in LogStitch's shape."""

    def __init__(
        self, status: int, code: str, message: str, details: Sequence[logstitch.Detail] = ()
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def request_id(call_request_id: str) -> str:
    """The `request_id` LogStitch clients see: `req_` and the call's request id."""
    return call_request_id if call_request_id.startswith("req_") else "req_" + call_request_id


def error_body(code: str, message: str, details: Sequence[logstitch.Detail], rid: str) -> dict[str, object]:
    return {
        "error": {
            "code": code,
            "message": message,
            "details": [{"field": f, "message": m} for f, m in details],
        },
        "request_id": rid,
    }


class LogStitchServicer:
    """LogStitchService."""

    def __init__(self, context: VendorContext) -> None:
        self._context = context

    def endpoints(self) -> list[Endpoint]:
        return [
            Endpoint(method(SERVICE, "SendEvents"), self.send_events, handler_auth=True, cached_auth=True),
            Endpoint(method(SERVICE, "ListEvents"), self.list_events, handler_auth=True),
        ]

    async def send_events(self, call: Call, request: pb.SendEventsRequest) -> pb.SendEventsResponse:
        """201 `{"ids", "redacted_count", "request_id"}`: ids in input order; a repeated
        `idempotency_key` stores nothing new and answers the first event's id."""
        try:
            project = await self._project(call, request.project_id)
            try:
                body = orjson.loads(request.body.data)
            except orjson.JSONDecodeError:
                raise _Refusal(400, "validation_error", "Invalid JSON in request body") from None
            try:
                events = logstitch.to_events(body)
            except logstitch.Invalid as exc:
                raise _Refusal(400, "validation_error", exc.message, exc.details) from None
            rows, rejected = self._context.ingest.prepare(project, events, dialect="logstitch")
            if rejected:
                array = isinstance(body, list)
                details = [
                    (logstitch.vendor_field(index if array else None, field), description)
                    for index, violations in sorted(rejected.items())
                    for field, description in violations
                ]
                raise _Refusal(400, "validation_error", "Invalid request body", details)
            try:
                stored = await self._context.ingest.commit(call, rows)
            except Unauthenticated:
                raise _Refusal(401, "key_revoked", "This API key has been revoked") from None
        except _Refusal as refusal:
            return self._refuse(call, pb.SendEventsResponse, refusal)
        duplicates = sum(s.duplicate for s in stored)
        call.log.update(project=project, accepted=len(stored) - duplicates, duplicates=duplicates)
        body_out = {
            "ids": [logstitch.vendor_id(s.event_id) for s in stored],
            "redacted_count": 0,
            "request_id": request_id(call.request_id),
        }
        return reply(call, pb.SendEventsResponse, 201, body_out)

    async def list_events(self, call: Call, request: pb.ListEventsRequest) -> pb.ListEventsResponse:
        """200 `{"events", "cursor", "has_more", "request_id"}`, newest first."""
        try:
            project = await self._project(call, request.project_id)
            try:
                query = logstitch_query.parse_query(request)
            except logstitch.Invalid as exc:
                raise _Refusal(400, "validation_error", exc.message, exc.details) from None
        except _Refusal as refusal:
            return self._refuse(call, pb.ListEventsResponse, refusal)
        page = await logstitch_query.list_page(self._context.sessions, project, query)
        call.log.update(project=project, returned=len(page.events))
        body = {
            "events": [logstitch_query.listed(event) for event in page.events],
            "cursor": page.cursor,
            "has_more": page.has_more,
            "request_id": request_id(call.request_id),
        }
        return reply(call, pb.ListEventsResponse, 200, body)

    async def _project(self, call: Call, project_id: str) -> str:
        """The project the call's key may use.

        Raises:
            _Refusal: 401 or 403, as LogStitch answers them.
        """
        scheme, _, secret = call.metadata.get("authorization", "").partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret:
            raise _Refusal(401, "unauthorized", "Missing API key: send 'Authorization: Bearer <key>'")
        try:
            principal = await call.authenticate(secret)
        except Unauthenticated as exc:
            if exc.reason == "KEY_REVOKED":
                raise _Refusal(401, "key_revoked", "This API key has been revoked") from None
            raise _Refusal(401, "invalid_api_key", "Invalid API key") from None
        if principal.kind in WRITE_ONLY:
            raise _Refusal(
                403, "forbidden", "This key cannot use the events API: use a project or master key"
            )
        wanted = project_id or (MASTER_DEFAULT_PROJECT if principal.kind == MASTER else "")
        try:
            return await self._context.access.project(principal, wanted)
        except PermissionDenied:
            raise _Refusal(403, "forbidden", f"This key may not use project '{wanted}'") from None

    def _refuse(self, call: Call, response_class: type[R], refusal: _Refusal) -> R:
        call.log.update(error=refusal.code)
        rid = request_id(call.request_id)
        return reply(
            call,
            response_class,
            refusal.status,
            error_body(refusal.code, refusal.message, refusal.details, rid),
        )
