"""A Node gRPC client (@grpc/grpc-js with @grpc/proto-loader, built only from proto/) writes an event
and lists it back; the Python stub then reads the same event. Proves the protos work from another
language, not only through the generated Python code."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest

from ingestd.v1 import event_service_pb2
from tests.conftest import PROJECT_SECRET, Client

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "tests" / "node" / "client.mjs"
GRPC_JS = REPO / "node_modules" / "@grpc" / "grpc-js"
PROTO_LOADER = REPO / "node_modules" / "@grpc" / "proto-loader"
TIMEOUT_S = 60.0


def _node_or_skip() -> str:
    node = shutil.which("node")
    missing = []
    if node is None:
        missing.append("`node` is not on PATH")
    for package in (GRPC_JS, PROTO_LOADER):
        if not package.is_dir():
            missing.append(f"{package.relative_to(REPO)} is missing (run `npm ci`)")
    if missing:
        reason = "Node gRPC client unavailable: " + "; ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true requires the Node gRPC client: {reason}")
        pytest.skip(reason)
    assert node is not None
    return node


async def _run_node(node: str, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        node,
        str(SCRIPT),
        *args,
        cwd=REPO,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        pytest.fail(f"node client did not finish within {TIMEOUT_S} s")
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def test_node_client_writes_and_lists(client: Client) -> None:
    node = _node_or_skip()
    text = f"node-client {uuid.uuid4()}"

    code, stdout, stderr = await _run_node(
        node, f"127.0.0.1:{client.running.grpc_port}", PROJECT_SECRET, text
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
