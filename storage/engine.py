"""Engines for SQLite (the embedded default) and PostgreSQL (psycopg 3), and the session factory."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

#: The execution option that makes a SQLite transaction take the write lock at BEGIN, so a
#: writer never fails halfway when another process holds the lock; it waits instead.
SQLITE_IMMEDIATE = "ingestd_sqlite_immediate"


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

    engine = create_async_engine(full, hide_parameters=True, connect_args={"timeout": 30})

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={sqlite_synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get(SQLITE_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions on `engine`, for everything but the group writer."""
    return async_sessionmaker(engine, expire_on_commit=False)


def writer_engine(engine: AsyncEngine) -> AsyncEngine:
    """`engine` for the group writer: its SQLite transactions take the write lock at BEGIN."""
    return engine.execution_options(**{SQLITE_IMMEDIATE: True})
