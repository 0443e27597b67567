"""The README's first-event examples run, as written, against a live ingestd."""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
import shlex

import orjson

from ingestd.v1 import event_service_pb2
from tests.conftest import PROJECT_SECRET, Client, Http
from tests.process import ROOT
from tests.subprocesses import run, tool_or_skip


def _python_example() -> str:
    readme = (ROOT / "README.md").read_text()
    return re.search(r"```python\n(.*?)```", readme, re.DOTALL).group(1)  # type: ignore[union-attr]


async def test_first_event_example(client: Client) -> None:
    code = _python_example()
    assert "127.0.0.1:50051" in code and "pk_your_project_key" in code
    code = code.replace("127.0.0.1:50051", f"127.0.0.1:{client.running.grpc_port}")
    code = code.replace("pk_your_project_key", PROJECT_SECRET)
    printed = io.StringIO()

    def run() -> None:
        with contextlib.redirect_stdout(printed):
            exec(compile(code, "README.md", "exec"), {})

    await asyncio.to_thread(run)

    event_id = printed.getvalue().strip().splitlines()[-1]  # the server, in-process, logs here too
    got = await client.events.GetEvent(
        event_service_pb2.GetEventRequest(project="default", event=event_id), metadata=client.project
    )
    assert (got.event.message, got.event.service) == ("hello from python", "demo")


async def test_http_example(http: Http) -> None:
    readme = (ROOT / "README.md").read_text()
    block = next(b for b in re.findall(r"```sh\n(.*?)```", readme, re.DOTALL) if "events:write" in b)
    commands = [c.replace("\\\n", " ") for c in re.split(r"\n(?=curl )", block.strip())]
    for command in commands:
        argv = shlex.split(command.replace("http://127.0.0.1:3001", http.url("")))
        argv = [a.replace("pk_your_project_key", PROJECT_SECRET) for a in argv]
        process = await asyncio.create_subprocess_exec(
            *argv, "--silent", "--fail-with-body", stdout=asyncio.subprocess.PIPE
        )
        out, _ = await process.communicate()
        assert process.returncode == 0, out
    listed = orjson.loads(out)
    assert [(e["message"], e["service"]) for e in listed["events"]] == [("hello from curl", "demo")]


async def test_buf_curl_example(client: Client) -> None:
    buf = tool_or_skip(str(ROOT / "node_modules" / ".bin" / "buf"), purpose="the README's buf curl example")
    readme = (ROOT / "README.md").read_text()
    block = next(b for b in re.findall(r"```sh\n(.*?)```", readme, re.DOTALL) if "buf curl" in b)
    argv = shlex.split(
        block.replace("\\\n", " ").replace("127.0.0.1:50051", f"127.0.0.1:{client.running.grpc_port}")
    )
    argv = [
        buf if a == "node_modules/.bin/buf" else a.replace("pk_your_project_key", PROJECT_SECRET)
        for a in argv
    ]
    status, out, err = await run(*argv)
    assert status == 0, err
    assert orjson.loads(out)["acceptedCount"] == 1
