"""The load generators: grpc.aio and HTTP/1.1 clients in this process, bounded in time and count.

Contract:

- `drive_grpc` and `drive_http` run a warm-up phase (results returned but not reported as the
  measurement) and then a measured phase, each with a fixed number of workers that keep one
  call outstanding each. They return `(warmup, measured)` tallies.
- Every worker stops by itself: when its phase's time is up (no new call starts after the
  deadline), or after `seconds * MAX_CALLS_PER_S / workers` calls, whichever comes first. Every
  call has a `CALL_TIMEOUT_S` deadline, and a phase still running `OVERRUN_S` after its end is
  cancelled and counted as an error.
- Every failure is counted in the tally with its code and message: gRPC errors, HTTP statuses
  other than 2xx (with the start of the answer's body), client exceptions, and answers whose
  counts do not add up to what was sent. Only 2xx answers count as throughput.
- gRPC requests go out pre-serialized (see `scenarios.request_payloads`; for a scenario with a
  `vendor`, such as `otlp-batch100`, from a `routes.BodySource` of its route, one body per call);
  responses are decoded (a vendor's by its route's `taken`, as over HTTP). Workers share channels,
  `WORKERS_PER_CHANNEL` to a channel, each channel its own connection.
- HTTP requests go out over `bench.http1` keep-alive connections, one per worker; bodies come
  prepared from `bench.routes`, and 2xx answers are read by the route (`HttpRequests.taken`).
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from time import perf_counter
from typing import Any

import grpc

from bench.cpu import CpuMeter, CpuUse
from bench.http1 import Connection
from bench.scenarios import Scenario
from bench.tally import Tally
from ingestd.v1 import ingest_service_pb2 as pb

CALL_TIMEOUT_S = 15.0
OVERRUN_S = 20.0
MAX_CALLS_PER_S = 100_000
WORKERS_PER_CHANNEL = 8

#: A worker: given the phase's tally, its deadline (perf_counter) and its call budget, it makes
#: calls until either runs out; it returns True when the budget, not the time, stopped it.
Worker = Callable[[Tally, float, int], Awaitable[bool]]
Metadata = tuple[tuple[str, str], ...]
#: Reads a 2xx answer (HTTP) or a gRPC response's bytes: (status, body, events sent) to (taken,
#: rejected) events (`routes.Route.taken`).
Taken = Callable[[int, bytes, int], tuple[int, int]]


@dataclass(frozen=True, slots=True)
class Load:
    """How hard and how long: workers for unary calls, concurrent streams, phase durations."""

    seconds: float
    warmup_s: float
    concurrency: int
    streams: int
    #: HTTP only: requests a second across all workers, paced (open loop), or None for as many as
    #: the server answers (closed loop). Paced latency counts from each request's scheduled time,
    #: so a server that falls behind is charged for the wait it causes.
    rate_per_s: float | None = None


@dataclass(frozen=True, slots=True)
class Measured:
    """A phase's tally, and the CPU used during it when a meter was given."""

    tally: Tally
    cpu: CpuUse | None = None


async def run_phase(workers: Sequence[Worker], seconds: float, meter: CpuMeter | None = None) -> Measured:
    """Runs `workers` concurrently for `seconds`; see the module's contract."""
    tally = Tally()
    budget = max(1, math.ceil(seconds * MAX_CALLS_PER_S / len(workers)))
    before = meter.sample() if meter is not None else None
    started = perf_counter()
    deadline = started + seconds
    try:
        async with asyncio.timeout(seconds + OVERRUN_S):
            capped = await asyncio.gather(*(work(tally, deadline, budget) for work in workers))
        tally.capped = any(capped)
    except TimeoutError:
        tally.fail("OVERRUN", f"calls still in flight {OVERRUN_S:.0f} s after the phase ended; cancelled")
    tally.seconds = perf_counter() - started
    cpu = meter.use_since(before) if meter is not None and before is not None else None
    return Measured(tally, cpu)


def _raw(payload: bytes) -> bytes:
    return payload


def _check_counts(tally: Tally, latency_s: float, sent: int, taken: int, rejected: int) -> None:
    if taken + rejected != sent:
        tally.fail(
            "COUNT_MISMATCH", f"sent {sent} events, the answer counts {taken} taken + {rejected} rejected"
        )
    else:
        tally.ok(latency_s, taken, rejected)


def _write_events_counts(answer: pb.WriteEventsResponse, sent: int) -> tuple[int, int]:
    return answer.accepted_count + answer.duplicate_count, answer.rejected_count


def _unary_worker(
    method: grpc.aio.UnaryUnaryMultiCallable[bytes, Any],
    payload: Callable[[int], bytes],
    events_per_call: int,
    metadata: Metadata,
    counts: Callable[[Any, int], tuple[int, int]],
) -> Worker:
    """Calls `method` with `payload(i)` for its i-th call; `counts` reads the answer."""

    async def work(tally: Tally, deadline: float, budget: int) -> bool:
        for i in range(budget):
            if perf_counter() >= deadline:
                return False
            started = perf_counter()
            try:
                answer = await method(payload(i), metadata=metadata, timeout=CALL_TIMEOUT_S)
            except grpc.aio.AioRpcError as exc:
                tally.fail(exc.code().name, exc.details() or "")
                continue
            except Exception as exc:
                tally.fail(type(exc).__name__, str(exc))
                continue
            try:
                taken, rejected = counts(answer, events_per_call)
            except (ValueError, TypeError, AttributeError) as exc:
                tally.fail("BAD_ANSWER", repr(exc))
                continue
            _check_counts(tally, perf_counter() - started, events_per_call, taken, rejected)
        return True

    return work


async def _stream_failure(
    call: grpc.aio.StreamUnaryCall[bytes, pb.StreamEventsResponse], exc: Exception
) -> tuple[str, str]:
    """The code and message of a failed stream: its gRPC status when it has one."""
    if isinstance(exc, grpc.aio.AioRpcError):
        return exc.code().name, exc.details() or ""
    if call.done():
        return (await call.code()).name, await call.details()
    call.cancel()
    return type(exc).__name__, str(exc)


def _stream_worker(
    method: grpc.aio.StreamUnaryMultiCallable[bytes, pb.StreamEventsResponse],
    payloads: Sequence[bytes],
    scenario: Scenario,
    metadata: Metadata,
    offset: int,
) -> Worker:
    async def work(tally: Tally, deadline: float, budget: int) -> bool:
        for i in range(budget):
            if perf_counter() >= deadline:
                return False
            started = perf_counter()
            call = method(metadata=metadata, timeout=CALL_TIMEOUT_S)
            sent = 0
            try:
                for j in range(scenario.messages_per_stream):
                    await call.write(payloads[(offset + i + j) % len(payloads)])
                    sent += scenario.events_per_message
                    if perf_counter() >= deadline:
                        break
                await call.done_writing()
                answer = await call
            except Exception as exc:
                tally.fail(*await _stream_failure(call, exc))
                continue
            taken = answer.accepted_count + answer.duplicate_count
            _check_counts(tally, perf_counter() - started, sent, taken, answer.rejected_count)
        return True

    return work


def _cycled(payloads: Sequence[bytes], offset: int) -> Callable[[int], bytes]:
    return lambda i: payloads[(offset + i) % len(payloads)]


def _each_call(source: Callable[[], bytes]) -> Callable[[int], bytes]:
    return lambda i: source()


def _answer_bytes(taken: Taken) -> Callable[[Any, int], tuple[int, int]]:
    """A vendor's gRPC answer (raw bytes) read as its route reads the same message over HTTP."""
    return lambda answer, sent: taken(200, answer, sent)


async def drive_grpc(
    address: str,
    scenario: Scenario,
    payloads: Sequence[bytes] | Callable[[], bytes],
    metadata: Metadata,
    load: Load,
    meter: CpuMeter | None,
    taken: Taken | None = None,
) -> tuple[Measured, Measured]:
    """Warm-up then measured phase of `scenario` against the gRPC server at `address`. `payloads`
    are IngestService's prepared requests, cycled; for a scenario with a `vendor`, a body source
    that gives each call its request, and `taken`, which reads the answer's bytes."""
    if scenario.vendor and (taken is None or not callable(payloads)):
        raise ValueError(f"{scenario.name} needs a body source and its route's `taken`")
    count = load.streams if scenario.streaming else load.concurrency
    options = [("grpc.use_local_subchannel_pool", 1)]
    channels = [
        grpc.aio.insecure_channel(address, options=options)
        for _ in range(math.ceil(count / WORKERS_PER_CHANNEL))
    ]
    try:
        workers: list[Worker] = []
        for i in range(count):
            channel = channels[i // WORKERS_PER_CHANNEL]
            offset = i * 7
            if callable(payloads):
                assert taken is not None
                vendor = channel.unary_unary(
                    scenario.rpc, request_serializer=_raw, response_deserializer=_raw
                )
                workers.append(
                    _unary_worker(
                        vendor,
                        _each_call(payloads),
                        scenario.events_per_message,
                        metadata,
                        _answer_bytes(taken),
                    )
                )
            elif scenario.streaming:
                stream = channel.stream_unary(
                    scenario.rpc,
                    request_serializer=_raw,
                    response_deserializer=pb.StreamEventsResponse.FromString,
                )
                workers.append(_stream_worker(stream, payloads, scenario, metadata, offset))
            else:
                unary = channel.unary_unary(
                    scenario.rpc,
                    request_serializer=_raw,
                    response_deserializer=pb.WriteEventsResponse.FromString,
                )
                workers.append(
                    _unary_worker(
                        unary,
                        _cycled(payloads, offset),
                        scenario.events_per_message,
                        metadata,
                        _write_events_counts,
                    )
                )
        warmup = await run_phase(workers, load.warmup_s)
        measured = await run_phase(workers, load.seconds, meter)
        return warmup, measured
    finally:
        for channel in channels:
            await channel.close()


@dataclass(frozen=True, slots=True)
class HttpRequests:
    """What an HTTP scenario sends: a path, headers, bodies (a `routes.BodySource`), how many events
    each body holds, and how to read the events a 2xx answer took (`routes.Route.taken`)."""

    path: str
    headers: Mapping[str, str]
    bodies: Callable[[], bytes]
    events_per_request: int
    taken: Taken


def _request_head(address: str, requests: HttpRequests) -> bytes:
    lines = [f"POST {requests.path} HTTP/1.1", f"Host: {address}"]
    lines += [f"{name}: {value}" for name, value in requests.headers.items()]
    return ("\r\n".join(lines) + "\r\n").encode("latin-1")


class _HttpWorker:
    """One worker: one keep-alive connection, reopened when the server closes it; paced to one
    request every `interval_s` when given."""

    def __init__(self, address: str, requests: HttpRequests, interval_s: float | None = None) -> None:
        host, _, port = address.rpartition(":")
        self._host = host
        self._port = int(port)
        self._head = _request_head(address, requests)
        self._requests = requests
        self._connection: Connection | None = None
        self._interval_s = interval_s

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()

    async def _send(self, body: bytes) -> tuple[int, bytes]:
        if self._connection is None or self._connection.closed:
            self._connection = await Connection.open(self._host, self._port)
        try:
            async with asyncio.timeout(CALL_TIMEOUT_S):
                return await self._connection.request(self._head, body)
        except BaseException:
            self._connection.close()
            raise

    async def __call__(self, tally: Tally, deadline: float, budget: int) -> bool:
        requests = self._requests
        sent = requests.events_per_request
        interval = self._interval_s
        # Workers start spread over one interval, so paced requests do not arrive in bursts.
        scheduled = perf_counter() + (interval * random.random() if interval else 0.0)
        for _ in range(budget):
            if interval is not None:
                delay = scheduled - perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            if perf_counter() >= deadline:
                return False
            body = requests.bodies()
            started = scheduled if interval is not None else perf_counter()
            if interval is not None:
                scheduled += interval
            try:
                status, answer = await self._send(body)
            except (OSError, TimeoutError) as exc:
                tally.fail(type(exc).__name__, str(exc) or "timed out")
                continue
            if not 200 <= status < 300:
                tally.fail(f"HTTP {status}", answer[:400].decode(errors="replace"))
                continue
            try:
                taken, rejected = requests.taken(status, answer, sent)
            except (ValueError, TypeError, AttributeError) as exc:
                tally.fail("BAD_ANSWER", f"{exc!r} in {answer[:200].decode(errors='replace')}")
                continue
            _check_counts(tally, perf_counter() - started, sent, taken, rejected)
        return True


async def drive_http(
    address: str, requests: HttpRequests, load: Load, meter: CpuMeter | None
) -> tuple[Measured, Measured]:
    """Warm-up then measured phase of POSTs to the HTTP server at `address` (`host:port`), each
    worker on its own keep-alive connection (`bench.http1`)."""
    interval = load.concurrency / load.rate_per_s if load.rate_per_s else None
    workers = [_HttpWorker(address, requests, interval) for _ in range(load.concurrency)]
    try:
        warmup = await run_phase(workers, load.warmup_s)
        measured = await run_phase(workers, load.seconds, meter)
        return warmup, measured
    finally:
        for worker in workers:
            worker.close()
