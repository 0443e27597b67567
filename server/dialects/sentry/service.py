"""The Sentry servicer: `POST /api/{project_id}/envelope/` and the legacy `/store/`
(docs/vendors/sentry.md §4).

Thin: it finds the key where Sentry's SDKs put it (`server.dialects.sentry.auth`), undoes the
Content-Encoding, runs the translator (`server.dialects.sentry.translate`), writes through
`Ingest`, and answers as Relay does. The checks run in Relay's order, so a request with several
faults gets Relay's answer:

1. a project id in the path that is not a number → 400 `bad project path parameter`;
2. two forms of auth at once, or a malformed one → 401; a protocol version after 7 → 400;
3. a body that does not inflate → 400, or inflates past `INGESTD_HTTP_MAX_DECOMPRESSED_BYTES` →
   413; an empty body → 400 `empty request body`;
4. no key in the headers or query: the envelope header's `dsn`, else 401;
5. a broken envelope (truncated, a wrong item length, a header that is not JSON) or, on `/store/`,
   a body that is not a JSON object → 400; a header `dsn` naming another key or project → 400;
6. an unknown, revoked or unsuitable key, or a project number that is not its project's → 403
   `event submission rejected with_reason: ProjectId`;
7. past the project's daily event limit → 429 with `Retry-After` and `X-Sentry-Rate-Limits`,
   nothing stored;
8. otherwise every item ingestd keeps is stored (an item normalization refuses is dropped, as
   Relay drops invalid items), and the answer is 200 `{"id": <event id>}`, or `{}` for an envelope
   without an event.
"""

from __future__ import annotations

from typing import TypeVar

from ingestd.compat.sentry.v1 import sentry_service_pb2 as pb
from server.dialects.base import VendorContext, compat_service, key_project, reply, vendor_endpoints
from server.dialects.sentry import auth, envelope, translate
from server.dialects.sentry.answers import PROJECT_ID, RATE_LIMITED, refused
from server.dialects.sentry.encoding import decode
from server.dsn import project_number
from server.ids import random_uuid
from server.ingest import Outcome
from server.keys import PROJECT, PUBLIC
from server.pipeline import Call, Endpoint

SERVICE = compat_service(pb)

#: Public keys are what DSNs carry. Project keys are accepted too, for server-side senders that
#: already hold one; other kinds are refused like an unknown key.
ACCEPTED_KINDS = frozenset({PUBLIC, PROJECT})
#: The longest `sentry_client` kept in the call's log line.
MAX_CLIENT_CHARS = 100
#: The Content-Type that makes a `/store/` body an envelope, as Relay reads it.
ENVELOPE_TYPE = "application/x-sentry-envelope"

_Request = pb.StoreEnvelopeRequest | pb.StoreEventRequest
_R = TypeVar("_R", pb.StoreEnvelopeResponse, pb.StoreEventResponse)


class SentryServicer:
    """SentryService."""

    def __init__(self, context: VendorContext) -> None:
        self._context = context

    def endpoints(self) -> list[Endpoint]:
        return vendor_endpoints(
            SERVICE, {"StoreEnvelope": self.store_envelope, "StoreEvent": self.store_event}, cached_auth=True
        )

    async def store_envelope(self, call: Call, request: pb.StoreEnvelopeRequest) -> pb.StoreEnvelopeResponse:
        return await self._store(call, request, pb.StoreEnvelopeResponse, legacy=False)

    async def store_event(self, call: Call, request: pb.StoreEventRequest) -> pb.StoreEventResponse:
        return await self._store(call, request, pb.StoreEventResponse, legacy=True)

    async def _store(self, call: Call, request: _Request, response_class: type[_R], *, legacy: bool) -> _R:
        project_id = auth.check_project_id(request.project_id)
        query = auth.QueryAuth(
            request.sentry_key, request.sentry_version, request.sentry_client, request.sentry_secret
        )
        presented = auth.request_auth(call.metadata, query)
        if presented is not None and presented.client:  # the SDK and its version: `sentry.python/2.19.0`
            call.log["client"] = presented.client[:MAX_CLIENT_CHARS]
        limit = self._context.settings.http_max_decompressed_bytes
        data = decode(request.body.data, call.metadata.get("content-encoding", ""), limit)
        if not data:
            raise refused(400, "empty request body")
        fallback_id = random_uuid().replace("-", "")
        if legacy and request.body.content_type.split(";")[0].strip().lower() != ENVELOPE_TYPE:
            if presented is None:
                raise refused(401, "missing authorization information")
            translated = translate.store_body(data, fallback_id)
        else:
            if presented is None:
                presented = auth.dsn_auth(envelope.first_line_object(data) or {})
            parsed = envelope.parse(data)
            auth.check_envelope_dsn(parsed.headers, presented, project_id)
            translated = translate.translate(parsed, fallback_id)
        project = await key_project(call, self._context.access, presented.key, ACCEPTED_KINDS)
        stated = presented.project_id or project_id
        if project is None or project_number(project) != int(stated):
            why = "key refused" if project is None else f"project number {stated} is not {project!r}'s"
            raise refused(403, PROJECT_ID, why=why)
        written = await self._context.ingest.write(call, project, translated.events, dialect="sentry")
        if written.outcome is Outcome.REVOKED:
            raise refused(403, PROJECT_ID, why="key revoked")
        if written.outcome is Outcome.OVER_QUOTA:  # the project's daily event limit
            delay = str(written.retry_after_s)
            headers = {"retry-after": delay, "x-sentry-rate-limits": f"{delay}::project:daily_event_limit"}
            raise refused(429, RATE_LIMITED, headers=headers, why=written.reason)
        call.log.update(
            project=project,
            auth=presented.source,
            accepted=len(written.stored) - written.duplicates,
            duplicates=written.duplicates,
        )
        if written.rejected:
            # Relay drops an invalid item and accepts the rest: so does ingestd, and says so here.
            call.log["rejected"] = {str(i): v[0][0] for i, v in sorted(written.rejected.items())[:5]}
        if translated.skipped:
            call.log["skipped"] = dict(translated.skipped.most_common(5))
        answer = {"id": translated.event_id} if translated.event_id else {}
        return reply(call, response_class, 200, answer)
