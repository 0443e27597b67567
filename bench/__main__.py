"""`python -m bench`: measure ingestd against the bare baselines and print one table.

Contract: targets run one after another (never two servers at once), the baselines first; each
target's server is its own child process and the load comes from this process. A target none of
whose scenarios was chosen is not started. Every chosen scenario runs even when an earlier one
failed; the exit status is 0 when every target that ran did so without errors, 1 when a call
failed (a non-2xx answer included), a server did not start or misbehaved on exit, and 2 for bad
flags. A skipped target (PostgreSQL unreachable) is reported with its reason and does not fail the
run. Missing a goal does not fail the run either: this is a measurement, not a test.

`--targets` and `--scenarios` take comma lists of names or globs (`http-*`, `*:canonical`); a
scenario kind without its route (`http-single`, `http-batch100`) means every route's.
"""

from __future__ import annotations

import argparse
import asyncio
import fnmatch
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from bench.children import StartFailed
from bench.cpu import CpuMeter, machine_busy_s
from bench.events import mean_size, proto_events
from bench.load import HttpRequests, Load, drive_grpc, drive_http
from bench.report import BUSY_MACHINE, Row, render
from bench.routes import ROUTES, BodySource, Keys
from bench.scenarios import SCENARIOS, Scenario, request_payloads
from bench.targets import AUTHORIZATION, PLACEHOLDER_KEYS, PROJECT, TARGETS, Started, TargetSkipped, started

_EVENTS = 1000
#: The most Logister batch requests a second a phase is expected to need bodies for: its gzip
#: bodies are compressed up front for this rate (beyond it, in the load loop).
_GZIP_POOL_RATE = 500
#: A server idle after its load that takes longer than this to exit on SIGTERM is reported.
_SLOW_STOP_S = 3.0
#: What the servers print when they start, which may land just after the readiness probe passed.
_STARTUP_LINES = ("ingestd serving", "First start", "bare ")


def _names(text: str, known: Sequence[str], what: str) -> list[str]:
    """The names in `known` that the comma list `text` chooses, in `known`'s order: each item is a
    name, a glob, or a prefix before `:` (`http-single` for `http-single:*`)."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    chosen: set[str] = set()
    unknown = []
    for item in items:
        found = [name for name in known if fnmatch.fnmatchcase(name, item) or name.startswith(item + ":")]
        if not found:
            unknown.append(item)
        chosen.update(found)
    if unknown or not items:
        raise argparse.ArgumentTypeError(f"unknown {what} {unknown}; choose among {', '.join(known)}")
    return [name for name in known if name in chosen]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--targets",
        type=lambda text: _names(text, list(TARGETS), "targets"),
        default=list(TARGETS),
        help=f"comma list of names or globs among {','.join(TARGETS)} (default: all)",
    )
    parser.add_argument(
        "--scenarios",
        type=lambda text: _names(text, list(SCENARIOS), "scenarios"),
        default=list(SCENARIOS),
        help=f"comma list of names or globs (http-*, *:canonical) among {','.join(SCENARIOS)} (default: all)",
    )
    parser.add_argument(
        "--seconds", type=float, help="measured seconds per scenario (default 4, --quick 1.5)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=32, help="outstanding unary calls or HTTP requests (default 32)"
    )
    parser.add_argument("--streams", type=int, default=8, help="concurrent StreamEvents streams (default 8)")
    parser.add_argument(
        "--rate",
        type=float,
        help="HTTP only: pace the requests to this many a second over the --concurrency connections "
        "(open loop; latency from each request's scheduled time), for latency at a given load",
    )
    parser.add_argument("--quick", action="store_true", help="short phases: 0.5 s warm-up, 1.5 s measured")
    parser.add_argument(
        "--redaction",
        choices=("builtins", "off"),
        default="builtins",
        help="ingestd's redaction: the built-in rules' defaults (default), or every rule disabled",
    )
    parser.add_argument(
        "--alerting",
        choices=("builtins", "off", "custom"),
        default="builtins",
        help="ingestd's alert rules: the built-in rules' defaults (default), every rule disabled, "
        "or the built-ins plus custom rules that match every event by its payload",
    )
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="INGESTD_NAME=VALUE",
        help="one more setting for ingestd's targets (repeatable), such as "
        "INGESTD_SQLITE_WRITER_PROCESS=true",
    )
    args = parser.parse_args(argv)
    if any(not s.startswith("INGESTD_") or "=" not in s for s in args.setting):
        parser.error("--setting takes INGESTD_NAME=VALUE")
    if args.seconds is not None and not 0.1 <= args.seconds <= 120:
        parser.error("--seconds must be between 0.1 and 120")
    if not 1 <= args.concurrency <= 1024 or not 1 <= args.streams <= 256:
        parser.error("--concurrency must be 1 to 1024 and --streams 1 to 256")
    if args.rate is not None and not 1 <= args.rate <= 1_000_000:
        parser.error("--rate must be 1 to 1,000,000 requests a second")
    return args


@dataclass(frozen=True, slots=True)
class Payloads:
    """The gRPC requests, serialized once before any server starts (HTTP bodies are made per
    target, as some carry a key the target makes: see `_http_requests`)."""

    grpc: dict[str, list[bytes]]


def _http_requests(scenario: Scenario, keys: Keys, load: Load, ingestd: bool) -> HttpRequests:
    """What `scenario` sends to a target: to ingestd, bodies whose ids it has not seen."""
    route = ROUTES[scenario.route]
    batch = scenario.events_per_message > 1
    expected = math.ceil((load.warmup_s + load.seconds) * _GZIP_POOL_RATE)
    return HttpRequests(
        path=route.path(batch),
        headers=route.request_headers(batch, keys),
        bodies=route.bodies(batch, keys, expected=expected, unique=ingestd),
        events_per_request=scenario.events_per_message,
        taken=route.taken if ingestd else route.bare_taken,
    )


def _vendor_bodies(scenario: Scenario, load: Load, ingestd: bool) -> BodySource:
    """The requests of a gRPC scenario of a vendor's service (`otlp-batch100`): its route's batch
    bodies, the ids ingestd deduplicates on fresh in each."""
    route = ROUTES[scenario.vendor]
    expected = math.ceil((load.warmup_s + load.seconds) * _GZIP_POOL_RATE)
    return route.bodies(True, PLACEHOLDER_KEYS, expected=expected, unique=ingestd)


async def _measure(
    running: Started, names: Sequence[str], load: Load, payloads: Payloads, rows: list[Row]
) -> None:
    target = running.target
    metadata = (("authorization", AUTHORIZATION),)
    meter = CpuMeter(running.child.pid, running.database)
    for name in names:
        scenario = SCENARIOS[name]
        if scenario.route:
            requests = _http_requests(scenario, running.keys, load, ingestd=bool(target.database))
            warmup, measured = await drive_http(running.address, requests, load, meter)
        elif scenario.vendor:
            route = ROUTES[scenario.vendor]
            ingestd = bool(target.database)
            bodies = _vendor_bodies(scenario, load, ingestd)
            taken = route.taken if ingestd else route.bare_taken
            warmup, measured = await drive_grpc(
                running.address, scenario, bodies, metadata, load, meter, taken=taken
            )
        else:
            payload = payloads.grpc[name]
            warmup, measured = await drive_grpc(running.address, scenario, payload, metadata, load, meter)
        tally = measured.tally
        failed = f"; first: {tally.first_error[:160]}" if tally.first_error else ""
        print(
            f"  {scenario.name:<24} {tally.per_second(tally.calls):>9,.0f} calls/s "
            f"{tally.per_second(tally.events):>9,.0f} events/s  errors {tally.errors}{failed}",
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
        rate_per_s=args.rate,
    )
    events = proto_events(_EVENTS)
    print(
        f"events: {_EVENTS} built, {mean_size(events):.0f} B serialized on average "
        f"(log {mean_size(events[0::2]):.0f} B, error {mean_size(events[1::2]):.0f} B)"
    )
    sized = [name for name in args.scenarios if SCENARIOS[name].route or SCENARIOS[name].vendor]
    if sized:
        print("HTTP bodies and vendor gRPC requests (first of each):", _body_sizes(sized))
    print(
        f"load: {load.concurrency} outstanding unary calls or HTTP requests, {load.streams} streams"
        f"{f', HTTP paced to {load.rate_per_s:,.0f} requests/s' if load.rate_per_s else ''}; "
        f"{load.warmup_s:g} s warm-up + {load.seconds:g} s measured per scenario",
        flush=True,
    )
    payloads = Payloads(
        grpc={
            name: request_payloads(SCENARIOS[name], events, PROJECT)
            for name in args.scenarios
            if not SCENARIOS[name].route and not SCENARIOS[name].vendor
        },
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
        names = [scenario for scenario in args.scenarios if scenario in target.scenarios]
        if not names:
            continue
        print(f"== {target.name} ({target.title})", flush=True)
        try:
            async with started(
                target,
                redaction=args.redaction == "builtins",
                alerting=args.alerting,
                settings=dict(s.split("=", 1) for s in args.setting),
            ) as running:
                await _measure(running, names, load, payloads, rows)
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


def _body_sizes(names: Sequence[str]) -> str:
    sizes = []
    for name in names:
        scenario = SCENARIOS[name]
        route = ROUTES[scenario.route or scenario.vendor]
        body = route.bodies(scenario.events_per_message > 1, PLACEHOLDER_KEYS, unique=False)()
        per = scenario.events_per_message
        sizes.append(f"{name} {len(body):,} B" + (f" ({len(body) / per:.0f} B/event)" if per > 1 else ""))
    return "; ".join(sizes)


def main() -> int:
    return asyncio.run(run(parse_args()))


if __name__ == "__main__":
    sys.exit(main())
