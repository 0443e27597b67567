"""OTLP, the OpenTelemetry protocol: its translator, servicer and HTTP edge (see
`server.dialects.base`), and its gRPC services, which have no HTTP rules."""

from __future__ import annotations

from server.dialects.base import Vendor
from server.dialects.otlp import edge, service

VENDOR = Vendor("otlp", service.SERVICE, service.OtlpServicer, edge.EDGE, grpc_services=service.GRPC_SERVICES)
