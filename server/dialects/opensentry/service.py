"""The Open Sentry servicer: `POST /v1/ingest` and `GET /health` (docs/vendors/opensentry.md §1, §3).

Thin: it finds the key where Open Sentry's SDKs put it, runs the translator in
`server.dialects.opensentry.translate`, writes through `Ingest`, and answers with Open Sentry's bodies. The
checks run in Open Sentry's order, so a request with several faults gets the answer Open Sentry
gives it:

1. no key in `X-Open-Sentry-Key`, `X-Sentry-Clone-Key` or the first `key` query parameter → 401;
2. a body over 256 KiB → 413;
3. a body that is not JSON → 400 `Invalid JSON`;
4. a body that fails the schema → 400 `Invalid payload` (the whole batch);
5. an unknown or revoked key, or one that is neither a public nor a project key → 403;
6. past the project's daily event limit → 429 `Daily event limit exceeded`, nothing stored;
7. otherwise every item is stored and the answer is 202 `{"id": <uuid4>}`: a batch id, which
   appears in the server's log line for the call (it is not an event id).

Over HTTP the edge (`server.dialects.opensentry.edge`) caps the body while reading it, and first refuses
a keyless request whose body might exceed the cap; both checks are repeated here for gRPC callers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ingestd.compat.opensentry.v1 import opensentry_service_pb2 as pb
from server.dialects.answer import Answer
from server.dialects.base import VendorContext, compat_service, key_project, reply, vendor_endpoints
from server.dialects.opensentry import translate as opensentry
from server.dialects.opensentry.edge import MAX_BODY_BYTES
from server.ids import random_uuid
from server.ingest import Outcome
from server.keys import PROJECT, PUBLIC
from server.pipeline import Call, Endpoint

SERVICE = compat_service(pb)

#: Public keys are what Open Sentry's DSNs carry. Project keys are accepted too, for server-side
#: senders that already hold one; master keys (which name no project) and other vendors' server
#: and client keys are refused like an unknown key.
ACCEPTED_KINDS = frozenset({PUBLIC, PROJECT})


def presented_key(metadata: Mapping[str, str], query_keys: Sequence[str]) -> str:
    """The key of a request: the first of `x-open-sentry-key`, `x-sentry-clone-key` and the first
    `key` query parameter that is present. A present but empty header still wins (JavaScript's
    `??`), and then the request has no key."""
    for header in ("x-open-sentry-key", "x-sentry-clone-key"):
        value = metadata.get(header)
        if value is not None:
            return value
    return query_keys[0] if query_keys else ""


class OpenSentryServicer:
    """OpenSentryService."""

    def __init__(self, context: VendorContext) -> None:
        self._context = context

    def endpoints(self) -> list[Endpoint]:
        return vendor_endpoints(SERVICE, {"GetHealth": self.get_health}) + vendor_endpoints(
            SERVICE, {"Ingest": self.ingest}, cached_auth=True
        )

    async def get_health(self, call: Call, request: pb.GetHealthRequest) -> pb.GetHealthResponse:
        return reply(call, pb.GetHealthResponse, 200, {"status": "ok"})

    async def ingest(self, call: Call, request: pb.IngestRequest) -> pb.IngestResponse:
        key = presented_key(call.metadata, request.key)
        if not key:
            raise _refused(401, "Missing auth key", "no key")
        data = request.body.data
        if len(data) > MAX_BODY_BYTES:
            raise _refused(413, "Payload too large", f"{len(data)} bytes")
        events = opensentry.translate(opensentry.parse(data))
        project = await key_project(call, self._context.access, key, ACCEPTED_KINDS)
        if project is None:
            raise _refused(403, "Invalid DSN key", "key refused")
        written = await self._context.ingest.write(call, project, events, dialect="opensentry", atomic=True)
        if written.outcome is Outcome.REJECTED:
            # Open Sentry's schema passed, but ingestd cannot store an item (a limit of the
            # canonical event): refused whole, as a schema failure would be.
            index, violations = min(written.rejected.items())
            field, problem = violations[0]
            raise opensentry.invalid_payload(f"[{index}].{field}", problem)
        if written.outcome is Outcome.REVOKED:
            raise _refused(403, "Invalid DSN key", "key revoked")
        if written.outcome is Outcome.OVER_QUOTA:  # the project's daily event limit
            raise Answer(
                429,
                {"error": "Daily event limit exceeded"},
                {"retry-after": str(written.retry_after_s)},
                detail=written.reason,
            )
        batch_id = random_uuid()
        call.log.update(project=project, batch_id=batch_id, accepted=len(written.stored))
        return reply(call, pb.IngestResponse, 202, {"id": batch_id})


def _refused(status: int, error: str, detail: str) -> Answer:
    return Answer(status, {"error": error}, detail=detail)
