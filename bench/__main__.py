"""`python -m bench`: measure ingestd against the bare baselines and print one table.

Contract: targets run one after another (never two servers at once), the baselines first; each
target's server is its own child process and the load comes from this process. The exit status
is 0 when every target that ran did so without errors, 1 when a call failed, a server did not
start or misbehaved on exit, and 2 for bad flags. A skipped target (PostgreSQL unreachable) is
reported with its reason and does not fail the run. Missing a goal does not fail the run either:
this is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from bench.children import StartFailed
from bench.cpu import CpuMeter, machine_busy_s
from bench.events import json_body, mean_size, proto_events
from bench.load import Load, drive_grpc, drive_http
from bench.report import BUSY_MACHINE, Row, render
from bench.scenarios import SCENARIOS, request_payloads
from bench.targets import AUTHORIZATION, PROJECT, TARGETS, Started, TargetSkipped, started

_EVENTS = 1000
_JSON_BODIES = 16
#: A server idle after its load that takes longer than this to exit on SIGTERM is reported.
_SLOW_STOP_S = 3.0
#: What the servers print when they start, which may land just after the readiness probe passed.
_STARTUP_LINES = ("ingestd serving", "First start", "bare ")


def _names(text: str, known: Sequence[str], what: str) -> list[str]:
    chosen = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in known]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"unknown {what} {unknown}; choose among {', '.join(known)}")
    return chosen


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--targets",
        type=lambda text: _names(text, list(TARGETS), "targets"),
        default=list(TARGETS),
        help=f"comma list among {','.join(TARGETS)} (default: all)",
    )
    parser.add_argument(
        "--scenarios",
        type=lambda text: _names(text, list(SCENARIOS), "scenarios"),
        default=list(SCENARIOS),
        help=f"comma list among {','.join(SCENARIOS)} (default: all)",
    )
    parser.add_argument(
        "--seconds", type=float, help="measured seconds per scenario (default 4, --quick 1.5)"
    )
    parser.add_argument("--concurrency", type=int, default=32, help="outstanding unary calls (default 32)")
    parser.add_argument("--streams", type=int, default=8, help="concurrent StreamEvents streams (default 8)")
    parser.add_argument("--quick", action="store_true", help="short phases: 0.5 s warm-up, 1.5 s measured")
    args = parser.parse_args(argv)
    if args.seconds is not None and not 0.1 <= args.seconds <= 120:
        parser.error("--seconds must be between 0.1 and 120")
    if not 1 <= args.concurrency <= 1024 or not 1 <= args.streams <= 256:
        parser.error("--concurrency must be 1 to 1024 and --streams 1 to 256")
    return args


@dataclass(frozen=True, slots=True)
class Payloads:
    """Everything sent, built once before any server starts."""

    grpc: dict[str, list[bytes]]
    json: list[bytes]


async def _measure(running: Started, load: Load, payloads: Payloads, rows: list[Row]) -> None:
    target = running.target
    metadata = (("authorization", AUTHORIZATION),)
    meter = CpuMeter(running.child.pid, running.database)
    for name, requests in payloads.grpc.items():
        if name not in target.scenarios:
            continue
        scenario = SCENARIOS[name]
        if target.protocol == "http":
            warmup, measured = await drive_http(running.address, payloads.json, AUTHORIZATION, load, meter)
        else:
            warmup, measured = await drive_grpc(running.address, scenario, requests, metadata, load, meter)
        tally = measured.tally
        print(
            f"  {scenario.name:<9} {tally.per_second(tally.calls):>9,.0f} calls/s "
            f"{tally.per_second(tally.events):>9,.0f} events/s  errors {tally.errors}",
            flush=True,
        )
        rows.append(Row(target, scenario, warmup, measured))


async def _check_quiet(seconds: float = 1.0) -> None:
    """Prints how busy the machine is before any server starts: the load of other processes."""
    before = machine_busy_s()
    await asyncio.sleep(seconds)
    after = machine_busy_s()
    cores = os.cpu_count() or 1
    if before is None or after is None:
        print(f"machine: {cores} cores; its load is unknown (no /proc/stat)")
        return
    busy = (after - before) / seconds
    print(
        f"machine: {cores} cores; other processes keep {busy:.0%} of a core busy before the run", flush=True
    )
    if busy > BUSY_MACHINE:
        print("  warning: the machine is not quiet; every figure below is depressed by that load", flush=True)


async def run(args: argparse.Namespace) -> int:
    seconds = args.seconds if args.seconds is not None else (1.5 if args.quick else 4.0)
    load = Load(
        seconds=seconds,
        warmup_s=0.5 if args.quick else 1.0,
        concurrency=args.concurrency,
        streams=args.streams,
    )
    events = proto_events(_EVENTS)
    print(
        f"events: {_EVENTS} built, {mean_size(events):.0f} B serialized on average "
        f"(log {mean_size(events[0::2]):.0f} B, error {mean_size(events[1::2]):.0f} B); "
        f"JSON body {len(json_body(0))} B",
    )
    print(
        f"load: {load.concurrency} outstanding unary calls, {load.streams} streams; "
        f"{load.warmup_s:g} s warm-up + {load.seconds:g} s measured per scenario",
        flush=True,
    )
    payloads = Payloads(
        grpc={name: request_payloads(SCENARIOS[name], events, PROJECT) for name in args.scenarios},
        json=[json_body(i) for i in range(_JSON_BODIES)],
    )
    await _check_quiet()
    rows: list[Row] = []
    notes: list[str] = []
    failed = False
    started_at = time.monotonic()
    for name in TARGETS:
        if name not in args.targets:
            continue
        target = TARGETS[name]
        print(f"== {target.name} ({target.title})", flush=True)
        try:
            async with started(target) as running:
                await _measure(running, load, payloads, rows)
        except TargetSkipped as exc:
            print(f"  skipped: {exc}", flush=True)
            notes.append(f"  {target.name}: skipped: {exc}")
            continue
        except StartFailed as exc:
            print(f"  did not start: {exc}", flush=True)
            notes.append(f"  {target.name}: did not start: {exc}")
            failed = True
            continue
        child = running.child
        if child.exit_note is not None:
            failed = True
            notes.append(f"  {target.name}: server {child.exit_note}")
        if child.stop_s is not None and child.stop_s > _SLOW_STOP_S:
            notes.append(f"  {target.name}: took {child.stop_s:.1f} s to exit after SIGTERM")
        logged = [line for line in child.lines_since_ready() if not line.startswith(_STARTUP_LINES)]
        if logged:
            notes.append(f"  {target.name}: the server printed {len(logged)} line(s) under load; the last:")
            notes += [f"    | {line[:300]}" for line in logged[-8:]]
    print()
    lines = render(rows)
    print("\n".join(lines))
    if notes:
        print("\nTargets:")
        print("\n".join(notes))
    print(f"\n(total {time.monotonic() - started_at:.0f} s; see bench/README.md for how to read this)")
    failed = failed or any(row.measured.tally.errors or row.warmup.tally.errors for row in rows)
    return 1 if failed else 0


def main() -> int:
    return asyncio.run(run(parse_args()))


if __name__ == "__main__":
    sys.exit(main())
