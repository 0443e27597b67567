"""The vendors, in an explicit registry (style.md principle 6).

Each vendor is one package declaring `VENDOR` (`server.dialects.base.Vendor`): its dialect name,
compat service, servicer and HTTP edge. A new vendor is its proto, its package and one line here.
"""

from __future__ import annotations

from gateway.edge import Edge
from server.dialects import logister, logstitch, opensentry, operyn, otlp, sentry, simplelogs
from server.dialects.base import Vendor

VENDORS: tuple[Vendor, ...] = (
    logister.VENDOR,
    opensentry.VENDOR,
    operyn.VENDOR,
    logstitch.VENDOR,
    simplelogs.VENDOR,
    otlp.VENDOR,
    sentry.VENDOR,
)

#: Each vendor's HTTP edge, by the full name of the compat service whose routes it serves.
EDGES: dict[str, Edge] = {vendor.service.full_name: vendor.edge for vendor in VENDORS}
