"""How long a crontab schedule may leave between two runs (docs/vendors/sentry.md §5.3).

ingestd's monitors expect a check-in at a fixed interval after the last one. A crontab schedule
has no single interval (`0 9 * * 1-5` runs a day apart on weekdays and three days apart over a
weekend), so its monitor takes the longest gap between consecutive runs: a check-in is then never
reported missed before the job was due, at the price of noticing a missed weekday run later.

The five fields are Vixie cron's: minute, hour, day of month, month, day of week (0 or 7 is
Sunday), each `*`, a number or name, a range `a-b`, a step `*/n` or `a-b/n`, or a list of these;
when both day fields are restricted a day matches either, as cron does. The nicknames `@yearly`,
`@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight` and `@hourly` are understood. Gaps are
counted in plain calendar time: a timezone's daylight-saving shift can move a run by an hour, which
the check-in margin covers. Pure.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

_NICKNAMES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_MONTHS = {m: i for i, m in enumerate(_MONTH_NAMES, 1)}
_WEEKDAYS = {d: i for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}
#: (low, high, names) of the five fields.
_FIELDS: tuple[tuple[int, int, dict[str, int]], ...] = (
    (0, 59, {}),
    (0, 23, {}),
    (1, 31, {}),
    (1, 12, _MONTHS),
    (0, 7, _WEEKDAYS),
)
#: The calendar searched: eight years, two leap days, from a fixed date so the answer never changes.
_FIRST_DAY = date(2028, 1, 1)
_DAYS = 8 * 366
_MINUTES_A_DAY = 1_440

#: The values of the five fields of a crontab, each as a frozenset, so a schedule can key a cache.
_Fields = tuple[frozenset[int], ...]


def longest_gap_s(expression: str) -> int | None:
    """The longest time between two consecutive runs of `expression`, in seconds; None when it is
    not a crontab ingestd reads, or never runs (such as `0 0 30 2 *`). A schedule that runs once in
    eight years or less often gives the eight years."""
    fields = _parse(expression)
    return None if fields is None else _longest_gap_s(fields)


@lru_cache(maxsize=256)
def _longest_gap_s(fields: _Fields) -> int | None:
    """`longest_gap_s` of a parsed schedule. Searching the calendar takes milliseconds, and a
    monitor sends the same schedule with every check-in: cached by the parsed fields (small, unlike
    the expression a request may send), so spellings of one schedule share an entry."""
    minutes, hours, days, months, weekdays = fields
    times = sorted(h * 60 + m for h in hours for m in minutes)
    restricted_day = days != set(range(1, 32))
    restricted_weekday = weekdays != set(range(7))
    matching = []
    for offset in range(_DAYS):
        day = _FIRST_DAY + timedelta(days=offset)
        if day.month not in months:
            continue
        by_day = day.day in days
        by_weekday = (day.isoweekday() % 7) in weekdays
        if (by_day or by_weekday) if restricted_day and restricted_weekday else (by_day and by_weekday):
            matching.append(offset)
    if not matching:
        return None
    if len(matching) == 1:
        return _DAYS * _MINUTES_A_DAY * 60
    gap = max((b - a for a, b in zip(times, times[1:], strict=False)), default=0)
    for first, second in zip(matching, matching[1:], strict=False):
        gap = max(gap, (second - first) * _MINUTES_A_DAY - times[-1] + times[0])
    return gap * 60


def _parse(expression: str) -> _Fields | None:
    text = _NICKNAMES.get(expression.strip().lower(), expression)
    parts = text.split()
    if len(parts) != 5:
        return None
    fields: list[set[int]] = []
    for part, (low, high, names) in zip(parts, _FIELDS, strict=True):
        values = _field(part.upper(), low, high, names)
        if not values:
            return None
        fields.append(values)
    if 7 in fields[4]:
        fields[4] = (fields[4] - {7}) | {0}
    return tuple(frozenset(values) for values in fields)


def _field(part: str, low: int, high: int, names: dict[str, int]) -> set[int] | None:
    out: set[int] = set()
    for piece in part.split(","):
        span, _, step_text = piece.partition("/")
        step = _number(step_text, {}) if step_text else 1
        if step is None or step < 1:
            return None
        if span == "*":
            first, last = low, high
        else:
            start, dash, end = span.partition("-")
            first_or_none = _number(start, names)
            last_or_none = _number(end, names) if dash else (high if step_text else first_or_none)
            if first_or_none is None or last_or_none is None:
                return None
            first, last = first_or_none, last_or_none
        if not low <= first <= last <= high:
            return None
        out.update(range(first, last + 1, step))
    return out


def _number(text: str, names: dict[str, int]) -> int | None:
    if text in names:
        return names[text]
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 4 else None
