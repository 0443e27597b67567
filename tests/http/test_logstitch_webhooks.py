"""LogStitch's alert webhooks over HTTP (/api/v1/alerts/webhooks) in LogStitch's shapes: CRUD, the
master-key rule, the SSRF refusal and the setting that allows loopback, the project limit that
turns webhooks off, and the delivery log of an alert delivered to a real receiver on 127.0.0.1,
in-process and through a gateway fronting ingestd, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from aiohttp import web

from tests.conftest import MASTER_SECRET, PROJECT_SECRET, Http, http_gateway, make_settings
from tests.http.test_logstitch import assert_error, call
from tests.http.test_logstitch_alerts import ALERTS, fail_logins

WEBHOOKS = "/api/v1/alerts/webhooks"
WEBHOOK_KEYS = {
    "id",
    "url",
    "description",
    "enabled",
    "min_severity",
    "secret_prefix",
    "consecutive_failures",
    "disabled_reason",
    "created_at",
    "updated_at",
}
PUBLIC_URL = "https://93.184.216.34/hooks/ingestd"


@pytest.fixture
async def loopback(http_target: tuple[str, str]) -> AsyncIterator[Http]:
    """An ingestd that may deliver to loopback addresses, draining its outbox every 20 ms."""
    database_url, mode = http_target
    settings = make_settings(database_url, webhook_allowed_networks="127.0.0.0/8", alert_poll_interval_s=0.02)
    async with http_gateway(settings, mode) as http:
        yield http


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1 that answers 200 and keeps what it got."""

    port: int = 0
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


@contextlib.asynccontextmanager
async def receiver() -> AsyncIterator[Receiver]:
    got = Receiver()

    async def hook(request: web.Request) -> web.Response:
        got.received.append((dict(request.headers), await request.read()))
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        got.port = runner.addresses[0][1]
        yield got
    finally:
        await runner.cleanup()


async def master(http: Http, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    return await call(http, method, path, body, secret=MASTER_SECRET)


async def test_webhook_crud_shows_the_secret_once(loopback: Http) -> None:
    http = loopback
    status, body = await master(http, "POST", WEBHOOKS, {"url": PUBLIC_URL, "description": "Pager"})
    assert status == 201, body
    assert body["request_id"].startswith("req_")
    created = body["webhook"]
    assert set(created) == {*WEBHOOK_KEYS, "secret"}
    assert created["id"].startswith("wh_")
    assert created["secret"].startswith("whsec_")
    assert created["secret"].startswith(created["secret_prefix"]) and created["secret_prefix"]
    assert (created["url"], created["description"], created["enabled"]) == (PUBLIC_URL, "Pager", True)
    assert (created["min_severity"], created["consecutive_failures"], created["disabled_reason"]) == (
        None,
        0,
        None,
    )
    assert created["created_at"].endswith("Z")
    listed = {k: v for k, v in created.items() if k != "secret"}

    status, body = await master(http, "GET", WEBHOOKS)
    assert status == 200, body
    assert body["webhooks"] == [listed]

    local = "http://127.0.0.1:9/hook"
    change = {"url": local, "enabled": False, "min_severity": "high"}
    status, body = await master(http, "PATCH", f"{WEBHOOKS}/{created['id']}", {**listed, **change})
    assert status == 200, body
    updated = body["webhook"]
    assert "secret" not in updated
    assert {k: updated[k] for k in change} == change
    assert updated["secret_prefix"] == created["secret_prefix"]
    status, body = await master(http, "PATCH", f"{WEBHOOKS}/{created['id']}", {"min_severity": None})
    assert (status, body["webhook"]["min_severity"]) == (200, None)
    status, body = await master(http, "PATCH", f"{WEBHOOKS}/{created['id']}", {"secret": "whsec_mine"})
    assert status == 400
    assert_error(body, "validation_error")

    status, body = await master(http, "DELETE", f"{WEBHOOKS}/{created['id']}")
    assert status == 200, body
    assert (body["id"], body["deleted"]) == (created["id"], True)
    for method, path, change_in in (
        ("DELETE", f"{WEBHOOKS}/{created['id']}", None),
        ("PATCH", f"{WEBHOOKS}/{created['id']}", {"enabled": True}),
        ("GET", f"{WEBHOOKS}/{created['id']}/deliveries", None),
    ):
        status, body = await master(http, method, path, change_in)
        assert status == 404, (method, path, body)
        assert_error(body, "not_found")
    status, body = await master(http, "GET", WEBHOOKS)
    assert body["webhooks"] == []


async def test_webhooks_take_a_master_key_and_a_valid_body(http: Http) -> None:
    for method, path, body_in in (("GET", WEBHOOKS, None), ("POST", WEBHOOKS, {"url": PUBLIC_URL})):
        status, body = await call(http, method, path, body_in, secret=PROJECT_SECRET)
        assert status == 403, body
        assert_error(body, "forbidden")
    for body_in, detail in (
        ({}, {"field": "url", "message": "Required"}),
        ({"url": "not a url"}, {"field": "url", "message": "Invalid url"}),
        ({"url": 5}, {"field": "url", "message": "Expected string, received number"}),
        (
            {"url": PUBLIC_URL, "description": "x" * 101},
            {
                "field": "description",
                "message": "String must contain at most 100 character(s)",
            },
        ),
        (
            {"url": PUBLIC_URL, "enabled": 1},
            {"field": "enabled", "message": "Expected boolean, received number"},
        ),
        (
            {"url": PUBLIC_URL, "min_severity": "urgent"},
            {
                "field": "min_severity",
                "message": "Invalid enum value. Expected 'low' | 'medium' | 'high' | 'critical', "
                "received 'urgent'",
            },
        ),
    ):
        status, body = await call(http, "POST", WEBHOOKS, body_in, secret=MASTER_SECRET)
        assert status == 400, body_in
        assert assert_error(body, "validation_error")["details"] == [detail]
    status, body = await call(http, "GET", WEBHOOKS, secret=MASTER_SECRET)
    assert body["webhooks"] == []


async def test_private_loopback_and_link_local_targets_are_refused_without_the_setting(http: Http) -> None:
    for url in (
        "http://127.0.0.1:8080/hook",
        "http://10.0.0.5/hook",
        "http://192.168.1.1/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "ftp://93.184.216.34/hook",
    ):
        status, body = await call(http, "POST", WEBHOOKS, {"url": url}, secret=MASTER_SECRET)
        assert status == 400, (url, body)
        [detail] = assert_error(body, "validation_error")["details"]
        assert detail["field"] == "url", url
    status, body = await call(http, "GET", WEBHOOKS, secret=MASTER_SECRET)
    assert body["webhooks"] == []


async def test_webhooks_are_refused_where_the_project_limits_turn_them_off(http: Http) -> None:
    async with http.session.patch(
        http.url("/v1/projects/default"),
        params={"updateMask": "limits.webhooksDisabled"},
        json={"limits": {"webhooksDisabled": True}},
        headers=http.bearer(MASTER_SECRET),
    ) as response:
        assert response.status == 200, await response.text()
    status, body = await call(http, "POST", WEBHOOKS, {"url": PUBLIC_URL}, secret=MASTER_SECRET)
    assert status == 403, body
    assert "plan" in assert_error(body, "webhooks_not_available")["message"]


async def test_an_alert_is_delivered_signed_and_logged(loopback: Http) -> None:
    http = loopback
    async with receiver() as target:
        status, body = await master(http, "POST", WEBHOOKS, {"url": target.url})
        assert status == 201, body
        webhook = body["webhook"]
        deliveries = f"{WEBHOOKS}/{webhook['id']}/deliveries"
        status, body = await master(http, "GET", deliveries)
        assert status == 200, body
        assert (body["deliveries"], body["cursor"], body["has_more"]) == ([], None, False)

        await fail_logins(http, "user_7")
        status, body = await call(http, "GET", ALERTS)
        [alert] = body["alerts"]
        async with asyncio.timeout(10):  # waiting for the delivery loop's effect, not a window
            while True:
                status, body = await master(http, "GET", deliveries)
                if body["deliveries"] and body["deliveries"][0]["status"] == "delivered":
                    break
                await asyncio.sleep(0.02)

    [delivery] = body["deliveries"]
    assert set(delivery) == {
        "id",
        "alert_id",
        "event_type",
        "status",
        "attempts",
        "next_attempt_at",
        "created_at",
    }
    assert delivery["id"].startswith("dl_")
    assert (delivery["alert_id"], delivery["event_type"]) == (alert["id"], "alert.opened")
    assert delivery["next_attempt_at"] is None and delivery["created_at"].endswith("Z")
    [attempt] = delivery["attempts"]
    assert (attempt["status_code"], attempt["error"]) == (200, None)
    assert attempt["at"].endswith("Z") and attempt["duration_ms"] >= 0

    [(headers, sent)] = target.received
    assert headers["X-Ingestd-Delivery"] == delivery["id"]
    assert headers["X-Ingestd-Event"] == "alert.opened"
    signed = f"{headers['X-Ingestd-Timestamp']}.".encode() + sent
    expected = hmac.new(webhook["secret"].encode(), signed, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Ingestd-Signature"], f"v1={expected}")

    status, body = await master(http, "GET", f"{deliveries}?limit=0")
    assert status == 400
    assert_error(body, "validation_error")


async def test_a_logstitch_webhook_receives_the_alert_as_the_alerts_api_shows_it(loopback: Http) -> None:
    """docs/vendors/logstitch.md §14: a webhook registered here gets `status` and `evt_` ids, as
    `GET /api/v1/alerts` shows the alert; one registered through ingestd's own API keeps the
    README's body (`state`, bare event ids) for the same alert."""
    http = loopback
    async with receiver() as logstitch_target, receiver() as ingestd_target:
        status, body = await master(http, "POST", WEBHOOKS, {"url": logstitch_target.url})
        assert status == 201, body
        secret = body["webhook"]["secret"]
        async with http.session.post(
            http.url("/v1/projects/default/webhooks"),
            json={"url": ingestd_target.url},
            headers=http.bearer(MASTER_SECRET),
        ) as response:
            assert response.status == 200, await response.text()

        await fail_logins(http, "user_3")
        status, body = await call(http, "GET", ALERTS)
        [alert] = body["alerts"]
        async with asyncio.timeout(10):  # waiting for the delivery loop's effect, not a window
            while True:
                if logstitch_target.received and ingestd_target.received:
                    break
                await asyncio.sleep(0.02)

    [(headers, sent)] = logstitch_target.received
    delivered = orjson.loads(sent)
    assert set(delivered) == {"id", "type", "created_at", "project", "alert"}
    assert (delivered["type"], delivered["project"]) == ("alert.opened", "default")
    assert delivered["alert"] == alert
    assert delivered["alert"]["status"] == "open" and "state" not in delivered["alert"]
    assert delivered["alert"]["event_ids"] and all(
        i.startswith("evt_") for i in delivered["alert"]["event_ids"]
    )
    signed = f"{headers['X-Ingestd-Timestamp']}.".encode() + sent
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Ingestd-Signature"], f"v1={expected}"), "signed as sent"

    [(_, canonical)] = ingestd_target.received
    ingestd_alert = orjson.loads(canonical)["alert"]
    assert ingestd_alert["state"] == "open" and "status" not in ingestd_alert
    assert ["evt_" + i.replace("-", "") for i in ingestd_alert["event_ids"]] == alert["event_ids"]
