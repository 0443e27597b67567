"""The Logister servicer: LogisterService over the pure translators in `translate`, `checkin` and
`limits`.

Each handler runs in Logister's order (docs/vendors/logister.md §3): authenticate and count the
request against the rate limits (401/429 before anything about the body), then read the body (400,
413, 415), translate it (422), write it, and answer with Logister's status and body. Every refusal
is an `Answer`, raised; the rate-limit headers of an authenticated request go on the call's response
headers as soon as they are counted, so that every answer, a refusal included, carries them.

Keys: Logister's tokens are project tokens, so project keys (`pk_`) and server keys (`sk_`, the
server-side write-only kind) are accepted. Master keys are refused (Logister requests name no
project to pick), and so are browser keys (`pub_`, `ck_`): Logister has no CORS and no origin
checks, so accepting them here would sidestep their origin rules. Refused keys answer 401 like
unknown ones and count as authentication failures.
"""

from __future__ import annotations

from typing import TypeVar

from google.protobuf.message import Message

from ingestd.compat.logister.v1 import logister_service_pb2 as pb
from ingestd.v1 import event_pb2
from server.dialects.answer import Answer
from server.dialects.base import VendorContext, compat_service, reply, vendor_endpoints
from server.dialects.logister import batch
from server.dialects.logister import checkin as logister_checkin
from server.dialects.logister import translate as logister
from server.dialects.logister.edge import JSON
from server.dialects.logister.limits import check_batch_media_type, check_limits, decode_batch, legacy_id
from server.dialects.logister.ratelimit import FixedWindowLimiter
from server.errors import Unauthenticated
from server.ids import random_uuid
from server.ingest import Outcome, Stored, Written
from server.keys import PROJECT, SERVER
from server.peers import ClientAddresses
from server.pipeline import Call, Endpoint

SERVICE = compat_service(pb)
R = TypeVar("R", bound=Message)

_ACCEPTED_KEY_KINDS = frozenset({PROJECT, SERVER})
_UNAUTHORIZED = {"error": "Unauthorized"}


def _token(call: Call) -> str:
    # Logister: exactly "Bearer " (case-sensitive) wins and never falls back to X-Api-Key.
    authorization = call.metadata.get("authorization", "")
    if authorization.startswith("Bearer "):
        return authorization[7:].strip()
    return call.metadata.get("x-api-key", "").strip()


def _valid(translated: logister.Translated | list[str]) -> logister.Translated:
    """The translation, or Logister's 422 for its messages."""
    if isinstance(translated, list):
        raise logister.invalid(translated)
    return translated


class LogisterServicer:
    """LogisterService: Logister's four ingest routes."""

    def __init__(self, context: VendorContext) -> None:
        self._context = context
        self._settings = context.settings
        self._limiter = FixedWindowLimiter()
        self._clients = ClientAddresses(context.settings.trusted_proxies)

    def endpoints(self) -> list[Endpoint]:
        # Every route writes through Ingest.commit, which re-checks the key: a cached key is safe.
        return vendor_endpoints(
            SERVICE,
            {
                "IngestEvent": self.ingest_event,
                "IngestEventBatch": self.ingest_event_batch,
                "CheckIn": self.check_in,
                "RecordDeployment": self.record_deployment,
            },
            cached_auth=True,
            content_type=JSON,
        )

    # --- the four routes ------------------------------------------------------------------------

    async def ingest_event(self, call: Call, request: pb.IngestEventRequest) -> pb.IngestEventResponse:
        """`POST /api/v1/ingest_events`: 201, or 200 with `"duplicate": true`."""
        project = await self._authenticate(call, "ingest")
        body = request.body
        raw = logister.envelope(logister.parse(body.data, body.content_type, "event"), "event")
        if raw is None:
            raise logister.missing("event")
        check_limits(raw)
        translated = _valid(
            logister.translate_event(
                raw,
                project=project,
                default_environment=self._settings.default_environment,
                now_us=self._context.clock.now_us(),
                fallback_uuid=random_uuid(),
            )
        )
        stored = await self._store_one(call, project, translated)
        answer: dict[str, object] = {
            "id": translated.uuid,
            "legacy_id": legacy_id(translated.uuid),
            "status": "accepted",
        }
        if translated.span:
            answer["type"] = "span"
        if stored.duplicate:
            answer["duplicate"] = True
        return self._reply(call, pb.IngestEventResponse, 200 if stored.duplicate else 201, answer)

    async def check_in(self, call: Call, request: pb.CheckInRequest) -> pb.CheckInResponse:
        """`POST /api/v1/check_ins`: 201, or 200 with `"duplicate": true` for a repeated uuid."""
        project = await self._authenticate(call, "check_in")
        body = request.body
        raw = logister_checkin.check_in_envelope(logister.parse(body.data, body.content_type, "check_in"))
        if raw is None:
            raise logister.missing("check_in")
        translated = _valid(
            logister_checkin.translate_check_in(
                raw,
                default_environment=self._settings.default_environment,
                fallback_uuid=random_uuid(),
            )
        )
        stored = await self._store_one(call, project, translated)
        if stored.duplicate:
            answer = {"id": translated.uuid, "status": "accepted", "duplicate": True}
            return self._reply(call, pb.CheckInResponse, 200, answer)
        return self._reply(call, pb.CheckInResponse, 201, {"id": translated.uuid, "status": "accepted"})

    async def record_deployment(
        self, call: Call, request: pb.RecordDeploymentRequest
    ) -> pb.RecordDeploymentResponse:
        """`POST /api/v1/deployments`: 201, with the same id when the deployment is repeated."""
        project = await self._authenticate(call, "deployment")
        body = request.body
        raw = logister_checkin.deployment_envelope(logister.parse(body.data, body.content_type, "deployment"))
        if raw is None:
            raise logister.missing("deployment")
        translated = _valid(
            logister_checkin.translate_deployment(
                raw, project=project, default_environment=self._settings.default_environment
            )
        )
        # Logister upserts on (repository, environment, release): a repeat is 201 with the same id.
        await self._store_one(call, project, translated)
        answer = {"id": translated.uuid, "legacy_id": legacy_id(translated.uuid), "status": "accepted"}
        return self._reply(call, pb.RecordDeploymentResponse, 201, answer)

    async def ingest_event_batch(
        self, call: Call, request: pb.IngestEventBatchRequest
    ) -> pb.IngestEventBatchResponse:
        """`POST /api/v1/ingest_events/batch`: 202 with a result per line, or 422, all or nothing."""
        project = await self._authenticate(call, "ingest")
        check_batch_media_type(request.body.content_type)
        events = decode_batch(request.body.data, call.metadata.get("content-encoding", ""))
        if len(events) > 1:
            # The request already counted one unit: N envelopes cost N.
            self._count(call, "accepted", "ingest", call.principal.key_id, amount=len(events) - 1)
        top = batch.head(call.metadata.get("x-logister-batch-id", ""))
        valid, errors = batch.translate_lines(
            events,
            project=project,
            default_environment=self._settings.default_environment,
            now_us=self._context.clock.now_us(),
        )
        rows, rejected, _ = await self._context.ingest.prepare(
            project, [t.event for _, t in valid], dialect="logister"
        )
        for position, violations in rejected.items():
            errors[valid[position][0]] = logister.violation_messages(violations)
        kept = [entry for position, entry in enumerate(valid) if position not in rejected]
        valid_rows = [(index, t, row) for (index, t), row in zip(kept, rows, strict=True)]
        existing = await self._context.ingest.stored_kinds(
            project, [t.event.idempotency_key for _, t, _ in valid_rows]
        )
        errors.update(batch.conflicts([(i, t) for i, t, _ in valid_rows], existing))
        if errors:
            # All or nothing: nothing is written, and what was stored before stays `accepted`.
            spans = [logister.is_span(raw) for raw in events]
            duplicates = {index: t.uuid for index, t, _ in valid_rows if t.event.idempotency_key in existing}
            call.log.update(project=project, rejected=len(errors))
            results = batch.rejected_results(spans, errors, duplicates)
            detail = f"{len(errors)} of {len(events)} envelopes invalid"
            raise Answer(422, {**top, "status": "rejected", "results": results}, detail=detail)
        stored = _stored(await self._context.ingest.commit(call, [row for _, _, row in valid_rows]))
        accepted = [
            batch.accepted(index, "span" if t.span else "event", t.uuid, duplicate=outcome.duplicate)
            for (index, t, _), outcome in zip(valid_rows, stored, strict=True)
        ]
        duplicated = sum(1 for outcome in stored if outcome.duplicate)
        call.log.update(project=project, accepted=len(stored) - duplicated, duplicates=duplicated)
        answer = {
            **top,
            "status": "accepted",
            "accepted": len(accepted),
            "duplicates": duplicated,
            "results": accepted,
        }
        return self._reply(call, pb.IngestEventBatchResponse, 202, answer)

    # --- shared steps ---------------------------------------------------------------------------

    def _reply(self, call: Call, response_class: type[R], status: int, body: object) -> R:
        return reply(call, response_class, status, body, content_type=JSON)

    async def _authenticate(self, call: Call, endpoint: str) -> str:
        """The calling key's project, after counting the request against its endpoint's limit.

        Raises:
            Answer: 401 for a missing, unknown, revoked or refused key; 429 over a limit.
        """
        token = _token(call)
        principal = None
        if token:
            try:
                principal = await call.authenticate(token)
            except Unauthenticated:
                principal = None
        if principal is None or principal.kind not in _ACCEPTED_KEY_KINDS:
            client = self._clients.client(call.peer, call.metadata.get("x-forwarded-for", ""))
            self._count(call, "auth_failure", "all", client)
            state = "refused" if principal is not None else ("missing" if not token else "invalid")
            raise Answer(401, _UNAUTHORIZED, detail=f"key {state}")
        project = await self._context.access.project(principal, "", write=True)
        self._count(call, "accepted", endpoint, principal.key_id)
        return project

    def _count(self, call: Call, kind: str, endpoint: str, identity: str, *, amount: int = 1) -> None:
        """Counts `amount` units and sets the window's `X-RateLimit-*` headers on the call.

        Raises:
            Answer: 429 when the window is over its limit.
        """
        settings = self._settings
        limit = (
            settings.logister_auth_failure_rate_limit
            if kind == "auth_failure"
            else settings.logister_rate_limit_requests
        )
        window = self._limiter.hit(
            kind=kind,
            endpoint=endpoint,
            identity=identity,
            limit=limit,
            period_s=settings.logister_rate_limit_period_s,
            now_s=self._context.clock.now_us() // 1_000_000,
            amount=amount,
        )
        call.response_metadata.update(window.headers())
        if window.limited:
            raise Answer(429, window.refusal_body(), window.refusal_headers(), detail=f"{kind} rate limit")

    async def _store_one(self, call: Call, project: str, translated: logister.Translated) -> Stored:
        written = await self._context.ingest.write(
            call, project, [translated.event], dialect="logister", atomic=True
        )
        if written.outcome is Outcome.REJECTED:
            raise logister.invalid(logister.violation_messages(written.rejected[0]))
        stored = _stored(written)[0]
        if stored.duplicate:
            key = translated.event.idempotency_key
            kinds = await self._context.ingest.stored_kinds(project, [key])
            if key in kinds and (kinds[key][1] == event_pb2.KIND_SPAN) != translated.span:
                raise logister.invalid([logister.CONFLICT])
        call.log.update(project=project, duplicate=stored.duplicate)
        return stored


def _stored(written: Written) -> list[Stored]:
    """The stored events of a write.

    Raises:
        Answer: 401 for a key revoked between authentication and the commit; 429 past the
            project's daily event limit, answered like Logister's own limits, with a window that
            ends at the next UTC midnight.
    """
    if written.outcome is Outcome.REVOKED:
        raise Answer(401, _UNAUTHORIZED, detail="key revoked")
    if written.outcome is Outcome.OVER_QUOTA:
        retry_after = written.retry_after_s
        body = {
            "error": "Daily event limit exceeded",
            "limit": written.limit,
            "window_seconds": 86_400,
            "retry_after": retry_after,
        }
        raise Answer(429, body, {"retry-after": str(retry_after)}, detail=written.reason)
    return written.stored
