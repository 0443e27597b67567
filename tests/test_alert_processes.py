"""Two ingestd processes sharing PostgreSQL count one rule together and fire it once: failed
logins of one actor sent to both nodes at once add up, and exactly one alert opens."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from ingestd.v1 import ingest_service_pb2_grpc
from tests.conftest import PROJECT_SECRET
from tests.helpers import write_request
from tests.process import ServerProcess
from tests.test_alert_engine import audit, stored_alerts

pytestmark = pytest.mark.slow

AUTH = (("authorization", f"Bearer {PROJECT_SECRET}"),)


@pytest.mark.postgres
async def test_two_nodes_fire_one_alert_for_events_split_between_them(postgres_url: str) -> None:
    async with ServerProcess(postgres_url) as a, ServerProcess(postgres_url) as b:
        channels = [grpc.aio.insecure_channel(a.address), grpc.aio.insecure_channel(b.address)]
        stubs = [ingest_service_pb2_grpc.IngestServiceStub(c) for c in channels]

        async def send(n: int) -> None:
            await stubs[n % 2].WriteEvents(write_request(audit("auth.failed", "u_42")), metadata=AUTH)

        await asyncio.gather(*(send(n) for n in range(20)))
        # A second round, within the cooldown: still the one alert.
        await asyncio.gather(*(send(n) for n in range(20)))
        for channel in channels:
            await channel.close()

    for node in (a, b):
        assert b"commit_hook_failed" not in node.output, node.output.decode(errors="replace")[-2000:]
    alerts = await stored_alerts(postgres_url)
    assert [(x.rule_id, x.group_key) for x in alerts] == [("auth_brute_force", "u_42")]
    assert alerts[0].event_count >= 5
