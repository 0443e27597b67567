"""The ingest domain: validate and normalize events, then commit them through the group writer."""

from __future__ import annotations

import asyncio
import enum
import functools
from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, TypeVar

from google.protobuf import timestamp_pb2
from google.rpc import status_pb2  # type: ignore[attr-defined]
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ingestd.v1 import event_pb2, ingest_service_pb2
from server.access import Access
from server.clock import Clock
from server.errors import (
    IngestdError,
    InvalidArgument,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)
from server.ids import UuidV7
from server.keys import PUBLIC
from server.normalize import Violation, normalize
from server.pipeline import Call
from storage.engine import begin_write
from storage.events import EventRepository, EventRow
from storage.services import ServiceClaim, claim_services, held_services, plan_claim
from storage.writer import CommitFailed, KeyRevoked, RowWriter, Stored, WriterClosed

__all__ = ["EventRow", "Ingest", "Outcome", "Prepared", "Stored", "Written", "rejection_status"]

pb = ingest_service_pb2

# A stream keeps this many batches in flight to the writer, so reading the next batch overlaps
# committing the last without holding an unbounded backlog in memory.
_STREAM_WINDOW = 8


class Redactor(Protocol):
    """A project's enabled redaction rules, compiled once per rule set."""

    def might_match(self, payload: bytes) -> bool:
        """False only when no rule can match anything in this serialized event, so `redact` is
        skipped: the cheap test that keeps redaction off the hot path's cost."""
        ...

    def redact(self, event: event_pb2.Event) -> int:
        """Redacts `event` in place; returns how many values changed."""
        ...


class RedactorSource(Protocol):
    async def redactor(self, project: str | None) -> Redactor | None:
        """The redactor of `project` (None: an anonymous stream's, the built-in defaults), or None
        when no rule is enabled."""
        ...


_R = TypeVar("_R")


class Quotas(Protocol[_R]):
    """Counts writes against a project's limits; `_R` is what a reservation remembers."""

    async def reserve(self, project: str, events: int) -> _R | None:
        """Counts `events` against the project's daily limit, if it has one; returns what was
        counted, or None when nothing was.

        Raises:
            ResourceExhausted: reason `DAILY_EVENT_LIMIT_REACHED`; nothing was counted.
        """
        ...

    async def release(self, reservation: _R) -> None:
        """Gives back a reservation whose events were not stored."""
        ...


class Prepared(NamedTuple):
    """Normalized events: the rows of the valid ones in order, the violations of the others by
    index, and how many values the redaction rules changed."""

    rows: list[EventRow]
    rejected: dict[int, list[Violation]]
    redacted_count: int


class Outcome(enum.Enum):
    """What became of a write, in the terms every vendor answers in."""

    #: Every valid event is committed (a repeated idempotency key counts as stored).
    STORED = "stored"
    #: An atomic write held invalid events: nothing was written.
    REJECTED = "rejected"
    #: The key was revoked before the commit: nothing was written.
    REVOKED = "revoked"
    #: The project's daily event limit is reached: nothing was written.
    OVER_QUOTA = "over_quota"


@dataclass(frozen=True, slots=True)
class Written:
    """The answer of the ingest port (`Ingest.write`, `Ingest.commit`).

    `stored` holds the valid events' results in input order, skipping the rejected ones (empty
    unless STORED); `rejected` the invalid events' violations by input index. `refusal` is the
    domain error behind REVOKED (`Unauthenticated`) or OVER_QUOTA (`ResourceExhausted`, with
    `retry_after_s` and the `limit` in its metadata).
    """

    outcome: Outcome
    stored: list[Stored] = field(default_factory=list)
    rejected: dict[int, list[Violation]] = field(default_factory=dict)
    redacted_count: int = 0
    refusal: IngestdError | None = None

    @property
    def duplicates(self) -> int:
        return sum(1 for s in self.stored if s.duplicate)

    @property
    def reason(self) -> str:
        """REVOKED or OVER_QUOTA: the refusal's reason (`KEY_REVOKED`, ...); else empty."""
        return self.refusal.reason if self.refusal is not None else ""

    @property
    def retry_after_s(self) -> int:
        """OVER_QUOTA: whole seconds until the limit resets, at least 1."""
        delay = self.refusal.retry_after_s if self.refusal is not None else None
        return max(1, int(delay or 1))

    @property
    def limit(self) -> int:
        """OVER_QUOTA: the project's daily event limit."""
        return int(self.refusal.metadata.get("limit", "0")) if self.refusal is not None else 0


class Ingest:
    """Writes events into projects: the one port between the dialects and storage."""

    def __init__(
        self,
        access: Access,
        writer: RowWriter,
        clock: Clock,
        ids: UuidV7,
        sessions: async_sessionmaker[AsyncSession],
        redaction: RedactorSource,
        quotas: Quotas[Any],
        *,
        max_batch_events: int,
    ) -> None:
        self._access = access
        self._redaction = redaction
        self._quotas = quotas
        self._sessions = sessions
        self._writer = writer
        self._clock = clock
        self._ids = ids
        self._max_batch = max_batch_events
        #: For `/metrics`: events by (dialect, valid or rejected), and what became of the valid
        #: ones at commit (stored, duplicate, revoked, over_quota, unavailable).
        self.events: dict[tuple[str, str], int] = {}
        self.committed: dict[str, int] = {}

    async def write_events(self, call: Call, request: pb.WriteEventsRequest) -> pb.WriteEventsResponse:
        """IngestService.WriteEvents."""
        project = await self._canonical_project(call, request.project)
        self.check_batch_size(request.events)
        rows, rejected, _ = await self.prepare(project, request.events, dialect="ingestd")
        if request.atomic and rejected:
            raise InvalidArgument(
                [(f"events[{i}].{f}", d) for i, violations in sorted(rejected.items()) for f, d in violations]
            )
        stored = await self._store(call, rows)
        response = pb.WriteEventsResponse()
        results = response.results
        stored_iter = iter(stored)
        accepted = duplicates = 0
        for index in range(len(request.events)):
            violations = rejected.get(index)
            if violations is not None:
                results.add(outcome=pb.WRITE_OUTCOME_REJECTED, error=rejection_status(violations))
                continue
            outcome = next(stored_iter)
            if outcome.duplicate:
                duplicates += 1
                results.add(outcome=pb.WRITE_OUTCOME_DUPLICATE, event_id=outcome.event_id)
            else:
                accepted += 1
                results.add(outcome=pb.WRITE_OUTCOME_ACCEPTED, event_id=outcome.event_id)
        response.accepted_count = accepted
        response.duplicate_count = duplicates
        response.rejected_count = len(rejected)
        call.log.update(project=project, accepted=accepted, duplicates=duplicates, rejected=len(rejected))
        return response

    async def stream_events(
        self, call: Call, requests: AsyncIterator[pb.StreamEventsRequest]
    ) -> pb.StreamEventsResponse:
        """IngestService.StreamEvents: each message is committed as it arrives; the answer comes
        once all are committed."""
        response = pb.StreamEventsResponse()
        project: str | None = None
        offset = 0
        in_flight: list[asyncio.Task[list[Stored]]] = []

        async def settle(task: asyncio.Task[list[Stored]]) -> None:
            for outcome in await task:
                if outcome.duplicate:
                    response.duplicate_count += 1
                else:
                    response.accepted_count += 1

        try:
            async for message in requests:
                named = await self._canonical_project(call, message.project)
                if project is not None and named != project:
                    raise InvalidArgument(
                        [("project", "every message of a stream must name the same project")]
                    )
                project = named
                self.check_batch_size(message.events)
                rows, rejected, _ = await self.prepare(project, message.events, dialect="ingestd")
                for index, violations in sorted(rejected.items()):
                    response.rejections.add(index=offset + index, error=rejection_status(violations))
                response.rejected_count += len(rejected)
                offset += len(message.events)
                in_flight.append(asyncio.ensure_future(self._store(call, rows)))
                if len(in_flight) >= _STREAM_WINDOW:
                    await settle(in_flight.pop(0))
            while in_flight:
                await settle(in_flight.pop(0))
        finally:
            for task in in_flight:
                task.cancel()
        call.log.update(
            project=project,
            accepted=response.accepted_count,
            duplicates=response.duplicate_count,
            rejected=response.rejected_count,
        )
        return response

    async def _canonical_project(self, call: Call, project: str) -> str:
        """The project a canonical write addresses. A public key is published in web pages and
        app bundles: it writes only through its vendor's route, with that route's small caps.

        Raises:
            PermissionDenied: a public key; as `Access.project` otherwise.
        """
        if call.principal.kind == PUBLIC:
            raise PermissionDenied(
                "a public key writes only through its vendor's ingest route", reason="PUBLIC_KEY"
            )
        return await self._access.project(call.principal, project, write=True)

    async def prepare(
        self, project: str | None, events: Sequence[event_pb2.Event], *, dialect: str
    ) -> Prepared:
        """Normalizes `events` in place and applies the project's redaction rules (with no project,
        an anonymous stream's), so nothing unredacted reaches a row."""
        redactor = await self._redaction.redactor(project)
        received_us = self._clock.now_us()
        received = timestamp_pb2.Timestamp()
        received.FromMicroseconds(received_us)
        ids = self._ids.batch(len(events))
        rows: list[EventRow] = []
        rejected: dict[int, list[Violation]] = {}
        redacted = 0
        normal = functools.partial(
            normalize, project=project or "", received=received, received_us=received_us, dialect=dialect
        )
        for index, event in enumerate(events):
            row = normal(event, event_id=ids[index])
            if redactor is not None and isinstance(row, EventRow) and redactor.might_match(row.payload):
                changed = redactor.redact(event)
                if changed:
                    redacted += changed
                    # Normalized again, so every column and the payload come from the redacted event.
                    row = normal(event, event_id=ids[index])
            if isinstance(row, EventRow):
                rows.append(row)
            else:
                rejected[index] = row
        tally = self.events
        tally[(dialect, "valid")] = tally.get((dialect, "valid"), 0) + len(rows)
        if rejected:
            tally[(dialect, "rejected")] = tally.get((dialect, "rejected"), 0) + len(rejected)
        return Prepared(rows, rejected, redacted)

    async def write(
        self,
        call: Call,
        project: str,
        events: Sequence[event_pb2.Event],
        *,
        dialect: str,
        atomic: bool = False,
        keyless: bool = False,
    ) -> Written:
        """Prepares `events` (normalized, redacted) and commits the valid ones in the call's key's
        name. With `atomic`, one invalid event means none is written (REJECTED).

        With `keyless`, the commit is in no key's name, for a vendor's documented open mode
        (Operyn's) that the server's configuration, not the call, allows.

        Raises:
            Unavailable: the database or the server is going away; a retry may succeed.
        """
        rows, rejected, redacted = await self.prepare(project, events, dialect=dialect)
        if atomic and rejected:
            return Written(Outcome.REJECTED, rejected=rejected, redacted_count=redacted)
        written = await self.commit(call, rows, keyless=keyless)
        return Written(written.outcome, written.stored, rejected, redacted, written.refusal)

    async def commit(self, call: Call, rows: Sequence[EventRow], *, keyless: bool = False) -> Written:
        """Commits rows that `prepare` made, for a dialect that must look at them first
        (Logister's all-or-nothing batch); otherwise as `write`.

        Raises:
            Unavailable: the database or the server is going away; a retry may succeed.
        """
        try:
            stored = await self._store(call, rows, keyless=keyless)
        except Unauthenticated as refusal:
            return Written(Outcome.REVOKED, refusal=refusal)
        except ResourceExhausted as refusal:
            return Written(Outcome.OVER_QUOTA, refusal=refusal)
        return Written(Outcome.STORED, stored)

    async def _store(self, call: Call, rows: Sequence[EventRow], *, keyless: bool = False) -> list[Stored]:
        """Commits rows through the group writer.

        Raises:
            Unauthenticated: the key was revoked before the commit.
            ResourceExhausted: the project's daily event limit.
            Unavailable: the database or the server is going away; a retry may succeed.
        """
        try:
            reservation = await self._quotas.reserve(rows[0].project_id, len(rows)) if rows else None
        except ResourceExhausted:
            self._committed("over_quota", len(rows))
            raise
        try:
            # Even with no rows the writer is asked: it re-checks the key, so a revoked key is
            # refused rather than answered with rejections.
            stored = await self._writer.write(None if keyless else call.principal.key_id, rows)
        except asyncio.CancelledError:
            # The caller went away, but its rows are with the writer and may well commit: they
            # keep their share of the quota.
            raise
        except BaseException as exc:
            if reservation is not None:
                await asyncio.shield(self._quotas.release(reservation))
            if isinstance(exc, KeyRevoked):
                self._committed("revoked", len(rows))
                raise Unauthenticated("API key revoked", reason="KEY_REVOKED") from None
            if isinstance(exc, CommitFailed):
                self._committed("unavailable", len(rows))
                retry_after_s = exc.retry_after_s
                raise Unavailable("the database did not commit; retry", retry_after_s=retry_after_s) from None
            if isinstance(exc, WriterClosed):
                self._committed("unavailable", len(rows))
                raise Unavailable("server shutting down; retry", retry_after_s=1.0) from None
            raise
        duplicates = sum(1 for s in stored if s.duplicate)
        self._committed("stored", len(stored) - duplicates)
        if duplicates:
            self._committed("duplicate", duplicates)
        return stored

    def _committed(self, result: str, count: int) -> None:
        self.committed[result] = self.committed.get(result, 0) + count

    async def stored_kinds(self, project: str, keys: Sequence[str]) -> dict[str, tuple[str, int]]:
        """The stored event id and kind of each of `keys` already used in `project`, for dialects
        that must tell duplicates apart before they decide to write (Logister's all-or-nothing
        batch, and its span-versus-event conflicts)."""
        if not keys:
            return {}
        async with self._sessions() as session:
            return await EventRepository(session).kinds_for_keys(project, keys)

    async def claim_default_services(
        self, project: str, services: Collection[str], limit: int
    ) -> ServiceClaim:
        """Claims `services` for Operyn's default organization in `project` (docs/vendors/operyn.md
        §5): all of them if it then holds at most `limit` services, else none (`refused` names the
        first past it). Exact across nodes; a claim that adds nothing takes no write lock."""
        async with self._sessions() as session:
            claim = plan_claim(await held_services(session, project), services, limit)
        if claim.refused or not claim.added:
            return claim
        async with self._sessions() as session, session.begin():
            await begin_write(session)
            return await claim_services(session, project, services, limit, self._clock.now_us())

    def check_batch_size(self, events: Sequence[event_pb2.Event]) -> None:
        """Raises InvalidArgument unless there are 1 to `max_batch_events` events."""
        if not events:
            raise InvalidArgument([("events", "at least one event is required")])
        if len(events) > self._max_batch:
            raise InvalidArgument([("events", f"at most {self._max_batch} events per call")])


def rejection_status(violations: list[Violation]) -> status_pb2.Status:
    """A rejected event's `google.rpc.Status`: INVALID_ARGUMENT with a BadRequest detail."""
    return InvalidArgument(violations).to_status()
