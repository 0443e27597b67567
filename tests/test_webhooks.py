"""AlertService's webhook RPCs over real gRPC, on SQLite and PostgreSQL: CRUD (the secret shown
once), master-key access, the SSRF guard on URLs, the project's webhooks limit, and the delivery
log's pages."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import grpc
import pytest
from google.protobuf import field_mask_pb2

from ingestd.v1 import admin_service_pb2, alert_service_pb2, alerting_pb2
from server.config import Settings
from server.ids import UuidV7
from server.main import running
from storage.engine import create_engine, immediate_engine
from storage.webhooks import enqueue_deliveries
from tests.conftest import Client, grpc_channel, make_settings
from tests.helpers import ManualClock, reason, violations

pb = alert_service_pb2
A = alerting_pb2
PROJECT = "default"
START_S = 1_760_000_000
#: A public address, so creating works without allowing loopback; nothing is ever sent to it.
PUBLIC_URL = "https://93.184.216.34/ingestd"


@contextlib.asynccontextmanager
async def serving(settings: Settings, clock: ManualClock | None = None) -> AsyncIterator[Client]:
    async with running(settings, clock) as started, grpc_channel(started.grpc_port) as channel:
        yield Client.for_channel(started, channel)


async def refused(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    return caught.value


async def create(client: Client, url: str = PUBLIC_URL, **fields: object) -> A.Webhook:
    request = pb.CreateWebhookRequest(project=PROJECT, webhook=A.Webhook(url=url, **fields))  # type: ignore[arg-type]
    return (await client.alerts.CreateWebhook(request, metadata=client.master)).webhook


async def listed(client: Client) -> list[A.Webhook]:
    response = await client.alerts.ListWebhooks(
        pb.ListWebhooksRequest(project=PROJECT), metadata=client.master
    )
    return list(response.webhooks)


async def enqueue_alert(database_url: str, clock: ManualClock, severity: int = A.ALERT_SEVERITY_HIGH) -> int:
    """Opens an alert's outbox rows as the evaluator does: in a transaction of its own."""
    ids = UuidV7(clock)
    alert = A.Alert(
        id="al_" + ids.new(), rule_id="auth_brute_force", severity=severity, state=A.ALERT_STATE_OPEN
    )  # type: ignore[arg-type]
    engine = create_engine(database_url)
    try:
        # As the group writer does: on SQLite the write lock is taken at BEGIN.
        async with immediate_engine(engine).begin() as connection:
            return await enqueue_deliveries(
                connection, PROJECT, alert, "alert.opened", clock.now_us(), ids.new
            )
    finally:
        await engine.dispose()


async def test_create_shows_the_secret_once_and_list_never(settings: Settings) -> None:
    async with serving(settings) as client:
        created = await create(client, description="on-call", min_severity=A.ALERT_SEVERITY_HIGH)
        assert created.id.startswith("wh_")
        assert created.secret.startswith("whsec_") and len(created.secret) >= 30
        assert created.secret_prefix == created.secret[:12]
        assert created.enabled, "enabled by default"
        assert (created.url, created.description, created.min_severity) == (
            PUBLIC_URL,
            "on-call",
            A.ALERT_SEVERITY_HIGH,
        )
        assert created.create_time.seconds > 0

        [shown] = await listed(client)
        assert shown.secret == "", "the secret is shown only at creation"
        assert shown.secret_prefix == created.secret_prefix
        expected = A.Webhook()
        expected.CopyFrom(created)
        expected.ClearField("secret")
        assert shown == expected

        second = await create(client, enabled=False)
        assert [w.id for w in await listed(client)] == [created.id, second.id], "oldest first"
        assert not (await listed(client))[1].enabled


async def test_update_applies_the_mask_and_delete_removes(settings: Settings) -> None:
    async with serving(settings) as client:
        created = await create(client, description="first")
        update = pb.UpdateWebhookRequest(
            project=PROJECT,
            webhook=created.id,
            update=A.Webhook(url="https://93.184.216.34/other", description="second", enabled=False),
            update_mask=field_mask_pb2.FieldMask(paths=["description"]),
        )
        changed = (await client.alerts.UpdateWebhook(update, metadata=client.master)).webhook
        assert (changed.url, changed.description, changed.enabled) == (PUBLIC_URL, "second", True)
        assert changed.secret == "", "an update never shows the secret"

        update.ClearField("update_mask")
        changed = (await client.alerts.UpdateWebhook(update, metadata=client.master)).webhook
        assert (changed.url, changed.description, changed.enabled) == (
            "https://93.184.216.34/other",
            "second",
            False,
        )
        assert (await listed(client))[0] == changed

        bad_mask = pb.UpdateWebhookRequest(
            project=PROJECT, webhook=created.id, update_mask=field_mask_pb2.FieldMask(paths=["secret"])
        )
        error = await refused(client.alerts.UpdateWebhook(bad_mask, metadata=client.master))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert violations(error)[0][0] == "update_mask"

        long = pb.UpdateWebhookRequest(
            project=PROJECT, webhook=created.id, update=A.Webhook(description="x" * 101)
        )
        error = await refused(client.alerts.UpdateWebhook(long, metadata=client.master))
        assert [field for field, _ in violations(error)] == ["update.description"]

        unknown = pb.UpdateWebhookRequest(
            project=PROJECT, webhook="wh_nope", update=A.Webhook(description="x")
        )
        error = await refused(client.alerts.UpdateWebhook(unknown, metadata=client.master))
        assert (error.code(), reason(error)) == (grpc.StatusCode.NOT_FOUND, "WEBHOOK_NOT_FOUND")

        delete = pb.DeleteWebhookRequest(project=PROJECT, webhook=created.id)
        await client.alerts.DeleteWebhook(delete, metadata=client.master)
        assert await listed(client) == []
        error = await refused(client.alerts.DeleteWebhook(delete, metadata=client.master))
        assert (error.code(), reason(error)) == (grpc.StatusCode.NOT_FOUND, "WEBHOOK_NOT_FOUND")
        log = pb.ListWebhookDeliveriesRequest(project=PROJECT, webhook=created.id)
        error = await refused(client.alerts.ListWebhookDeliveries(log, metadata=client.master))
        assert error.code() == grpc.StatusCode.NOT_FOUND


async def test_webhooks_need_a_master_key(settings: Settings) -> None:
    async with serving(settings) as client:
        created = await create(client)
        calls = [
            client.alerts.ListWebhooks(pb.ListWebhooksRequest(project=PROJECT), metadata=client.project),
            client.alerts.CreateWebhook(
                pb.CreateWebhookRequest(project=PROJECT, webhook=A.Webhook(url=PUBLIC_URL)),
                metadata=client.project,
            ),
            client.alerts.UpdateWebhook(
                pb.UpdateWebhookRequest(
                    project=PROJECT, webhook=created.id, update=A.Webhook(description="x")
                ),
                metadata=client.project,
            ),
            client.alerts.DeleteWebhook(
                pb.DeleteWebhookRequest(project=PROJECT, webhook=created.id), metadata=client.project
            ),
            client.alerts.ListWebhookDeliveries(
                pb.ListWebhookDeliveriesRequest(project=PROJECT, webhook=created.id), metadata=client.project
            ),
        ]
        for call in calls:
            error = await refused(call)
            assert (error.code(), reason(error)) == (grpc.StatusCode.PERMISSION_DENIED, "MASTER_KEY_REQUIRED")
        assert [w.id for w in await listed(client)] == [created.id]


REFUSED_TARGETS = [
    "http://127.0.0.1:9/hook",
    "http://localhost/hook",
    "http://10.0.0.1/hook",
    "http://192.168.1.20/hook",
    "http://169.254.169.254/latest/meta-data",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[2002:7f00:1::]/hook",  # 6to4 of 127.0.0.1
    "http://[2002:a9fe:a9fe::1]/hook",  # 6to4 of 169.254.169.254
    "http://[64:ff9b::a00:1]/hook",  # NAT64 of 10.0.0.1
    "http://[::127.0.0.1]/hook",  # IPv4-compatible
    "http://[fe80::1]/hook",
    "http://0.0.0.0/hook",
    "http://224.0.0.1/hook",
    "http://2130706433/hook",
    "http://no-such-host.invalid/hook",
]


async def test_private_targets_are_refused(settings: Settings) -> None:
    async with serving(settings) as client:
        for url in REFUSED_TARGETS:
            error = await refused(create(client, url))
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, url
            [(field, why)] = violations(error)
            assert field == "webhook.url", url
            assert "refused" in why or "resolve" in why, (url, why)
        for url, why in [
            ("ftp://93.184.216.34/x", "http"),
            ("/relative/path", "http"),
            ("", "required"),
            ("https://93.184.216.34/" + "x" * 2048, "2048"),
            ("https://user:pw@93.184.216.34/", "credentials"),
        ]:
            error = await refused(create(client, url))
            [(field, text)] = violations(error)
            assert field == "webhook.url" and why in text, (url, text)
        created = await create(client)
        update = pb.UpdateWebhookRequest(
            project=PROJECT, webhook=created.id, update=A.Webhook(url="http://169.254.169.254/")
        )
        error = await refused(client.alerts.UpdateWebhook(update, metadata=client.master))
        assert [field for field, _ in violations(error)] == ["update.url"]
        assert (await listed(client))[0].url == PUBLIC_URL, "a refused update changes nothing"
        assert len(await listed(client)) == 1, "nothing refused was created"


async def test_allowed_networks_admit_only_their_addresses(database_url: str) -> None:
    settings = make_settings(database_url, webhook_allowed_networks="127.0.0.0/8")
    async with serving(settings) as client:
        assert (await create(client, "http://127.0.0.1:9/hook")).url == "http://127.0.0.1:9/hook"
        assert (await create(client, "http://127.0.0.2/hook")).id
        for url in ("http://10.0.0.1/hook", "http://169.254.169.254/", "http://[::1]/hook"):
            error = await refused(create(client, url))
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, url


async def test_webhooks_disabled_limit_refuses_creation(settings: Settings) -> None:
    async with serving(settings) as client:
        limits = admin_service_pb2.ProjectLimits(webhooks_disabled=True)
        await client.admin.UpdateProject(
            admin_service_pb2.UpdateProjectRequest(
                project=PROJECT,
                update=admin_service_pb2.Project(limits=limits),
                update_mask=field_mask_pb2.FieldMask(paths=["limits.webhooks_disabled"]),
            ),
            metadata=client.master,
        )
        error = await refused(create(client))
        assert (error.code(), reason(error)) == (
            grpc.StatusCode.FAILED_PRECONDITION,
            "WEBHOOKS_NOT_AVAILABLE",
        )
        assert await listed(client) == []


async def test_the_delivery_log_pages_newest_first(database_url: str) -> None:
    clock = ManualClock(START_S)
    # No round after the first (at startup): the deliveries stay pending and unsent.
    settings = make_settings(database_url, alert_poll_interval_s=3600.0)
    async with serving(settings, clock) as client:
        webhook = await create(client, min_severity=A.ALERT_SEVERITY_MEDIUM)
        assert await enqueue_alert(database_url, clock, A.ALERT_SEVERITY_LOW) == 0, "below min_severity"
        for _ in range(3):
            assert await enqueue_alert(database_url, clock) == 1
            clock.advance(1)

        request = pb.ListWebhookDeliveriesRequest(project=PROJECT, webhook=webhook.id, page_size=2)
        first = await client.alerts.ListWebhookDeliveries(request, metadata=client.master)
        assert len(first.deliveries) == 2 and first.next_page_token
        request.page_token = first.next_page_token
        second = await client.alerts.ListWebhookDeliveries(request, metadata=client.master)
        assert len(second.deliveries) == 1 and not second.next_page_token
        deliveries = [*first.deliveries, *second.deliveries]
        assert [d.id for d in deliveries] == sorted((d.id for d in deliveries), reverse=True)
        assert [d.create_time.seconds for d in deliveries] == [START_S + 2, START_S + 1, START_S]
        for delivery in deliveries:
            assert delivery.id.startswith("dl_")
            assert (delivery.webhook_id, delivery.event_type) == (webhook.id, "alert.opened")
            assert delivery.state == A.DELIVERY_STATE_PENDING
            assert delivery.next_attempt_time == delivery.create_time
            assert list(delivery.attempts) == []

        request.page_token = "garbage"
        error = await refused(client.alerts.ListWebhookDeliveries(request, metadata=client.master))
        assert [field for field, _ in violations(error)] == ["page_token"]
        request.page_token, request.page_size = "", -1
        error = await refused(client.alerts.ListWebhookDeliveries(request, metadata=client.master))
        assert [field for field, _ in violations(error)] == ["page_size"]
