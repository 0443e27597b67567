"""Webhook delivery to a real receiver on 127.0.0.1, on SQLite and PostgreSQL: signatures the
receiver verifies, scripted failures retried with backoff as the injected clock moves, the
delivery log, disabling after consecutive failures, the send-time SSRF guard, restarts (nothing
lost, nothing sent twice once delivered) and two workers sharing one database."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from google.protobuf import field_mask_pb2

from ingestd.v1 import alert_service_pb2, alerting_pb2, event_pb2, ingest_service_pb2
from server.alerting.delivery import DeliveryWorker, backoff_s
from server.config import Settings
from storage.engine import create_engine, session_factory
from tests.conftest import Client, make_settings
from tests.helpers import ManualClock
from tests.test_webhooks import PROJECT, START_S, create, enqueue_alert, listed, serving
from tests.webhook_receiver import WebhookReceiver, reserve_port, verify

pb = alert_service_pb2
A = alerting_pb2
E = event_pb2


def delivery_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "webhook_allowed_networks": "127.0.0.0/8",
        "alert_poll_interval_s": 0.02,
        "webhook_backoff_base_s": 10.0,
    }
    values.update(overrides)
    return make_settings(database_url, **values)


def receiver_for(clock: ManualClock, *script: int | str) -> WebhookReceiver:
    return WebhookReceiver(list(script), now=lambda: clock.now / 1_000_000)


async def deliveries(client: Client, webhook_id: str) -> list[A.WebhookDelivery]:
    request = pb.ListWebhookDeliveriesRequest(project=PROJECT, webhook=webhook_id)
    return list((await client.alerts.ListWebhookDeliveries(request, metadata=client.master)).deliveries)


async def log_until(
    client: Client, webhook_id: str, done: Callable[[list[A.WebhookDelivery]], bool]
) -> list[A.WebhookDelivery]:
    """The delivery log once `done` holds for it (waiting for the loop's effect, up to 10 s)."""
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        log = await deliveries(client, webhook_id)
        if done(log):
            return log
        assert asyncio.get_running_loop().time() < deadline, f"delivery log never settled: {log}"
        await asyncio.sleep(0.02)


def attempts(n: int) -> Callable[[list[A.WebhookDelivery]], bool]:
    return lambda log: len(log) == 1 and len(log[0].attempts) == n


def settled(log: list[A.WebhookDelivery]) -> bool:
    return bool(log) and all(d.state != A.DELIVERY_STATE_PENDING for d in log)


def outcomes(delivery: A.WebhookDelivery) -> list[tuple[int, str]]:
    return [(a.status_code, a.error) for a in delivery.attempts]


async def hook(client: Client, receiver: WebhookReceiver, **fields: object) -> A.Webhook:
    webhook = await create(client, receiver.url, **fields)
    receiver.secret = webhook.secret
    return webhook


def test_backoff_has_equal_jitter_and_a_cap() -> None:
    assert [backoff_s(n, 10, 3600, 0.0) for n in (1, 2, 3)] == [5, 10, 20]
    assert [backoff_s(n, 10, 3600, 1.0) for n in (1, 2, 3)] == [10, 20, 40]
    assert backoff_s(20, 10, 3600, 0.0) == 1800 and backoff_s(200, 10, 3600, 1.0) == 3600


async def test_a_delivery_is_signed_and_the_receiver_verifies_it(database_url: str) -> None:
    clock = ManualClock(START_S)
    async with receiver_for(clock) as receiver, serving(delivery_settings(database_url), clock) as client:
        webhook = await hook(client, receiver)
        assert await enqueue_alert(database_url, clock) == 1
        [got] = await receiver.wait_for(1)
        [delivery] = await log_until(client, webhook.id, settled)

    assert got.verified, "the README recipe verifies the signature"
    assert got.headers["X-Ingestd-Timestamp"] == str(START_S), "signed at the injected clock's time"
    assert got.headers["X-Ingestd-Event"] == "alert.opened"
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["User-Agent"] == "ingestd-webhooks"
    assert got.delivery == delivery.id
    body = got.json
    assert (body["id"], body["type"], body["project"]) == (delivery.id, "alert.opened", PROJECT)
    assert body["created_at"] == "2025-10-09T08:53:20.000Z"
    assert body["alert"]["id"] == delivery.alert_id
    assert (body["alert"]["severity"], body["alert"]["state"]) == ("high", "open")
    assert delivery.state == A.DELIVERY_STATE_DELIVERED
    assert outcomes(delivery) == [(200, "")]
    assert delivery.attempts[0].time.seconds == START_S

    secret, headers = receiver.secret, got.headers
    assert not verify(secret, headers, got.body + b" ", now=START_S), "a changed body fails"
    assert not verify("whsec_other", headers, got.body, now=START_S), "another secret fails"
    assert not verify(secret, headers, got.body, now=START_S + 301), "a stale timestamp fails"


async def test_an_ingested_brute_force_is_delivered(database_url: str) -> None:
    clock = ManualClock(START_S)
    async with receiver_for(clock) as receiver, serving(delivery_settings(database_url), clock) as client:
        webhook = await hook(client, receiver)
        events = [
            E.Event(audit=E.AuditBody(action="auth.failed", actor=E.AuditActor(id="u_1"))) for _ in range(5)
        ]
        await client.ingest.WriteEvents(
            ingest_service_pb2.WriteEventsRequest(project=PROJECT, events=events), metadata=client.project
        )
        [got] = await receiver.wait_for(1)
        await log_until(client, webhook.id, settled)
    assert got.verified
    alert = got.json["alert"]
    assert (alert["rule_id"], alert["group_key"], alert["event_count"]) == ("auth_brute_force", "u_1", 5)


async def test_failures_back_off_until_the_clock_passes_each_delay(database_url: str) -> None:
    clock = ManualClock(START_S)
    async with (
        receiver_for(clock, 500, 500, 200) as receiver,
        receiver_for(clock) as marker,
        serving(delivery_settings(database_url), clock) as client,
    ):
        webhook = await hook(client, receiver, min_severity=A.ALERT_SEVERITY_CRITICAL)
        probe = await hook(client, marker)
        assert await enqueue_alert(database_url, clock, A.ALERT_SEVERITY_CRITICAL) == 2
        [first] = await log_until(client, webhook.id, attempts(1))
        assert outcomes(first) == [(500, "HTTP 500")]
        assert first.state == A.DELIVERY_STATE_PENDING
        wait_s = first.next_attempt_time.seconds - START_S
        assert 5 <= wait_s <= 10, "the first retry waits base/2 to base seconds"

        # Before the delay: a later alert for the probe alone is sent in a later round, and by
        # the time its attempt is logged, that round would have sent the retry had it been due.
        clock.advance(4)
        assert await enqueue_alert(database_url, clock, A.ALERT_SEVERITY_LOW) == 1
        await log_until(client, probe.id, lambda log: len(log) == 2 and settled(log))
        assert len(receiver.received) == 1, "no retry before its time"

        clock.advance(6)
        [second] = await log_until(client, webhook.id, attempts(2))
        assert outcomes(second) == [(500, "HTTP 500"), (500, "HTTP 500")]
        assert 10 <= second.next_attempt_time.seconds - (START_S + 10) <= 20
        clock.advance(20)
        [done] = await log_until(client, webhook.id, settled)
        assert len(receiver.received) == 3

    assert done.state == A.DELIVERY_STATE_DELIVERED
    assert outcomes(done) == [(500, "HTTP 500"), (500, "HTTP 500"), (200, "")]
    assert [a.time.seconds for a in done.attempts] == [START_S, START_S + 10, START_S + 30]
    assert all(r.verified for r in receiver.received)
    assert {r.delivery for r in receiver.received} == {done.id}, "one delivery id on every retry"
    assert [int(r.headers["X-Ingestd-Timestamp"]) for r in receiver.received] == [
        START_S,
        START_S + 10,
        START_S + 30,
    ]


async def test_consecutive_failures_disable_the_webhook(database_url: str) -> None:
    clock = ManualClock(START_S)
    settings = delivery_settings(database_url, webhook_disable_after_failures=3, webhook_max_attempts=10)
    async with receiver_for(clock, 500, "close", 503) as receiver, serving(settings, clock) as client:
        webhook = await hook(client, receiver)
        await enqueue_alert(database_url, clock)
        for n in (1, 2):
            await log_until(client, webhook.id, attempts(n))
            assert (await listed(client))[0].consecutive_failures == n
            clock.advance(10 * 2 ** (n - 1))
        [failed] = await log_until(client, webhook.id, settled)
        [disabled] = await listed(client)
        assert await enqueue_alert(database_url, clock) == 0, "a disabled webhook gets no deliveries"

        enable = pb.UpdateWebhookRequest(
            project=PROJECT,
            webhook=webhook.id,
            update=A.Webhook(enabled=True),
            update_mask=field_mask_pb2.FieldMask(paths=["enabled"]),
        )
        enabled = (await client.alerts.UpdateWebhook(enable, metadata=client.master)).webhook
        assert await enqueue_alert(database_url, clock) == 1
        await log_until(client, webhook.id, lambda log: len(log) == 2 and settled(log))
        [after] = await listed(client)

    assert failed.state == A.DELIVERY_STATE_FAILED, "its webhook's disabling ends the delivery"
    assert outcomes(failed) == [(500, "HTTP 500"), (0, "server disconnected"), (503, "HTTP 503")]
    assert not disabled.enabled
    assert disabled.consecutive_failures == 3
    assert disabled.disabled_reason == "disabled after 3 consecutive failed delivery attempts"
    assert enabled.enabled and enabled.consecutive_failures == 0 and enabled.disabled_reason == ""
    assert len(receiver.received) == 4 and after.consecutive_failures == 0


async def test_timeouts_and_refused_connections_are_logged(database_url: str) -> None:
    clock = ManualClock(START_S)
    settings = delivery_settings(database_url, webhook_timeout_s=0.3)
    async with WebhookReceiver() as closed:
        pass  # its port now refuses connections
    async with receiver_for(clock, "hang") as receiver, serving(settings, clock) as client:
        slow = await hook(client, receiver)
        down = await create(client, closed.url)
        await enqueue_alert(database_url, clock)
        [timed_out] = await log_until(client, slow.id, attempts(1))
        [refused] = await log_until(client, down.id, attempts(1))
    assert outcomes(timed_out) == [(0, "timeout")]
    assert outcomes(refused) == [(0, "connection refused")]
    assert timed_out.state == refused.state == A.DELIVERY_STATE_PENDING


async def test_a_pending_delivery_survives_a_restart_and_is_sent_once(database_url: str) -> None:
    clock = ManualClock(START_S)
    # The first node makes its only round at startup, before the alert: it sends nothing.
    idle = delivery_settings(database_url, alert_poll_interval_s=3600.0)
    async with receiver_for(clock) as receiver:
        async with serving(idle, clock) as client:
            webhook = await hook(client, receiver)
            await enqueue_alert(database_url, clock)
        assert receiver.received == []

        async with serving(delivery_settings(database_url), clock) as client:
            await receiver.wait_for(1)
            [delivered] = await log_until(client, webhook.id, settled)

        async with serving(delivery_settings(database_url), clock) as client:
            clock.advance(3600)
            await enqueue_alert(database_url, clock)
            log = await log_until(client, webhook.id, lambda log: len(log) == 2 and settled(log))

    assert delivered.state == A.DELIVERY_STATE_DELIVERED
    assert [r.delivery for r in receiver.received] == [delivered.id, log[0].id], (
        "the delivered one is not sent again after the restart"
    )


async def test_a_receiver_down_at_shutdown_gets_the_delivery_after_restart(database_url: str) -> None:
    clock = ManualClock(START_S)
    # Bound but not listening until the receiver starts: refused meanwhile, and never re-bound
    # by another process (re-binding a freed port once flaked).
    reserved = reserve_port()
    port = reserved.getsockname()[1]
    async with serving(delivery_settings(database_url), clock) as client:
        webhook = await create(client, f"http://127.0.0.1:{port}/hook")
        await enqueue_alert(database_url, clock)
        await log_until(client, webhook.id, attempts(1))

    clock.advance(10)
    async with (
        WebhookReceiver(now=lambda: clock.now / 1_000_000, sock=reserved, secret=webhook.secret) as receiver,
        serving(delivery_settings(database_url), clock) as client,
    ):
        await receiver.wait_for(1)
        [delivery] = await log_until(client, webhook.id, settled)
    assert outcomes(delivery) == [(0, "connection refused"), (200, "")]
    assert receiver.received[0].verified and len(receiver.received) == 1


async def test_the_send_time_guard_refuses_what_settings_no_longer_allow(database_url: str) -> None:
    clock = ManualClock(START_S)
    async with receiver_for(clock) as receiver:
        async with serving(delivery_settings(database_url), clock) as client:
            webhook = await hook(client, receiver)
        strict = delivery_settings(database_url, webhook_allowed_networks="")
        async with serving(strict, clock) as client:
            await enqueue_alert(database_url, clock)
            [delivery] = await log_until(client, webhook.id, attempts(1))
    assert outcomes(delivery) == [(0, "refused address")]
    assert receiver.received == []


async def test_localhost_is_resolved_through_the_guard(database_url: str) -> None:
    clock = ManualClock(START_S)
    settings = delivery_settings(database_url, webhook_allowed_networks="127.0.0.0/8,::1/128")
    async with receiver_for(clock) as receiver, serving(settings, clock) as client:
        webhook = await create(client, receiver.url.replace("127.0.0.1", "localhost"))
        receiver.secret = webhook.secret
        await enqueue_alert(database_url, clock)
        await receiver.wait_for(1)
        [delivery] = await log_until(client, webhook.id, settled)
    assert outcomes(delivery) == [(200, "")]


@contextlib.asynccontextmanager
async def worker(settings: Settings, clock: ManualClock) -> AsyncIterator[DeliveryWorker]:
    """A delivery worker on its own engine: another node's, driven by the test."""
    engine = create_engine(settings.database_url)
    node = DeliveryWorker(session_factory(engine), clock, settings, random=lambda: 0.0)
    try:
        yield node
    finally:
        await node.close()
        await engine.dispose()


async def test_two_workers_never_send_one_delivery_twice(database_url: str) -> None:
    clock = ManualClock(START_S)
    settings = delivery_settings(database_url, alert_poll_interval_s=3600.0)
    async with receiver_for(clock) as receiver, serving(settings, clock) as client:
        webhooks = [await hook(client, receiver) for _ in range(3)]
        for _ in range(4):
            await enqueue_alert(database_url, clock)
        async with worker(settings, clock) as one, worker(settings, clock) as two:
            sent = await asyncio.gather(one.run_once(), two.run_once(), one.run_once(), two.run_once())
        logs = [await deliveries(client, w.id) for w in webhooks]
    assert sum(sent) == 12
    assert sorted(r.delivery for r in receiver.received) == sorted(d.id for log in logs for d in log)
    assert all(d.state == A.DELIVERY_STATE_DELIVERED and len(d.attempts) == 1 for log in logs for d in log)


async def test_deleted_and_disabled_webhooks_receive_nothing(database_url: str) -> None:
    clock = ManualClock(START_S)
    settings = delivery_settings(database_url, alert_poll_interval_s=3600.0)
    async with receiver_for(clock) as receiver, serving(settings, clock) as client:
        kept, deleted, paused = [await hook(client, receiver) for _ in range(3)]
        await enqueue_alert(database_url, clock)
        await client.alerts.DeleteWebhook(
            pb.DeleteWebhookRequest(project=PROJECT, webhook=deleted.id), metadata=client.master
        )
        pause = pb.UpdateWebhookRequest(project=PROJECT, webhook=paused.id, update=A.Webhook(enabled=False))
        await client.alerts.UpdateWebhook(pause, metadata=client.master)
        async with worker(settings, clock) as node:
            assert await node.run_once() == 1
        [paused_log] = await deliveries(client, paused.id)
        [kept_log] = await deliveries(client, kept.id)
    assert [r.delivery for r in receiver.received] == [kept_log.id]
    assert paused_log.state == A.DELIVERY_STATE_FAILED and list(paused_log.attempts) == []
