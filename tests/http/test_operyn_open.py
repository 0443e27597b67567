"""Operyn's open mode (its server without `OPERYN_API_KEY`): off by default; when on, a request
without `x-api-key` lands in `operyn_open_project`, while a presented key is still checked."""

from __future__ import annotations

from ingestd.v1 import event_pb2, event_service_pb2
from tests.conftest import Client, grpc_channel, http_gateway, make_settings
from tests.http.test_operyn import UNAUTHORIZED, log, post, stored


async def test_open_mode_stores_keyless_requests_in_the_open_project(http_target: tuple[str, str]) -> None:
    database_url, mode = http_target
    async with http_gateway(make_settings(database_url, operyn_open_mode=True), mode) as http:
        status_log, single = await post(http, "/events/logs", log(message="hello without a key"), key=None)
        status, batch = await post(
            http, "/events/logs/batch", [log("web"), log("web")], key=None, org="org_x"
        )
        metric = {"service": "api", "name": "cpu", "value": 0.5, "unit": "ratio"}
        status_metric, answer = await post(http, "/events/metrics", metric, key=None)
        refused = await post(http, "/events/logs", log(), key="pk_wrong")
        assert (status_log, status, batch, status_metric) == (202, 202, {"accepted": 2}, 202)
        assert refused == (401, UNAUTHORIZED), "a presented key is checked even in open mode"

        events = await stored(http)
        assert [(e["service"], e["kind"], e["dialect"]) for e in events] == [
            ("api", "KIND_METRIC", "operyn"),
            ("web", "KIND_LOG", "operyn"),
            ("web", "KIND_LOG", "operyn"),
            ("api", "KIND_LOG", "operyn"),
        ]
        assert events[-1]["id"] == single["id"] and events[-1]["message"] == "hello without a key"
        async with grpc_channel(http.running.grpc_port) as channel:
            client = Client.for_channel(http.running, channel)
            got = await client.events.GetEvent(
                event_service_pb2.GetEventRequest(project="default", event=answer["id"]),
                metadata=client.project,
            )
        assert got.event.kind == event_pb2.KIND_METRIC and got.event.metric.value == 0.5

        # The default organization's limit holds for keyless requests too. It holds `api`; `web`,
        # sent with an organization, takes no place in it (docs/vendors/operyn.md §5).
        for n in range(4):
            assert (await post(http, "/events/logs", log(f"svc{n}"), key=None))[0] == 202
        status, body = await post(http, "/events/logs", log("svc-six"), key=None)
        assert status == 403 and body["statusCode"] == 403 and "svc-six" in body["message"]


async def test_open_mode_is_off_by_default(http_target: tuple[str, str]) -> None:
    database_url, mode = http_target
    async with http_gateway(make_settings(database_url), mode) as http:
        assert await post(http, "/events/logs", log(), key=None) == (401, UNAUTHORIZED)
        assert await stored(http) == []


async def test_an_open_project_that_does_not_exist_is_a_server_error(http_target: tuple[str, str]) -> None:
    database_url, mode = http_target
    settings = make_settings(database_url, operyn_open_mode=True, operyn_open_project="nowhere")
    async with http_gateway(settings, mode) as http:
        assert await post(http, "/events/logs", log(), key=None) == (
            500,
            {"statusCode": 500, "message": "Internal server error"},
        )
