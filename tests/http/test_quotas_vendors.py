"""The daily event limit over HTTP: set with `PATCH /v1/projects/{project}`, then answered past the
limit in each API's own shape (LogStitch 429 `daily_event_limit_reached`; SimpleLogs still 202),
with the server's clock injected at one minute to UTC midnight."""

from __future__ import annotations

from typing import Any

import orjson

from tests.conftest import MASTER_SECRET, PROJECT_SECRET, Http
from tests.http import test_logister, test_operyn
from tests.http.test_logstitch import EVENTS, assert_error, call, event

WRITE = "/v1/projects/default/events:write"


async def _patch(http: Http, update: dict[str, Any], mask: str) -> tuple[int, Any]:
    async with http.session.patch(
        http.url("/v1/projects/default"),
        params={"updateMask": mask},
        json=update,
        headers=http.bearer(MASTER_SECRET),
    ) as response:
        return response.status, await response.json()


async def _key(http: Http, kind: str) -> str:
    async with http.session.post(
        http.url("/v1/organizations/default/keys"),
        json={"kind": kind, "project": "default"},
        headers=http.bearer(MASTER_SECRET),
    ) as response:
        assert response.status == 200, await response.text()
        secret: str = (await response.json())["secret"]
    return secret


async def _stored(http: Http) -> list[str]:
    async with http.session.get(
        http.url("/v1/projects/default/events?pageSize=100"), headers=http.bearer(PROJECT_SECRET)
    ) as response:
        assert response.status == 200
        return [e.get("message", "") for e in (await response.json()).get("events", [])]


async def test_update_project_over_http_keeps_the_fields_the_mask_leaves_out(limited: Http) -> None:
    status, project = await _patch(limited, {"displayName": "Main", "limits": {}}, "displayName")
    assert status == 200
    assert (project["displayName"], project["limits"]["dailyEventLimit"]) == ("Main", "1")
    status, body = await _patch(limited, {"limits": {"alertRuleLimit": -1}}, "limits.alertRuleLimit")
    assert status == 400, body


async def test_the_canonical_api_answers_429_with_retry_after(limited: Http) -> None:
    for n, expected in enumerate((200, 429)):
        async with limited.session.post(
            limited.url(WRITE), json={"events": [{"message": f"m{n}"}]}, headers=limited.bearer()
        ) as response:
            assert response.status == expected, await response.text()
            if expected == 429:
                assert response.headers["Retry-After"] == "60"
                body = await response.json()
                assert body["details"][0]["reason"] == "DAILY_EVENT_LIMIT_REACHED"
    assert await _stored(limited) == ["m0"]


async def test_logstitch_answers_daily_event_limit_reached(limited: Http) -> None:
    status, body = await call(limited, "POST", EVENTS, event("user.first"))
    assert status == 201, body
    status, body = await call(
        limited, "POST", EVENTS, event("user.second"), headers={"X-Request-Id": "r-quota"}
    )
    assert status == 429
    error = assert_error(body, "daily_event_limit_reached")
    assert error["message"] == "Daily limit of 1 events exceeded; it resets at 00:00 UTC"
    assert body["request_id"] == "req_r-quota"
    assert len(await _stored(limited)) == 1


async def test_logister_answers_429_in_its_rate_limit_shape(limited: Http) -> None:
    status, _, _ = await test_logister.post(
        limited, "/api/v1/ingest_events", {"event": test_logister.event()}
    )
    assert status == 201
    status, body, headers = await test_logister.post(
        limited, "/api/v1/ingest_events", {"event": test_logister.event(test_logister.UUID_B)}
    )
    assert (status, body) == (
        429,
        {"error": "Daily event limit exceeded", "limit": 1, "window_seconds": 86_400, "retry_after": 60},
    )
    assert headers["Retry-After"] == "60"


async def test_open_sentry_answers_429_with_its_error_body(limited: Http) -> None:
    key = await _key(limited, "API_KEY_KIND_PUBLIC")
    for expected in (202, 429):
        async with limited.session.post(
            limited.url("/v1/ingest"),
            data=b'{"type":"error","exception":{"type":"Error","value":"boom"}}',
            headers={"Content-Type": "application/json", "X-Open-Sentry-Key": key},
        ) as response:
            assert response.status == expected
            answer = orjson.loads(await response.read())
    assert answer == {"error": "Daily event limit exceeded"}
    assert response.headers["Retry-After"] == "60"


async def test_operyn_answers_429_with_status_code_and_message(limited: Http) -> None:
    status, body = await test_operyn.post(limited, "/events/logs", test_operyn.log(message="first"))
    assert status == 202, body
    status, body = await test_operyn.post(limited, "/events/logs", test_operyn.log(message="second"))
    assert (status, body) == (429, {"statusCode": 429, "message": "Daily event limit of 1 events reached"})


async def test_simplelogs_still_answers_202_and_drops_the_events(limited: Http) -> None:
    key = await _key(limited, "API_KEY_KIND_SERVER")
    for message in ("first", "second"):
        body = {"key": key, "source": "server", "entries": [{"message": message}]}
        async with limited.session.post(limited.url("/api/v1/enqueue"), json=body) as response:
            assert (response.status, await response.json()) == (202, {"queued": True})
    assert await _stored(limited) == ["first"]
