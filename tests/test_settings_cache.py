"""The settings cache: one database read per key at a time, however many requests miss at once."""

from __future__ import annotations

import asyncio

import pytest

from server.settings_cache import SettingsCache
from tests.helpers import ManualClock


class _Reads:
    """A loader whose reads finish only when released, and that counts them."""

    def __init__(self) -> None:
        self.count = 0
        self.release = asyncio.Event()
        self.fail = False

    async def __call__(self, key: str) -> str:
        self.count += 1
        number = self.count
        await self.release.wait()
        if self.fail:
            raise RuntimeError("database gone")
        return f"{key}#{number}"


async def test_concurrent_misses_share_one_read_until_the_ttl_ends() -> None:
    clock, reads = ManualClock(1_000), _Reads()
    cache = SettingsCache(reads, clock, ttl_s=5)
    waiting = [asyncio.ensure_future(cache.get("p")) for _ in range(30)]
    await asyncio.sleep(0)
    reads.release.set()
    assert set(await asyncio.gather(*waiting)) == {"p#1"}
    assert reads.count == 1

    clock.now += 4_999_999
    assert await cache.get("p") == "p#1"
    clock.now += 1
    assert await cache.get("p") == "p#2"


async def test_a_failed_read_fails_its_waiters_and_is_not_cached() -> None:
    clock, reads = ManualClock(1_000), _Reads()
    cache = SettingsCache(reads, clock, ttl_s=5)
    reads.fail = True
    waiting = [asyncio.ensure_future(cache.get("p")) for _ in range(3)]
    await asyncio.sleep(0)
    reads.release.set()
    outcomes = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(o, RuntimeError) for o in outcomes)
    reads.fail = False
    assert await cache.get("p") == "p#2"


async def test_a_cancelled_caller_leaves_the_read_to_the_others() -> None:
    clock, reads = ManualClock(1_000), _Reads()
    cache = SettingsCache(reads, clock, ttl_s=5)
    first = asyncio.ensure_future(cache.get("p"))
    second = asyncio.ensure_future(cache.get("p"))
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)
    reads.release.set()
    assert await second == "p#1"
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_a_change_during_a_read_is_not_hidden_by_it() -> None:
    clock, reads = ManualClock(1_000), _Reads()
    cache = SettingsCache(reads, clock, ttl_s=5)
    before = asyncio.ensure_future(cache.get("p"))
    await asyncio.sleep(0)
    cache.forget("p")  # the settings changed while that read was under way
    reads.release.set()
    assert await before == "p#1"
    assert await cache.get("p") == "p#2"
    assert await cache.get("p") == "p#2"
