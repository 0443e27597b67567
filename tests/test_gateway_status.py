"""The one gRPC → HTTP status table (grpc-gateway's HTTPStatusFromCode) and the canonical error
body, including Retry-After from RetryInfo."""

from __future__ import annotations

import orjson
import pytest
from google.rpc import code_pb2

from gateway.status import HTTP_STATUS, http_status, retry_after, status_body
from server.errors import InvalidArgument, ResourceExhausted, Unavailable


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (code_pb2.INVALID_ARGUMENT, 400),
        (code_pb2.FAILED_PRECONDITION, 400),
        (code_pb2.OUT_OF_RANGE, 400),
        (code_pb2.UNAUTHENTICATED, 401),
        (code_pb2.PERMISSION_DENIED, 403),
        (code_pb2.NOT_FOUND, 404),
        (code_pb2.ALREADY_EXISTS, 409),
        (code_pb2.ABORTED, 409),
        (code_pb2.RESOURCE_EXHAUSTED, 429),
        (code_pb2.CANCELLED, 499),
        (code_pb2.INTERNAL, 500),
        (code_pb2.UNIMPLEMENTED, 501),
        (code_pb2.UNAVAILABLE, 503),
        (code_pb2.DEADLINE_EXCEEDED, 504),
    ],
)
def test_grpc_codes_map_to_http_like_grpc_gateway(code: int, expected: int) -> None:
    assert HTTP_STATUS[code] == expected


def test_every_code_has_an_http_status() -> None:
    assert set(HTTP_STATUS) == set(code_pb2.Code.values())


def test_retry_info_becomes_retry_after_in_whole_seconds() -> None:
    assert retry_after(Unavailable("database unavailable", retry_after_s=1.5).to_status()) == "2"
    assert retry_after(ResourceExhausted("busy", retry_after_s=0.2).to_status()) == "1"
    assert retry_after(InvalidArgument([("events", "required")]).to_status()) is None


def test_the_error_body_is_google_rpc_status_json_with_details() -> None:
    status = InvalidArgument([("events[0].message", "too long")]).to_status()
    body = orjson.loads(status_body(status))
    assert http_status(status) == 400
    assert body["code"] == 3 and "events[0].message" in body["message"]
    types = [d["@type"] for d in body["details"]]
    assert types == ["type.googleapis.com/google.rpc.ErrorInfo", "type.googleapis.com/google.rpc.BadRequest"]
    assert body["details"][1]["fieldViolations"] == [
        {"field": "events[0].message", "description": "too long"}
    ]
