"""LogStitch: its translator, servicer and HTTP edge (see `server.dialects.base`), and the shape
of the deliveries its webhooks receive."""

from __future__ import annotations

from server.dialects.base import Vendor
from server.dialects.logstitch import common, edge, service, webhooks

VENDOR = Vendor(
    common.DIALECT,
    service.SERVICE,
    service.LogStitchServicer,
    edge.EDGE,
    webhook_payload=webhooks.payload,
)
