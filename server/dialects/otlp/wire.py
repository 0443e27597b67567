"""OTLP's three signals and its two HTTP encodings: reading an `Export*ServiceRequest` from a body,
and writing the response or the error in the request's encoding (docs/vendors/otlp.md §2, §3, §6).

Binary protobuf (`application/x-protobuf`) is protobuf's own. OTLP/JSON (`application/json`) is
proto3 JSON with three departures, which `decode` applies: trace and span ids are hex, not base64
(protobuf's parser would read a hex `traceId` as base64 into 24 wrong bytes); unknown fields are
ignored; and enums come as integers (protobuf's parser takes those as they are). Responses and
errors are written in the request's encoding: JSON with integer enums and int64 counts as strings.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from google.protobuf import duration_pb2, json_format
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2  # type: ignore[attr-defined]
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from server.dialects.answer import Answer

PROTOBUF = "application/x-protobuf"
JSON = "application/json"

#: The JSON keys (lowerCamelCase, or the proto names proto3 JSON also accepts) whose values are
#: hex ids: a span's, a link's, a log record's and an exemplar's.
_ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"})
#: Keys whose values hold only attribute values, never an id: not walked.
_VALUE_KEYS = frozenset({"attributes", "filteredAttributes", "filtered_attributes", "body", "metadata"})
_HEX = re.compile(r"^(?:[0-9a-fA-F]{2})*$")


@dataclass(frozen=True, slots=True)
class Signal:
    """One of OTLP's signals: its request and response messages, and the names its partial
    success counts in."""

    name: str
    request: type[Message]
    response: type[Message]
    #: The `Export*PartialSuccess` count field, such as `rejected_spans`.
    rejected_field: str
    #: One item, in English: `span`, `log record`, `data point`.
    item: str


TRACES = Signal(
    "traces",
    trace_service_pb2.ExportTraceServiceRequest,
    trace_service_pb2.ExportTraceServiceResponse,
    "rejected_spans",
    "span",
)
LOGS = Signal(
    "logs",
    logs_service_pb2.ExportLogsServiceRequest,
    logs_service_pb2.ExportLogsServiceResponse,
    "rejected_log_records",
    "log record",
)
METRICS = Signal(
    "metrics",
    metrics_service_pb2.ExportMetricsServiceRequest,
    metrics_service_pb2.ExportMetricsServiceResponse,
    "rejected_data_points",
    "data point",
)


def media_type(content_type: str) -> str | None:
    """`PROTOBUF` or `JSON` for a Content-Type that names one (parameters such as a charset
    ignored); None for any other."""
    media = content_type.partition(";")[0].strip().lower()
    return media if media in (PROTOBUF, JSON) else None


def unsupported_media(content_type: str) -> Answer:
    """415 for a Content-Type OTLP does not define; the Status is JSON, the one encoding
    every client can read when its own is unknown."""
    message = f"unsupported Content-Type {content_type!r}: send {PROTOBUF} or {JSON}"
    return error(415, code_pb2.INVALID_ARGUMENT, message, JSON, detail="content type")


def decode(signal: Signal, data: bytes, media: str) -> Message:
    """The `Export*ServiceRequest` of a body in `media`; an empty body is an empty request.

    Raises:
        Answer: 400 with a `google.rpc.Status` in `media`, the body does not decode.
    """
    request = signal.request()
    if media == PROTOBUF:
        try:
            request.ParseFromString(data)
        except Exception:  # DecodeError, and the recursion limit's errors alike
            raise _undecodable(signal, media, "not protobuf") from None
        return request
    if not data.strip():
        return request
    try:
        tree = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise _undecodable(signal, media, "not JSON") from None
    if not isinstance(tree, dict):
        raise _undecodable(signal, media, "not a JSON object")
    _hex_ids_to_base64(tree, signal, media)
    try:
        json_format.ParseDict(tree, request, ignore_unknown_fields=True)
    except Exception as exc:  # ParseError, and the recursion limit's errors alike
        raise _undecodable(signal, media, f"not OTLP/JSON: {exc}") from None
    return request


def _hex_ids_to_base64(tree: dict[str, Any], signal: Signal, media: str) -> None:
    """Rewrites every hex id in a parsed OTLP/JSON body as the base64 proto3 JSON expects.

    Raises:
        Answer: 400, an id that is not hex.
    """
    stack: list[Any] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(item for item in node if isinstance(item, dict | list))
            continue
        for key, value in node.items():
            if key in _ID_KEYS and isinstance(value, str):
                if not _HEX.match(value):
                    raise _undecodable(signal, media, f"{key} {value[:40]!r} is not hex")
                node[key] = base64.b64encode(bytes.fromhex(value)).decode()
            elif key not in _VALUE_KEYS and isinstance(value, dict | list):
                stack.append(value)


def _undecodable(signal: Signal, media: str, why: str) -> Answer:
    name = signal.request.DESCRIPTOR.name
    message = f"the body is not an {name}: {why}"
    return error(400, code_pb2.INVALID_ARGUMENT, message, media, bad_body=why, detail=why)


def response(signal: Signal, rejected: int = 0, message: str = "") -> Message:
    """The signal's `Export*ServiceResponse`: `partial_success` set only when something was
    rejected or there is a warning to give, as the specification asks."""
    answer = signal.response()
    if rejected or message:
        partial = answer.partial_success  # type: ignore[attr-defined]
        setattr(partial, signal.rejected_field, rejected)
        partial.error_message = message
    return answer


def encode(message: Message, media: str) -> bytes:
    """`message` in `media`: binary protobuf, or JSON with integer enums."""
    if media == PROTOBUF:
        return message.SerializeToString()
    return orjson.dumps(json_format.MessageToDict(message, use_integers_for_enums=True))


def error(
    http_status: int,
    code: int,
    message: str,
    media: str,
    *,
    retry_after_s: int | None = None,
    bad_body: str = "",
    detail: str = "",
) -> Answer:
    """An error answer: HTTP `http_status` with a `google.rpc.Status` of gRPC `code` in `media`;
    for bad data (`bad_body`, what is wrong with the body) a BadRequest detail, as the
    specification asks; for a throttle a RetryInfo detail and `Retry-After`."""
    status = status_pb2.Status(code=code, message=message)
    if bad_body:
        violation = error_details_pb2.BadRequest.FieldViolation(field="body", description=bad_body)
        status.details.add().Pack(error_details_pb2.BadRequest(field_violations=[violation]))
    headers: Mapping[str, str] | None = None
    if retry_after_s is not None:
        delay = duration_pb2.Duration(seconds=retry_after_s)
        status.details.add().Pack(error_details_pb2.RetryInfo(retry_delay=delay))
        headers = {"retry-after": str(retry_after_s)}
    return Answer(http_status, encode(status, media), headers, content_type=media, detail=detail or message)
