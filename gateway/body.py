"""Reading request bodies within limits, before any work is done on them.

The size is checked from Content-Length first, so an honest oversized request is refused without
reading it, and again while reading, so a lying or chunked one cannot exceed it either. A gzip body
is inflated incrementally with a cap on its output, so a small bomb cannot exhaust memory. A body
that stalls for longer than the timeout is abandoned.

Every byte held, as sent and as inflated, is counted against the process's `BodyBudget` while
the request lasts: past it a request is answered 503 with `Retry-After`, before its body is read
when its Content-Length says so, so a flood of bombs or large bodies cannot exhaust memory.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from google.protobuf import duration_pb2
from google.rpc import code_pb2, error_details_pb2  # type: ignore[attr-defined]

from gateway.front import Request
from gateway.status import make_status

_CHUNK = 64 * 1024
#: Inflated output is taken (and counted) this much at a time.
_INFLATE_STEP = 1024 * 1024
#: What a client refused for want of budget is told to wait.
BUSY_RETRY_AFTER_S = 1


class BodyBudget:
    """The request body bytes one process holds at once, compressed and inflated, and the cap.
    The event loop's alone: no lock."""

    __slots__ = ("held", "limit", "peak")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        #: The most held since whoever reads it last reset it (the heap trimmer).
        self.peak = 0

    def take(self, size: int) -> bool:
        # A request alone may exceed the cap (its route's own limit bounds it): the server must
        # make progress even with a cap below a route's limit.
        if self.held and self.held + size > self.limit:
            return False
        self.held += size
        if self.held > self.peak:
            self.peak = self.held
        return True


class Reservation:
    """One request's share of a `BodyBudget`; `release` when the request is answered."""

    __slots__ = ("_budget", "size")

    def __init__(self, budget: BodyBudget) -> None:
        self._budget = budget
        self.size = 0

    def grow(self, size: int) -> None:
        """Raises BodyError (503) when the budget cannot spare `size` more bytes."""
        if not self._budget.take(size):
            raise busy()
        self.size += size

    def release(self) -> None:
        self._budget.held -= self.size
        self.size = 0


def busy() -> BodyError:
    error = BodyError(
        503,
        code_pb2.UNAVAILABLE,
        "the server holds too many request bytes; retry shortly",
        "SERVER_BUSY",
    )
    delay = duration_pb2.Duration(seconds=BUSY_RETRY_AFTER_S)
    error.status.details.add().Pack(error_details_pb2.RetryInfo(retry_delay=delay))
    return error


@dataclass(frozen=True, slots=True)
class BodyLimits:
    """How much a route reads, and how long it waits for it."""

    max_bytes: int
    max_decompressed_bytes: int
    timeout_s: float
    #: Whether the route inflates gzip itself; vendor routes get their bytes as sent unless their
    #: edge asks otherwise (`Edge.inflate_gzip`).
    inflate: bool


class BodyError(Exception):
    """The body cannot be read: `http_status` and a `google.rpc.Status` say why."""

    def __init__(self, http_status: int, code: int, message: str, reason: str, **metadata: str) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.status = make_status(code, message, reason, dict(metadata))


def too_large(limit: int) -> BodyError:
    return BodyError(
        413,
        code_pb2.RESOURCE_EXHAUSTED,
        f"request body exceeds {limit} bytes",
        "PAYLOAD_TOO_LARGE",
        limit=str(limit),
    )


async def read_body(request: Request, limits: BodyLimits, reservation: Reservation) -> bytes:
    """The request body, inflated when `limits.inflate` and Content-Encoding is gzip; every byte
    held is counted in `reservation`, which the caller releases once it has answered.

    Raises:
        BodyError: 413 when too large (before or after inflating), 415 for an unsupported
            Content-Encoding, 400 for a corrupt gzip stream, 408 when the client stalls, 503
            when the process's body budget is spent.
    """
    length = request.content_length
    if length is not None and length > limits.max_bytes:
        raise too_large(limits.max_bytes)
    if length:
        reservation.grow(length)  # before reading a byte of it
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower() or "identity"
    if limits.inflate and encoding not in ("identity", "gzip"):
        raise BodyError(
            415,
            code_pb2.INVALID_ARGUMENT,
            f"unsupported Content-Encoding {encoding!r}: send identity or gzip",
            "UNSUPPORTED_ENCODING",
        )
    content = request.content
    if content.is_eof():
        # The whole body is here already (most small bodies are): no wait, so no timer.
        raw = content.read_nowait()
        if len(raw) > limits.max_bytes:
            raise too_large(limits.max_bytes)
        if not length:
            reservation.grow(len(raw))
    else:
        try:
            async with asyncio.timeout(limits.timeout_s):
                raw = await _read_capped(request, limits.max_bytes, None if length else reservation)
        except TimeoutError:
            raise BodyError(
                408, code_pb2.DEADLINE_EXCEEDED, "the request body did not arrive in time", "BODY_TIMEOUT"
            ) from None
    if limits.inflate and encoding == "gzip":
        return inflate(raw, limits.max_decompressed_bytes, reservation)
    return raw


async def _read_capped(request: Request, limit: int, reservation: Reservation | None) -> bytes:
    """Reads up to `limit` bytes; counts them in `reservation` as they come, when given (a body
    of unknown length), where a known length was reserved up front."""
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(_CHUNK)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        if reservation is not None:
            reservation.grow(len(chunk))
        chunks.append(chunk)


def inflate(data: bytes, limit: int, reservation: Reservation | None = None) -> bytes:
    """Inflates a gzip stream into at most `limit` bytes, counting the output in `reservation`
    a step at a time, so a bomb is stopped by the budget as soon as by its own cap.

    Raises:
        BodyError: 400 for a corrupt or truncated stream, 413 past `limit`, 503 past the budget.
    """
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    pieces: list[bytes] = []
    size = 0
    pending = data
    try:
        while True:
            piece = inflater.decompress(pending, min(_INFLATE_STEP, limit + 1 - size))
            pending = inflater.unconsumed_tail
            size += len(piece)
            if reservation is not None and piece:
                reservation.grow(len(piece))
            pieces.append(piece)
            if size > limit or inflater.eof or not (pending or piece):
                break
    except zlib.error as exc:
        raise BodyError(400, code_pb2.INVALID_ARGUMENT, f"invalid gzip body: {exc}", "INVALID_GZIP") from None
    if size > limit:
        raise BodyError(
            413,
            code_pb2.RESOURCE_EXHAUSTED,
            f"request body inflates past {limit} bytes",
            "DECOMPRESSED_TOO_LARGE",
            limit=str(limit),
        )
    if not inflater.eof or inflater.unused_data:
        raise BodyError(
            400, code_pb2.INVALID_ARGUMENT, "invalid gzip body: truncated or trailing data", "INVALID_GZIP"
        )
    # Joined only once it is known to be kept: a refused bomb is never copied whole.
    return b"".join(pieces)


def json_depth_exceeds(value: object, limit: int) -> bool:
    """Whether a parsed JSON value (dicts, lists and scalars, as orjson makes them) nests deeper
    than `limit` arrays and objects.

    It descends only into containers and stops `limit` levels down, so its recursion is bounded by
    the limit, never by the document: measured three times faster than walking an explicit stack
    of every node (2 against 6.4 us for a 760-byte event).
    """
    children: Iterable[object]
    if type(value) is dict:
        children = value.values()
    elif type(value) is list:
        children = value
    else:
        return False
    if limit < 1:
        return True
    for child in children:
        child_kind = type(child)
        if (child_kind is dict or child_kind is list) and json_depth_exceeds(child, limit - 1):
            return True
    return False
