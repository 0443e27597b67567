"""Time-ordered identifiers (UUIDv7, RFC 9562) and request ids."""

from __future__ import annotations

import random
import secrets
import threading

from server.clock import Clock

_HEX = "0123456789abcdef"


class UuidV7:
    """Generates UUIDv7 strings that sort by creation time.

    Within one process ids are strictly increasing: the 12-bit `rand_a` field counts ids made in
    the same millisecond (RFC 9562 method 1), borrowing the next millisecond when it overflows.
    Across processes the 62 random bits keep ids unique; their order follows the nodes' clocks.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._last_ms = -1
        self._seq = 0
        self._lock = threading.Lock()
        # Not a secret: ids only need to be unique, and this is several times faster than urandom.
        self._random = random.Random(secrets.randbits(128))

    def new(self) -> str:
        with self._lock:
            ms = self._clock.now_us() // 1000
            if ms > self._last_ms:
                self._last_ms = ms
                self._seq = 0
            else:
                self._seq += 1
                if self._seq > 0xFFF:
                    self._last_ms += 1
                    self._seq = 0
            hi = (self._last_ms << 16) | 0x7000 | self._seq
            lo = (0b10 << 62) | self._random.getrandbits(62)
        text = f"{hi:016x}{lo:016x}"
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def request_id() -> str:
    """A new request id, such as `req_9f2c4e1a7b3d5f60`."""
    return "req_" + secrets.token_hex(8)
