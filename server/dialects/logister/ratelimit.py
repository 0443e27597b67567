"""Logister's public-API rate limits: fixed windows aligned to the Unix epoch
(docs/vendors/logister.md §4).

A window is `[now // period * period, + period)`. Each (kind, endpoint, identity) counts its
units in the current window; a hit that takes the count past the limit is refused. Kinds are
`accepted` (per API key and endpoint label: `ingest`, shared by single events and batches,
`check_in`, `deployment`) and `auth_failure` (per client IP, across every endpoint).

The counters live in this process: a deployment of several ingestd nodes behind a load balancer
has each node count its own, so the effective limit is up to the node count times the setting.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Window:
    """The outcome of one hit: whether it is over the limit, and the numbers Logister reports."""

    limited: bool
    limit: int
    remaining: int
    #: Unix seconds at which the window ends.
    reset_at: int
    #: Seconds until the window ends, at least 1.
    retry_after: int
    window_seconds: int

    def headers(self) -> dict[str, str]:
        """`X-RateLimit-*`, sent on every authenticated response (and on 401s, for the IP)."""
        return {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-reset": str(self.reset_at),
        }

    def refusal_headers(self) -> dict[str, str]:
        """The headers of a 429: `Retry-After` and `X-RateLimit-*`."""
        return {**self.headers(), "retry-after": str(self.retry_after)}

    def refusal_body(self) -> dict[str, object]:
        """Logister's 429 body."""
        return {
            "error": "Rate limit exceeded",
            "limit": self.limit,
            "window_seconds": self.window_seconds,
            "retry_after": self.retry_after,
        }


class FixedWindowLimiter:
    """In-process fixed-window counters. Not thread-safe: one event loop uses it."""

    def __init__(self) -> None:
        # Keyed by (kind, endpoint, identity, end of window), so a counter is stale once its
        # window has ended, whatever its period.
        self._counts: dict[tuple[str, str, str, int], int] = {}
        self._next_prune = 0

    def hit(
        self,
        *,
        kind: str,
        endpoint: str,
        identity: str,
        limit: int,
        period_s: int,
        now_s: int,
        amount: int = 1,
    ) -> Window:
        """Counts `amount` units for (kind, endpoint, identity) in the window holding `now_s`."""
        if now_s >= self._next_prune:
            self._counts = {key: count for key, count in self._counts.items() if key[3] > now_s}
            self._next_prune = now_s + 1
        reset_at = now_s // period_s * period_s + period_s
        key = (kind, endpoint, identity, reset_at)
        count = self._counts.get(key, 0) + amount
        self._counts[key] = count
        return Window(
            limited=count > limit,
            limit=limit,
            remaining=max(limit - count, 0),
            reset_at=reset_at,
            retry_after=max(reset_at - now_s, 1),
            window_seconds=period_s,
        )
