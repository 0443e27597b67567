"""The vendor dialects, in an explicit registry (style.md principle 6).

Each entry names the dialect (also the `dialect` of the events it stores), its compat service from
`proto/ingestd/compat/`, and the servicer that serves it. Adding a vendor means adding its two
modules, its proto, its edge in `gateway/edges`, and one line here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from google.protobuf.descriptor import ServiceDescriptor

from ingestd.compat.logister.v1 import logister_service_pb2
from ingestd.compat.logstitch.v1 import logstitch_service_pb2
from ingestd.compat.opensentry.v1 import opensentry_service_pb2
from ingestd.compat.operyn.v1 import operyn_service_pb2
from ingestd.compat.simplelogs.v1 import simplelogs_service_pb2
from server.dialects.base import VendorContext, VendorServicer
from server.dialects.logister_service import LogisterServicer
from server.dialects.logstitch_service import LogStitchServicer
from server.dialects.opensentry_service import OpenSentryServicer
from server.dialects.operyn_service import OperynServicer
from server.dialects.simplelogs_service import SimpleLogsServicer


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str
    service: ServiceDescriptor
    servicer: Callable[[VendorContext], VendorServicer]


DIALECTS: dict[str, Dialect] = {
    "logister": Dialect(
        "logister", logister_service_pb2.DESCRIPTOR.services_by_name["LogisterService"], LogisterServicer
    ),
    "opensentry": Dialect(
        "opensentry",
        opensentry_service_pb2.DESCRIPTOR.services_by_name["OpenSentryService"],
        OpenSentryServicer,
    ),
    "operyn": Dialect(
        "operyn", operyn_service_pb2.DESCRIPTOR.services_by_name["OperynService"], OperynServicer
    ),
    "logstitch": Dialect(
        "logstitch", logstitch_service_pb2.DESCRIPTOR.services_by_name["LogStitchService"], LogStitchServicer
    ),
    "simplelogs": Dialect(
        "simplelogs",
        simplelogs_service_pb2.DESCRIPTOR.services_by_name["SimpleLogsService"],
        SimpleLogsServicer,
    ),
}
