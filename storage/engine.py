"""Engines for SQLite (the embedded default) and PostgreSQL (psycopg 3), and the session factory."""

from __future__ import annotations

from typing import Any

import sqlalchemy
from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

#: The execution option that makes a SQLite transaction take the write lock at BEGIN, so a
#: writer never fails halfway when another process holds the lock; it waits instead.
SQLITE_IMMEDIATE = "ingestd_sqlite_immediate"
#: How long a SQLite connection waits for another's write lock before it says SQLITE_BUSY.
SQLITE_BUSY_TIMEOUT_MS = 30_000


def async_url(url: str) -> str:
    """The URL with the async driver this project uses: aiosqlite or psycopg 3.

    >>> async_url("sqlite:///./ingestd.db")
    'sqlite+aiosqlite:///./ingestd.db'
    >>> async_url("postgresql://postgres@127.0.0.1/ingestd")
    'postgresql+psycopg://postgres@127.0.0.1/ingestd'
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    raise ValueError(f"unsupported database {backend!r}: use sqlite:// or postgresql+psycopg://")


def sync_url(url: str) -> str:
    """The URL with a synchronous driver, for Alembic: pysqlite or psycopg 3."""
    parsed = make_url(async_url(url))
    if parsed.get_backend_name() == "sqlite":
        return parsed.set(drivername="sqlite").render_as_string(hide_password=False)
    return parsed.render_as_string(hide_password=False)


def create_engine(url: str, *, sqlite_synchronous: str = "FULL") -> AsyncEngine:
    """Creates the async engine for `url`.

    SQLite runs in WAL mode, so readers never block the writer, with `synchronous=FULL` by default:
    a commit is on disk before any caller is answered. Transactions are begun explicitly because
    the sqlite3 module's own implicit transactions would hide the BEGIN from SQLAlchemy.
    """
    full = async_url(url)
    # hide_parameters: a failed statement's log line must not carry event data or key digests.
    if make_url(full).get_backend_name() != "sqlite":
        return create_async_engine(
            full,
            pool_size=10,
            max_overflow=10,
            pool_pre_ping=True,
            hide_parameters=True,
            connect_args={"connect_timeout": 10},
        )

    timeout_s = SQLITE_BUSY_TIMEOUT_MS / 1000
    engine = create_async_engine(full, hide_parameters=True, connect_args={"timeout": timeout_s})
    _configure_sqlite(engine.sync_engine, sqlite_synchronous, always_immediate=False)
    return engine


def _configure_sqlite(engine: Engine, synchronous: str, *, always_immediate: bool) -> None:
    """Pragmas on every new connection, and an explicit BEGIN (IMMEDIATE for writers)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = always_immediate or conn.get_execution_options().get(SQLITE_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions on `engine`, for everything but the group writer."""
    return async_sessionmaker(engine, expire_on_commit=False)


async def begin_write(session: AsyncSession) -> None:
    """Begins the session's transaction as a writer: on SQLite with BEGIN IMMEDIATE, so a read that
    comes before the write cannot see a state older than the write lock it will need. (A deferred
    transaction that reads, then writes after another connection committed, gets SQLITE_BUSY at
    once, without waiting.) On PostgreSQL it only begins the transaction."""
    await session.connection(execution_options={SQLITE_IMMEDIATE: True})


def immediate_engine(engine: AsyncEngine) -> AsyncEngine:
    """`engine` whose SQLite transactions take the write lock at BEGIN."""
    return engine.execution_options(**{SQLITE_IMMEDIATE: True})


def writer_engine(url: str, *, sqlite_synchronous: str = "FULL") -> Engine:
    """A synchronous engine for the group writer, which holds one of its connections on a thread
    of its own: pysqlite, whose transactions all take the write lock at BEGIN, or psycopg 3."""
    full = sync_url(url)
    if make_url(full).get_backend_name() != "sqlite":
        return sqlalchemy.create_engine(
            full, poolclass=NullPool, hide_parameters=True, connect_args={"connect_timeout": 10}
        )
    timeout_s = SQLITE_BUSY_TIMEOUT_MS / 1000
    engine = sqlalchemy.create_engine(
        full, poolclass=NullPool, hide_parameters=True, connect_args={"timeout": timeout_s}
    )
    _configure_sqlite(engine, sqlite_synchronous, always_immediate=True)
    return engine


class NotWritable(Exception):
    """The database refuses to be written (a read-only file or server, no permission, no space);
    the message is the database's own."""


def probe_write(engine: Engine) -> None:
    """Opens a write transaction, creates a table in it and rolls it back: what every commit
    needs, without leaving a trace. Raises NotWritable where the database refuses."""
    try:
        with engine.connect() as connection:
            transaction = connection.begin()
            try:
                connection.exec_driver_sql("CREATE TABLE ingestd_write_probe (x INTEGER)")
            finally:
                transaction.rollback()
    except sqlalchemy.exc.DBAPIError as exc:
        raise NotWritable(describe_error(exc, with_class=False)) from None


def describe_error(exc: BaseException, *, with_class: bool = True) -> str:
    """A database error for the log: the driver's class and the database's own first line
    (`OperationalError: attempt to write a readonly database`), without statement parameters."""
    cause = getattr(exc, "orig", None) or exc
    text = str(cause).splitlines()[0] if str(cause) else ""
    if not with_class:
        return text or type(cause).__name__
    return f"{type(cause).__name__}: {text}"
