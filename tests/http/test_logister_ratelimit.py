"""Logister's rate limits over HTTP (docs/vendors/logister.md §4), with the server's clock injected so the
windows move without waiting."""

from __future__ import annotations

import gzip

import orjson

from server.peers import ClientAddresses
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


async def test_a_forwarded_address_counts_only_from_a_trusted_proxy(http_target: tuple[str, str]) -> None:
    """Once, any X-Forwarded-For picked the auth-failure bucket: a new one per request escaped the
    limit. Only a trusted proxy's header is believed now."""
    database_url, mode = http_target
    for trusted, limited in (("", True), ("127.0.0.0/8,::1/128", False)):
        settings = make_settings(database_url, logister_auth_failure_rate_limit=2, trusted_proxies=trusted)
        async with http_gateway(settings, mode, ManualClock(WINDOW_START_S)) as http:
            statuses = [
                (
                    await post(
                        http,
                        "/api/v1/deployments",
                        {"deployment": {}},
                        secret="pk_bad",
                        headers={"X-Forwarded-For": f"203.0.113.{n}"},
                    )
                )[0]
                for n in range(4)
            ]
        assert statuses == ([401, 401, 429, 429] if limited else [401] * 4), trusted


def test_the_client_address_is_the_last_untrusted_hop() -> None:
    clients = ClientAddresses("10.0.0.0/8")
    assert clients.client("ipv4:198.51.100.7:5123", "1.1.1.1") == "198.51.100.7"
    assert clients.client("ipv4:10.0.0.2:5123", "1.1.1.1, 203.0.113.9, 10.0.0.3") == "203.0.113.9"
    assert clients.client("ipv6:[2001:db8::1]:443", "") == "2001:db8::1"
    assert clients.client("10.1.2.3", "") == "10.1.2.3"
    assert ClientAddresses("").client("127.0.0.1", "6.6.6.6") == "127.0.0.1"
