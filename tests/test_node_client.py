"""A Node gRPC client (@grpc/grpc-js with @grpc/proto-loader, built only from proto/) writes an event
and lists it back; the Python stub then reads the same event. Proves the protos work from another
language, not only through the generated Python code."""

from __future__ import annotations

import json
import uuid
from typing import Any

from ingestd.v1 import event_service_pb2
from tests.conftest import PROJECT_SECRET, Client
from tests.subprocesses import REPO, run, tool_or_skip

SCRIPT = REPO / "tests" / "node" / "client.mjs"
GRPC_JS = REPO / "node_modules" / "@grpc" / "grpc-js"
PROTO_LOADER = REPO / "node_modules" / "@grpc" / "proto-loader"


async def test_node_client_writes_and_lists(client: Client) -> None:
    node = tool_or_skip("node", needs=[GRPC_JS, PROTO_LOADER], purpose="the Node gRPC client")
    text = f"node-client {uuid.uuid4()}"

    code, stdout, stderr = await run(
        node, str(SCRIPT), f"127.0.0.1:{client.running.grpc_port}", PROJECT_SECRET, text
    )

    assert code == 0, f"node client exited {code}\nstderr:\n{stderr}\nstdout:\n{stdout}"
    lines = stdout.splitlines()
    assert len(lines) == 1, stdout
    output: dict[str, Any] = json.loads(lines[0])

    write = output["write"]
    # int32 fields are plain JSON numbers; `longs: String` only turns 64-bit fields into strings.
    assert write["accepted_count"] == 1
    assert write["duplicate_count"] == 0
    assert write["rejected_count"] == 0
    [result] = write["results"]
    assert result["outcome"] == "WRITE_OUTCOME_ACCEPTED"
    event_id = result["event_id"]
    assert event_id

    [listed] = output["list"]["events"]
    assert listed["id"] == event_id
    assert listed["project"] == "default"
    assert listed["message"] == text
    assert listed["service"] == "node-client"
    assert listed["tags"] == {"lang": "node"}
    assert listed["kind"] == "KIND_LOG"
    assert listed["body"] == "log"
    assert listed["log"]["level_text"] == "info"
    assert output["list"]["next_page_token"] == ""

    got = await client.events.GetEvent(
        event_service_pb2.GetEventRequest(project="default", event=event_id), metadata=client.project
    )
    assert got.event.id == event_id
    assert got.event.message == text
    assert got.event.service == "node-client"
    assert dict(got.event.tags) == {"lang": "node"}
    assert got.event.WhichOneof("body") == "log"
    assert got.event.log.level_text == "info"
