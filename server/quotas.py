"""Per-project limits: the daily event limit on the write path, and the checks of the other limits
(`ingestd.v1.ProjectLimits`; 0 or false means unlimited or available, the self-hosted default).

The daily event limit counts the events each project accepts per UTC day, exactly across every
node sharing the database, in `project_daily_usage`. Counting begins when a limit is set: events
accepted while the project had none are not counted, so a limit set at noon allows its whole
amount for the rest of that day. Unlimited projects cost a dictionary lookup: each node caches
every project's limits for `settings_cache_ttl_s`, forgets a project at once when its limits change
on this node, and sees a change made on another node (or by the `ingestd` command) within the TTL.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.clock import Clock
from server.config import Settings
from server.errors import FailedPrecondition, ResourceExhausted
from server.settings_cache import SettingsCache
from storage.accounts import ProjectRepository
from storage.usage import DailyUsageRepository

DAY_US = 86_400 * 1_000_000


@dataclass(frozen=True, slots=True)
class Reservation:
    """Events counted against a project's limit on one UTC day, to give back if not stored."""

    project: str
    day: int
    events: int


@dataclass(frozen=True, slots=True)
class Limits:
    """A project's limits; 0 is unlimited."""

    daily_event_limit: int = 0
    alert_rule_limit: int = 0
    webhooks_disabled: bool = False


UNLIMITED = Limits()


class ProjectQuotas:
    """`Ingest`'s `Quotas`: counts events against each project's daily limit; and the checks of the
    alert rule limit and the webhooks setting, for the alerting domain."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock, settings: Settings) -> None:
        self._sessions = sessions
        self._clock = clock
        self._cache = SettingsCache(self._read, clock, settings.settings_cache_ttl_s)

    async def reserve(self, project: str, events: int) -> Reservation | None:
        """Counts `events` against the project's daily limit, if it has one; returns what was
        counted (None when nothing was: an unlimited project).

        Raises:
            ResourceExhausted: reason `DAILY_EVENT_LIMIT_REACHED`, metadata `limit`, and a retry
                delay until the next UTC midnight; nothing was counted.
        """
        limit = (await self.limits(project)).daily_event_limit
        if not limit or events <= 0:
            return None
        now_us = self._clock.now_us()
        day = now_us // DAY_US
        async with self._sessions.begin() as session:
            counted = await DailyUsageRepository(session).reserve(project, day, events, limit)
        if not counted:
            retry_after_s = max(1, -(-((day + 1) * DAY_US - now_us) // 1_000_000))
            raise ResourceExhausted(
                f"project {project!r} reached its daily limit of {limit} events; it resets at 00:00 UTC",
                reason="DAILY_EVENT_LIMIT_REACHED",
                metadata={"limit": str(limit)},
                retry_after_s=float(retry_after_s),
            )
        return Reservation(project, day, events)

    async def release(self, reservation: Reservation) -> None:
        """Gives back a reservation whose events were not stored, on the day it was made."""
        async with self._sessions.begin() as session:
            await DailyUsageRepository(session).release(
                reservation.project, reservation.day, reservation.events
            )

    async def used_today(self, project: str) -> int:
        """The events counted today (UTC) against the project's limit."""
        async with self._sessions() as session:
            return await DailyUsageRepository(session).events(project, self._clock.now_us() // DAY_US)

    async def limits(self, project: str) -> Limits:
        """The project's limits, as this node last read them (at most `settings_cache_ttl_s` ago);
        an unknown project has none."""
        return await self._cache.get(project)

    def forget(self, project: str) -> None:
        """Drops the cached limits of `project`, whose settings just changed on this node."""
        self._cache.forget(project)

    async def check_alert_rule_limit(self, project: str, current_count: int) -> None:
        """Checks that the project may have one more custom alert rule than `current_count`.
        Reads the limit afresh: a rule is created rarely, and a lowered limit must hold at once.

        Raises:
            ResourceExhausted: reason `ALERT_RULE_LIMIT_REACHED`, metadata `limit` (LogStitch:
                403 `alert_rule_limit_reached`).
        """
        limit = (await self._read(project)).alert_rule_limit
        if limit and current_count >= limit:
            raise ResourceExhausted(
                f"project {project!r} may have at most {limit} custom alert rules",
                reason="ALERT_RULE_LIMIT_REACHED",
                metadata={"limit": str(limit)},
            )

    async def check_webhooks_available(self, project: str) -> None:
        """Checks that the project may deliver alerts to webhooks. Reads the setting afresh.

        Raises:
            FailedPrecondition: reason `WEBHOOKS_NOT_AVAILABLE` (LogStitch: 403
                `webhooks_not_available`).
        """
        if (await self._read(project)).webhooks_disabled:
            raise FailedPrecondition(
                f"webhooks are disabled for project {project!r}", reason="WEBHOOKS_NOT_AVAILABLE"
            )

    async def _read(self, project: str) -> Limits:
        async with self._sessions() as session:
            record = await ProjectRepository(session).get(project)
        if record is None:
            return UNLIMITED
        return Limits(record.daily_event_limit, record.alert_rule_limit, record.webhooks_disabled)
