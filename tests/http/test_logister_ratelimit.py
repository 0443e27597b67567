"""Logister's rate limits over HTTP (compat.md §2.3), with the server's clock injected so the
windows move without waiting."""

from __future__ import annotations

import gzip

import orjson

from tests.conftest import http_gateway, make_settings
from tests.helpers import ManualClock
from tests.http.test_logister import event, post, stored

WINDOW_START_S = 1_795_000_020  # a multiple of 60: windows are aligned to the epoch


async def test_the_fourth_request_in_a_window_is_refused_until_the_window_ends(
    http_target: tuple[str, str],
) -> None:
    database_url, mode = http_target
    clock = ManualClock(WINDOW_START_S + 15)
    async with http_gateway(make_settings(database_url, logister_rate_limit_requests=3), mode, clock) as http:
        for n, remaining in enumerate(("2", "1", "0")):
            status, _, headers = await post(
                http, "/api/v1/ingest_events", {"event": event(None, message=f"m{n}")}
            )
            assert status == 201
            assert (headers["X-RateLimit-Limit"], headers["X-RateLimit-Remaining"]) == ("3", remaining)
            assert headers["X-RateLimit-Reset"] == str(WINDOW_START_S + 60)
        status, body, headers = await post(
            http, "/api/v1/ingest_events", {"event": event(None, message="m3")}
        )
        assert (status, body) == (
            429,
            {"error": "Rate limit exceeded", "limit": 3, "window_seconds": 60, "retry_after": 45},
        )
        assert (headers["Retry-After"], headers["X-RateLimit-Remaining"]) == ("45", "0")
        # Each endpoint label has its own budget.
        assert (await post(http, "/api/v1/check_ins", {"check_in": {"slug": "s"}}))[0] == 201

        clock.advance(45)
        batch = b"".join(
            orjson.dumps({"event": event(f"00000000-0000-4000-8000-00000000000{n}")}) + b"\n"
            for n in range(3)
        )
        headers = {"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"}
        status, _, response_headers = await post(
            http, "/api/v1/ingest_events/batch", gzip.compress(batch), headers=headers
        )
        assert (status, response_headers["X-RateLimit-Remaining"]) == (202, "0"), "a batch of 3 costs 3"
        assert response_headers["X-RateLimit-Reset"] == str(WINDOW_START_S + 120)
        status, _, _ = await post(http, "/api/v1/ingest_events/batch", gzip.compress(batch), headers=headers)
        assert status == 429
        assert sorted(e.message for e in await stored(http)) == [
            "hello",
            "hello",
            "hello",
            "m0",
            "m1",
            "m2",
            "s",
        ]


async def test_authentication_failures_are_limited_per_client(http_target: tuple[str, str]) -> None:
    database_url, mode = http_target
    clock = ManualClock(WINDOW_START_S)
    async with http_gateway(
        make_settings(database_url, logister_auth_failure_rate_limit=2), mode, clock
    ) as http:
        for remaining in ("1", "0"):
            status, body, headers = await post(
                http, "/api/v1/deployments", {"deployment": {}}, secret="pk_bad"
            )
            assert (status, body, headers["X-RateLimit-Remaining"]) == (
                401,
                {"error": "Unauthorized"},
                remaining,
            )
        status, body, headers = await post(http, "/api/v1/ingest_events", {"event": event()}, secret=None)
        assert (status, body) == (
            429,
            {"error": "Rate limit exceeded", "limit": 2, "window_seconds": 60, "retry_after": 60},
        )
        assert headers["Retry-After"] == "60"
        # A good key is counted in its own budget.
        assert (await post(http, "/api/v1/ingest_events", {"event": event()}))[0] == 201
        clock.advance(60)
        assert (await post(http, "/api/v1/ingest_events", {"event": event()}, secret="pk_bad"))[0] == 401
