"""LogStitch: its translator, servicer and HTTP edge (see `server.dialects.base`)."""

from __future__ import annotations

from server.dialects.base import Vendor
from server.dialects.logstitch import common, edge, service

VENDOR = Vendor("logstitch", common.SERVICE, service.LogStitchServicer, edge.EDGE)
