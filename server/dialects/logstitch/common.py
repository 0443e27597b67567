"""What every LogStitch endpoint shares: its error shape, its `request_id`, and its key checks.

LogStitch answers every error as `{"error": {"code", "message", "details": [{"field", "message"}]},
"request_id"}` and puts `request_id` (`req_…`) in every body. Keys arrive as `Authorization:
Bearer <key>`; each endpoint names the key kinds it takes, and any other kind gets 403
`forbidden`.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any, TypeVar

import orjson
from google.protobuf.message import Message

from ingestd.compat.logstitch.v1 import logstitch_service_pb2
from server.dialects.base import VendorContext, compat_service, reply
from server.dialects.common import zod_expected
from server.dialects.logstitch import translate as logstitch
from server.errors import PermissionDenied, Unauthenticated
from server.ingest import Prepared
from server.keys import MASTER, Principal
from server.pipeline import Call

R = TypeVar("R", bound=Message)

SERVICE = compat_service(logstitch_service_pb2)

#: The project a master key uses when the request names none.
MASTER_DEFAULT_PROJECT = "default"
_MAX_CURSOR_CHARS = 256


class Refusal(Exception):
    """A documented LogStitch error, answered by the handler in LogStitch's shape."""

    def __init__(
        self, status: int, code: str, message: str, details: Sequence[logstitch.Detail] = ()
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def request_id(call_request_id: str) -> str:
    """The `request_id` LogStitch clients see: `req_` and the call's request id."""
    return call_request_id if call_request_id.startswith("req_") else "req_" + call_request_id


def error_body(code: str, message: str, details: Sequence[logstitch.Detail], rid: str) -> dict[str, object]:
    return {
        "error": {
            "code": code,
            "message": message,
            "details": [{"field": f, "message": m} for f, m in details],
        },
        "request_id": rid,
    }


def refuse(call: Call, response_class: type[R], refusal: Refusal) -> R:
    """The response carrying `refusal` in LogStitch's error shape."""
    call.log.update(error=refusal.code)
    rid = request_id(call.request_id)
    return reply(
        call, response_class, refusal.status, error_body(refusal.code, refusal.message, refusal.details, rid)
    )


def answer(call: Call, response_class: type[R], status: int, body: Mapping[str, object]) -> R:
    """A success response: `body` with the call's `request_id` added."""
    return reply(call, response_class, status, {**body, "request_id": request_id(call.request_id)})


def object_body(data: bytes) -> dict[str, Any]:
    """A request body that must be one JSON object.

    Raises:
        Refusal: 400 `validation_error`: not JSON, or not an object.
    """
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise Refusal(400, "validation_error", "Invalid JSON in request body") from None
    if not isinstance(body, dict):
        raise Refusal(400, "validation_error", "Invalid request body", [("", zod_expected("object", body))])
    return body


def encode_cursor(last_id: str) -> str:
    """The opaque `cursor` of a page that ends at `last_id`: URL-safe base64, unpadded."""
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, valid: re.Pattern[str]) -> str | None:
    """The id in a cursor this server made (`valid` matches it whole), else None."""
    if len(cursor) > _MAX_CURSOR_CHARS:
        return None
    try:
        last_id = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, ValueError):
        return None
    return last_id if valid.fullmatch(last_id) else None


async def authenticate(call: Call, kinds: Collection[int]) -> Principal:
    """The caller's principal, from `Authorization: Bearer <key>`, if its kind is one of `kinds`.

    Raises:
        Refusal: 401 `unauthorized` (no Bearer key), `invalid_api_key`, `key_revoked`; 403
            `forbidden` for a kind the endpoint does not take.
    """
    scheme, _, secret = call.metadata.get("authorization", "").partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret:
        raise Refusal(401, "unauthorized", "Missing API key: send 'Authorization: Bearer <key>'")
    try:
        principal = await call.authenticate(secret)
    except Unauthenticated as exc:
        if exc.reason == "KEY_REVOKED":
            raise Refusal(401, "key_revoked", "This API key has been revoked") from None
        raise Refusal(401, "invalid_api_key", "Invalid API key") from None
    if principal.kind not in kinds:
        raise Refusal(403, "forbidden", "This key cannot use this endpoint")
    return principal


async def project_of(context: VendorContext, principal: Principal, project_id: str, *, write: bool) -> str:
    """The project the principal addresses: a project key's own (or the one it names, if its own);
    a master key's `project_id`, else `default`.

    Raises:
        Refusal: 403 `forbidden`: the key may not use the project.
    """
    wanted = project_id or (MASTER_DEFAULT_PROJECT if principal.kind == MASTER else "")
    try:
        return await context.access.project(principal, wanted, write=write)
    except PermissionDenied:
        raise Refusal(403, "forbidden", f"This key may not use project '{wanted}'") from None


async def prepare_events(context: VendorContext, project: str | None, data: bytes) -> Prepared:
    """A LogStitch body (one event or an array of them) translated, validated and redacted for
    `project` (None: an anonymous stream), nothing rejected.

    Raises:
        Refusal: 400 `validation_error`, with a detail per bad field (`[2].action` in an array).
    """
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise Refusal(400, "validation_error", "Invalid JSON in request body") from None
    try:
        events = logstitch.to_events(body)
    except logstitch.Invalid as exc:
        raise Refusal(400, "validation_error", exc.message, exc.details) from None
    prepared = await context.ingest.prepare(project, events, dialect="logstitch")
    if prepared.rejected:
        array = isinstance(body, list)
        details = [
            (logstitch.vendor_field(index if array else None, field), description)
            for index, violations in sorted(prepared.rejected.items())
            for field, description in violations
        ]
        raise Refusal(400, "validation_error", "Invalid request body", details)
    return prepared
