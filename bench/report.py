"""The results table, the ratios to the bare baselines, and the goals from the issue.

Contract: `render` turns the measured rows into plain-text lines. Ratios divide a row's events/s
by a baseline's events/s in the same shape of load, measured in the same run (see
`baseline_scenario`): `/grpc` by bare grpc.aio's (`single` or `batch100`; for OTLP's batches, over
HTTP or gRPC, its `otlp-batch100`, the same messages), `/aiohttp` by the bare aiohttp handler's on
the same HTTP scenario, that is, the same route's bodies (gRPC rows: the canonical route's, or for
`otlp-batch100` the `otlp` route's batches). With one event per request the events/s ratio is the
requests/s ratio. A ratio is shown only when its baseline ran without errors. A goal is "met" or
"MISSED" only for a row without errors; a row with errors says "invalid".
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass

from bench.load import Measured
from bench.scenarios import Scenario, grpc_twin
from bench.targets import Target


@dataclass(frozen=True, slots=True)
class Row:
    """One (target, scenario) measured."""

    target: Target
    scenario: Scenario
    warmup: Measured
    measured: Measured


@dataclass(frozen=True, slots=True)
class Goal:
    """A target figure for the rows of `target` whose scenario matches the glob `scenario`:
    `min_ratio` of the `baseline` target's calls/s in the same shape of load, or `min_events_s`."""

    target: str
    scenario: str
    text: str
    min_ratio: float | None = None
    min_events_s: float | None = None
    baseline: str = "bare-grpc"


# Issue 11's targets.
GOALS = (
    Goal("sqlite", "single", "single-event WriteEvents >= 70% of bare grpc.aio calls/s", min_ratio=0.70),
    Goal("postgres", "single", "single-event WriteEvents >= 70% of bare grpc.aio calls/s", min_ratio=0.70),
    Goal("sqlite", "batch100", "batches of 100 on SQLite >= 80,000 events/s", min_events_s=80_000),
    Goal("postgres", "batch100", "batches of 100 on PostgreSQL >= 50,000 events/s", min_events_s=50_000),
    # Issue 14: OTLP over gRPC, at the targets of the other batches of 100.
    Goal(
        "sqlite",
        "otlp-batch100",
        "OTLP/gRPC batches of 100 on SQLite >= 80,000 events/s",
        min_events_s=80_000,
    ),
    Goal(
        "postgres",
        "otlp-batch100",
        "OTLP/gRPC batches of 100 on PostgreSQL >= 50,000 events/s",
        min_events_s=50_000,
    ),
    *(
        Goal(
            target,
            "http-single:*",
            "single events over HTTP >= 40% of bare aiohttp requests/s",
            min_ratio=0.40,
            baseline="bare-aiohttp",
        )
        for target in ("http-sqlite", "http-postgres")
    ),
    Goal("http-sqlite", "http-batch*", "batches over HTTP on SQLite >= 50,000 events/s", min_events_s=50_000),
    Goal(
        "http-postgres",
        "http-batch*",
        "batches over HTTP on PostgreSQL >= 35,000 events/s",
        min_events_s=35_000,
    ),
    *(
        Goal(
            f"{target}-w2",
            "http-single:*",
            "--workers 2 >= 1.5x one worker's requests/s",
            min_ratio=1.5,
            baseline=target,
        )
        for target in ("http-sqlite", "http-postgres")
    ),
)

#: The share of one core that other processes may use during a phase before a row is flagged.
BUSY_MACHINE = 0.15

_HEADER = (
    f"{'target':<14}{'scenario':<25}{'calls/s':>9}{'events/s':>10}{'p50 ms':>8}{'p99 ms':>8}"
    f"{'errors':>7}{'/grpc':>7}{'/aiohttp':>9}{'cpu cli/srv/db/other':>23} goal"
)


def baseline_scenario(scenario: Scenario, baseline: str) -> str | None:
    """The scenario of `baseline` (`bare-grpc`, or an HTTP target such as `bare-aiohttp`) that
    `scenario` compares with: the same shape of load (one event a request, or batches of the same
    size), on the same route for HTTP (the canonical one for IngestService's gRPC scenarios, the
    vendor's for a vendor's gRPC scenario), and the same messages where a vendor has a gRPC
    scenario (OTLP's batches). None when there is none."""
    if baseline == "bare-grpc":
        if not scenario.route:
            return scenario.name
        twin = grpc_twin(scenario)
        if twin is not None:
            return twin
        if scenario.events_per_message == 1:
            return "single"
        return "batch100" if scenario.events_per_message == 100 else None
    if scenario.route:
        return scenario.name
    if scenario.streaming:
        return None
    if scenario.vendor:
        return f"http-batch{scenario.events_per_message}:{scenario.vendor}"
    return "http-single:canonical" if scenario.events_per_message == 1 else "http-batch100:canonical"


def _baseline(rows: Sequence[Row], target: str, scenario: str) -> Row | None:
    for row in rows:
        if row.target.name == target and row.scenario.name == scenario and row.measured.tally.errors == 0:
            return row
    return None


def _ratio(row: Row, baseline: Row | None) -> float | None:
    if baseline is None or row.measured.tally.errors:
        return None
    base = baseline.measured.tally
    base_rate = base.per_second(base.events)
    return row.measured.tally.per_second(row.measured.tally.events) / base_rate if base_rate else None


def _to(row: Row, rows: Sequence[Row], baseline: str) -> float | None:
    name = baseline_scenario(row.scenario, baseline)
    return _ratio(row, _baseline(rows, baseline, name)) if name is not None else None


def _goal(row: Row, rows: Sequence[Row]) -> tuple[Goal, str, str] | None:
    """The goal of `row`, what was measured against it, and the verdict."""
    for goal in GOALS:
        if goal.target != row.target.name or not fnmatch.fnmatchcase(row.scenario.name, goal.scenario):
            continue
        tally = row.measured.tally
        if goal.min_ratio is not None:
            name = baseline_scenario(row.scenario, goal.baseline)
            base = _baseline(rows, goal.baseline, name) if name is not None else None
            if base is None:
                return goal, f"no {goal.baseline} {name or ''} baseline without errors", "n/a"
            calls_s = tally.per_second(tally.calls)
            base_calls_s = base.measured.tally.per_second(base.measured.tally.calls)
            ratio = calls_s / base_calls_s if base_calls_s else 0.0
            measured = f"{ratio:.2f}x ({calls_s:,.0f} vs {base_calls_s:,.0f}/s; target {goal.min_ratio:.2f}x)"
            ok = ratio >= goal.min_ratio
        else:
            assert goal.min_events_s is not None
            events_s = tally.per_second(tally.events)
            measured = f"{events_s:,.0f} events/s (target >= {goal.min_events_s:,.0f})"
            ok = events_s >= goal.min_events_s
        verdict = "invalid (errors)" if tally.errors else ("met" if ok else "MISSED")
        return goal, measured, verdict
    return None


def _fmt(value: float | None, width: int, spec: str, suffix: str = "") -> str:
    """`value` formatted with `spec` and `suffix`, right-aligned in `width`; `-` when None."""
    text = "-" if value is None else f"{value:{spec}}{suffix}"
    return f"{text:>{width}}"


def _percent(cpu_s: float | None, seconds: float) -> str:
    return "-" if cpu_s is None or seconds <= 0 else f"{cpu_s / seconds * 100:.0f}%"


def _line(row: Row, rows: Sequence[Row]) -> str:
    tally = row.measured.tally
    to_grpc = _to(row, rows, "bare-grpc")
    # Against the bare handler with as many processes as the row's server has.
    workers = row.target.workers
    to_http = _to(row, rows, "bare-aiohttp" if workers == 1 else f"bare-aiohttp-w{workers}")
    use = row.measured.cpu
    figures = (use.client_s, use.server_s, use.database_s, use.others_s) if use else (None,) * 4
    cpu = "/".join(_percent(s, tally.seconds) for s in figures)
    share = _others_share(row)
    cpu += "!" if share is not None and share > BUSY_MACHINE else " "
    goal = _goal(row, rows)
    return (
        f"{row.target.name:<14}{row.scenario.name:<25}"
        f"{_fmt(tally.per_second(tally.calls), 9, ',.0f')}{_fmt(tally.per_second(tally.events), 10, ',.0f')}"
        f"{_fmt(tally.percentile_ms(50), 8, '.2f')}{_fmt(tally.percentile_ms(99), 8, '.2f')}"
        f"{tally.errors:>7}{_fmt(to_grpc, 7, '.2f', 'x')}{_fmt(to_http, 9, '.2f', 'x')}"
        f"{cpu:>23} {goal[2] if goal else ''}"
    )


def _others_share(row: Row) -> float | None:
    """The share of a core that other processes used during the row's measured phase."""
    others = row.measured.cpu.others_s if row.measured.cpu else None
    seconds = row.measured.tally.seconds
    return others / seconds if others is not None and seconds > 0 else None


def render(rows: Sequence[Row]) -> list[str]:
    """The table, the goals, and every error and anomaly the rows carry."""
    lines = [_HEADER, "-" * len(_HEADER)]
    lines += [_line(row, rows) for row in rows]
    lines.append("")
    lines.append("Goals (from the issue), measured:")
    shown = False
    for row in rows:
        goal = _goal(row, rows)
        if goal is not None:
            shown = True
            lines.append(
                f"  {goal[0].text:<58} {row.target.name:<13} {row.scenario.name:<24} {goal[1]:<48} {goal[2]}"
            )
    if not shown:
        lines.append("  (no goal applies to the targets and scenarios run)")
    problems = []
    for row in rows:
        name = f"{row.target.name}/{row.scenario.name}"
        for phase, measured in (("warm-up", row.warmup), ("measured", row.measured)):
            tally = measured.tally
            if tally.errors:
                problems.append(f"  {name} {phase}: {tally.errors} errors; first: {tally.first_error}")
            if tally.rejected_events:
                problems.append(f"  {name} {phase}: the server rejected {tally.rejected_events} events")
        if row.measured.tally.capped:
            problems.append(f"  {name}: a worker hit its call budget before the time was up")
    busy = [
        (row, share) for row in rows if (share := _others_share(row)) is not None and share > BUSY_MACHINE
    ]
    if busy:
        shares = [share for _, share in busy]
        problems.append(
            f"  other processes used more than {BUSY_MACHINE:.0%} of a core during {len(busy)} of "
            f"{len(rows)} rows (marked ! in the cpu column; {min(shares):.0%} to {max(shares):.0%}): "
            "their figures are depressed, rerun them on a quiet machine"
        )
    if problems:
        lines += ["", "Errors and anomalies:", *problems]
    return lines
