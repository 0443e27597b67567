"""Plain in-process counters for the hot paths (the writer's thread, the call pipeline), read
only when `/metrics` is scraped (`server.metrics`). An update is a dict or list increment, with
no lock: a reader may see a sum a moment behind its buckets, which a scrape tolerates."""

from __future__ import annotations

import bisect
from collections.abc import Sequence

#: Seconds: from a fast commit or call to a slow one.
LATENCY_BOUNDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Histogram:
    """Cumulative-on-read buckets over fixed upper bounds, plus a sum and a count."""

    __slots__ = ("bounds", "buckets", "count", "sum")

    def __init__(self, bounds: Sequence[float] = LATENCY_BOUNDS) -> None:
        self.bounds = tuple(bounds)
        self.buckets = [0] * (len(self.bounds) + 1)  # the last: above every bound
        self.count = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.buckets[bisect.bisect_left(self.bounds, value)] += 1
        self.count += 1
        self.sum += value

    def cumulative(self) -> list[tuple[str, int]]:
        """Prometheus's buckets: (upper bound, observations at or below it), `+Inf` last."""
        total, out = 0, []
        for bound, n in zip((*map(str, self.bounds), "+Inf"), self.buckets, strict=True):
            total += n
            out.append((bound, total))
        return out
