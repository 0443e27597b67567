"""The open timing starts behind SimpleLogs' pairing across requests (`server.timings`,
docs/vendors/simplelogs.md §5), on SQLite and PostgreSQL: concurrent ends claim a start once,
`undo` puts a claimed start back in its place, starts expire and are purged, and starts no end
could match are not kept."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from server.main import core
from server.timings import MAX_MATCH_CHARS, OPEN_START_TTL_S, OpenTimings
from storage.engine import begin_write
from storage.timings import OpenStartRecord, OpenTimingRepository
from tests.conftest import make_settings
from tests.helpers import ManualClock

PROJECT = "default"
NOW_S = 1_800_000_000


@dataclass(frozen=True)
class Start:
    key: str = ""
    touchpoint: str = ""
    started_us: int = 0
    payload: bytes = b"start"


@dataclass(frozen=True)
class End:
    key: str = ""
    touchpoint: str = ""


@contextlib.asynccontextmanager
async def timings_on(database_url: str, clock: ManualClock) -> AsyncIterator[OpenTimings]:
    async with core(make_settings(database_url), clock) as c:
        yield OpenTimings(c.sessions, c.clock, c.ids)


async def _close(timings: OpenTimings, *ends: End) -> list[bytes | None]:
    return (await timings.settle(PROJECT, ends, [])).closed


async def test_ends_racing_for_one_start_claim_it_once(database_url: str) -> None:
    async with timings_on(database_url, ManualClock(NOW_S)) as timings:
        await timings.settle(PROJECT, [], [Start(key="k", payload=b"the start")])

        closed = await asyncio.gather(*(_close(timings, End(key="k")) for _ in range(20)))

    assert sorted(closed, key=lambda c: c[0] is None) == [[b"the start"]] + [[None]] * 19


async def test_a_start_an_open_transaction_claimed_is_not_claimed_again(database_url: str) -> None:
    """The delete is the claim: a second claim while the first is uncommitted gets nothing, on
    PostgreSQL at once (the row is skipped, not waited for), on SQLite once the first commits."""
    async with core(make_settings(database_url), ManualClock(NOW_S)) as c:
        await OpenTimings(c.sessions, c.clock, c.ids).settle(
            PROJECT, [], [Start(key="k", payload=b"the start")]
        )

        async def claim() -> OpenStartRecord | None:
            async with c.sessions() as session:
                await begin_write(session)
                found = await OpenTimingRepository(session).claim_oldest(
                    PROJECT, opened_since_us=0, correlation_key="k"
                )
                await session.commit()
            return found

        async with c.sessions() as first:
            await begin_write(first)
            claimed = await OpenTimingRepository(first).claim_oldest(
                PROJECT, opened_since_us=0, correlation_key="k"
            )
            second = asyncio.create_task(claim())
            await asyncio.sleep(0.3)  # the second claim runs, or waits, while the first is open
            await first.commit()

        assert claimed is not None and claimed.payload == b"the start"
        assert await second is None


async def test_undo_puts_claimed_starts_back_in_line_and_removes_opened_ones(database_url: str) -> None:
    async with timings_on(database_url, ManualClock(NOW_S)) as timings:
        await timings.settle(
            PROJECT, [], [Start(touchpoint="t", payload=b"1"), Start(touchpoint="t", payload=b"2")]
        )
        settled = await timings.settle(PROJECT, [End(touchpoint="t")], [Start(touchpoint="t", payload=b"3")])
        assert settled.closed == [b"1"]

        await timings.undo(settled)

        assert [await _close(timings, End(touchpoint="t")) for _ in range(3)] == [[b"1"], [b"2"], [None]]


async def test_starts_expire_after_a_day_and_are_purged(database_url: str) -> None:
    clock = ManualClock(NOW_S)
    async with timings_on(database_url, clock) as timings:
        await timings.settle(PROJECT, [], [Start(key="a"), Start(key="b"), Start(key="c")])
        clock.advance(OPEN_START_TTL_S)
        assert await timings.purge_expired() == 0
        assert await _close(timings, End(key="a")) == [b"start"], "a day old: still open"

        clock.advance(1)
        assert await _close(timings, End(key="b")) == [None], "expired: an end no longer closes it"
        assert await timings.purge_expired() == 2
        assert await timings.purge_expired() == 0


async def test_starts_no_end_could_match_are_not_kept(database_url: str) -> None:
    long = "k" * (MAX_MATCH_CHARS + 1)
    async with timings_on(database_url, ManualClock(NOW_S)) as timings:
        settled = await timings.settle(
            PROJECT, [], [Start(), Start(key=long), Start(key="nul\x00"), Start(key="k", touchpoint="t\x00")]
        )
        assert settled.opened == ()

        closed = await _close(timings, End(key=long), End(key="nul\x00"), End(key="k", touchpoint="t\x00"))
        assert closed == [None, None, None]
