"""SimpleLogs: its translator, servicer and HTTP edge (see `server.dialects.base`)."""

from __future__ import annotations

from server.dialects.base import Vendor
from server.dialects.simplelogs import edge, service

VENDOR = Vendor("simplelogs", service.SERVICE, service.SimpleLogsServicer, edge.EDGE)
