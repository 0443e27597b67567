"""Open Sentry: its translator, servicer and HTTP edge (see `server.dialects.base`)."""

from __future__ import annotations

from server.dialects.base import Vendor
from server.dialects.opensentry import edge, service

VENDOR = Vendor("opensentry", service.SERVICE, service.OpenSentryServicer, edge.EDGE)
