"""What one load phase counted: calls, events, errors and latencies.

Contract: a `Tally` is written by the workers of one phase (all on one event loop, so no locks)
and read once the phase is over. Every failed call goes through `fail`, which counts it and keeps
the first error's code and message, so no error is ever dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Tally:
    """The counts of one phase; `seconds` is set when the phase ends."""

    calls: int = 0
    events: int = 0
    rejected_events: int = 0
    errors: int = 0
    first_error: str | None = None
    capped: bool = False
    seconds: float = 0.0
    latencies_s: list[float] = field(default_factory=list)

    def ok(self, latency_s: float, events: int, rejected: int = 0) -> None:
        """One call succeeded: `events` were taken by the server and `rejected` refused by it."""
        self.calls += 1
        self.events += events
        self.rejected_events += rejected
        self.latencies_s.append(latency_s)

    def fail(self, code: str, message: str) -> None:
        """One call failed with `code` (a gRPC status name, `HTTP 500`, an exception type)."""
        self.errors += 1
        if self.first_error is None:
            self.first_error = f"{code}: {message}"

    def percentile_ms(self, q: float) -> float | None:
        """The q-th percentile (0 to 100) of the successful calls' latencies, in ms; None if none."""
        if not self.latencies_s:
            return None
        ordered = sorted(self.latencies_s)
        index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))
        return ordered[index] * 1000

    def per_second(self, count: int) -> float:
        return count / self.seconds if self.seconds > 0 else 0.0
