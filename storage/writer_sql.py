"""The group writer's statements, on its raw DB-API connection: `sqlite3` or psycopg 3.

They skip SQLAlchemy on purpose: compiling and executing through it costs more per group than the
statements themselves. Each method runs inside the writer's open transaction and never commits.
Only `storage.writer` uses these.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from storage.events import COPY_PG, COPY_PG_TYPES, INSERT_SQLITE, EventRow
from storage.models import EVENT_COLUMNS

_COLUMNS = ", ".join(EVENT_COLUMNS)
_ON_KEY_CONFLICT = "ON CONFLICT (project_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING"
# SQLite's default cap on bound parameters is 32,766; stay far below it.
_SQLITE_CHUNK = 500


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


class SqliteStatements:
    """`sqlite3`: executemany for plain rows; keyed rows one `execute` each, which in-process
    costs microseconds and tells by `rowcount` whether the row went in."""

    _INSERT_KEYED = f"{INSERT_SQLITE} {_ON_KEY_CONFLICT}"
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
        if rows:
            raw.executemany(INSERT_SQLITE, rows)

    def insert_keyed(self, raw: Any, rows: Sequence[EventRow]) -> set[tuple[str, str]]:
        inserted: set[tuple[str, str]] = set()
        cursor = raw.cursor()
        try:
            for row in rows:
                cursor.execute(self._INSERT_KEYED, row)
                if cursor.rowcount == 1:
                    inserted.add((row.project_id, row.idempotency_key or ""))
        finally:
            cursor.close()
        return inserted

    def ids_for_keys(self, raw: Any, project_id: str, keys: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for chunk in _chunks(keys, _SQLITE_CHUNK):
            marks = ", ".join("?" for _ in chunk)
            query = f"{self._KEYS_OF_PROJECT} IN ({marks})"
            found.update(raw.execute(query, (project_id, *chunk)))
        return found


class PostgresStatements:
    """psycopg 3: binary COPY for plain rows; keyed rows in one statement over `unnest` arrays."""

    _INSERT_KEYED = (
        f"INSERT INTO events ({_COLUMNS}) SELECT * FROM unnest("
        + ", ".join(f"%s::{kind}[]" for kind in COPY_PG_TYPES)
        + f") {_ON_KEY_CONFLICT} RETURNING project_id, idempotency_key"
    )

    def live_keys(self, raw: Any, key_ids: Iterable[str]) -> set[str]:
        query = "SELECT id FROM api_keys WHERE id = ANY(%s) AND revoked_us IS NULL"
        with raw.cursor() as cursor:
            return {i for (i,) in cursor.execute(query, (list(key_ids),))}

    def touch_keys(self, raw: Any, key_ids: Sequence[str], now_us: int) -> None:
        with raw.cursor() as cursor:
            query = "UPDATE api_keys SET last_used_us = %s WHERE id = ANY(%s)"
            cursor.execute(query, (now_us, list(key_ids)))

    def insert_plain(self, raw: Any, rows: Sequence[EventRow]) -> None:
        if not rows:
            return
        with raw.cursor() as cursor, cursor.copy(COPY_PG) as copy:
            copy.set_types(COPY_PG_TYPES)
            for row in rows:
                copy.write_row(row)

    def insert_keyed(self, raw: Any, rows: Sequence[EventRow]) -> set[tuple[str, str]]:
        if not rows:
            return set()
        columns = [list(column) for column in zip(*rows, strict=True)]
        with raw.cursor() as cursor:
            return {(p, k) for p, k in cursor.execute(self._INSERT_KEYED, columns)}

    def ids_for_keys(self, raw: Any, project_id: str, keys: Sequence[str]) -> dict[str, str]:
        query = "SELECT idempotency_key, id FROM events WHERE project_id = %s AND idempotency_key = ANY(%s)"
        with raw.cursor() as cursor:
            return dict(cursor.execute(query, (project_id, list(keys))))


def statements_for(dialect_name: str) -> WriterStatements:
    """The writer's statements for a SQLAlchemy dialect name."""
    return PostgresStatements() if dialect_name == "postgresql" else SqliteStatements()
