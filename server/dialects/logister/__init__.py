"""Logister: its translator, servicer and HTTP edge (see `server.dialects.base`)."""

from __future__ import annotations

from server.dialects.base import Vendor
from server.dialects.logister import edge, service

VENDOR = Vendor("logister", service.SERVICE, service.LogisterServicer, edge.EDGE)
