"""The group writer's statements, on its raw DB-API connection: `sqlite3` or psycopg 3.

They skip SQLAlchemy on purpose: compiling and executing through it costs more per group than the
statements themselves. Each method runs inside the writer's open transaction and never commits.
Only `storage.writer` uses these.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from itertools import chain
from typing import Any, Protocol

from storage.events import COPY_PG, COPY_PG_TYPES, INSERT_SQLITE, EventRow
from storage.models import EVENT_COLUMNS

_COLUMNS = ", ".join(EVENT_COLUMNS)
_ON_KEY_CONFLICT = "ON CONFLICT (project_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING"
# SQLite's default cap on bound parameters is 32,766; stay far below it.
_SQLITE_CHUNK = 500
# The most rows in one SQLite INSERT (14 parameters each): a power of two, see `_row_counts`.
_SQLITE_ROWS = 256
# The most bytes of messages and payloads one many-row INSERT binds. `sqlite3` keeps each cached
# statement's last bound values until its next run, so this bounds what the nine statements pin
# (about 1 MiB): unbounded, an overload burst of 60 KB events left the server's memory above half its
# peak (tests/test_overload.py).
_SQLITE_ROW_BYTES = 128 * 1024
# Fewer rows go by executemany: a group of single events (about 16 rows) cost the writer 65 µs of
# CPU a row that way, against 79 in many-row INSERTs, and answered 3-6% more requests a second
# (`python -m bench.profile --route canonical`, three alternating rounds).
_SQLITE_MANY_FROM = 32
# The most bytes of messages and payloads one keyed PostgreSQL INSERT binds. libpq grows a
# connection's output buffer to the largest message sent on it (to a power of two) and keeps it for
# the connection's life: unbounded, a group of overload batches of 60 KB events pinned 136 MiB of
# such buffers, and the server's memory stayed above half its peak (tests/test_overload.py).
_PG_STATEMENT_BYTES = 1024 * 1024


def _row_counts(total: int) -> Iterable[int]:
    """How many rows each INSERT of `total` rows takes: `_SQLITE_ROWS` while that many are left,
    then the powers of two that make up the rest. Only nine statements exist, so each stays
    prepared in the connection's statement cache: preparing a 256-row INSERT costs about 1 ms,
    executing it prepared about 0.2 ms."""
    while total >= _SQLITE_ROWS:
        yield _SQLITE_ROWS
        total -= _SQLITE_ROWS
    size = _SQLITE_ROWS // 2
    while total:
        if total >= size:
            yield size
            total -= size
        size //= 2


@functools.cache
def _insert_sql(count: int) -> str:
    """SQLite's INSERT of `count` rows."""
    row = "(" + ", ".join("?" for _ in EVENT_COLUMNS) + ")"
    return f"INSERT INTO events ({_COLUMNS}) VALUES " + ", ".join(row for _ in range(count))


class WriterStatements(Protocol):
    """What the writer asks of its database, with the connection it owns."""

    def live_keys(self, raw: Any, key_ids: Iterable[str]) -> set[str]:
        """The ids among `key_ids` whose keys exist and are not revoked."""
        ...

    def touch_keys(self, raw: Any, key_ids: Sequence[str], now_us: int) -> None:
        """Records that the keys were used at `now_us`."""
        ...

    def insert_plain(self, raw: Any, rows: Sequence[EventRow]) -> None:
        """Inserts rows without idempotency keys, the fastest way the database allows."""
        ...

    def insert_keyed(self, raw: Any, rows: Sequence[EventRow]) -> set[tuple[str, str]]:
        """Inserts rows with idempotency keys, skipping keys already stored; returns the
        `(project_id, idempotency_key)` pairs actually inserted."""
        ...

    def ids_for_keys(self, raw: Any, project_id: str, keys: Sequence[str]) -> dict[str, str]:
        """The stored event id of each of `keys` that exists in `project_id`."""
        ...


def _chunks(values: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _binds(row: EventRow) -> int:
    """What a row binds, as the statement bounds count it: its message and payload."""
    return len(row.payload) + len(row.message)


def _bounded(rows: Sequence[EventRow], limit: int) -> Iterable[Sequence[EventRow]]:
    """`rows` in runs that bind at most `limit` bytes (`_binds`); a larger row runs alone."""
    start = bound = 0
    for end, row in enumerate(rows):
        size = _binds(row)
        if bound + size > limit and end > start:
            yield rows[start:end]
            start, bound = end, 0
        bound += size
    if start < len(rows):
        yield rows[start:]


class SqliteStatements:
    """`sqlite3`: many rows to a statement, for groups of `_SQLITE_MANY_FROM` rows or more. The
    module releases the GIL around every step of a statement and must take it back after each,
    and the event loop holds it most of the time: so `executemany`, one step a row, left the
    writer waiting for the GIL once a row. One INSERT of up to `_SQLITE_ROWS` rows is one step.
    Measured with `python -m bench.profile --route canonical --batch`: a group of about 1,500 rows
    spent 170 ms in its INSERT with executemany (39 ms of it on the CPU), and 67 ms with one
    statement per 250 rows (36 ms on the CPU)."""

    _KEYS_OF_PROJECT = "SELECT idempotency_key, id FROM events WHERE project_id = ? AND idempotency_key"

    def live_keys(self, raw: Any, key_ids: Iterable[str]) -> set[str]:
        wanted = list(key_ids)
        live: set[str] = set()
        for chunk in _chunks(wanted, _SQLITE_CHUNK):
            marks = ", ".join("?" for _ in chunk)
            query = f"SELECT id FROM api_keys WHERE id IN ({marks}) AND revoked_us IS NULL"
            live.update(i for (i,) in raw.execute(query, chunk))
        return live

    def touch_keys(self, raw: Any, key_ids: Sequence[str], now_us: int) -> None:
        for chunk in _chunks(key_ids, _SQLITE_CHUNK):
            marks = ", ".join("?" for _ in chunk)
            raw.execute(f"UPDATE api_keys SET last_used_us = ? WHERE id IN ({marks})", (now_us, *chunk))

    def insert_plain(self, raw: Any, rows: Sequence[EventRow]) -> None:
        if len(rows) < _SQLITE_MANY_FROM:
            raw.executemany(INSERT_SQLITE, rows)
            return
        start = 0
        for count in _row_counts(len(rows)):
            self._insert_rows(raw, rows[start : start + count])
            start += count

    def _insert_rows(self, raw: Any, rows: Sequence[EventRow]) -> None:
        """One INSERT of `rows` (a power of two of them), or of each half while they bind more
        than `_SQLITE_ROW_BYTES`."""
        if len(rows) == 1:
            raw.execute(INSERT_SQLITE, rows[0])
        elif sum(map(_binds, rows)) <= _SQLITE_ROW_BYTES:
            raw.execute(_insert_sql(len(rows)), list(chain.from_iterable(rows)))
        else:
            half = len(rows) // 2
            self._insert_rows(raw, rows[:half])
            self._insert_rows(raw, rows[half:])

    def insert_keyed(self, raw: Any, rows: Sequence[EventRow]) -> set[tuple[str, str]]:
        # The writer's transaction took the file's write lock at BEGIN (IMMEDIATE), so no key can
        # be stored between this look-up and the INSERT. The look-up returns only the keys already
        # stored (usually none: one step), where `RETURNING` would take a step per inserted row.
        keys_of: dict[str, list[str]] = {}
        for row in rows:
            keys_of.setdefault(row.project_id, []).append(row.idempotency_key or "")
        stored = {(p, k) for p, keys in keys_of.items() for k in self.ids_for_keys(raw, p, keys)}
        new = [row for row in rows if (row.project_id, row.idempotency_key) not in stored]
        self.insert_plain(raw, new)
        return {(row.project_id, row.idempotency_key or "") for row in new}

    def ids_for_keys(self, raw: Any, project_id: str, keys: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for chunk in _chunks(keys, _SQLITE_CHUNK):
            marks = ", ".join("?" for _ in chunk)
            query = f"{self._KEYS_OF_PROJECT} IN ({marks})"
            found.update(raw.execute(query, (project_id, *chunk)))
        return found


class PostgresStatements:
    """psycopg 3: binary COPY for plain rows; keyed rows over `unnest` arrays, in statements of at
    most `_PG_STATEMENT_BYTES`. Arrays go as binary parameters (`%b`): psycopg dumps a list to text
    in Python at about 1.5 µs an element (4 µs for bytes), and to binary 10 to 20 times faster."""

    _INSERT_KEYED = (
        f"INSERT INTO events ({_COLUMNS}) SELECT * FROM unnest("
        + ", ".join(f"%b::{kind}[]" for kind in COPY_PG_TYPES)
        + f") {_ON_KEY_CONFLICT} RETURNING project_id, idempotency_key"
    )

    def live_keys(self, raw: Any, key_ids: Iterable[str]) -> set[str]:
        query = "SELECT id FROM api_keys WHERE id = ANY(%b) AND revoked_us IS NULL"
        with raw.cursor() as cursor:
            return {i for (i,) in cursor.execute(query, (list(key_ids),))}

    def touch_keys(self, raw: Any, key_ids: Sequence[str], now_us: int) -> None:
        with raw.cursor() as cursor:
            query = "UPDATE api_keys SET last_used_us = %s WHERE id = ANY(%b)"
            cursor.execute(query, (now_us, list(key_ids)))

    def insert_plain(self, raw: Any, rows: Sequence[EventRow]) -> None:
        if not rows:
            return
        with raw.cursor() as cursor, cursor.copy(COPY_PG) as copy:
            copy.set_types(COPY_PG_TYPES)
            for row in rows:
                copy.write_row(row)

    def insert_keyed(self, raw: Any, rows: Sequence[EventRow]) -> set[tuple[str, str]]:
        stored: set[tuple[str, str]] = set()
        with raw.cursor() as cursor:
            for run in _bounded(rows, _PG_STATEMENT_BYTES):
                columns = [list(column) for column in zip(*run, strict=True)]
                stored.update(cursor.execute(self._INSERT_KEYED, columns))
        return stored

    def ids_for_keys(self, raw: Any, project_id: str, keys: Sequence[str]) -> dict[str, str]:
        query = "SELECT idempotency_key, id FROM events WHERE project_id = %s AND idempotency_key = ANY(%b)"
        with raw.cursor() as cursor:
            return dict(cursor.execute(query, (project_id, list(keys))))


def statements_for(dialect_name: str) -> WriterStatements:
    """The writer's statements for a SQLAlchemy dialect name."""
    return PostgresStatements() if dialect_name == "postgresql" else SqliteStatements()
