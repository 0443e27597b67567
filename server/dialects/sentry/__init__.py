"""Sentry's ingest protocol as Relay serves it: its translator, servicer and HTTP edge (see
`server.dialects.base`, docs/vendors/sentry.md)."""

from __future__ import annotations

from server.dialects.base import Vendor
from server.dialects.sentry import edge, service

VENDOR = Vendor("sentry", service.SERVICE, service.SentryServicer, edge.EDGE)
