"""A node's cache of per-project settings read from the database, for `settings_cache_ttl_s`.

When an entry expires under load, every request of that project finds it missing at once. Each
used to read the database itself: about 30 reads (and new pooled connections) at every expiry with
32 requests in flight, measured with `python -m bench.profile`. Here the first miss reads, and
every other miss of the same key waits for that read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from server.clock import Clock

_V = TypeVar("_V")
#: Past this many cached keys the cache starts over, so it cannot grow without bound.
_MAX_CACHED = 10_000


class SettingsCache(Generic[_V]):
    """Values by key (a project id), each read by `load` at most once per `ttl_s` on this node."""

    def __init__(self, load: Callable[[str], Awaitable[_V]], clock: Clock, ttl_s: float) -> None:
        self._load = load
        self._clock = clock
        self._ttl_us = int(ttl_s * 1_000_000)
        self._values: dict[str, tuple[int, _V]] = {}
        self._reading: dict[str, asyncio.Future[_V]] = {}

    async def get(self, key: str) -> _V:
        """The cached value of `key`, or the value read now (or by a read already under way).

        A read that fails fails every caller waiting for it, and nothing is cached. A caller that
        is cancelled does not cancel the read the others wait for."""
        cached = self._values.get(key)
        if cached is not None and cached[0] > self._clock.now_us():
            return cached[1]
        reading = self._reading.get(key)
        if reading is None:
            reading = asyncio.ensure_future(self._read(key))
            self._reading[key] = reading
        return await asyncio.shield(reading)

    def forget(self, key: str) -> None:
        """Drops `key`, whose settings just changed on this node: the next `get` reads afresh, and
        a read already under way is not cached (it may have read the old settings)."""
        self._values.pop(key, None)
        self._reading.pop(key, None)

    async def _read(self, key: str) -> _V:
        started_us = self._clock.now_us()
        try:
            value = await self._load(key)
        finally:
            mine = self._reading.get(key) is asyncio.current_task()
            if mine:
                del self._reading[key]
        if mine:
            if len(self._values) >= _MAX_CACHED:
                self._values.clear()
            self._values[key] = (started_us + self._ttl_us, value)
        return value
