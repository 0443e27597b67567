"""Runs code written against `AsyncConnection` on the group writer's thread, over its synchronous
connection, without an event loop.

The writer's commit hook (alert evaluation) and its repositories are coroutines because the rest
of the server awaits them on the event loop. On the writer's thread they get a `BridgedConnection`,
whose methods are coroutines that finish without ever suspending, so `run_to_end` can drive the
hook to completion with a single `send`. A hook that awaits anything else (a sleep, a future) is a
bug, and `run_to_end` says so rather than block.
"""

from __future__ import annotations

from collections.abc import Coroutine
from types import TracebackType
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, NestedTransaction
from sqlalchemy.ext.asyncio import AsyncConnection

_T = TypeVar("_T")


class BridgedConnection:
    """The part of `AsyncConnection` that the commit hook uses (`dialect`, `execute`,
    `begin_nested`), over a synchronous `Connection` in the same transaction."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self.dialect = connection.dialect

    async def execute(self, statement: Any, parameters: Any = None) -> Any:
        return self._connection.execute(statement, parameters)

    def begin_nested(self) -> _Savepoint:
        return _Savepoint(self._connection)

    def as_async(self) -> AsyncConnection:
        """This bridge, typed as what the hook's signature names."""
        return cast(AsyncConnection, self)


class _Savepoint:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._savepoint: NestedTransaction | None = None

    async def __aenter__(self) -> NestedTransaction:
        self._savepoint = self._connection.begin_nested()
        return self._savepoint

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        assert self._savepoint is not None
        if kind is None:
            self._savepoint.commit()
        else:
            self._savepoint.rollback()


def run_to_end(coroutine: Coroutine[Any, Any, _T]) -> _T:
    """Runs a coroutine that awaits only bridged calls, on this thread, and returns its result.

    Raises:
        RuntimeError: the coroutine suspended (it awaited something that needs an event loop).
    """
    try:
        coroutine.send(None)
    except StopIteration as finished:
        return cast(_T, finished.value)
    coroutine.close()
    raise RuntimeError("a coroutine run on the writer's thread awaited something other than its connection")
