"""`/metrics` as Prometheus scrapes it: after real calls over HTTP and gRPC, the counts an
operator graphs (calls by RPC and code, HTTP statuses, events by dialect and result, commits,
readiness) are there and add up. On SQLite and PostgreSQL."""

from __future__ import annotations

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from ingestd.v1 import event_pb2 as E
from tests.conftest import Client, grpc_channel, http_gateway, make_settings
from tests.helpers import write_request


async def _scrape(
    http: aiohttp.ClientSession, base: str
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with http.get(f"{base}/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = await response.text()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_metrics_count_what_was_served(database_url: str) -> None:
    async with http_gateway(make_settings(database_url), "inprocess") as http:
        base = f"http://127.0.0.1:{http.port}"
        async with grpc_channel(http.running.grpc_port) as channel:
            client = Client.for_channel(http.running, channel)
            events = [E.Event(message="one"), E.Event(message="two"), E.Event()]  # the last is rejected
            await client.ingest.WriteEvents(write_request(*events), metadata=client.project)
        async with http.session.post(
            http.url("/v1/projects/default/events:write"),
            json={"events": [{"message": "three"}]},
            headers=http.bearer(),
        ) as response:
            assert response.status == 200
        async with http.session.get(http.url("/no/such/route")) as response:
            assert response.status == 404
        got = await _scrape(http.session, base)

    write = "/ingestd.v1.IngestService/WriteEvents"
    assert got[("ingestd_calls_total", (("code", "OK"), ("rpc", write)))] == 2
    assert got[("ingestd_call_seconds_count", (("rpc", write),))] == 2
    assert got[("ingestd_http_responses_total", (("status", "200"),))] == 1
    assert got[("ingestd_http_responses_total", (("status", "404"),))] == 1
    assert got[("ingestd_events_total", (("dialect", "ingestd"), ("result", "valid")))] == 3
    assert got[("ingestd_events_total", (("dialect", "ingestd"), ("result", "rejected")))] == 1
    assert got[("ingestd_events_committed_total", (("result", "stored"),))] == 3
    assert got[("ingestd_commit_group_rows_sum", ())] == 3
    assert got[("ingestd_commit_seconds_count", ())] >= 2
    assert got[("ingestd_writer_queue", ())] == 0
    assert got[("ingestd_ready", ())] == 1
    assert got[("ingestd_database_errors_total", (("where", "commit"),))] == 0
