"""A throwaway PostgreSQL database for one benchmark run.

Contract: `database()` creates an empty database named `bench_<hex>` on the local server (over
an autocommit psycopg connection), yields ingestd's SQLAlchemy URL for it, and drops it
`WITH (FORCE)` on exit, whatever happened in between. It raises `Unreachable` (before creating
anything) when the server cannot be reached, so the caller can skip PostgreSQL with the reason.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

import psycopg

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
_SERVER = "postgres@127.0.0.1:5432"


class Unreachable(Exception):
    """PostgreSQL could not be reached; the message says why."""


@contextlib.asynccontextmanager
async def database() -> AsyncIterator[str]:
    """Yields `postgresql+psycopg://postgres@127.0.0.1:5432/bench_<hex>`; see the contract."""
    name = f"bench_{uuid.uuid4().hex[:12]}"
    try:
        async with await psycopg.AsyncConnection.connect(
            ADMIN_URL, autocommit=True, connect_timeout=5
        ) as conn:
            await conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        raise Unreachable(f"PostgreSQL not reachable at {ADMIN_URL}: {str(exc).strip()}") from exc
    try:
        yield f"postgresql+psycopg://{_SERVER}/{name}"
    finally:
        async with await psycopg.AsyncConnection.connect(
            ADMIN_URL, autocommit=True, connect_timeout=5
        ) as conn:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
