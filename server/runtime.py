"""How a server process runs: its event loop and its garbage collector.

uvloop, where it is installed (a dependency on Linux and macOS), halves the event loop's own cost
per request against asyncio's default loop. The garbage collector is tuned once the server has
started: everything allocated by then (modules, descriptors, compiled codecs, caches) lives as long
as the process, so `gc.freeze()` moves it out of every later collection, and a larger first
generation lets the short-lived objects of a request die by reference counting before a
collection ever looks at them.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

_T = TypeVar("_T")

#: The first generation's threshold after startup (CPython's default is 700). Measured with
#: `python -m bench.profile --route canonical --profiler none`: with the defaults the collector
#: took 0.2% to 1.6% of the time, one full collection pausing the loop for 110 ms; frozen and
#: with this threshold, it did not run in 8 s. Throughput moved within noise.
GEN0_THRESHOLD = 50_000


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory when uvloop is installed, else None (asyncio's default loop)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency wherever it builds
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, _T]) -> _T:
    """Runs `main` to completion on a new event loop (uvloop's where installed)."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)


def trim_heap() -> bool:
    """Hands the C heap's free memory back to the operating system (glibc's `malloc_trim`), as
    after a burst of large bodies, whose freed memory the allocator would otherwise keep for the
    life of the process. False where there is no glibc."""
    global _malloc_trim
    if _malloc_trim is None:
        try:
            _malloc_trim = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _malloc_trim = False
    if _malloc_trim is False:
        return False
    _malloc_trim(0)
    return True


_malloc_trim: Any = None


def settle_heap() -> None:
    """Called once startup is done: collects, then freezes what survives, and raises the first
    generation's threshold (`GEN0_THRESHOLD`)."""
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, gen1, gen2)
