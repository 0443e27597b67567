"""What every OTLP translation shares: the result (`Translation`), the envelope a resource and a
scope give their events (`Origin`), and OTLP's times and ids (docs/vendors/otlp.md §5.1).

Times are unix nanoseconds, where 0 means unknown; ids are bytes, shown as lowercase hex, where
an all-zero id is invalid.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from google.protobuf import struct_pb2, timestamp_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2

from ingestd.v1 import event_pb2
from server.dialects.common import fill_struct
from server.dialects.otlp import values

_SERVICE = "service.name"
_RELEASE = "service.version"
#: The current name first: it wins when a resource sends both.
_ENVIRONMENTS = ("deployment.environment.name", "deployment.environment")
_EMPTY: tuple[object, ...] = (None, "", [], {})


@dataclass(slots=True)
class Translation:
    """The events of one export request, each with the index of the item it came from."""

    #: How many items (spans, log records, data points) the request held.
    items: int = 0
    events: list[event_pb2.Event] = field(default_factory=list)
    #: For each event, the index of its item, in request order.
    owners: list[int] = field(default_factory=list)
    #: Items refused before any event was made of them, by index, with why.
    refused: dict[int, str] = field(default_factory=dict)

    def add(self, event: event_pb2.Event, item: int) -> None:
        self.events.append(event)
        self.owners.append(item)


@dataclass(frozen=True, slots=True)
class Origin:
    """What a resource and a scope give every event of theirs: the envelope's service, release
    and environment, and the context's `resource` and `scope`, converted once for all of them."""

    service: str
    release: str
    environment: str
    #: The context's `resource` and `scope`; not to be changed, every event copies it.
    context: struct_pb2.Struct

    def stamp(self, event: event_pb2.Event, context: dict[str, Any]) -> None:
        """Sets the envelope's origin fields and the event's context (`context` merged over the
        resource's and scope's)."""
        event.service = self.service
        event.release = self.release
        event.environment = self.environment
        if self.context.fields:
            event.context.CopyFrom(self.context)
        own = {k: v for k, v in context.items() if v not in _EMPTY}
        if own:
            fill_struct(event.context, own)


def origin(resource: resource_pb2.Resource, scope: common_pb2.InstrumentationScope) -> Origin:
    """The origin of the events of `scope` within `resource`."""
    attributes = values.attributes(resource.attributes)
    service = pop_text(attributes, _SERVICE)
    release = pop_text(attributes, _RELEASE)
    environment = ""
    for key in reversed(_ENVIRONMENTS):
        environment = pop_text(attributes, key) or environment
    context: dict[str, Any] = {}
    if attributes:
        context["resource"] = attributes
    described = {"name": scope.name, "version": scope.version, **values.attributes(scope.attributes)}
    described = {k: v for k, v in described.items() if v not in (None, "")}
    if described:
        context["scope"] = described
    converted = struct_pb2.Struct()
    fill_struct(converted, context)
    return Origin(service, release, environment, converted)


def pop_text(attributes: dict[str, Any], key: str) -> str:
    """Removes `key` from `attributes`; its value as text ("" when absent)."""
    value = attributes.pop(key, None)
    return "" if value is None else value if isinstance(value, str) else str(value)


def timestamp(unix_nanos: int) -> timestamp_pb2.Timestamp | None:
    """A Timestamp of unix nanoseconds; None for 0, OTLP's "unknown"."""
    if not unix_nanos:
        return None
    return timestamp_pb2.Timestamp(seconds=unix_nanos // 1_000_000_000, nanos=unix_nanos % 1_000_000_000)


def iso(unix_nanos: int) -> str | None:
    """Unix nanoseconds as RFC 3339 text for a context field; None for 0."""
    moment = timestamp(unix_nanos)
    return moment.ToJsonString() if moment is not None else None


#: The sizes of OTLP's ids, in bytes.
TRACE_ID_BYTES = 16
SPAN_ID_BYTES = 8


def hex_id(raw: bytes, size: int) -> str | None:
    """An id as lowercase hex; "" when absent; None when it is not `size` bytes, or all zero
    (which OTLP calls invalid)."""
    if not raw:
        return ""
    if len(raw) != size or not any(raw):
        return None
    return raw.hex()
