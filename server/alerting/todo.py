"""Scaffolding while alerting is being written; removed when every RPC is served."""

from __future__ import annotations

from typing import Any

from server.errors import Unimplemented
from server.pipeline import Call

SERVICE = "/ingestd.v1.AlertService/"


async def todo(call: Call, request: Any) -> Any:
    raise Unimplemented(f"{call.method} is not served yet")
