"""The SimpleLogs servicer: SimpleLogsService over the pure translator (`translate.py`).

`POST /api/v1/enqueue` checks, in this order (docs/vendors/simplelogs.md §3; the vendor documents
the codes, not their order: this is the order of a route that parses, validates with Zod, then
looks the key up):

1. 400 `{"message":"Invalid JSON"}`: the body is not JSON, whatever its Content-Type.
2. 422 `{"message":"Invalid enqueue payload","errors":{…}}`: the schema (Zod `flatten()`).
3. 401 `{"message":"Unauthorized"}`: the body's `key` is missing or empty, unknown or revoked, is not
   a SimpleLogs key (only server `sk_` and client `ck_` keys are; master, project and public keys
   are refused), or its kind does not match `source` (`sk_` needs "server", `ck_` needs "client").
4. 403 `{"message":"Forbidden"}`: a client key whose allowlist is empty, or whose request has no
   `Origin` header or one the allowlist does not match.
5. 202 `{"queued":true}` once the events are durably committed. Entries that fail ingestd's own
   limits are dropped (the vendor: "invalid or duplicate entries may be dropped during
   processing"); the call's log line counts them. Past the project's daily event limit the whole
   call is dropped, still with 202 (§6), and its log line says so.

A key revoked while its principal was cached is refused at commit, with the same 401.

Timing starts and ends that the request leaves open meet those of other requests through
`server.timings` (§5), committed with the events or not at all.
"""

from __future__ import annotations

import asyncio

from ingestd.compat.simplelogs.v1 import simplelogs_service_pb2 as pb
from server.dialects.answer import Answer
from server.dialects.base import VendorContext, compat_service, reply, vendor_endpoints
from server.dialects.simplelogs import translate as simplelogs
from server.errors import Unauthenticated
from server.ingest import Outcome, Written
from server.keys import CLIENT, SERVER
from server.origins import origin_allowed
from server.pipeline import Call, Endpoint

SERVICE = compat_service(pb)

#: The `source` each SimpleLogs key kind must send.
_SOURCE_OF_KIND: dict[int, str] = {SERVER: "server", CLIENT: "client"}
_QUEUED = {"queued": True}


class SimpleLogsServicer:
    """SimpleLogsService."""

    def __init__(self, context: VendorContext) -> None:
        self._context = context

    def endpoints(self) -> list[Endpoint]:
        return vendor_endpoints(SERVICE, {"Enqueue": self.enqueue}, cached_auth=True)

    async def enqueue(self, call: Call, request: pb.EnqueueRequest) -> pb.EnqueueResponse:
        """SimpleLogsService.Enqueue: see the module docstring for the check order."""
        doc = simplelogs.parse_json(request.body.data)
        enqueue = simplelogs.validate(doc, max_entries=self._context.settings.max_batch_events)
        if not enqueue.key:
            raise _unauthorized("MISSING_API_KEY")
        try:
            principal = await call.authenticate(enqueue.key)
        except Unauthenticated as exc:
            raise _unauthorized(exc.reason) from None
        if _SOURCE_OF_KIND.get(principal.kind) != enqueue.source:
            raise _unauthorized("KEY_SOURCE_MISMATCH")
        if principal.kind == CLIENT and not origin_allowed(
            call.metadata.get("origin", ""), principal.allowed_origins
        ):
            raise Answer(403, {"message": "Forbidden"}, detail="ORIGIN_NOT_ALLOWED")
        project = await self._context.access.project(principal, "", write=True)
        translation = simplelogs.to_events(enqueue)
        written = await self._write(call, project, translation)
        if written.outcome is Outcome.REVOKED:
            raise _unauthorized(written.reason)
        entries = len(enqueue.entries)
        if written.outcome is Outcome.OVER_QUOTA:
            # "Over-quota still answers 202" (§6): the events are dropped, and the call's log
            # line says why.
            call.log.update(project=project, entries=entries, dropped=entries, refused=written.reason)
            return reply(call, pb.EnqueueResponse, 202, _QUEUED)
        call.log.update(
            project=project,
            entries=entries,
            accepted=len(written.stored) - written.duplicates,
            dropped=len(translation.dropped) + len(written.rejected),
        )
        return reply(call, pb.EnqueueResponse, 202, _QUEUED)

    async def _write(self, call: Call, project: str, translation: simplelogs.Translation) -> Written:
        """Writes the events, once the request's open ends have closed what starts they can of
        earlier requests, and its open starts wait for later ones; if the events are not stored,
        neither change is kept."""
        if not translation.starts and not translation.ends:
            return await self._context.ingest.write(call, project, translation.events, dialect="simplelogs")
        # Shielded: a caller that goes away between the two commits must not leave starts
        # claimed, or waiting, for events that are then never written.
        return await asyncio.shield(self._write_with_timings(call, project, translation))

    async def _write_with_timings(
        self, call: Call, project: str, translation: simplelogs.Translation
    ) -> Written:
        timings = self._context.timings
        settled = await timings.settle(project, translation.ends, translation.starts)
        events = simplelogs.closing(translation, settled.closed)
        try:
            written = await self._context.ingest.write(call, project, events, dialect="simplelogs")
        except Exception:
            await timings.undo(settled)
            raise
        if written.outcome is not Outcome.STORED:
            await timings.undo(settled)
        closed = sum(payload is not None for payload in settled.closed)
        if closed:
            call.log.update(closed_across_requests=closed)
        return written


def _unauthorized(reason: str) -> Answer:
    return Answer(401, {"message": "Unauthorized"}, detail=reason)
