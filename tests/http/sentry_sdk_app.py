"""An application that reports through the real `sentry-sdk`, run in a subprocess by
tests/http/test_sentry_sdk.py: `python sentry_sdk_app.py DSN MARKER COMPRESSION`.

It captures an exception with a cause, a message, a transaction with two child spans, a cron
check-in (in progress, then ok), and one envelope that its own transport sends twice, as a retry
would. Every flush is bounded, so the script cannot hang; it prints one JSON line with the ids it
sent.
"""

from __future__ import annotations

import json
import sys
import uuid

import sentry_sdk
from sentry_sdk.crons import capture_checkin
from sentry_sdk.crons.consts import MonitorStatus
from sentry_sdk.envelope import Envelope

FLUSH_TIMEOUT_S = 10.0


def charge(marker: str) -> None:
    raise ValueError(f"card declined {marker}")


def checkout(marker: str) -> None:
    try:
        charge(marker)
    except ValueError as exc:
        raise RuntimeError(f"checkout failed {marker}") from exc


def main(dsn: str, marker: str, compression: str) -> None:
    sentry_sdk.init(
        dsn=dsn,
        release=f"shop@{marker}",
        environment="sdk-test",
        traces_sample_rate=1.0,
        _experiments={"transport_compression_algo": compression},
    )
    sentry_sdk.set_tag("marker", marker)
    sentry_sdk.set_user({"id": "user-42", "email": "dev@example.com"})
    try:
        checkout(marker)
    except RuntimeError:
        error_id = sentry_sdk.capture_exception()
    message_id = sentry_sdk.capture_message(f"stock low {marker}", level="warning")
    with sentry_sdk.start_transaction(name=f"GET /checkout/{marker}", op="http.server") as transaction:
        with sentry_sdk.start_span(op="db.query", name="SELECT * FROM orders"):
            pass
        with sentry_sdk.start_span(op="http.client", name="POST /payments"):
            pass
    slug = f"nightly-{marker}"
    config = {"schedule": {"type": "interval", "value": 1, "unit": "hour"}, "checkin_margin": 5}
    check_in_id = capture_checkin(monitor_slug=slug, status=MonitorStatus.IN_PROGRESS, monitor_config=config)
    capture_checkin(monitor_slug=slug, check_in_id=check_in_id, status=MonitorStatus.OK, duration=1.5)
    sentry_sdk.flush(timeout=FLUSH_TIMEOUT_S)

    retried_id = uuid.uuid4().hex
    envelope = Envelope(headers={"event_id": retried_id})
    envelope.add_event({"event_id": retried_id, "message": f"retried {marker}", "level": "error"})
    transport = sentry_sdk.get_client().transport
    assert transport is not None
    transport.capture_envelope(envelope)
    sentry_sdk.flush(timeout=FLUSH_TIMEOUT_S)
    transport.capture_envelope(envelope)
    sentry_sdk.flush(timeout=FLUSH_TIMEOUT_S)
    print(
        json.dumps(
            {
                "error": error_id,
                "message": message_id,
                "transaction": transaction.trace_id,
                "check_in": check_in_id,
                "retried": retried_id,
            }
        )
    )


if __name__ == "__main__":
    main(*sys.argv[1:4])
