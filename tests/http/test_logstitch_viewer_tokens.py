"""LogStitch's viewer tokens over HTTP: `POST /api/v1/viewer-tokens` (a live project key only)
makes a `vt_` JWT that reads one tenant's events through `GET /api/v1/events` and nothing else,
until it expires (the server's clock is injected, so expiry needs no sleep). In-process and
through a gateway fronting ingestd over gRPC, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import orjson

from tests.conftest import MASTER_SECRET, PROJECT_SECRET, Http, http_gateway, make_settings
from tests.helpers import ManualClock
from tests.http.test_logstitch import assert_error, call, event, new_key

TOKENS = "/api/v1/viewer-tokens"
EVENTS = "/api/v1/events"
START_S = 1_767_225_600  # 2026-01-01T00:00:00Z


async def viewer_token(http: Http, body: Any = None, secret: str = PROJECT_SECRET) -> dict[str, Any]:
    status, created = await call(http, "POST", TOKENS, body or {"tenant_id": "acme"}, secret=secret)
    assert status == 201, created
    return dict(created)


def jwt_part(token: str, index: int) -> dict[str, Any]:
    part = token.removeprefix("vt_").split(".")[index]
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


async def send_tenants(http: Http) -> None:
    batch = [event(key=f"k{i}", tenant_id=t) for i, t in enumerate(["acme", "globex", "acme", "initech"])]
    status, sent = await call(http, "POST", EVENTS, batch)
    assert status == 201, sent


async def test_a_token_is_a_signed_jwt_for_one_tenant_with_its_expiry(http: Http) -> None:
    created = await viewer_token(http, {"tenant_id": "acme", "expires_in": 600, "tier": "support"})
    assert set(created) == {"token", "expires_at", "request_id"}
    assert created["token"].startswith("vt_eyJhbGciOiJIUzI1NiIs")
    header, claims = jwt_part(created["token"], 0), jwt_part(created["token"], 1)
    assert header["alg"] == "HS256" and header["kid"]
    assert (claims["tenant_id"], claims["project"], claims["tier"]) == ("acme", "default", "support")
    assert claims["exp"] - claims["iat"] == 600
    expires = datetime.fromisoformat(created["expires_at"].replace("Z", "+00:00"))
    assert expires == datetime.fromtimestamp(claims["exp"], UTC)
    assert created["expires_at"].endswith(".000Z")

    default = await viewer_token(http)
    claims = jwt_part(default["token"], 1)
    assert claims["exp"] - claims["iat"] == 3600 and "tier" not in claims


async def test_a_token_reads_only_its_tenants_events_whatever_the_query_asks(http: Http) -> None:
    await send_tenants(http)
    token = (await viewer_token(http))["token"]
    for query in ("", "?tenant_id=globex", "?tenant_id=acme", "?project_id=default"):
        status, page = await call(http, "GET", EVENTS + query, secret=token)
        assert status == 200, page
        assert [e["tenant_id"] for e in page["events"]] == ["acme", "acme"], query
    status, page = await call(http, "GET", EVENTS + "?limit=1", secret=token)
    assert len(page["events"]) == 1 and page["has_more"] is True
    status, rest = await call(http, "GET", f"{EVENTS}?limit=1&cursor={page['cursor']}", secret=token)
    assert [e["tenant_id"] for e in rest["events"]] == ["acme"] and rest["has_more"] is False

    status, refused = await call(http, "GET", EVENTS + "?project_id=other", secret=token)
    assert status == 403 and assert_error(refused, "forbidden")
    status, everyone = await call(http, "GET", EVENTS)
    assert len(everyone["events"]) == 4, "project keys still see every tenant"


async def test_a_token_may_not_ingest_or_administer(http: Http) -> None:
    token = (await viewer_token(http))["token"]
    for method, path, body in (
        ("POST", EVENTS, event()),
        ("POST", EVENTS, [event()]),
        ("GET", "/api/v1/keys", None),
        ("POST", "/api/v1/keys", {"project_id": "default", "type": "project", "name": "k"}),
        ("DELETE", "/api/v1/keys/key_x", None),
        ("POST", TOKENS, {"tenant_id": "acme"}),
    ):
        status, refused = await call(http, method, path, body, secret=token)
        assert status == 403 and assert_error(refused, "forbidden"), (method, path)
    status, page = await call(http, "GET", EVENTS)
    assert page["events"] == [], "nothing was stored"

    # The canonical API refuses it too, in its own shape.
    headers = http.bearer(token)
    async with http.session.post(
        http.url("/v1/projects/default/events:write"), json={"events": []}, headers=headers
    ) as response:
        assert response.status == 403, await response.text()
    async with http.session.get(http.url("/v1/organizations/default/keys"), headers=headers) as response:
        assert response.status == 403


async def test_only_a_live_project_key_creates_tokens(http: Http) -> None:
    async with http.session.post(
        http.url("/v1/organizations/default/keys"),
        json={"kind": "API_KEY_KIND_PROJECT", "project": "default", "test": True},
        headers=http.bearer(MASTER_SECRET),
    ) as response:
        test_secret = (await response.json())["secret"]
    assert test_secret.startswith("pk_test_")
    _, server_secret = await new_key(http, "API_KEY_KIND_SERVER")
    for secret in (MASTER_SECRET, test_secret, server_secret):
        status, refused = await call(http, "POST", TOKENS, {"tenant_id": "acme"}, secret=secret)
        assert status == 403 and assert_error(refused, "forbidden"), secret[:8]
    status, refused = await call(http, "POST", TOKENS, {"tenant_id": "acme"}, secret="")
    assert status == 401 and assert_error(refused, "unauthorized")


async def test_bad_requests_answer_validation_errors(http: Http) -> None:
    cases: list[tuple[Any, set[str]]] = [
        ({}, {"tenant_id"}),
        ({"tenant_id": ""}, {"tenant_id"}),
        ({"tenant_id": "t" * 201}, {"tenant_id"}),
        ({"tenant_id": 5}, {"tenant_id"}),
        ({"tenant_id": "a", "expires_in": 59}, {"expires_in"}),
        ({"tenant_id": "a", "expires_in": 86_401}, {"expires_in"}),
        ({"tenant_id": "a", "expires_in": "3600"}, {"expires_in"}),
        ({"tenant_id": "a", "expires_in": 60.5}, {"expires_in"}),
        ({"tenant_id": "a", "tier": 1}, {"tier"}),
        (["a"], {""}),
    ]
    for body, fields in cases:
        status, refused = await call(http, "POST", TOKENS, body)
        assert status == 400, body
        assert {d["field"] for d in assert_error(refused, "validation_error")["details"]} == fields, body
    for lifetime in (60, 86_400, 120.0):
        await viewer_token(http, {"tenant_id": "t" * 200, "expires_in": lifetime})


async def test_an_expired_or_tampered_token_is_refused(http_target: tuple[str, str]) -> None:
    database_url, mode = http_target
    clock = ManualClock(START_S)
    async with http_gateway(make_settings(database_url), mode, clock) as http:
        created = await viewer_token(http, {"tenant_id": "acme", "expires_in": 60})
        assert created["expires_at"] == "2026-01-01T00:01:00.000Z"
        token = created["token"]
        clock.advance(59)
        status, _ = await call(http, "GET", EVENTS, secret=token)
        assert status == 200
        clock.advance(1)
        status, refused = await call(http, "GET", EVENTS, secret=token)
        assert status == 401 and assert_error(refused, "invalid_api_key")

        fresh = (await viewer_token(http))["token"]
        header, claims, signature = fresh.removeprefix("vt_").split(".")
        other = {**jwt_part(fresh, 1), "tenant_id": "globex"}
        forged_claims = base64.urlsafe_b64encode(orjson.dumps(other)).decode().rstrip("=")
        for bad in (
            f"vt_{header}.{forged_claims}.{signature}",
            f"vt_{header}.{claims}.{signature[:-4]}AAAA",
            "vt_not-a-jwt",
            f"vt_{header}.{claims}.",
        ):
            status, refused = await call(http, "GET", EVENTS, secret=bad)
            assert status == 401 and assert_error(refused, "invalid_api_key"), bad
        status, _ = await call(http, "GET", EVENTS, secret=fresh)
        assert status == 200
