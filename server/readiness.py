"""Whether this process can take writes, as its group writer last found the database: what the
gRPC health service, `/readyz` and the log report. A database that refuses writes (read-only,
full, gone) makes the process not ready until a commit succeeds again."""

from __future__ import annotations

from collections.abc import Callable

import structlog

_log = structlog.get_logger("ingestd.readiness")


class Readiness:
    """Set from the event loop only (the writer reports through `call_soon_threadsafe`)."""

    def __init__(self) -> None:
        self.failing: str | None = None
        self.stopping = False
        self._listeners: list[Callable[[bool], object]] = []

    @property
    def ready(self) -> bool:
        return self.failing is None and not self.stopping

    def subscribe(self, listener: Callable[[bool], object]) -> None:
        """Calls `listener(ready)` on every change."""
        self._listeners.append(listener)

    def database(self, failing: str | None) -> None:
        """The writer's report: the database's message while commits fail, None once one succeeds."""
        if failing == self.failing:
            return
        if failing is not None:
            _log.error("database_failing", error=failing)
        else:
            _log.warning("database_recovered", after=self.failing)
        self.failing = failing
        self._notify()

    def stop(self) -> None:
        """Shutting down: not ready for new work."""
        self.stopping = True
        self._notify()

    def _notify(self) -> None:
        for listener in self._listeners:
            listener(self.ready)
