"""The README's first-event example runs, as written, against a live ingestd."""

from __future__ import annotations

import asyncio
import contextlib
import io
import re

from ingestd.v1 import event_service_pb2
from tests.conftest import PROJECT_SECRET, Client
from tests.process import ROOT


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
