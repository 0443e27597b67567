"""The vendor edges, by the full name of the compat service whose routes they serve.

An explicit registry: adding a vendor means adding its module and one line here.
"""

from __future__ import annotations

from gateway.edges import logister, logstitch, opensentry, operyn, simplelogs
from gateway.edges.base import Edge

EDGES: dict[str, Edge] = {
    "ingestd.compat.logister.v1.LogisterService": logister.EDGE,
    "ingestd.compat.opensentry.v1.OpenSentryService": opensentry.EDGE,
    "ingestd.compat.operyn.v1.OperynService": operyn.EDGE,
    "ingestd.compat.logstitch.v1.LogStitchService": logstitch.EDGE,
    "ingestd.compat.simplelogs.v1.SimpleLogsService": simplelogs.EDGE,
}

__all__ = ["EDGES", "Edge"]
