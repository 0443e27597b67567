"""The Operyn servicer: OperynService over the pure translator in `server.dialects.operyn.translate`.

Each call runs in the order Operyn's NestJS server does: the body is read and parsed first
(Express middleware: 413, 415, 400 in Express' shape), then the key is checked (a guard: 401),
then the schema (400 `Invalid log event: ...`), then the default organization's service limit
(403), and the events are committed before the 202.

Authentication (the seed's "organization API key" is, in ingestd, a key of one project):
- `x-api-key` carries a project key (`pk_`) or a server key (`sk_`); the events land in its
  project. Master keys name no project, and browser keys (`pub_`, `ck_`) must not be used from
  servers, so both are refused like an unknown key. `Authorization` is not looked at.
- `x-organization-id`, when present and not blank, must equal the key's `vendor_organization`
  (`ingestd keys create --vendor-organization org_…`); a mismatch is refused with the same 401,
  since Operyn documents no other status for a bad credential.
- Without `x-organization-id` the request belongs to Operyn's "default organization": each
  project then admits at most `operyn_default_organization_services` distinct services (see
  `ServiceLimit`); a request naming one more is refused with 403.
- With `operyn_open_mode` (Operyn without `OPERYN_API_KEY`), a request without `x-api-key` needs
  no key and lands in `operyn_open_project`; one with a key is still checked as above. With no
  key there is nothing to hold `x-organization-id` against: it only lifts the service limit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import TypeVar

from google.protobuf.message import Message

from ingestd.compat.operyn.v1 import operyn_service_pb2 as pb
from ingestd.v1 import event_pb2
from server.dialects.base import VendorContext, compat_service, method, reply
from server.dialects.operyn import translate as operyn
from server.dialects.operyn.edge import MAX_BODY_BYTES
from server.errors import Internal, NotFound, Unauthenticated
from server.ingest import Ingest, Outcome, Written
from server.keys import PROJECT, SERVER
from server.pipeline import Call, Endpoint

SERVICE = compat_service(pb)


#: The key kinds Operyn's `x-api-key` may carry.
_KINDS = frozenset({PROJECT, SERVER})
_UNAUTHORIZED = {"statusCode": 401, "message": "Invalid or missing API key"}
_EXPRESS_ERRORS = {400: "Bad Request", 413: "Payload Too Large", 415: "Unsupported Media Type"}

R = TypeVar("R", bound=Message)


class ServiceLimitExceeded(Exception):
    """Admitting `service` would give the project more distinct services than the limit."""

    def __init__(self, service: str, limit: int) -> None:
        super().__init__(service)
        self.service = service
        self.limit = limit


class ServiceLimit:
    """At most `limit` distinct services per project, counted over the events it stores.

    No table counts them: each project's services known to be stored are cached in-process as a
    set that only grows, and the database is asked (by index seeks, `storage.services`) only when
    a request names a service outside that set. Such a request holds its project's lock from the
    check through its commit, so one process never admits more than `limit`. Two processes may
    each admit a different new service at the same instant and exceed it by one each: the limit
    is a guard against runaway cardinality, not a billing boundary.
    """

    def __init__(self, ingest: Ingest, limit: int) -> None:
        self._ingest = ingest
        self._limit = limit
        self._known: dict[str, set[str]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def run(
        self, project: str, services: Collection[str], write: Callable[[], Awaitable[Written]]
    ) -> Written:
        """Runs `write` if `project` may hold `services`; remembers them once they are stored.

        Raises:
            ServiceLimitExceeded: nothing was committed.
        """
        known = self._known.setdefault(project, set())
        if known.issuperset(services):
            return await write()
        async with self._locks.setdefault(project, asyncio.Lock()):
            unseen = sorted(set(services) - known)
            if unseen:
                await self._check(project, known, unseen)
            written = await write()
            if written.outcome is Outcome.STORED:
                known.update(unseen)
            return written

    async def _check(self, project: str, known: set[str], unseen: Sequence[str]) -> None:
        if len(known) <= self._limit:
            known.update(await self._ingest.first_services(project, self._limit + 1))
        new = [s for s in unseen if s not in known]
        if len(known) <= self._limit:
            # The first `limit + 1` services were all there are: none of `new` is stored.
            if new and len(known) + len(new) > self._limit:
                raise ServiceLimitExceeded(new[0], self._limit)
            return
        # Already over the limit (services stored by other means): only stored ones pass.
        for service in new:
            if not await self._ingest.has_service(project, service):
                raise ServiceLimitExceeded(service, self._limit)
            known.add(service)


class OperynServicer:
    """OperynService: Operyn's four ingestion endpoints."""

    def __init__(self, context: VendorContext) -> None:
        self._context = context
        settings = context.settings
        self._max_depth = settings.http_max_json_depth
        self._max_events = settings.max_batch_events
        self._limit = ServiceLimit(context.ingest, settings.operyn_default_organization_services)

    def endpoints(self) -> list[Endpoint]:
        return [
            Endpoint(method(SERVICE, name), handler, handler_auth=True, cached_auth=True)
            for name, handler in (
                ("IngestLog", self.ingest_log),
                ("IngestLogBatch", self.ingest_log_batch),
                ("IngestMetric", self.ingest_metric),
                ("RecordDeployment", self.record_deployment),
            )
        ]

    async def ingest_log(self, call: Call, request: pb.IngestLogRequest) -> pb.IngestLogResponse:
        """`POST /events/logs`: 202 `{"id": ..., "queued": true}`."""
        depth = self._max_depth
        return await self._ingest(
            call, request, pb.IngestLogResponse, operyn.LOG, lambda v: [operyn.log(v, max_depth=depth)]
        )

    async def ingest_log_batch(
        self, call: Call, request: pb.IngestLogBatchRequest
    ) -> pb.IngestLogBatchResponse:
        """`POST /events/logs/batch`: 202 `{"accepted": N}`; one bad item rejects them all."""
        depth, most = self._max_depth, self._max_events
        return await self._ingest(
            call,
            request,
            pb.IngestLogBatchResponse,
            operyn.LOG,
            lambda v: operyn.log_batch(v, max_depth=depth, max_events=most),
            batch=True,
        )

    async def ingest_metric(self, call: Call, request: pb.IngestMetricRequest) -> pb.IngestMetricResponse:
        """`POST /events/metrics`: 202 `{"id": ..., "queued": true}`."""
        return await self._ingest(
            call, request, pb.IngestMetricResponse, operyn.METRIC, lambda v: [operyn.metric(v)]
        )

    async def record_deployment(
        self, call: Call, request: pb.RecordDeploymentRequest
    ) -> pb.RecordDeploymentResponse:
        """`POST /events/deployments`: 202 `{"id": ..., "queued": true}`."""
        depth = self._max_depth
        return await self._ingest(
            call,
            request,
            pb.RecordDeploymentResponse,
            operyn.DEPLOYMENT,
            lambda v: [operyn.deployment(v, max_depth=depth)],
        )

    async def _ingest(
        self,
        call: Call,
        request: pb.IngestLogRequest
        | pb.IngestLogBatchRequest
        | pb.IngestMetricRequest
        | pb.RecordDeploymentRequest,
        response_class: type[R],
        kind: str,
        translate: Callable[[object], list[event_pb2.Event]],
        *,
        batch: bool = False,
    ) -> R:
        def answer(status: int, body: object) -> R:
            return reply(call, response_class, status, body)

        try:
            data = operyn.decode(request.body.data, call.metadata.get("content-encoding", ""), MAX_BODY_BYTES)
            value = operyn.parse(data)
        except operyn.BodyRefused as refused:
            phrase = _EXPRESS_ERRORS.get(refused.status, "Bad Request")
            body = {"message": refused.message, "error": phrase, "statusCode": refused.status}
            return answer(refused.status, body)
        try:
            project, limited, keyless = await self._authorize(call)
        except Unauthenticated as exc:
            call.log.update(reason=exc.reason)
            return answer(401, _UNAUTHORIZED)
        try:
            events = translate(value)
            rows, rejected, _ = await self._context.ingest.prepare(project, events, dialect="operyn")
            if rejected:
                raise operyn.rejection(kind, rejected, batch=batch)
        except operyn.Invalid as invalid:
            return answer(400, {"statusCode": 400, "message": invalid.message})

        async def commit() -> Written:
            return await self._context.ingest.commit(call, rows, keyless=keyless)

        try:
            if limited:
                written = await self._limit.run(project, operyn.services(events), commit)
            else:
                written = await commit()
        except ServiceLimitExceeded as exc:
            call.log.update(project=project, reason="SERVICE_LIMIT")
            message = (
                f"Service limit reached: the default organization accepts at most {exc.limit} services, "
                f"and '{exc.service}' would be one more. Send your organization ID in x-organization-id."
            )
            return answer(403, {"statusCode": 403, "message": message})
        if written.outcome is Outcome.REVOKED:  # the key was revoked before the commit
            call.log.update(reason=written.reason)
            return answer(401, _UNAUTHORIZED)
        if written.outcome is Outcome.OVER_QUOTA:  # the project's daily event limit
            call.log.update(project=project, reason=written.reason)
            body = {"statusCode": 429, "message": f"Daily event limit of {written.limit} events reached"}
            return reply(call, response_class, 429, body, {"retry-after": str(written.retry_after_s)})
        stored = written.stored
        call.log.update(project=project, accepted=len(stored), open=keyless or None)
        if batch:
            return answer(202, {"accepted": len(stored)})
        return answer(202, {"id": stored[0].event_id, "queued": True})

    async def _authorize(self, call: Call) -> tuple[str, bool, bool]:
        """(project, limited to the default organization's services, keyless) of the call.

        Raises:
            Unauthenticated: no usable key, or an `x-organization-id` the key does not carry.
        """
        secret = call.metadata.get("x-api-key", "").strip()
        organization = call.metadata.get("x-organization-id", "").strip()
        settings = self._context.settings
        if not secret:
            if not settings.operyn_open_mode:
                raise Unauthenticated("missing x-api-key", reason="MISSING_API_KEY")
            project = settings.operyn_open_project
            try:
                await self._context.access.organization_of(project)
            except NotFound:
                call.log.update(error="operyn_open_project does not exist")
                raise Internal(f"operyn_open_project {project!r} does not exist") from None
            return project, not organization, True
        principal = await call.authenticate(secret)
        if principal.kind not in _KINDS:
            raise Unauthenticated("Operyn takes a project or server key", reason="KEY_KIND_NOT_ACCEPTED")
        if organization and organization != principal.vendor_organization:
            raise Unauthenticated("x-organization-id is not the key's", reason="ORGANIZATION_MISMATCH")
        project = await self._context.access.project(principal, "", write=True)
        return project, not organization, False
