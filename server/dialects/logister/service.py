"""The Logister servicer: LogisterService over the pure translators in `server.dialects.logister.translate`,
`logister_checkin` and `logister_limits`.

Each handler runs in Logister's order (compat.md §2.2-§2.8): authenticate and count the request
against the rate limits (401/429 before anything about the body), then read the body (400, 413,
415), translate it (422), write it, and answer with Logister's status and body.

Keys: Logister's tokens are project tokens, so project keys (`pk_`) and server keys (`sk_`, the
server-side write-only kind) are accepted. Master keys are refused (Logister requests name no
project to pick), and so are browser keys (`pub_`, `ck_`): Logister has no CORS and no origin
checks, so accepting them here would sidestep their origin rules. Refused keys answer 401 like
unknown ones and count as authentication failures.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import orjson
from google.protobuf.message import Message

from ingestd.compat.logister.v1 import logister_service_pb2 as pb
from ingestd.v1 import event_pb2
from server.dialects.base import VendorContext, compat_service, method, reply
from server.dialects.logister import checkin as logister_checkin
from server.dialects.logister import translate as logister
from server.dialects.logister.limits import Refusal, check_limits, decode_batch, legacy_id
from server.dialects.logister.ratelimit import FixedWindowLimiter, Window
from server.errors import Unauthenticated
from server.ids import random_uuid
from server.ingest import EventRow, Outcome, Stored, Written
from server.keys import PROJECT, SERVER
from server.peers import ClientAddresses
from server.pipeline import Call, Endpoint

SERVICE = compat_service(pb)
R = TypeVar("R", bound=Message)

#: Rails answers JSON with this Content-Type.
_JSON = "application/json; charset=utf-8"
_ACCEPTED_KEY_KINDS = frozenset({PROJECT, SERVER})
_BATCH_MEDIA_TYPES = frozenset({"application/x-ndjson", "application/ndjson"})
_CONFLICT = "Uuid has already been used for another telemetry signal"
_ROLLED_BACK = "Batch was rolled back because another envelope was invalid"
_MAX_BATCH_ID = 128


class _Answered(Exception):
    """A handler has its answer before the end: a 400, 401, 413, 415, 422 or 429."""

    def __init__(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.body = body
        self.headers = headers or {}


def _refused(refusal: Refusal, headers: dict[str, str]) -> _Answered:
    return _Answered(refusal.status, refusal.body(), headers)


def _token(call: Call) -> str:
    # Logister: exactly "Bearer " (case-sensitive) wins and never falls back to X-Api-Key.
    authorization = call.metadata.get("authorization", "")
    if authorization.startswith("Bearer "):
        return authorization[7:].strip()
    return call.metadata.get("x-api-key", "").strip()


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _parse(data: bytes, content_type: str, envelope_name: str) -> Any:
    """The parsed JSON body. Not JSON: 400, as Rails' parse error when the body claims to be JSON
    (or says nothing), else as a missing envelope (Rails would not have parsed it)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        media = _media_type(content_type)
        if data.strip() and (media in ("", "application/json") or media.endswith("+json")):
            raise _Answered(400, {"error": logister.UNPARSABLE}) from None
        raise _Answered(400, {"error": logister.MISSING.format(envelope_name)}) from None


class LogisterServicer:
    """LogisterService: Logister's four ingest routes."""

    def __init__(self, context: VendorContext) -> None:
        self._context = context
        self._settings = context.settings
        self._limiter = FixedWindowLimiter()
        self._clients = ClientAddresses(context.settings.trusted_proxies)

    def endpoints(self) -> list[Endpoint]:
        # Every route writes through Ingest.commit, which re-checks the key: a cached key is safe.
        return [
            Endpoint(method(SERVICE, name), handler, handler_auth=True, cached_auth=True)
            for name, handler in (
                ("IngestEvent", self.ingest_event),
                ("IngestEventBatch", self.ingest_event_batch),
                ("CheckIn", self.check_in),
                ("RecordDeployment", self.record_deployment),
            )
        ]

    # --- the four routes ------------------------------------------------------------------------

    async def ingest_event(self, call: Call, request: pb.IngestEventRequest) -> pb.IngestEventResponse:
        """`POST /api/v1/ingest_events`: 201, or 200 with `"duplicate": true`."""
        return await self._answer(call, pb.IngestEventResponse, self._ingest_event, request.body)

    async def ingest_event_batch(
        self, call: Call, request: pb.IngestEventBatchRequest
    ) -> pb.IngestEventBatchResponse:
        """`POST /api/v1/ingest_events/batch`: 202 with a result per line, or 422, all or nothing."""
        return await self._answer(call, pb.IngestEventBatchResponse, self._ingest_batch, request.body)

    async def check_in(self, call: Call, request: pb.CheckInRequest) -> pb.CheckInResponse:
        """`POST /api/v1/check_ins`: 201, or 200 with `"duplicate": true` for a repeated uuid."""
        return await self._answer(call, pb.CheckInResponse, self._check_in, request.body)

    async def record_deployment(
        self, call: Call, request: pb.RecordDeploymentRequest
    ) -> pb.RecordDeploymentResponse:
        """`POST /api/v1/deployments`: 201, with the same id when the deployment is repeated."""
        return await self._answer(call, pb.RecordDeploymentResponse, self._deployment, request.body)

    async def _answer(self, call: Call, response_class: type[R], handler: Any, body: Any) -> R:
        headers: dict[str, str] = {}
        try:
            status, answer = await handler(call, body, headers)
        except _Answered as answered:
            status, answer = answered.status, answered.body
            headers.update(answered.headers)
        call.log["http_status"] = status
        return reply(call, response_class, status, answer, headers, content_type=_JSON)

    async def _ingest_event(self, call: Call, body: Any, headers: dict[str, str]) -> tuple[int, object]:
        project = await self._authenticate(call, "ingest", headers)
        raw = logister.envelope(_parse(body.data, body.content_type, "event"), "event")
        if raw is None:
            return 400, {"error": logister.MISSING.format("event")}
        refused = check_limits(raw)
        if refused is not None:
            raise _refused(refused, headers)
        translated = logister.translate_event(
            raw,
            project=project,
            default_environment=self._settings.default_environment,
            now_us=self._context.clock.now_us(),
            fallback_uuid=random_uuid(),
        )
        if isinstance(translated, list):
            return 422, {"errors": translated}
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
            return 200, answer
        return 201, answer

    async def _check_in(self, call: Call, body: Any, headers: dict[str, str]) -> tuple[int, object]:
        project = await self._authenticate(call, "check_in", headers)
        raw = logister_checkin.check_in_envelope(_parse(body.data, body.content_type, "check_in"))
        if raw is None:
            return 400, {"error": logister.MISSING.format("check_in")}
        translated = logister_checkin.translate_check_in(
            raw,
            default_environment=self._settings.default_environment,
            fallback_uuid=random_uuid(),
        )
        if isinstance(translated, list):
            return 422, {"errors": translated}
        stored = await self._store_one(call, project, translated)
        if stored.duplicate:
            return 200, {"id": translated.uuid, "status": "accepted", "duplicate": True}
        return 201, {"id": translated.uuid, "status": "accepted"}

    async def _deployment(self, call: Call, body: Any, headers: dict[str, str]) -> tuple[int, object]:
        project = await self._authenticate(call, "deployment", headers)
        raw = logister_checkin.deployment_envelope(_parse(body.data, body.content_type, "deployment"))
        if raw is None:
            return 400, {"error": logister.MISSING.format("deployment")}
        translated = logister_checkin.translate_deployment(
            raw, project=project, default_environment=self._settings.default_environment
        )
        if isinstance(translated, list):
            return 422, {"errors": translated}
        # Logister upserts on (repository, environment, release): a repeat is 201 with the same id.
        await self._store_one(call, project, translated)
        return 201, {"id": translated.uuid, "legacy_id": legacy_id(translated.uuid), "status": "accepted"}

    async def _ingest_batch(self, call: Call, body: Any, headers: dict[str, str]) -> tuple[int, object]:
        project = await self._authenticate(call, "ingest", headers)
        if _media_type(body.content_type) not in _BATCH_MEDIA_TYPES:
            return 415, {
                "error": "Batch ingest requires application/x-ndjson",
                "code": "unsupported_content_type",
            }
        events = decode_batch(body.data, call.metadata.get("content-encoding", ""))
        if isinstance(events, Refusal):
            raise _refused(events, headers)
        if len(events) > 1:
            # The request already counted one unit: N envelopes cost N.
            self._count(call, "accepted", "ingest", call.principal.key_id, headers, amount=len(events) - 1)
        batch_id = call.metadata.get("x-logister-batch-id", "")[:_MAX_BATCH_ID]
        top: dict[str, object] = {"schema_version": 1}
        if batch_id.strip():
            top["batch_id"] = batch_id
        spans = [logister.is_span(raw) for raw in events]
        errors: dict[int, list[str]] = {}
        valid: list[tuple[int, logister.Translated]] = []
        now_us = self._context.clock.now_us()
        for index, raw in enumerate(events):
            translated = logister.translate_event(
                raw,
                project=project,
                default_environment=self._settings.default_environment,
                now_us=now_us,
                fallback_uuid="",  # unused: the decoder requires every line's uuid
            )
            if isinstance(translated, list):
                errors[index] = translated
            else:
                valid.append((index, translated))
        rows, rejected, _ = await self._context.ingest.prepare(
            project, [t.event for _, t in valid], dialect="logister"
        )
        for position, violations in rejected.items():
            errors[valid[position][0]] = _violation_messages(violations)
        kept = [entry for position, entry in enumerate(valid) if position not in rejected]
        valid_rows = [(index, t, row) for (index, t), row in zip(kept, rows, strict=True)]
        existing = await self._context.ingest.stored_kinds(
            project, [t.event.idempotency_key for _, t, _ in valid_rows]
        )
        errors.update(_conflicts([(i, t) for i, t, _ in valid_rows], existing))
        if errors:
            # All or nothing: nothing is written, and what was stored before stays `accepted`.
            duplicates_by_index = {
                index: t.uuid for index, t, _ in valid_rows if t.event.idempotency_key in existing
            }
            call.log.update(project=project, rejected=len(errors))
            return 422, {
                **top,
                "status": "rejected",
                "results": _rejected_results(spans, errors, duplicates_by_index),
            }
        stored = await self._commit(call, [row for _, _, row in valid_rows])
        results = [
            _accepted(index, "span" if t.span else "event", t.uuid, duplicate=outcome.duplicate)
            for (index, t, _), outcome in zip(valid_rows, stored, strict=True)
        ]
        duplicates = sum(1 for outcome in stored if outcome.duplicate)
        call.log.update(project=project, accepted=len(stored) - duplicates, duplicates=duplicates)
        return 202, {
            **top,
            "status": "accepted",
            "accepted": len(results),
            "duplicates": duplicates,
            "results": results,
        }

    # --- shared steps ---------------------------------------------------------------------------

    async def _authenticate(self, call: Call, endpoint: str, headers: dict[str, str]) -> str:
        """The calling key's project, after counting the request against its endpoint's limit.

        Raises:
            _Answered: 401 for a missing, unknown, revoked or refused key; 429 over a limit.
        """
        token = _token(call)
        principal = None
        if token:
            try:
                principal = await call.authenticate(token)
            except Unauthenticated:
                principal = None
        if principal is None or principal.kind not in _ACCEPTED_KEY_KINDS:
            call.log["auth"] = "refused" if principal is not None else ("missing" if not token else "invalid")
            client = self._clients.client(call.peer, call.metadata.get("x-forwarded-for", ""))
            self._count(call, "auth_failure", "all", client, headers)
            raise _Answered(401, {"error": "Unauthorized"}, headers)
        project = await self._context.access.project(principal, "", write=True)
        self._count(call, "accepted", endpoint, principal.key_id, headers)
        return project

    def _count(
        self, call: Call, kind: str, endpoint: str, identity: str, headers: dict[str, str], *, amount: int = 1
    ) -> Window:
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
        headers.update(window.headers())
        if window.limited:
            call.log["rate_limited"] = kind
            raise _Answered(429, window.refusal_body(), window.refusal_headers())
        return window

    async def _store_one(self, call: Call, project: str, translated: logister.Translated) -> Stored:
        written = await self._context.ingest.write(
            call, project, [translated.event], dialect="logister", atomic=True
        )
        if written.outcome is Outcome.REJECTED:
            raise _Answered(422, {"errors": _violation_messages(written.rejected[0])})
        stored = _stored(written)[0]
        if stored.duplicate:
            key = translated.event.idempotency_key
            kinds = await self._context.ingest.stored_kinds(project, [key])
            if key in kinds and (kinds[key][1] == event_pb2.KIND_SPAN) != translated.span:
                raise _Answered(422, {"errors": [_CONFLICT]})
        call.log.update(project=project, duplicate=stored.duplicate)
        return stored

    async def _commit(self, call: Call, rows: Sequence[EventRow]) -> list[Stored]:
        return _stored(await self._context.ingest.commit(call, rows))


def _stored(written: Written) -> list[Stored]:
    """The stored events of a write, or Logister's answer to a refused one.

    Raises:
        _Answered: 401 for a key revoked between authentication and the commit; 429 past the
            project's daily event limit, answered like Logister's own limits, with a window that
            ends at the next UTC midnight.
    """
    if written.outcome is Outcome.REVOKED:
        raise _Answered(401, {"error": "Unauthorized"})
    if written.outcome is Outcome.OVER_QUOTA:
        retry_after = written.retry_after_s
        body = {
            "error": "Daily event limit exceeded",
            "limit": written.limit,
            "window_seconds": 86_400,
            "retry_after": retry_after,
        }
        raise _Answered(429, body, {"retry-after": str(retry_after)})
    return written.stored


def _conflicts(
    valid: list[tuple[int, logister.Translated]], existing: dict[str, tuple[str, int]]
) -> dict[int, list[str]]:
    """The batch entries whose uuid names an event of the other signal (span versus event),
    stored before or earlier in the batch."""
    seen: dict[str, bool] = {}
    conflicts: dict[int, list[str]] = {}
    for index, translated in valid:
        key = translated.event.idempotency_key
        earlier = existing[key][1] == event_pb2.KIND_SPAN if key in existing else seen.get(key)
        if earlier is not None and earlier != translated.span:
            conflicts[index] = [_CONFLICT]
        seen.setdefault(key, translated.span)
    return conflicts


def _accepted(index: int, kind: str, uuid: str, *, duplicate: bool) -> dict[str, object]:
    return {
        "index": index,
        "status": "accepted",
        "type": kind,
        "id": uuid,
        "legacy_id": legacy_id(uuid),
        "duplicate": duplicate,
    }


def _rejected_results(
    spans: list[bool], errors: dict[int, list[str]], duplicates: dict[int, str]
) -> list[dict[str, object]]:
    """The results of a rejected batch: its invalid entries `rejected` with their errors, entries
    stored before `accepted` as duplicates, and the others `rolled_back`."""
    results: list[dict[str, object]] = []
    for index, span in enumerate(spans):
        kind = "span" if span else "event"
        if index in errors:
            results.append({"index": index, "status": "rejected", "type": kind, "errors": errors[index]})
        elif index in duplicates:
            results.append(_accepted(index, kind, duplicates[index], duplicate=True))
        else:
            results.append({"index": index, "status": "rolled_back", "type": kind, "errors": [_ROLLED_BACK]})
    return results


def _violation_messages(violations: Sequence[tuple[str, str]]) -> list[str]:
    """Canonical validation failures as Rails-like full messages, such as `Trace id longer than 200
    characters`."""
    return [
        f"{field.replace('_', ' ').replace('.', ' ').capitalize()} {description}"
        for field, description in violations
    ]
