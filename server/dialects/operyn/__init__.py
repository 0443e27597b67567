"""Operyn: its translator, servicer and HTTP edge (see `server.dialects.base`)."""

from __future__ import annotations

from server.dialects.base import Vendor
from server.dialects.operyn import edge, service

VENDOR = Vendor("operyn", service.SERVICE, service.OperynServicer, edge.EDGE)
