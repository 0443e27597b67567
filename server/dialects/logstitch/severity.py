"""LogStitch's alert severities, `low` to `critical`, as its alert rules, alerts and webhooks name
them (docs/vendors/logstitch.md §12). Pure."""

from __future__ import annotations

from ingestd.v1 import alerting_pb2 as A

SEVERITIES = {
    "low": A.ALERT_SEVERITY_LOW,
    "medium": A.ALERT_SEVERITY_MEDIUM,
    "high": A.ALERT_SEVERITY_HIGH,
    "critical": A.ALERT_SEVERITY_CRITICAL,
}
SEVERITY_NAMES = {number: name for name, number in SEVERITIES.items()}
