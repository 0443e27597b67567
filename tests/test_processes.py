"""ingestd as separate processes: durability across SIGKILL, graceful SIGTERM, and several nodes
sharing one PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from pathlib import Path

import aiohttp
import grpc
import psycopg
import pytest
from google.rpc import error_details_pb2
from sqlalchemy.engine import make_url

from ingestd.v1 import (
    admin_service_pb2,
    admin_service_pb2_grpc,
    event_pb2,
    event_service_pb2,
    event_service_pb2_grpc,
    ingest_service_pb2,
    ingest_service_pb2_grpc,
)
from tests.conftest import MASTER_SECRET, PROJECT_SECRET
from tests.helpers import detail, log_event, rich_status, write_request
from tests.process import ServerProcess, run_cli

pytestmark = pytest.mark.slow

AUTH = (("authorization", f"Bearer {PROJECT_SECRET}"),)
MASTER = (("authorization", f"Bearer {MASTER_SECRET}"),)


async def _all_ids(address: str) -> list[str]:
    ids: list[str] = []
    token = ""
    async with grpc.aio.insecure_channel(address) as channel:
        stub = event_service_pb2_grpc.EventServiceStub(channel)
        while True:
            page = await stub.ListEvents(
                event_service_pb2.ListEventsRequest(project="default", page_size=1000, page_token=token),
                metadata=AUTH,
            )
            ids.extend(e.id for e in page.events)
            token = page.next_page_token
            if not token:
                return ids


@pytest.mark.parametrize("workers", ["1", "2"])
async def test_acknowledged_events_survive_sigkill(database_url: str, workers: str) -> None:
    """With several workers, the SIGKILL of the supervisor takes its workers with it."""
    acknowledged: list[str] = []
    server = ServerProcess(database_url, ("--workers", workers))
    async with server, grpc.aio.insecure_channel(server.address) as channel:
        stub = ingest_service_pb2_grpc.IngestServiceStub(channel)

        async def send(n: int) -> None:
            batch = write_request(*(log_event(f"{n}-{i}") for i in range(25)))
            response = await stub.WriteEvents(batch, metadata=AUTH)
            acknowledged.extend(r.event_id for r in response.results)

        await asyncio.gather(*(send(n) for n in range(40)))
        await server.kill()

    async with ServerProcess(database_url) as restarted:
        stored = await _all_ids(restarted.address)
    assert len(acknowledged) == 1000
    assert sorted(stored) == sorted(acknowledged)


async def test_sigterm_finishes_calls_in_flight_then_exits(database_url: str) -> None:
    server = await ServerProcess(database_url).start()
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = ingest_service_pb2_grpc.IngestServiceStub(channel)
        stream = stub.StreamEvents(metadata=AUTH)
        await stream.write(
            ingest_service_pb2.StreamEventsRequest(project="default", events=[log_event("first")])
        )
        for _ in range(1500):  # the stream is in flight once its first message is committed
            if await _all_ids(server.address):
                break
            await asyncio.sleep(0.02)

        terminating = asyncio.create_task(server.terminate())
        await asyncio.sleep(0.3)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.WriteEvents(write_request(log_event("too late")), metadata=AUTH, timeout=5)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        await stream.write(
            ingest_service_pb2.StreamEventsRequest(project="default", events=[log_event("second")])
        )
        await stream.done_writing()
        response = await stream
        status = await terminating

    assert response.accepted_count == 2
    assert status == 0, server.output.decode(errors="replace")
    async with ServerProcess(database_url) as restarted:
        assert len(await _all_ids(restarted.address)) == 2


async def test_logs_one_line_per_call_and_never_a_secret(database_url: str) -> None:
    async with ServerProcess(database_url) as server, grpc.aio.insecure_channel(server.address) as channel:
        ingest = ingest_service_pb2_grpc.IngestServiceStub(channel)
        admin = admin_service_pb2_grpc.AdminServiceStub(channel)
        await ingest.WriteEvents(write_request(log_event()), metadata=(*AUTH, ("x-request-id", "req-test-1")))
        made = await admin.CreateApiKey(
            admin_service_pb2.CreateApiKeyRequest(
                organization="default", kind=admin_service_pb2.API_KEY_KIND_MASTER
            ),
            metadata=MASTER,
        )
        with pytest.raises(grpc.aio.AioRpcError):
            await ingest.WriteEvents(write_request(log_event()), metadata=(("x-api-key", "not-a-key"),))
        await server.terminate()

    text = server.output.decode()
    for secret in (PROJECT_SECRET, MASTER_SECRET, made.secret, "not-a-key"):
        assert secret not in text
    calls = [json.loads(line) for line in text.splitlines() if line.startswith("{") and '"rpc"' in line]
    assert [(c["method"].rsplit("/", 1)[1], c["code"]) for c in calls] == [
        ("WriteEvents", "OK"),
        ("CreateApiKey", "OK"),
        ("WriteEvents", "UNAUTHENTICATED"),
    ]
    assert calls[0]["request_id"] == "req-test-1" and calls[0]["accepted"] == 1
    assert all(c["request_id"] and "duration_ms" in c for c in calls)


@pytest.mark.postgres
async def test_two_nodes_share_postgresql_without_losing_or_duplicating(postgres_url: str) -> None:
    async with ServerProcess(postgres_url) as a, ServerProcess(postgres_url) as b:
        channels = [grpc.aio.insecure_channel(a.address), grpc.aio.insecure_channel(b.address)]
        stubs = [ingest_service_pb2_grpc.IngestServiceStub(c) for c in channels]
        results: dict[str, set[str]] = {}

        async def send(n: int) -> None:
            # Every key is sent to both nodes at once: exactly one copy may be stored.
            events = [log_event(f"{n}-{i}", idempotency_key=f"{n}-{i}") for i in range(20)]
            # Node b gets them in reverse order, as independent senders would order them.
            batches = [events, events[::-1]]
            responses = await asyncio.gather(
                *(
                    stub.WriteEvents(write_request(*batch), metadata=AUTH)
                    for stub, batch in zip(stubs, batches, strict=True)
                )
            )
            for batch, response in zip(batches, responses, strict=True):
                for event, result in zip(batch, response.results, strict=True):
                    results.setdefault(event.idempotency_key, set()).add(result.event_id)

        await asyncio.gather(*(send(n) for n in range(30)))
        stored_a = await _all_ids(a.address)
        stored_b = await _all_ids(b.address)
        for channel in channels:
            await channel.close()

    assert len(results) == 600
    assert all(len(ids) == 1 for ids in results.values()), "both nodes answer with the one stored id"
    assert sorted(stored_a) == sorted(stored_b) == sorted(i for ids in results.values() for i in ids)


@pytest.mark.postgres
async def test_revocation_on_one_node_holds_on_the_other(postgres_url: str) -> None:
    async with (
        ServerProcess(postgres_url) as a,
        ServerProcess(postgres_url) as b,
        grpc.aio.insecure_channel(a.address) as to_a,
        grpc.aio.insecure_channel(b.address) as to_b,
    ):
        made = await admin_service_pb2_grpc.AdminServiceStub(to_a).CreateApiKey(
            admin_service_pb2.CreateApiKeyRequest(
                organization="default", kind=admin_service_pb2.API_KEY_KIND_PROJECT, project="default"
            ),
            metadata=MASTER,
        )
        key = (("authorization", f"Bearer {made.secret}"),)
        on_b = ingest_service_pb2_grpc.IngestServiceStub(to_b)
        await on_b.WriteEvents(write_request(log_event()), metadata=key)  # node b now caches the key
        await admin_service_pb2_grpc.AdminServiceStub(to_a).RevokeApiKey(
            admin_service_pb2.RevokeApiKeyRequest(organization="default", key=made.api_key.id),
            metadata=MASTER,
        )
        # Node b still caches the key; its commit re-checks it, even for a batch with nothing to store.
        nothing_valid = write_request(event_pb2.Event(metric=event_pb2.MetricBody()))
        for batch in (write_request(log_event()), nothing_valid):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await on_b.WriteEvents(batch, metadata=key)
            assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await event_service_pb2_grpc.EventServiceStub(to_b).ListEvents(
                event_service_pb2.ListEventsRequest(project="default"), metadata=key
            )
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_first_start_prints_generated_keys_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'first.db'}"
    port = _free_port()
    unset = {"INGESTD_BOOTSTRAP_MASTER_KEY": "", "INGESTD_BOOTSTRAP_PROJECT_KEY": ""}
    async with ServerProcess(url, args=("--grpc-addr", f"127.0.0.1:{port}"), **unset) as first:
        assert first.port == port
        text = first.output.decode()
        secrets = dict(re.findall(r"(master|project) key +\(key_[0-9a-f]+\): (\S+)", text))
        assert secrets["master"].startswith("mk_") and secrets["project"].startswith("pk_")
        async with grpc.aio.insecure_channel(first.address) as channel:
            written = await ingest_service_pb2_grpc.IngestServiceStub(channel).WriteEvents(
                write_request(log_event()), metadata=(("authorization", f"Bearer {secrets['project']}"),)
            )
        assert written.accepted_count == 1
        await first.terminate()
    async with ServerProcess(url, **unset) as second:
        await second.terminate()
    assert "First start" not in second.output.decode()
    assert secrets["project"] not in second.output.decode()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.postgres
async def test_a_vanished_database_answers_unavailable_not_a_hang(
    postgres_url: str, postgres_admin_url: str
) -> None:
    async with ServerProcess(postgres_url) as server, grpc.aio.insecure_channel(server.address) as channel:
        ingest = ingest_service_pb2_grpc.IngestServiceStub(channel)
        events = event_service_pb2_grpc.EventServiceStub(channel)
        await ingest.WriteEvents(write_request(log_event()), metadata=AUTH)
        name = make_url(postgres_url).database
        with psycopg.connect(postgres_admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        for call in (
            ingest.WriteEvents(write_request(log_event()), metadata=AUTH, timeout=30),
            events.ListEvents(
                event_service_pb2.ListEventsRequest(project="default"), metadata=AUTH, timeout=30
            ),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE, caught.value
            retry = detail(rich_status(caught.value), error_details_pb2.RetryInfo)
            assert retry is not None and retry.retry_delay.seconds == 1


@pytest.mark.parametrize("taken", ["INGESTD_HTTP_ADDR", "INGESTD_GRPC_ADDR"])
async def test_a_port_in_use_on_first_start_is_one_line_and_makes_no_keys(tmp_path: Path, taken: str) -> None:
    url = f"sqlite:///{tmp_path / 'first.db'}"
    unset = {"INGESTD_BOOTSTRAP_MASTER_KEY": "", "INGESTD_BOOTSTRAP_PROJECT_KEY": ""}
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        address = f"127.0.0.1:{holder.getsockname()[1]}"
        ports = {"INGESTD_GRPC_ADDR": "127.0.0.1:0", "INGESTD_HTTP_ADDR": "127.0.0.1:0"}
        env = {**unset, **ports, taken: address}
        result = await asyncio.to_thread(run_cli, "serve", database_url=url, env=env)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("ingestd: cannot listen for ")
    assert address in result.stderr and "Traceback" not in result.stderr
    assert "First start" not in result.stdout
    # Nothing was committed, so the next start is the first: it makes the keys and shows them.
    async with ServerProcess(url, **unset) as second:
        await second.terminate()
    assert "First start: created organization 'default'" in second.output.decode()


async def test_every_http_request_gets_one_access_line_and_refusals_are_warnings(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'access.db'}"
    async with ServerProcess(url) as server, aiohttp.ClientSession() as http:
        base = f"http://127.0.0.1:{server.http_port}"
        bearer = {"Authorization": f"Bearer {PROJECT_SECRET}", "X-Request-Id": "req-access-1"}
        sent = [
            ("POST", "/v1/projects/default/events:write", {"events": [{"message": "hi"}]}, 200),
            ("POST", "/v1/projects/default/events:write", {"events": [], "bogus": 1}, 400),
            ("GET", "/no/such/route", None, 404),
            ("POST", "/api/v1/check_ins", {"check_in": {"status": "ok"}}, 422),
        ]
        for method, path, body, status in sent:
            async with http.request(method, base + path, json=body, headers=bearer) as response:
                assert response.status == status, (path, await response.text())
        await server.terminate()

    text = server.output.decode()
    assert PROJECT_SECRET not in text
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    access = [line for line in lines if line["event"] == "http"]
    assert [(a["method"], a["path"], a["status"], a["level"]) for a in access] == [
        (method, path, status, "info" if status < 400 else "warning")
        for method, path, status in [(m, p, s) for m, p, _, s in sent]
    ]
    assert all(a["request_id"] == "req-access-1" and "duration_ms" in a for a in access)
    assert (
        access[0]["rpc"].endswith("/WriteEvents") and access[0]["code"] == "OK" and access[0]["accepted"] == 1
    )
    assert "bogus" in access[1]["reason"]
    assert access[3]["rpc"].endswith("/CheckIn") and access[3]["key_id"].startswith("key_")
    assert not [line for line in lines if line["event"] == "rpc"], (
        "an HTTP call is logged once, by the gateway"
    )
    events = [line["event"] for line in lines]
    assert events.index("serving") < events.index("shutting_down") < events.index("stopped")
