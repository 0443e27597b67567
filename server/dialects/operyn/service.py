"""The Operyn servicer: OperynService over the pure translator in `server.dialects.operyn.translate`.

Each call runs in the order Operyn's NestJS server does (docs/vendors/operyn.md §3): the body is
read and parsed first (Express middleware: 413, 415, 400 in Express' shape), then the key is
checked (a guard: 401), then the schema (400 `Invalid log event: ...`), then the default
organization's service limit (403), and the events are committed before the 202. Every refusal is
an `Answer`, raised by the translator or here.

Authentication (docs/vendors/operyn.md §2; Operyn's "organization API key" is, in ingestd, a key
of one project):
- `x-api-key` carries a project key (`pk_`) or a server key (`sk_`); the events land in its
  project. Master keys name no project, and browser keys (`pub_`, `ck_`) must not be used from
  servers, so both are refused like an unknown key. `Authorization` is not looked at.
- `x-organization-id`, when present and not blank, must equal the key's `vendor_organization`
  (`ingestd keys create --vendor-organization org_…`); a mismatch is refused with the same 401,
  since Operyn documents no other status for a bad credential.
- Without `x-organization-id` the request belongs to Operyn's "default organization", which holds
  at most `operyn_default_organization_services` services per project (`DefaultOrganization`);
  a request naming one more is refused with 403. Services sent with an organization do not count.
- With `operyn_open_mode` (Operyn without `OPERYN_API_KEY`), a request without `x-api-key` needs
  no key and lands in `operyn_open_project`; one with a key is still checked as above. With no
  key there is nothing to hold `x-organization-id` against: it only takes the request out of the
  default organization.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from google.protobuf.message import Message

from ingestd.compat.operyn.v1 import operyn_service_pb2 as pb
from ingestd.v1 import event_pb2
from server.dialects.answer import Answer
from server.dialects.base import VendorContext, compat_service, reply, vendor_endpoints
from server.dialects.operyn import translate as operyn
from server.dialects.operyn.default_organization import DefaultOrganization
from server.dialects.operyn.edge import MAX_BODY_BYTES, UNAUTHORIZED
from server.errors import Internal, NotFound, Unauthenticated
from server.ingest import Outcome
from server.keys import PROJECT, SERVER
from server.pipeline import Call, Endpoint

SERVICE = compat_service(pb)


#: The key kinds Operyn's `x-api-key` may carry.
_KINDS = frozenset({PROJECT, SERVER})

R = TypeVar("R", bound=Message)


class OperynServicer:
    """OperynService: Operyn's four ingestion endpoints."""

    def __init__(self, context: VendorContext) -> None:
        self._context = context
        settings = context.settings
        self._max_depth = settings.http_max_json_depth
        self._max_events = settings.max_batch_events
        self._default = DefaultOrganization(context.ingest, settings.operyn_default_organization_services)

    def endpoints(self) -> list[Endpoint]:
        # Every handler writes through `Ingest`, whose commit re-checks the key.
        return vendor_endpoints(
            SERVICE,
            {
                "IngestLog": self.ingest_log,
                "IngestLogBatch": self.ingest_log_batch,
                "IngestMetric": self.ingest_metric,
                "RecordDeployment": self.record_deployment,
            },
            cached_auth=True,
        )

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
        data = operyn.decode(request.body.data, call.metadata.get("content-encoding", ""), MAX_BODY_BYTES)
        value = operyn.parse(data)
        project, limited, keyless = await self._authorize(call)
        call.log.update(project=project)
        events = translate(value)
        ingest = self._context.ingest
        rows, rejected, _ = await ingest.prepare(project, events, dialect="operyn")
        if rejected:
            raise operyn.rejection(kind, rejected, batch=batch)
        if limited:
            await self._default.admit(project, operyn.services(events))
        written = await ingest.commit(call, rows, keyless=keyless)
        if written.outcome is Outcome.REVOKED:  # the key was revoked before the commit
            raise Answer(401, UNAUTHORIZED, detail=written.reason)
        if written.outcome is Outcome.OVER_QUOTA:  # the project's daily event limit
            body = {"statusCode": 429, "message": f"Daily event limit of {written.limit} events reached"}
            raise Answer(429, body, {"retry-after": str(written.retry_after_s)}, detail=written.reason)
        stored = written.stored
        call.log.update(accepted=len(stored), open=keyless or None)
        if batch:
            return reply(call, response_class, 202, {"accepted": len(stored)})
        return reply(call, response_class, 202, {"id": stored[0].event_id, "queued": True})

    async def _authorize(self, call: Call) -> tuple[str, bool, bool]:
        """(project, in the default organization, keyless) of the call.

        Raises:
            Answer: 401, no usable key, or an `x-organization-id` the key does not carry.
        """
        secret = call.metadata.get("x-api-key", "").strip()
        organization = call.metadata.get("x-organization-id", "").strip()
        settings = self._context.settings
        if not secret:
            if not settings.operyn_open_mode:
                raise _unauthorized("MISSING_API_KEY")
            project = settings.operyn_open_project
            try:
                await self._context.access.organization_of(project)
            except NotFound:
                call.log.update(error="operyn_open_project does not exist")
                raise Internal(f"operyn_open_project {project!r} does not exist") from None
            return project, not organization, True
        try:
            principal = await call.authenticate(secret)
        except Unauthenticated as exc:
            raise _unauthorized(exc.reason) from None
        if principal.kind not in _KINDS:
            raise _unauthorized("KEY_KIND_NOT_ACCEPTED")
        if organization and organization != principal.vendor_organization:
            raise _unauthorized("ORGANIZATION_MISMATCH")
        project = await self._context.access.project(principal, "", write=True)
        return project, not organization, False


def _unauthorized(reason: str) -> Answer:
    # Operyn documents one 401 for every bad credential; the reason is for the log only.
    return Answer(401, UNAUTHORIZED, detail=reason)
