"""What every LogStitch answer shares: its error shape, its `request_id` and its time format
(docs/vendors/logstitch.md §3, §8). Pure, so that the translator can refuse in LogStitch's shape.

An error is `Answer(status, {"error": {"code", "message", "details": [{"field", "message"}]}})`
made by `error`; the call's `request_id` is added where the servicer turns it into the response
(`stamped`, run by `server.dialects.logstitch.calls.endpoints`), since only the call knows it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from google.protobuf import timestamp_pb2

from server.dialects.answer import Answer

#: The vendor's name: the dialect of the events it stores and of the webhooks registered through
#: its API (`server.dialects.base.Vendor.name`).
DIALECT = "logstitch"

#: A problem with one value: (`field`, `message`). `field` is the Zod path joined the JavaScript
#: way (`actor.id`, `[2].action`), or "" for the body itself.
Detail = tuple[str, str]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

INVALID_JSON = "Invalid JSON in request body"
INVALID_BODY = "Invalid request body"
INVALID_QUERY = "Invalid query parameters"


def error(
    status: int,
    code: str,
    message: str,
    details: Sequence[Detail] = (),
    headers: Mapping[str, str] | None = None,
) -> Answer:
    """LogStitch's error answer, without the `request_id` that `stamped` adds for the call."""
    body = {
        "error": {
            "code": code,
            "message": message,
            "details": [{"field": field, "message": text} for field, text in details],
        }
    }
    # The log names the code and the fields, never the values the sender gave.
    fields = ", ".join(dict.fromkeys(field or "body" for field, _ in details))
    return Answer(status, body, headers, detail=f"{code}: {fields}" if fields else code)


def validation_error(details: Sequence[Detail], message: str = INVALID_BODY) -> Answer:
    """400 `validation_error`, one detail per bad value."""
    return error(400, "validation_error", message, details)


def request_id(call_request_id: str) -> str:
    """The `request_id` LogStitch clients see: `req_` and the call's request id."""
    return call_request_id if call_request_id.startswith("req_") else "req_" + call_request_id


def stamped(answer: Answer, call_request_id: str) -> Answer:
    """`answer` with the call's `request_id` in its body, as every LogStitch answer carries."""
    if not isinstance(answer.body, dict):
        return answer
    body = {**answer.body, "request_id": request_id(call_request_id)}
    return Answer(answer.status, body, answer.headers, content_type=answer.content_type, detail=answer.detail)


def timestamp(stamp: timestamp_pb2.Timestamp) -> str:
    """A time as every LogStitch answer writes it: `timestamp_us` of the Timestamp."""
    return timestamp_us(stamp.seconds * 1_000_000 + stamp.nanos // 1000)


def timestamp_us(micros: int) -> str:
    """ISO 8601 in UTC with exactly three fractional digits, as JavaScript's `toISOString` writes
    it (`2025-01-20T14:00:00.123Z`): LogStitch's server is JavaScript, whose dates hold
    milliseconds, so a finer time is cut to its millisecond, never rounded up into the next one."""
    moment = _EPOCH + timedelta(milliseconds=micros // 1000)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
