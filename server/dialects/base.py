"""What every vendor shares: its declaration, the context its servicer is built with, and how
it answers.

A vendor is one package, `server/dialects/<vendor>/` (style.md principle 6):
- `translate.py`: the pure translator from the vendor's wire shapes to `ingestd.v1.Event`s and
  the vendor's documented validation errors. It never logs, writes, reads or counts, and imports
  neither `storage` nor another vendor.
- `service.py`: a thin servicer for the vendor's compat service (`proto/ingestd/compat/<vendor>/v1`).
  It authenticates the way the vendor does, calls the translator, writes through `Ingest`, and
  answers with the vendor's body and HTTP status. It imports nothing from `storage`.
- `edge.py`: its HTTP edge (`gateway.edge.Edge`): the body cap, CORS, and the vendor's shape for
  errors that arise outside the servicer. The servicer reads its cap from here.
- `__init__.py`: `VENDOR`, the one declaration that `server.dialects.VENDORS` lists.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Protocol, TypeVar

import orjson
from google.protobuf import message_factory
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import Message

from gateway.edge import Edge
from server.access import Access
from server.admin import Admin
from server.alerting import Alerting
from server.clock import Clock
from server.config import Settings
from server.dialects.answer import MAX_DETAIL_CHARS, Answer
from server.errors import Unauthenticated
from server.ids import UuidV7
from server.ingest import Ingest
from server.pipeline import Call, Endpoint, UnaryHandler
from server.queries import EventQueries
from server.redaction.service import RedactionRules
from server.streams import Streams
from server.timings import OpenTimings
from server.viewer_tokens import ViewerTokens

R = TypeVar("R", bound=Message)

#: The response header in which a handler names its HTTP status (grpc-gateway's convention).
HTTP_CODE = "x-http-code"


@dataclass(frozen=True, slots=True)
class VendorContext:
    """The domain objects a dialect servicer may use."""

    ingest: Ingest
    access: Access
    queries: EventQueries
    clock: Clock
    ids: UuidV7
    settings: Settings
    admin: Admin
    redaction: RedactionRules
    viewer_tokens: ViewerTokens
    streams: Streams
    alerting: Alerting
    #: Timing starts waiting for an end from a later request (SimpleLogs).
    timings: OpenTimings


class VendorServicer(Protocol):
    def endpoints(self) -> list[Endpoint]:
        """One endpoint per RPC of the dialect's compat service."""
        ...


def vendor_endpoints(
    service: ServiceDescriptor,
    handlers: Mapping[str, UnaryHandler],
    *,
    cached_auth: bool = False,
    content_type: str = "application/json",
) -> list[Endpoint]:
    """An endpoint per named RPC of `service`, whose handler finds its key itself
    (`Endpoint.handler_auth`) and whose `Answer`s become the RPC's response, with `content_type`
    unless the answer names its own.

    `cached_auth` may be True only where every handler writes through `Ingest`, whose commit
    re-checks the key.
    """
    return [
        Endpoint(
            method(service, name),
            _answering(
                handler,
                message_factory.GetMessageClass(service.methods_by_name[name].output_type),
                content_type,
            ),
            handler_auth=True,
            cached_auth=cached_auth,
        )
        for name, handler in handlers.items()
    ]


def _answering(handler: UnaryHandler, response_class: type[Message], content_type: str) -> UnaryHandler:
    async def answered(call: Call, request: Message) -> Message:
        try:
            return await handler(call, request)
        except Answer as answer:
            call.log["http_status"] = answer.status
            if answer.detail:
                call.log["refused"] = answer.detail[:MAX_DETAIL_CHARS]
            return reply(
                call,
                response_class,
                answer.status,
                answer.body,
                answer.headers,
                content_type=answer.content_type or content_type,
            )

    return answered


def reply(
    call: Call,
    response_class: type[R],
    status: int,
    body: object,
    headers: Mapping[str, str] | None = None,
    *,
    content_type: str = "application/json",
) -> R:
    """The response message carrying `body` (JSON-encoded unless it is bytes) with HTTP `status`."""
    call.response_metadata[HTTP_CODE] = str(status)
    if headers:
        call.response_metadata.update(headers)
    response = response_class()
    http_body = response.body  # type: ignore[attr-defined]
    http_body.content_type = content_type
    http_body.data = body if isinstance(body, bytes) else orjson.dumps(body)
    return response


@dataclass(frozen=True, slots=True)
class Vendor:
    """One vendor, declared once: the server's dialect registry and the gateway's edges both
    derive from these."""

    #: Also the `dialect` of the events it stores.
    name: str
    #: Its compat service, whose `google.api.http` rules are the vendor's routes.
    service: ServiceDescriptor
    servicer: Callable[[VendorContext], VendorServicer]
    edge: Edge
    #: Services served on the gRPC port only, beside `service`: a protocol's own gRPC services,
    #: whose protos carry no `google.api.http` rules (OTLP's collector services). The servicer's
    #: `endpoints` serve their RPCs too; the HTTP gateway never sees them.
    grpc_services: tuple[ServiceDescriptor, ...] = ()
    #: How its webhooks' deliveries look, where the vendor shapes them (see
    #: `server.alerting.delivery`): ingestd's delivery body in, the vendor's out. A webhook
    #: registered through the vendor's API carries the vendor's `name` as its dialect.
    webhook_payload: Callable[[bytes], bytes] | None = None


def compat_service(module: ModuleType) -> ServiceDescriptor:
    """The one service a compat `*_service_pb2` module defines."""
    (service,) = module.DESCRIPTOR.services_by_name.values()
    return service  # type: ignore[no-any-return]


def method(service: ServiceDescriptor, name: str) -> str:
    """The gRPC method path of an RPC of a compat service, e.g. `/ingestd.compat.x.v1.XService/Y`;
    a name the service lacks fails at startup."""
    return f"/{service.full_name}/{service.methods_by_name[name].name}"


async def key_project(
    call: Call, access: Access, secret: str, kinds: Collection[int], *, raise_unknown: bool = False
) -> str | None:
    """The project a vendor's write key writes to: `secret` authenticated as the call's principal,
    a key of one of `kinds` that names a project. None for a key of another kind, and, unless
    `raise_unknown`, for no key or an unknown or revoked one; the call's log says why
    (`key_refused`).

    Raises:
        Unauthenticated: with `raise_unknown`, no key or an unknown or revoked one.
        PermissionDenied, NotFound: as `Access.project` raises them.
    """
    try:
        principal = await call.authenticate(secret)
    except Unauthenticated as refused:
        if raise_unknown:
            raise
        call.log["key_refused"] = refused.reason
        return None
    if principal.kind not in kinds or not principal.project:
        call.log["key_refused"] = "KEY_KIND"
        return None
    return await access.project(principal, "", write=True)
