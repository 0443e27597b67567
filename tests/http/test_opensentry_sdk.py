"""The real Open Sentry SDK (`@zapdev-labs/sentry-clone` 0.1.4, run by Node from node_modules)
sends an error, a transaction and an AI generation to a live ingestd; all three are stored and read
back through EventService."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from ingestd.v1 import event_pb2, event_service_pb2
from tests.conftest import MASTER_SECRET, Client, grpc_channel, http_gateway, make_settings
from tests.subprocesses import REPO, run, tool_or_skip

E = event_pb2
SCRIPT = REPO / "tests" / "node" / "opensentry_sdk.mjs"
SDK = REPO / "node_modules" / "@zapdev-labs" / "sentry-clone"
TIMEOUT_S = 60.0


async def test_the_open_sentry_sdk_stores_an_error_a_transaction_and_a_generation(tmp_path: Path) -> None:
    node = tool_or_skip("node", needs=[SDK], purpose="the Open Sentry SDK")
    marker = uuid.uuid4().hex[:12]
    settings = make_settings(f"sqlite:///{tmp_path / 'ingestd.db'}")
    async with http_gateway(settings, "inprocess") as http:
        async with http.session.post(
            http.url("/v1/organizations/default/keys"),
            json={"kind": "API_KEY_KIND_PUBLIC", "project": "default"},
            headers=http.bearer(MASTER_SECRET),
        ) as response:
            secret = (await response.json())["secret"]
        dsn = f"http://{secret}@127.0.0.1:{http.port}/v1/ingest"

        code, stdout, stderr = await run(node, str(SCRIPT), dsn, marker, timeout_s=TIMEOUT_S)

        assert code == 0, f"the SDK script exited {code}\nstderr:\n{stderr}\nstdout:\n{stdout}"
        # One request: the SDK batches the three items into one array.
        assert json.loads(stdout.splitlines()[-1]) == {"statuses": [202]}
        async with grpc_channel(http.running.grpc_port) as channel:
            client = Client.for_channel(http.running, channel)
            listed = await client.events.ListEvents(
                event_service_pb2.ListEventsRequest(project="default"), metadata=client.project
            )
    events = {E.Kind.Name(e.kind): e for e in listed.events}
    assert sorted(events) == ["KIND_AI_GENERATION", "KIND_ERROR", "KIND_TRANSACTION"]
    assert {e.dialect for e in listed.events} == {"opensentry"}

    error = events["KIND_ERROR"]
    assert error.message == f"TypeError: checkout failed {marker}"
    assert (error.environment, error.release, error.level) == ("sdk-test", f"sdk@{marker}", E.LEVEL_ERROR)
    assert (error.user.id, error.user.email, dict(error.tags)) == (
        "user-42",
        "dev@example.com",
        {"marker": marker},
    )
    top = error.error.exception.frames[0]
    assert (top.function, top.in_app, top.abs_path.endswith("opensentry_sdk.mjs")) == ("checkout", True, True)
    assert top.lineno > 0 and len(error.fingerprint) == 64

    transaction = events["KIND_TRANSACTION"]
    assert transaction.transaction.name == f"GET /checkout/{marker}"
    assert transaction.transaction.status == "ok" and transaction.trace_id
    [span] = transaction.transaction.spans
    assert (span.op, span.description) == ("db.query", "SELECT * FROM orders")
    assert span.span_id and span.parent_span_id

    generation = events["KIND_AI_GENERATION"]
    body = generation.ai_generation
    assert (body.provider, body.model, body.status) == ("openai", "gpt-4o", "ok")
    assert (body.input_tokens, body.output_tokens, body.total_tokens) == (1200, 350, 1550)
    assert (body.total_cost_usd, body.latency_ms) == (0.012, 1840)
    assert body.metadata["marker"] == marker
    assert (generation.user.id, generation.tags["marker"]) == ("user-42", marker)
