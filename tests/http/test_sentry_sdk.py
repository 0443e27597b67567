"""The real Sentry SDK (`sentry-sdk` 2.75.0, PyPI) reports to a live ingestd through the DSN of a
public key: an exception with its cause, a message, a transaction with child spans, a cron
check-in that the monitors API then shows, and an envelope its transport sends twice. Everything
reads back through `GET /v1/projects/{project}/events`, with the stack trace
(docs/vendors/sentry.md)."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from server.dsn import project_number
from tests.conftest import MASTER_SECRET, PROJECT_SECRET, Http
from tests.subprocesses import run

APP = Path(__file__).resolve().parent / "sentry_sdk_app.py"
TIMEOUT_S = 60.0


async def _public_dsn(http: Http) -> str:
    async with http.session.post(
        http.url("/v1/organizations/default/keys"),
        json={"kind": "API_KEY_KIND_PUBLIC", "project": "default"},
        headers=http.bearer(MASTER_SECRET),
    ) as response:
        assert response.status == 200, await response.text()
        made = await response.json()
    # The DSN names the configured listen address (port 0 here): the test points it at the port.
    assert made["dsn"] == f"http://{made['secret']}@127.0.0.1:0/{project_number('default')}"
    return made["dsn"].replace("127.0.0.1:0", f"127.0.0.1:{http.port}")


async def _get(http: Http, path: str, **params: str) -> Any:
    async with http.session.get(
        http.url(path), params=params, headers=http.bearer(PROJECT_SECRET)
    ) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def _events(http: Http, expected: int) -> list[dict[str, Any]]:
    """The project's events once `expected` are there (a few seconds at most)."""
    events: list[dict[str, Any]] = []
    for _ in range(50):
        events = (await _get(http, "/v1/projects/default/events", page_size="100")).get("events", [])
        if len(events) >= expected:
            break
        await asyncio.sleep(0.1)
    return events


@pytest.mark.parametrize("compression", ["br", "gzip"])
async def test_the_sentry_sdk_reports_errors_transactions_and_check_ins(http: Http, compression: str) -> None:
    marker = uuid.uuid4().hex[:12]
    dsn = await _public_dsn(http)

    code, stdout, stderr = await run(sys.executable, str(APP), dsn, marker, compression, timeout_s=TIMEOUT_S)

    assert code == 0, f"the SDK app exited {code}\nstderr:\n{stderr}\nstdout:\n{stdout}"
    sent = json.loads(stdout.splitlines()[-1])
    # An error, a message, a transaction, two check-ins and the retried envelope's event, once.
    events = await _events(http, 6)
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_kind.setdefault(event["kind"], []).append(event)
    assert sorted((k, len(v)) for k, v in by_kind.items()) == [
        ("KIND_CHECK_IN", 2),
        ("KIND_ERROR", 3),
        ("KIND_TRANSACTION", 1),
    ]
    assert {e["dialect"] for e in events} == {"sentry"}
    errors = {e["idempotencyKey"]: e for e in by_kind["KIND_ERROR"]}
    assert set(errors) == {sent["error"], sent["message"], sent["retried"]}

    error = errors[sent["error"]]
    assert error["message"] == f"RuntimeError: checkout failed {marker}"
    assert (error["level"], error["environment"], error["release"]) == (
        "LEVEL_ERROR",
        "sdk-test",
        f"shop@{marker}",
    )
    assert error["tags"]["marker"] == marker
    assert (error["user"]["id"], error["user"]["email"]) == ("user-42", "dev@example.com")
    raised = error["error"]["exception"]
    assert (raised["type"], raised["value"]) == ("RuntimeError", f"checkout failed {marker}")
    assert [f["function"] for f in raised["frames"]][-2:] == ["main", "checkout"]
    assert all(f["inApp"] and f["absPath"].endswith("sentry_sdk_app.py") for f in raised["frames"])
    [cause] = error["error"]["causes"]
    assert (cause["type"], cause["value"]) == ("ValueError", f"card declined {marker}")
    assert [f["function"] for f in cause["frames"]] == ["checkout", "charge"]
    assert cause["frames"][-1]["contextLine"].strip() == 'raise ValueError(f"card declined {marker}")'
    assert len(error["fingerprint"]) == 32 and error["traceId"]

    message = errors[sent["message"]]
    assert (message["message"], message["level"]) == (f"stock low {marker}", "LEVEL_WARNING")
    assert errors[sent["retried"]]["message"] == f"retried {marker}"

    [transaction] = by_kind["KIND_TRANSACTION"]
    body = transaction["transaction"]
    assert (body["name"], body["op"], transaction["traceId"]) == (
        f"GET /checkout/{marker}",
        "http.server",
        sent["transaction"],
    )
    spans = sorted(body["spans"], key=lambda s: s["op"])
    assert [(s["op"], s["description"]) for s in spans] == [
        ("db.query", "SELECT * FROM orders"),
        ("http.client", "POST /payments"),
    ]
    assert all(
        s["parentSpanId"] == transaction["spanId"] and s["traceId"] == sent["transaction"] for s in spans
    )
    assert all(s["startTime"] and s["endTime"] and "durationMs" in s for s in spans)

    check_ins = sorted(by_kind["KIND_CHECK_IN"], key=lambda e: e["checkIn"]["status"])
    assert [(c["checkIn"]["slug"], c["checkIn"]["status"]) for c in check_ins] == [
        (f"nightly-{marker}", "CHECK_IN_STATUS_IN_PROGRESS"),
        (f"nightly-{marker}", "CHECK_IN_STATUS_OK"),
    ]
    assert check_ins[1]["checkIn"]["durationMs"] == 1500
    # An hourly schedule and a 5-minute margin; the closing check-in names no schedule, and the
    # monitor keeps it.
    assert [c["checkIn"].get("expectedIntervalSeconds") for c in check_ins] == ["3900", None]
    monitor = await _get(http, f"/v1/projects/default/monitors/nightly-{marker}")
    assert (monitor["slug"], monitor["expectedIntervalSeconds"], monitor["lastCheckInStatus"]) == (
        f"nightly-{marker}",
        "3900",
        "CHECK_IN_STATUS_OK",
    )
