"""What every LogStitch servicer does with a call: its endpoints, its key checks, the project it
addresses, and its answers (docs/vendors/logstitch.md §2, §3).

Keys arrive as `Authorization: Bearer <key>`; each endpoint names the key kinds it takes, and any
other kind gets 403 `forbidden`. Every answer, success or error, carries the call's `request_id`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TypeVar

import orjson
from google.protobuf.message import Message

from ingestd.compat.logstitch.v1 import logstitch_service_pb2
from server.dialects.answer import Answer
from server.dialects.base import VendorContext, compat_service, reply, vendor_endpoints
from server.dialects.logstitch import translate as logstitch
from server.dialects.logstitch.common import (
    DIALECT,
    INVALID_JSON,
    error,
    request_id,
    stamped,
    validation_error,
)
from server.errors import PermissionDenied, Unauthenticated
from server.ingest import Prepared
from server.keys import MASTER, Principal
from server.pipeline import Call, Endpoint, UnaryHandler

R = TypeVar("R", bound=Message)

SERVICE = compat_service(logstitch_service_pb2)

#: The project a master key uses when the request names none.
MASTER_DEFAULT_PROJECT = "default"


def endpoints(handlers: Mapping[str, UnaryHandler], *, cached_auth: bool = False) -> list[Endpoint]:
    """The endpoints of LogStitchService's named RPCs (`vendor_endpoints`), whose raised `Answer`s
    get the call's `request_id`."""
    return vendor_endpoints(
        SERVICE,
        {name: _with_request_id(handler) for name, handler in handlers.items()},
        cached_auth=cached_auth,
    )


def _with_request_id(handler: UnaryHandler) -> UnaryHandler:
    async def answered(call: Call, request: Message) -> Message:
        try:
            return await handler(call, request)
        except Answer as answer:
            raise stamped(answer, call.request_id) from None

    return answered


def respond(call: Call, response_class: type[R], status: int, body: Mapping[str, object]) -> R:
    """A success response: `body` with the call's `request_id` added."""
    return reply(call, response_class, status, {**body, "request_id": request_id(call.request_id)})


async def authenticate(call: Call, kinds: Collection[int]) -> Principal:
    """The caller's principal, from `Authorization: Bearer <key>`, if its kind is one of `kinds`.

    Raises:
        Answer: 401 `unauthorized` (no Bearer key), `invalid_api_key`, `key_revoked`; 403
            `forbidden` for a kind the endpoint does not take.
    """
    scheme, _, secret = call.metadata.get("authorization", "").partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret:
        raise error(401, "unauthorized", "Missing API key: send 'Authorization: Bearer <key>'")
    try:
        principal = await call.authenticate(secret)
    except Unauthenticated as exc:
        if exc.reason == "KEY_REVOKED":
            raise key_revoked() from None
        raise error(401, "invalid_api_key", "Invalid API key") from None
    if principal.kind not in kinds:
        raise error(403, "forbidden", "This key cannot use this endpoint")
    return principal


def key_revoked() -> Answer:
    """401 `key_revoked`."""
    return error(401, "key_revoked", "This API key has been revoked")


async def project_of(context: VendorContext, principal: Principal, project_id: str, *, write: bool) -> str:
    """The project the principal addresses: a project key's own (or the one it names, if its own);
    a master key's `project_id`, else `default`.

    Raises:
        Answer: 403 `forbidden`: the key may not use the project.
    """
    wanted = project_id or (MASTER_DEFAULT_PROJECT if principal.kind == MASTER else "")
    try:
        return await context.access.project(principal, wanted, write=write)
    except PermissionDenied:
        raise error(403, "forbidden", f"This key may not use project '{wanted}'") from None


async def prepare_events(context: VendorContext, project: str | None, data: bytes) -> Prepared:
    """A LogStitch body (one event or an array of them) translated, validated and redacted for
    `project` (None: an anonymous stream), nothing rejected.

    Raises:
        Answer: 400 `validation_error`, with a detail per bad field (`[2].action` in an array).
    """
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise validation_error([], INVALID_JSON) from None
    events = logstitch.to_events(body)
    prepared = await context.ingest.prepare(project, events, dialect=DIALECT)
    if prepared.rejected:
        array = isinstance(body, list)
        raise validation_error(
            [
                (logstitch.vendor_field(index if array else None, field), description)
                for index, violations in sorted(prepared.rejected.items())
                for field, description in violations
            ]
        )
    return prepared
