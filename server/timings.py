"""Open timing starts: a start whose end comes in a later request waits for it in the database, so
the pair closes whichever worker or node receives the end.

SimpleLogs pairs a timing start with its end by correlation key, else by touchpoint, oldest start
first, and across requests (docs/vendors/simplelogs.md §5). Its translator pairs what one request
holds; this port keeps what requests leave open:

- `settle` runs one transaction, committed before it returns: each end that its request left open
  claims the start it closes, and then the request's own open starts are added. Claiming is
  deleting (`storage.timings`), so of two ends racing for one start, on any nodes, one closes it
  and the other finds none.
- `undo` reverses a settlement whose events were not stored (a refused key, the daily limit, a
  failed commit): the claimed starts go back, with their ids and so their place in line, and the
  added ones go. The table thus changes only together with the events it belongs to.
- A start expires `OPEN_START_TTL_S` after ingestd received it: no end closes it after that, and
  `purge_expired` deletes it (hourly, from the composition root).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.clock import Clock
from server.ids import UuidV7
from storage.engine import begin_write
from storage.timings import OpenStartRecord, OpenTimingRepository

#: How long a start waits for its end (docs/vendors/simplelogs.md §5): a day covers a nightly job
#: and a long browser session, and bounds the table by a day of starts that never end.
OPEN_START_TTL_S = 24 * 3600
#: The longest correlation key or touchpoint a stored start can be matched by (the columns' width);
#: a start with a longer one, or one holding a NUL, is stored as an event but waits for no end.
MAX_MATCH_CHARS = 200


class OpenStart(Protocol):
    """A timing start that no end of its own request closed."""

    @property
    def key(self) -> str:
        """Its correlation key; empty: none."""
        ...

    @property
    def touchpoint(self) -> str:
        """Its touchpoint; empty: none."""
        ...

    @property
    def started_us(self) -> int:
        """When the operation started, as the sender said."""
        ...

    @property
    def payload(self) -> bytes:
        """What its end needs to make the measurement, in its dialect's encoding."""
        ...


class OpenEnd(Protocol):
    """A timing end that closed no start of its own request."""

    @property
    def key(self) -> str:
        """Its correlation key; empty: none."""
        ...

    @property
    def touchpoint(self) -> str:
        """Its touchpoint; empty: none."""
        ...


@dataclass(frozen=True, slots=True)
class Settled:
    """What `settle` changed, for `undo`."""

    project: str
    #: Per end, in order: the start it claimed, or None.
    claimed: tuple[OpenStartRecord | None, ...] = ()
    #: The ids of the starts it added.
    opened: tuple[str, ...] = ()

    @property
    def closed(self) -> list[bytes | None]:
        """Per end, in order: the payload of the start it closed, or None."""
        return [None if record is None else record.payload for record in self.claimed]


class OpenTimings:
    """The open timing starts of every project."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        ids: UuidV7,
        *,
        ttl_s: int = OPEN_START_TTL_S,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._ids = ids
        self._ttl_us = ttl_s * 1_000_000

    async def settle(self, project: str, ends: Sequence[OpenEnd], starts: Sequence[OpenStart]) -> Settled:
        """Closes, for each of `ends` in order, the oldest unexpired open start of `project` with
        its key; failing that, the oldest with its touchpoint, which for an end with a key must
        have none (a start with another key is not its own). Then opens `starts`, except those
        no end could match (no key and no touchpoint, or one over `MAX_MATCH_CHARS` or holding a
        NUL). Committed before it returns.

        Raises:
            sqlalchemy.exc.SQLAlchemyError: the database failed; nothing changed.
        """
        waiting = [s for s in starts if _matchable(s)]
        if not ends and not waiting:
            return Settled(project)
        now = self._clock.now_us()
        since = now - self._ttl_us
        ids = self._ids.batch(len(waiting))
        async with self._sessions() as session:
            await begin_write(session)
            starts_of = OpenTimingRepository(session)
            claimed = tuple([await _claim(starts_of, project, end, since) for end in ends])
            await starts_of.add(
                project,
                [
                    OpenStartRecord(i, s.key or None, s.touchpoint or None, s.started_us, now, s.payload)
                    for i, s in zip(ids, waiting, strict=True)
                ],
            )
            await session.commit()
        return Settled(project, claimed, tuple(ids))

    async def undo(self, settled: Settled) -> None:
        """Puts back the starts `settled` claimed and removes those it opened.

        Raises:
            sqlalchemy.exc.SQLAlchemyError: the database failed; nothing changed.
        """
        claimed = [record for record in settled.claimed if record is not None]
        if not claimed and not settled.opened:
            return
        async with self._sessions() as session:
            await begin_write(session)
            starts_of = OpenTimingRepository(session)
            await starts_of.remove(settled.project, settled.opened)
            await starts_of.add(settled.project, claimed)
            await session.commit()

    async def purge_expired(self) -> int:
        """Deletes every project's expired starts; returns how many. For a periodic task: an end
        already ignores them."""
        async with self._sessions() as session:
            await begin_write(session)
            deleted = await OpenTimingRepository(session).delete_opened_before(
                self._clock.now_us() - self._ttl_us
            )
            await session.commit()
        return deleted


def _storable(value: str) -> bool:
    # A NUL cannot be stored (or even compared) in a PostgreSQL string: no such value matches.
    return 0 < len(value) <= MAX_MATCH_CHARS and "\x00" not in value


def _matchable(start: OpenStart) -> bool:
    present = [value for value in (start.key, start.touchpoint) if value]
    return bool(present) and all(_storable(value) for value in present)


async def _claim(
    starts_of: OpenTimingRepository, project: str, end: OpenEnd, since_us: int
) -> OpenStartRecord | None:
    if _storable(end.key):
        found = await starts_of.claim_oldest(project, opened_since_us=since_us, correlation_key=end.key)
        if found is not None:
            return found
    if _storable(end.touchpoint):
        return await starts_of.claim_oldest(
            project, opened_since_us=since_us, touchpoint=end.touchpoint, unkeyed=bool(end.key)
        )
    return None
