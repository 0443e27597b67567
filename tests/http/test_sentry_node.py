"""The real Sentry Node SDK (`@sentry/node` 11.12.0, run by Node from node_modules) reports to a
live ingestd through the DSN of a public key: a gzipped, chunked error, a message, streamed spans
and a cron check-in, all answered 200 and read back through EventService
(docs/vendors/sentry.md)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from ingestd.v1 import event_pb2, event_service_pb2
from tests.conftest import MASTER_SECRET, Client, grpc_channel, http_gateway, make_settings
from tests.subprocesses import REPO, run, tool_or_skip

E = event_pb2
SCRIPT = REPO / "tests" / "node" / "sentry_node.mjs"
SDK = REPO / "node_modules" / "@sentry" / "node"
TIMEOUT_S = 60.0


async def test_the_sentry_node_sdk_reports_errors_spans_and_check_ins(tmp_path: Path) -> None:
    node = tool_or_skip("node", needs=[SDK], purpose="the Sentry Node SDK")
    marker = uuid.uuid4().hex[:12]
    settings = make_settings(f"sqlite:///{tmp_path / 'ingestd.db'}")
    async with http_gateway(settings, "inprocess") as http:
        async with http.session.post(
            http.url("/v1/organizations/default/keys"),
            json={"kind": "API_KEY_KIND_PUBLIC", "project": "default"},
            headers=http.bearer(MASTER_SECRET),
        ) as response:
            dsn = (await response.json())["dsn"].replace("127.0.0.1:0", f"127.0.0.1:{http.port}")

        code, stdout, stderr = await run(node, str(SCRIPT), dsn, marker, timeout_s=TIMEOUT_S)

        assert code == 0, f"the SDK script exited {code}\nstderr:\n{stderr}\nstdout:\n{stdout}"
        sent = json.loads(stdout.splitlines()[-1])
        assert sent["statuses"] and set(sent["statuses"]) == {200}
        async with grpc_channel(http.running.grpc_port) as channel:
            client = Client.for_channel(http.running, channel)
            listed = await client.events.ListEvents(
                event_service_pb2.ListEventsRequest(project="default", page_size=100), metadata=client.project
            )
    by_kind: dict[str, list[event_pb2.Event]] = {}
    for event in listed.events:
        by_kind.setdefault(E.Kind.Name(event.kind), []).append(event)
    assert {e.dialect for e in listed.events} == {"sentry"}

    errors = {e.idempotency_key: e for e in by_kind["KIND_ERROR"]}
    error = errors[sent["error"]]
    assert error.message == f"TypeError: order rejected {marker}"
    assert (error.release, error.environment, error.tags["marker"]) == (
        f"node-shop@{marker}",
        "node-test",
        marker,
    )
    frames = error.error.exception.frames
    assert frames[-1].function == "placeOrder" and frames[-1].in_app
    assert frames[-1].filename.endswith("sentry_node.mjs") and frames[-1].lineno > 0
    assert error.context["extra"]["padding"] == "x" * 40_000  # sent gzipped and chunked
    assert errors[sent["message"]].message == f"queue slow {marker}"

    [transaction] = by_kind["KIND_TRANSACTION"]
    assert (transaction.transaction.name, transaction.transaction.op) == (
        f"GET /orders/{marker}",
        "http.server",
    )
    [span] = by_kind["KIND_SPAN"]
    assert (span.span.name, span.span.op) == ("SELECT * FROM orders", "db.query")
    assert (span.trace_id, span.span.parent_span_id) == (transaction.trace_id, transaction.span_id)

    check_ins = sorted(by_kind["KIND_CHECK_IN"], key=lambda e: e.check_in.status)
    assert [(c.check_in.slug, c.check_in.status) for c in check_ins] == [
        (f"node-nightly-{marker}", E.CHECK_IN_STATUS_OK),
        (f"node-nightly-{marker}", E.CHECK_IN_STATUS_IN_PROGRESS),
    ]
    # Hourly, plus a 2-minute margin.
    assert check_ins[1].check_in.expected_interval_seconds == 3_720
    assert check_ins[0].check_in.duration_ms == 500
