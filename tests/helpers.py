"""Builders and assertions shared by the tests."""

from __future__ import annotations

from typing import Any

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from ingestd.v1 import event_pb2, ingest_service_pb2

E = event_pb2


def log_event(message: str = "hello", **fields: Any) -> event_pb2.Event:
    return E.Event(message=message, log=E.LogBody(level_text="info"), **fields)


def error_event(exc_type: str = "TypeError", value: str = "x is undefined", **fields: Any) -> event_pb2.Event:
    frames = [
        E.StackFrame(filename="lib/vendor.js", function="call", in_app=False),
        E.StackFrame(filename="app/page.tsx", function="loadData", lineno=42, colno=12, in_app=True),
    ]
    return E.Event(
        error=E.ErrorBody(exception=E.ExceptionInfo(type=exc_type, value=value, frames=frames)), **fields
    )


def write_request(*events: event_pb2.Event, project: str = "default", atomic: bool = False) -> Any:
    return ingest_service_pb2.WriteEventsRequest(project=project, events=list(events), atomic=atomic)


def rich_status(error: grpc.aio.AioRpcError) -> status_pb2.Status:
    """The google.rpc.Status an ingestd error carries in its trailers."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, f"no google.rpc.Status in {error!r}"
    return status


def detail(status: status_pb2.Status, kind: type[Any]) -> Any:
    """The first detail of `kind` in `status`, or None."""
    for packed in status.details:
        if packed.Is(kind.DESCRIPTOR):
            message = kind()
            packed.Unpack(message)
            return message
    return None


def violations(error: grpc.aio.AioRpcError) -> list[tuple[str, str]]:
    bad = detail(rich_status(error), error_details_pb2.BadRequest)
    assert bad is not None, "INVALID_ARGUMENT without a BadRequest detail"
    return [(v.field, v.description) for v in bad.field_violations]


def reason(error: grpc.aio.AioRpcError) -> str:
    info = detail(rich_status(error), error_details_pb2.ErrorInfo)
    assert info is not None
    return str(info.reason)


DAY_S = 86_400
#: 23:59:00 UTC on 2025-11-21: a minute before a daily limit resets.
BEFORE_MIDNIGHT_S = 20_414 * DAY_S - 60


class ManualClock:
    """A clock that moves only when told to."""

    def __init__(self, now_s: int) -> None:
        self.now = now_s * 1_000_000

    def now_us(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1_000_000)
