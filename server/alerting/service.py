"""The gRPC method path prefix of `ingestd.v1.AlertService`, which the alerting modules' endpoints share."""

from __future__ import annotations

SERVICE = "/ingestd.v1.AlertService/"
