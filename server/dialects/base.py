"""What every vendor dialect's servicer shares: the context it is built with, and how it answers.

A dialect is two modules (style.md principle 6):
- `server/dialects/<vendor>.py`: the pure translator from the vendor's JSON to `ingestd.v1.Event`s
  and the vendor's documented validation errors. It never logs, writes, reads or counts.
- `server/dialects/<vendor>_service.py`: a thin servicer for the vendor's compat service
  (`proto/ingestd/compat/<vendor>/v1`). It authenticates the way the vendor does, calls the
  translator, writes through `Ingest`, and answers with the vendor's body and HTTP status.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, TypeVar

import orjson
from google.protobuf.message import Message

from server.access import Access
from server.admin import Admin
from server.alerting import Alerting
from server.clock import Clock
from server.config import Settings
from server.ids import UuidV7
from server.ingest import Ingest
from server.pipeline import Call, Endpoint
from server.queries import EventQueries
from server.redaction.service import RedactionRules
from server.streams import Streams
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


class VendorServicer(Protocol):
    def endpoints(self) -> list[Endpoint]:
        """One endpoint per RPC of the dialect's compat service."""
        ...


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


def method(service: str, name: str) -> str:
    """The gRPC method path of an RPC of a compat service, e.g. `/ingestd.compat.x.v1.XService/Y`."""
    return f"/{service}/{name}"
