"""The real logister-python 0.6.0 SDK against a live ingestd (docs/vendors/logister.md §11). The SDK is
synchronous httpx, so it runs in a thread while the server runs on the test's event loop."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import httpx
from logister import LogisterClient  # type: ignore[import-untyped]
from logister.delivery import RetryPolicy  # type: ignore[import-untyped]

from ingestd.v1 import event_pb2
from tests.conftest import PROJECT_SECRET, Http
from tests.http.test_logister import stored

E = event_pb2
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"


def sdk(http: Http, transport: httpx.BaseTransport | None = None) -> LogisterClient:
    # No backoff between retries: the retry test must not wait.
    client = LogisterClient(
        api_key=PROJECT_SECRET,
        base_url=http.url(""),
        environment="staging",
        release="web@1.2.3",
        repository="acme/shop",
        commit_sha="0123456789abcdef0123456789abcdef01234567",
        branch="main",
        retry_policy=RetryPolicy(base_delay=0.0),
    )
    if transport is not None:
        # The SDK builds its httpx client lazily; giving it one with our transport is the seam.
        client._http_client = httpx.Client(
            base_url=client.base_url,
            timeout=client.timeout,
            headers={
                "Authorization": f"Bearer {PROJECT_SECRET}",
                "Content-Type": "application/json",
                "User-Agent": client.user_agent,
            },
            transport=transport,
        )
        client._http_client_pid = os.getpid()
    return client


def checkout(cart: dict[str, Any]) -> None:
    raise ValueError("bad total")


async def test_single_events_from_the_sdk_are_stored_with_their_kinds(http: Http) -> None:
    client = sdk(http)

    def capture() -> list[dict[str, Any]]:
        with client:
            try:
                checkout({"id": 7})
            except ValueError as exc:
                error = client.capture_exception(exc, fingerprint="checkout-bad-total", request_id="req-1")
            return [
                error,
                client.capture_message("disk almost full", level="warning"),
                client.capture_metric("queue.depth", 17, unit="jobs"),
                client.capture_transaction("GET /checkout", 123.5, trace_id=TRACE_ID),
                client.capture_span("SELECT orders", 12.5, trace_id=TRACE_ID, kind="db", status="error"),
            ]

    responses = await asyncio.to_thread(capture)
    assert [r["status"] for r in responses] == ["accepted"] * 5
    assert responses[4]["type"] == "span"
    assert not any("duplicate" in r for r in responses)

    events = {e.kind: e for e in await stored(http)}
    assert sorted(events) == [E.KIND_ERROR, E.KIND_TRANSACTION, E.KIND_SPAN, E.KIND_METRIC, E.KIND_LOG]
    for kind, response in zip(
        (E.KIND_ERROR, E.KIND_LOG, E.KIND_METRIC, E.KIND_TRANSACTION, E.KIND_SPAN), responses, strict=True
    ):
        assert events[kind].idempotency_key == f"logister:{response['id']}"
        assert (events[kind].environment, events[kind].release) == ("staging", "web@1.2.3")
        assert events[kind].context["runtime"] == "python"

    error = events[E.KIND_ERROR]
    assert (error.message, error.fingerprint, error.request_id) == (
        "bad total",
        "checkout-bad-total",
        "req-1",
    )
    assert (error.error.exception.type, error.error.exception.qualified_type) == (
        "ValueError",
        "builtins.ValueError",
    )
    assert [f.function for f in error.error.exception.frames][-1] == "checkout", "the raising frame is last"
    log = events[E.KIND_LOG]
    assert (log.message, log.level, log.log.level_text) == ("disk almost full", E.LEVEL_WARNING, "warning")
    metric = events[E.KIND_METRIC].metric
    assert (metric.name, metric.value, metric.unit) == ("queue.depth", 17, "jobs")
    transaction = events[E.KIND_TRANSACTION]
    assert (transaction.transaction.name, transaction.transaction.duration_ms) == ("GET /checkout", 123.5)
    assert transaction.trace_id == TRACE_ID
    span = events[E.KIND_SPAN]
    assert (span.span.name, span.span.kind, span.span.status, span.level) == (
        "SELECT orders",
        "db",
        "error",
        E.LEVEL_ERROR,
    )
    assert (span.trace_id, span.span.duration_ms) == (TRACE_ID, 12.5)
    assert len(span.span_id) == 16


async def test_batches_check_ins_and_deployments_from_the_sdk(http: Http) -> None:
    client = sdk(http)

    def send() -> tuple[list[Any], dict[str, Any], dict[str, Any]]:
        with client:
            prepared = [
                client.prepare_event(event_type="log", level="info", message=f"line {n}") for n in range(3)
            ]
            results = client.send_events(prepared)
            check_in = client.check_in(
                "nightly-reconcile", "ok", expected_interval_seconds=900, duration_ms=1500
            )
            deployment = client.record_deployment(release="2026.03.02", branch="refs/heads/main")
            return results, check_in, deployment

    results, check_in, deployment = await asyncio.to_thread(send)
    assert [r.error for r in results] == [None, None, None]
    batch = results[0].response
    assert (batch["status"], batch["accepted"], batch["duplicates"]) == ("accepted", 3, 0)
    assert [r["id"] for r in batch["results"]] == [r.event_id for r in results]
    assert len(batch["batch_id"]) == 64, "the SDK's batch id, the SHA-256 of the raw NDJSON, is echoed"
    assert check_in["status"] == "accepted" and set(check_in) == {"id", "status"}
    assert deployment["status"] == "accepted" and set(deployment) == {"id", "legacy_id", "status"}

    events = await stored(http)
    assert sorted(e.message for e in events if e.kind == E.KIND_LOG) == ["line 0", "line 1", "line 2"]
    (monitor,) = (e for e in events if e.kind == E.KIND_CHECK_IN)
    assert (
        monitor.check_in.slug,
        monitor.check_in.expected_interval_seconds,
        monitor.check_in.duration_ms,
    ) == (
        "nightly-reconcile",
        900,
        1500,
    )
    assert (monitor.environment, monitor.release) == ("staging", "web@1.2.3")
    (deployed,) = (e for e in events if e.kind == E.KIND_DEPLOYMENT)
    assert (deployed.release, deployed.environment) == ("2026.03.02", "staging")
    assert (deployed.deployment.repository, deployed.deployment.branch) == ("acme/shop", "main")
    assert deployed.deployment.commit_sha == "0123456789abcdef0123456789abcdef01234567"


class LoseFirstResponse(httpx.BaseTransport):
    """Delivers each request, but loses the server's answer to the first one of each round, as a
    connection dropped after the server committed would."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.calls = 0
        self.lose_next = True

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        self.calls += 1
        if self.lose_next:
            self.lose_next = False
            response.read()
            response.close()
            raise httpx.ReadError("connection lost after the server answered", request=request)
        return response

    def close(self) -> None:
        self.inner.close()


async def test_sdk_retries_after_a_lost_response_store_each_event_once(http: Http) -> None:
    transport = LoseFirstResponse()
    client = sdk(http, transport)

    def send() -> tuple[dict[str, Any], dict[str, Any], list[Any]]:
        with client:
            single = client.capture_message("paid", level="info")
            prepared = client.prepare_event(event_type="log", level="info", message="refunded")
            again = client.send_prepared_event(prepared)
            transport.lose_next = True
            batch = client.send_events(
                [prepared, client.prepare_event(event_type="log", level="info", message="x")]
            )
            return single, again, batch

    single, again, batch = await asyncio.to_thread(send)
    assert single["duplicate"] is True, "the retry found the first attempt's event"
    assert again["status"] == "accepted" and "duplicate" not in again
    (first, second) = batch
    assert first.response["duplicates"] == 2, "the lost batch was committed; its retry is all duplicates"
    assert [r["duplicate"] for r in first.response["results"]] == [True, True]
    assert transport.calls == 5
    assert sorted(e.message for e in await stored(http)) == ["paid", "refunded", "x"]
