"""The OTLP servicer: OTLP/gRPC's `Export` of the trace, logs and metrics collector services, and
OTLP/HTTP's `POST /v1/{traces,logs,metrics}` (`OtlpService`) (docs/vendors/otlp.md §1, §4, §6, §7).

Thin: it finds the key, runs the translator (`server.dialects.otlp.translate`), writes through
`Ingest`, and answers as the specification asks:

- a stored request: OK / 200 with an `Export*ServiceResponse`, its `partial_success` unset, or,
  when some items could not be stored, counting them with an English message (still OK: clients
  must not retry it);
- over HTTP, in order: a Content-Type other than protobuf or JSON 415; no, an unknown or a revoked
  key 401 (UNAUTHENTICATED over gRPC); a key other than a project or server key 403
  (PERMISSION_DENIED); a body that does not decode 400 (INVALID_ARGUMENT);
- throttled: over the project's daily event limit HTTP 429, the database or the server busy
  HTTP 503, both with `Retry-After`; over gRPC both are UNAVAILABLE with a RetryInfo, which the
  transport also sends alone in the `google.rpc.retryinfo-bin` trailer.

Over HTTP the answer, errors included, is in the request's encoding (protobuf or JSON); the edge
(`server.dialects.otlp.edge`) refuses a wrong Content-Type before the body is read, inflates gzip
and caps the body.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from google.api import httpbody_pb2  # type: ignore[attr-defined]
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from ingestd.compat.otlp.v1 import otlp_service_pb2 as pb
from server.dialects.base import VendorContext, compat_service, key_project, method, reply, vendor_endpoints
from server.dialects.otlp import translate, wire
from server.dialects.otlp.edge import servicer_http_status
from server.errors import IngestdError, PermissionDenied, ResourceExhausted, Unavailable
from server.ingest import Written
from server.keys import PROJECT, SERVER, secret_from_metadata
from server.pipeline import Call, Endpoint, UnaryHandler

SERVICE = compat_service(pb)
#: OTLP/gRPC's services, served from the `opentelemetry-proto` package's descriptors.
GRPC_SERVICES = (
    trace_service_pb2.DESCRIPTOR.services_by_name["TraceService"],
    logs_service_pb2.DESCRIPTOR.services_by_name["LogsService"],
    metrics_service_pb2.DESCRIPTOR.services_by_name["MetricsService"],
)

#: Keys that write OTLP: project keys, and server keys (SimpleLogs' `sk_`, which its SDKs send to
#: `/api/otlp`). Public and client keys are published in browsers; master keys name no project.
ACCEPTED_KINDS = frozenset({PROJECT, SERVER})

_TRANSLATORS: dict[str, Callable[[Any], translate.Translation]] = {
    wire.TRACES.name: translate.translate_traces,
    wire.LOGS.name: translate.translate_logs,
    wire.METRICS.name: translate.translate_metrics,
}
#: A partial success names this many rejected items, and counts the rest.
_NAMED_REJECTIONS = 3


class OtlpServicer:
    """OtlpService (HTTP) and OTLP's TraceService, LogsService and MetricsService (gRPC)."""

    def __init__(self, context: VendorContext) -> None:
        self._context = context

    def endpoints(self) -> list[Endpoint]:
        http = vendor_endpoints(
            SERVICE,
            {
                "ExportTraces": self._http(wire.TRACES, pb.ExportTracesResponse),
                "ExportLogs": self._http(wire.LOGS, pb.ExportLogsResponse),
                "ExportMetrics": self._http(wire.METRICS, pb.ExportMetricsResponse),
            },
            cached_auth=True,
        )
        signals = (wire.TRACES, wire.LOGS, wire.METRICS)
        native = [
            # Every handler writes through `Ingest`, whose commit re-checks the key.
            Endpoint(method(service, "Export"), self._grpc(signal), handler_auth=True, cached_auth=True)
            for service, signal in zip(GRPC_SERVICES, signals, strict=True)
        ]
        return http + native

    def _grpc(self, signal: wire.Signal) -> UnaryHandler:
        async def export(call: Call, request: Message) -> Message:
            project = await self._project(call)
            try:
                return await self._store(call, project, signal, request)
            except ResourceExhausted as throttled:
                # OTLP/gRPC throttles with UNAVAILABLE and a RetryInfo: the code its clients retry.
                raise Unavailable(
                    throttled.message, reason=throttled.reason, retry_after_s=throttled.retry_after_s
                ) from None

        return export

    def _http(self, signal: wire.Signal, response_class: type[Message]) -> UnaryHandler:
        async def export(call: Call, request: Any) -> Message:
            body: httpbody_pb2.HttpBody = request.body
            media = wire.media_type(body.content_type)
            if media is None:
                raise wire.unsupported_media(body.content_type)
            try:
                project = await self._project(call)
                decoded = wire.decode(signal, body.data, media)
                answer = await self._store(call, project, signal, decoded)
            except IngestdError as refusal:
                raise _in_otlp_shape(refusal, media) from None
            return reply(call, response_class, 200, wire.encode(answer, media), content_type=media)

        return export

    async def _project(self, call: Call) -> str:
        """The project the call's key writes to.

        Raises:
            Unauthenticated: no key, or an unknown or revoked one.
            PermissionDenied: a key of a kind that does not write OTLP.
        """
        secret = secret_from_metadata(call.metadata)
        project = await key_project(call, self._context.access, secret, ACCEPTED_KINDS, raise_unknown=True)
        if project is None:
            raise PermissionDenied(
                "OTLP is written with a project key (pk_) or a server key (sk_)", reason="KEY_KIND"
            )
        return project

    async def _store(self, call: Call, project: str, signal: wire.Signal, request: Message) -> Message:
        """Writes the request's events; the response counts the items that were not stored.

        Raises:
            Unauthenticated: the key was revoked before the commit.
            ResourceExhausted: the project's daily event limit; nothing was stored.
            Unavailable: the database or the server is busy; a retry may succeed.
        """
        translation = _TRANSLATORS[signal.name](request)
        written = await self._context.ingest.write(call, project, translation.events, dialect="otlp")
        if written.refusal is not None:  # REVOKED or OVER_QUOTA: nothing was stored
            raise written.refusal
        reasons = _rejections(translation, written)
        duplicates = written.duplicates
        call.log.update(
            project=project,
            signal=signal.name,
            items=translation.items,
            accepted=len(written.stored) - duplicates,
            duplicates=duplicates,
            rejected=len(reasons),
        )
        if not reasons:
            return wire.response(signal)
        named = "; ".join(
            f"{signal.item} {i}: {why}" for i, why in sorted(reasons.items())[:_NAMED_REJECTIONS]
        )
        more = len(reasons) - _NAMED_REJECTIONS
        message = f"{len(reasons)} of {translation.items} not stored: {named}"
        if more > 0:
            message += f"; and {more} more"
        return wire.response(signal, len(reasons), message)


def _rejections(translation: translate.Translation, written: Written) -> dict[int, str]:
    """Why each rejected item was not stored, by its index: the translator's refusals, and the
    first violation of any event made of it that the server refused."""
    reasons = dict(translation.refused)
    for index, violations in sorted(written.rejected.items()):
        field, problem = violations[0]
        reasons.setdefault(translation.owners[index], f"{field} {problem}")
    return reasons


def _in_otlp_shape(refusal: IngestdError, media: str) -> Exception:
    """A refusal as OTLP/HTTP answers it: its HTTP status and a `google.rpc.Status` in the
    request's encoding, with `Retry-After` for a throttle. A refusal no table here names is
    passed on, for the gateway to answer."""
    status = servicer_http_status(refusal.code.value[0])
    if status is None:
        return refusal
    retry = refusal.retry_after_s
    return wire.error(
        status,
        refusal.code.value[0],
        refusal.message,
        media,
        retry_after_s=max(1, math.ceil(retry)) if retry is not None and status in (429, 503) else None,
        detail=refusal.reason,
    )
