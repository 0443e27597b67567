"""Operyn's ingestion API over HTTP (docs/vendors/operyn.md): the document's curl examples sent
as written, every documented and chosen status, the default organization's service limit and
open mode. Each test runs in-process and through a gateway fronting ingestd over gRPC, on SQLite
and PostgreSQL, and reads what it stored back through EventService."""

from __future__ import annotations

import asyncio
import gzip
import io
import uuid
from typing import Any

import orjson

from ingestd.v1 import event_service_pb2
from tests.conftest import (
    MASTER_SECRET,
    PROJECT_SECRET,
    Client,
    Http,
    grpc_channel,
    http_gateway,
    make_settings,
)
from tests.dialects.test_operyn import PAYLOADS, curl_request

ORG = "org_123456789"
UNAUTHORIZED = {"statusCode": 401, "message": "Invalid or missing API key"}
#: What the server owns in an event, left out when comparing with the golden files.
_SERVER_FIELDS = ("id", "project", "occurredAt", "receivedAt", "dialect")


async def new_key(http: Http, kind: str = "API_KEY_KIND_PROJECT", organization: str = ORG) -> tuple[str, str]:
    """A new key of project `default`; returns (key id, secret)."""
    body = {"kind": kind, "project": "default", "vendorOrganization": organization}
    async with http.session.post(
        http.url("/v1/organizations/default/keys"), json=body, headers=http.bearer(MASTER_SECRET)
    ) as response:
        assert response.status == 200, await response.text()
        created = await response.json()
    return created["apiKey"]["id"], created["secret"]


async def post(
    http: Http,
    path: str,
    body: Any,
    *,
    key: str | None = PROJECT_SECRET,
    org: str | None = None,
    **headers: str,
) -> tuple[int, Any]:
    """POSTs `body` (JSON-encoded unless bytes) as Operyn's clients do; returns (status, JSON)."""
    sent = {"Content-Type": "application/json", **headers}
    if key is not None:
        sent["x-api-key"] = key
    if org is not None:
        sent["x-organization-id"] = org
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    # aiohttp warns about large raw bodies; a BytesIO is sent alike, with its Content-Length.
    payload: bytes | io.BytesIO = io.BytesIO(data) if len(data) > 1_000_000 else data
    async with http.session.post(http.url(path), data=payload, headers=sent) as response:
        assert response.headers["Content-Type"].startswith("application/json")
        return response.status, orjson.loads(await response.read())


async def stored(http: Http) -> list[dict[str, Any]]:
    """The project's events, newest first, read through `GET /v1/projects/default/events`."""
    async with http.session.get(
        http.url("/v1/projects/default/events?pageSize=100"), headers=http.bearer()
    ) as response:
        assert response.status == 200
        events: list[dict[str, Any]] = (await response.json()).get("events", [])
    return events


def log(service: str = "api", message: str | None = "hello", **fields: Any) -> dict[str, Any]:
    return {"service": service, "level": "info", "message": message, **fields}


async def test_the_seed_curl_examples_land_and_read_back_through_event_service(http: Http) -> None:
    _, secret = await new_key(http)
    answers = {}
    for name in ("logs", "logs_batch", "metrics", "deployments"):
        request = curl_request(name)
        headers = {k: secret if v.startswith("your-api-key") else v for k, v in request.headers.items()}
        path = "/" + request.url.split("://", 1)[1].split("/", 1)[1]
        async with http.session.request(
            request.method, http.url(path), data=request.body, headers=headers
        ) as response:
            answers[name] = (response.status, await response.json())

    assert {name: status for name, (status, _) in answers.items()} == dict.fromkeys(answers, 202)
    assert answers["logs_batch"][1] == {"accepted": 2}
    ids = {}
    for name in ("logs", "metrics", "deployments"):
        body = answers[name][1]
        assert set(body) == {"id", "queued"} and body["queued"] is True
        ids[name] = str(uuid.UUID(body["id"]))

    events = await stored(http)
    golden = [
        *orjson.loads((PAYLOADS / "logs.expected.json").read_bytes()),
        *orjson.loads((PAYLOADS / "logs_batch.expected.json").read_bytes()),
        *orjson.loads((PAYLOADS / "metrics.expected.json").read_bytes()),
        *orjson.loads((PAYLOADS / "deployments.expected.json").read_bytes()),
    ]
    assert [
        {k: v for k, v in e.items() if k in g} for e, g in zip(events[::-1], golden, strict=True)
    ] == golden
    assert {e["dialect"] for e in events} == {"operyn"}
    assert [e["id"] for e in events if e["kind"] != "KIND_LOG" or "traceId" in e] == [
        ids["deployments"],
        ids["metrics"],
        ids["logs"],
    ]
    assert events[-1]["level"] == "LEVEL_ERROR" and events[0]["release"] == "v2.0.1"

    async with grpc_channel(http.running.grpc_port) as channel:
        client = Client.for_channel(http.running, channel)
        got = await client.events.GetEvent(
            event_service_pb2.GetEventRequest(project="default", event=ids["metrics"]),
            metadata=client.project,
        )
    assert (got.event.metric.name, got.event.metric.value, got.event.metric.unit) == (
        "request_latency_p99",
        2.34,
        "seconds",
    )


async def test_credentials_are_checked_after_the_body_is_parsed(http: Http) -> None:
    request = curl_request("auth")
    async with http.session.post(
        http.url("/events/logs"), data=request.body, headers=request.headers
    ) as response:
        assert response.status == 400
        assert await response.json() == {
            "message": "Unexpected token in JSON at position 2",
            "error": "Bad Request",
            "statusCode": 400,
        }

    key_id, revoked = await new_key(http)
    async with http.session.post(
        http.url(f"/v1/organizations/default/keys/{key_id}:revoke"),
        json={},
        headers=http.bearer(MASTER_SECRET),
    ) as response:
        assert response.status == 200
    _, public = await new_key(http, "API_KEY_KIND_PUBLIC")
    _, unnamed = await new_key(http, organization="")
    refused = [
        await post(http, "/events/logs", log(), key=None),
        await post(http, "/events/logs", log(), key="pk_not_a_key"),
        await post(http, "/events/logs", log(), key=None, Authorization=f"Bearer {PROJECT_SECRET}"),
        await post(http, "/events/logs", log(), key=revoked, org=ORG),
        await post(http, "/events/metrics", {}, key=MASTER_SECRET),
        await post(http, "/events/logs/batch", [log()], key=public, org=ORG),
        await post(http, "/events/deployments", {}, key=PROJECT_SECRET, org=ORG),
        await post(http, "/events/logs", log(), key=unnamed, org=ORG),
    ]
    assert refused == [(401, UNAUTHORIZED)] * len(refused)
    assert await stored(http) == []

    _, server_key = await new_key(http, "API_KEY_KIND_SERVER")
    accepted = [
        await post(http, "/events/logs", log(message="project key, no organization")),
        await post(
            http, "/events/logs", log(message="server key, its organization"), key=server_key, org=ORG
        ),
        await post(http, "/events/logs", log(message="blank organization"), key=unnamed, org=" "),
    ]
    assert [status for status, _ in accepted] == [202, 202, 202]
    assert [e["message"] for e in await stored(http)] == [
        "blank organization",
        "server key, its organization",
        "project key, no organization",
    ]


async def test_invalid_bodies_are_refused_whole_with_zod_issues(http: Http) -> None:
    refused = [
        await post(http, "/events/logs", {"service": "api", "level": "trace", "message": "m"}),
        await post(http, "/events/logs", b""),
        await post(http, "/events/logs/batch", [log(), log(level="verbose"), log(message=None)]),
        await post(http, "/events/logs/batch", []),
        await post(http, "/events/logs/batch", log()),
        await post(http, "/events/metrics", {"service": "api", "name": "cpu", "value": "high", "unit": "%"}),
        await post(http, "/events/deployments", {"service": "api", "version": "v1"}),
        await post(http, "/events/logs", log(message="nul\u0000")),
        await post(http, "/events/logs", b'{"service": "api",'),
    ]
    assert refused == [
        (
            400,
            {
                "statusCode": 400,
                "message": "Invalid log event: level: Invalid enum value. Expected 'debug' | "
                "'info' | 'warn' | 'error' | 'fatal', received 'trace'",
            },
        ),
        (
            400,
            {
                "statusCode": 400,
                "message": "Invalid log event: service: Required; level: Required; message: Required",
            },
        ),
        (
            400,
            {
                "statusCode": 400,
                "message": "Invalid log event: [1].level: Invalid enum value. Expected "
                "'debug' | 'info' | 'warn' | 'error' | 'fatal', received 'verbose'; [2].message: Required",
            },
        ),
        (400, {"statusCode": 400, "message": "Invalid log event: Array must contain at least 1 element(s)"}),
        (400, {"statusCode": 400, "message": "Invalid log event: Expected array, received object"}),
        (
            400,
            {"statusCode": 400, "message": "Invalid metric event: value: Expected number, received string"},
        ),
        (400, {"statusCode": 400, "message": "Invalid deployment event: environment: Required"}),
        (400, {"statusCode": 400, "message": "Invalid log event: message: must not contain NUL characters"}),
        (400, {"message": "Unexpected end of JSON input", "error": "Bad Request", "statusCode": 400}),
    ]
    assert await stored(http) == []


async def test_framework_refusals_have_nestjs_shapes(http: Http) -> None:
    too_large = b"[" + b" " * (1024 * 1024) + b"]"
    assert await post(http, "/events/logs/batch", too_large) == (
        413,
        {"message": "request entity too large", "error": "Payload Too Large", "statusCode": 413},
    )
    async with http.session.get(http.url("/events/logs")) as response:
        assert (response.status, await response.json()) == (
            404,
            {"message": "Cannot GET /events/logs", "error": "Not Found", "statusCode": 404},
        )
    assert await post(http, "/events/logs", b"{}", **{"Content-Encoding": "br"}) == (
        415,
        {
            "message": 'unsupported content encoding "br"',
            "error": "Unsupported Media Type",
            "statusCode": 415,
        },
    )
    # body-parser inflates gzip, and ingestd's cap applies to what it inflates to.
    gzipped = {"Content-Encoding": "gzip"}
    batch = [log(message=f"{n}", timestamp="2024-05-01T12:00:00Z") for n in range(50)]
    assert await post(http, "/events/logs/batch", gzip.compress(orjson.dumps(batch)), **gzipped) == (
        202,
        {"accepted": 50},
    )
    inflates_too_far = gzip.compress(b"[" + b" " * (1024 * 1024) + b"]")
    assert (await post(http, "/events/logs/batch", inflates_too_far, **gzipped))[0] == 413
    events = await stored(http)
    assert len(events) == 50 and {e["occurredAt"] for e in events} == {"2024-05-01T12:00:00Z"}


async def test_the_default_organization_holds_five_services_per_project(http: Http) -> None:
    _, keyed = await new_key(http)
    limit_message = (
        "Service limit reached: the default organization accepts at most 5 services, and '{}' would be "
        "one more. Send your organization ID in x-organization-id."
    )
    assert await post(http, "/events/logs/batch", [log(f"s{n}") for n in range(1, 5)]) == (
        202,
        {"accepted": 4},
    )
    # Three new services at once: the project's lock admits exactly one of them.
    racing = await asyncio.gather(*(post(http, "/events/logs", log(f"s{n}")) for n in (5, 6, 7)))
    assert sorted(status for status, _ in racing) == [202, 403, 403]
    admitted = next(f"s{n}" for n, (status, _) in zip((5, 6, 7), racing, strict=True) if status == 202)
    other = sorted({"s5", "s6", "s7"} - {admitted})

    assert await post(
        http, "/events/metrics", {"service": other[0], "name": "x", "value": 1, "unit": "u"}
    ) == (
        403,
        {"statusCode": 403, "message": limit_message.format(other[0])},
    )
    status, _ = await post(http, "/events/logs/batch", [log("s1"), log(other[1], "refused with its batch")])
    assert status == 403
    assert (await post(http, "/events/logs", log(" s1 ")))[0] == 202, "a known service, trimmed"
    # With its organization, a key is not limited, and the service is that organization's: the
    # default organization, already full, still refuses it (docs/vendors/operyn.md §5).
    deploy = {"service": other[0], "version": "v1", "environment": "prod"}
    assert (await post(http, "/events/deployments", deploy, key=keyed, org=ORG))[0] == 202
    assert (await post(http, "/events/logs", log(other[0])))[0] == 403

    # A second node with an empty cache counts what the first claimed.
    second = make_settings(http.running.settings.database_url, migrate_on_start=False)
    async with http_gateway(second, "inprocess") as node:
        assert (await post(node, "/events/logs", log(other[1])))[0] == 403
        assert (await post(node, "/events/logs", log(admitted)))[0] == 202

    events = await stored(http)
    assert {e["service"] for e in events} == {"s1", "s2", "s3", "s4", admitted, other[0]}
    assert "refused with its batch" not in {e.get("message") for e in events}
    assert len(events) == 4 + 1 + 1 + 1 + 1


async def test_services_sent_with_an_organization_take_no_place_in_the_default_organization(
    http: Http,
) -> None:
    """docs/vendors/operyn.md §5: only services sent without `x-organization-id` count toward the
    default organization's five, on every node."""
    _, keyed = await new_key(http)
    named = [log(f"org-{n}") for n in range(6)]
    assert await post(http, "/events/logs/batch", named, key=keyed, org=ORG) == (202, {"accepted": 6})

    assert (await post(http, "/events/logs", log("d1")))[0] == 202
    second = make_settings(http.running.settings.database_url, migrate_on_start=False)
    async with http_gateway(second, "inprocess") as node:
        assert await post(node, "/events/logs/batch", [log("d2"), log("d3")]) == (202, {"accepted": 2})
        # Three new services race, on two nodes, for the last two places: exactly two get them.
        contenders = ("d4", "d5", "d6")
        racing = await asyncio.gather(
            post(http, "/events/logs", log("d4")),
            post(node, "/events/logs", log("d5")),
            post(node, "/events/logs/batch", [log("d6"), log("d1")]),
        )
        assert sorted(status for status, _ in racing) == [202, 202, 403]
        held = [
            "d1",
            "d2",
            "d3",
            *(s for s, (status, _) in zip(contenders, racing, strict=True) if status == 202),
        ]
        for client in (http, node):
            assert [(await post(client, "/events/logs", log(s)))[0] for s in held] == [202] * 5
            assert (await post(client, "/events/logs", log("d7")))[0] == 403
            # An organization's service is a new one to the default organization.
            assert (await post(client, "/events/logs", log("org-0")))[0] == 403
            assert (await post(client, "/events/logs", log("org-0"), key=keyed, org=ORG))[0] == 202

    events = await stored(http)
    assert {e["service"] for e in events} == {f"org-{n}" for n in range(6)} | set(held)
    raced = sum(n for n, (status, _) in zip((1, 1, 2), racing, strict=True) if status == 202)
    assert len(events) == 6 + 1 + 2 + raced + 2 * (5 + 1)
