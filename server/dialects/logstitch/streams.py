"""LogStitch's anonymous streams: /api/v1/streams/:token/events, /:token/info and /claim
(docs/vendors/logstitch.md §15).

- `POST /api/v1/streams/:token/events` (no key): the body of `POST /api/v1/events`, one event or
  an array of up to 100, with the built-in redaction applied. 201 `{"ids", "redacted_count",
  "request_id"}`. A token that is not a UUIDv4: 400 `validation_error` on `token`. A claimed
  stream: 410 `stream_already_claimed`; an expired one: 410 `stream_expired`; past the daily limit:
  429 `stream_daily_limit_reached` with `Retry-After` (seconds to the next UTC midnight).
- `GET /api/v1/streams/:token/info` (no key): 200 `{"token", "status", "event_count",
  "created_at", "expires_at", "claimed_at", "request_id"}`, `status` one of `active`, `claimed`,
  `expired`: a claimed or expired stream still answers 200 with its status, since the metadata is
  what its owner needs to see why writes are refused; `claimed_at` is null unless claimed. Never
  any event data, nor the claiming project. A token never written to: 404 `stream_not_found`.
- `POST /api/v1/streams/claim` (master key) with `{"token", "project_id"}`: 200 `{"token",
  "project_id", "migrated_count", "request_id"}`, every event moved in one transaction
  (`migrated_count` leaves out events whose `idempotency_key` the project already held). Errors:
  401 as the events API, 403 `forbidden` for another key kind or a project of another
  organization, 400 `validation_error`, 404 `stream_not_found`, 410 `stream_already_claimed` /
  `stream_expired`.

LogStitch's documents give neither the info nor the claim shapes; these are ours.
"""

from __future__ import annotations

import math

from ingestd.compat.logstitch.v1 import logstitch_service_pb2 as pb
from server.dialects.answer import Answer
from server.dialects.base import VendorContext
from server.dialects.logstitch import translate as logstitch
from server.dialects.logstitch.calls import authenticate, endpoints, prepare_events, project_of, respond
from server.dialects.logstitch.common import Detail, error, timestamp_us, validation_error
from server.dialects.logstitch.validation import object_body
from server.errors import FailedPrecondition, IngestdError, InvalidArgument, NotFound, ResourceExhausted
from server.keys import MASTER
from server.pipeline import Call, Endpoint
from server.streams import stream_token

_TOKEN_MESSAGE = "Invalid uuid: the claim token must be a UUIDv4"
_GONE = {
    "STREAM_ALREADY_CLAIMED": ("stream_already_claimed", "Stream has already been claimed by a project"),
    "STREAM_EXPIRED": ("stream_expired", "Stream has expired (unclaimed for {days} days)"),
}


class LogStitchStreamsServicer:
    """The anonymous stream endpoints of LogStitchService."""

    def __init__(self, context: VendorContext) -> None:
        self._context = context

    def endpoints(self) -> list[Endpoint]:
        return endpoints(
            {
                "SendStreamEvents": self.send_stream_events,
                "GetStreamInfo": self.get_stream_info,
                "ClaimStream": self.claim_stream,
            }
        )

    async def send_stream_events(
        self, call: Call, request: pb.SendStreamEventsRequest
    ) -> pb.SendStreamEventsResponse:
        """201 `{"ids", "redacted_count", "request_id"}`, ids in input order; a repeated
        `idempotency_key` stores nothing new and answers the first event's id."""
        token = _token(request.token)
        rows, _, redacted = await prepare_events(self._context, None, request.body.data)
        try:
            ids = await self._context.streams.append(token, rows)
        except IngestdError as exc:
            raise self._refusal(exc) from None
        call.log.update(stream_events=len(ids))
        body = {"ids": [logstitch.vendor_id(i) for i in ids], "redacted_count": redacted}
        return respond(call, pb.SendStreamEventsResponse, 201, body)

    async def get_stream_info(self, call: Call, request: pb.GetStreamInfoRequest) -> pb.GetStreamInfoResponse:
        """200 with the stream's metadata in any state; 404 `stream_not_found`."""
        token = _token(request.token)
        try:
            info = await self._context.streams.info(token)
        except IngestdError as exc:
            raise self._refusal(exc) from None
        body = {
            "token": info.token,
            "status": info.state,
            "event_count": info.event_count,
            "created_at": timestamp_us(info.created_us),
            "expires_at": timestamp_us(info.expires_us),
            "claimed_at": None if info.claimed_us is None else timestamp_us(info.claimed_us),
        }
        return respond(call, pb.GetStreamInfoResponse, 200, body)

    async def claim_stream(self, call: Call, request: pb.ClaimStreamRequest) -> pb.ClaimStreamResponse:
        """200 `{"token", "project_id", "migrated_count", "request_id"}`."""
        principal = await authenticate(call, (MASTER,))
        token, project_id = _claim_body(request.body.data)
        project = await project_of(self._context, principal, project_id, write=True)
        try:
            claimed = await self._context.streams.claim(token, project)
        except IngestdError as exc:
            raise self._refusal(exc) from None
        call.log.update(project=project, accepted=claimed.event_count)
        body = {"token": token, "project_id": claimed.project, "migrated_count": claimed.event_count}
        return respond(call, pb.ClaimStreamResponse, 200, body)

    def _refusal(self, exc: IngestdError) -> Answer:
        """The LogStitch answer to a stream domain error (any other error propagates)."""
        if isinstance(exc, NotFound) and exc.reason == "STREAM_NOT_FOUND":
            return error(404, "stream_not_found", "Stream does not exist for the given claim token")
        if isinstance(exc, FailedPrecondition) and exc.reason in _GONE:
            code, message = _GONE[exc.reason]
            days = self._context.settings.stream_ttl_s / 86_400
            return error(410, code, message.format(days=f"{days:g}"))
        if isinstance(exc, ResourceExhausted) and exc.reason == "STREAM_DAILY_LIMIT_REACHED":
            limit = self._context.settings.stream_daily_event_limit
            message = f"Stream daily limit of {limit} events exceeded"
            # Seconds to the next UTC midnight, when the limit resets.
            retry_after = {"retry-after": str(math.ceil(exc.retry_after_s or 0))}
            return error(429, "stream_daily_limit_reached", message, headers=retry_after)
        raise exc


def _token(token: str) -> str:
    try:
        return stream_token(token)
    except InvalidArgument:
        raise error(400, "validation_error", "Invalid claim token", [("token", _TOKEN_MESSAGE)]) from None


def _claim_body(data: bytes) -> tuple[str, str]:
    """The `token` and `project_id` of a claim request body."""
    body = object_body(data)
    details: list[Detail] = []
    values: dict[str, str] = {}
    for name in ("token", "project_id"):
        value = body.get(name)
        if value is None:
            details.append((name, "Required"))
        elif not isinstance(value, str) or not value:
            details.append((name, "Expected a non-empty string"))
        else:
            values[name] = value
    if "token" in values:
        try:
            values["token"] = stream_token(values["token"])
        except InvalidArgument:
            details.append(("token", _TOKEN_MESSAGE))
    if details:
        raise validation_error(details)
    return values["token"], values["project_id"]
