"""The SimpleLogs servicer: SimpleLogsService over the pure translator (`translate.py`).

`POST /api/v1/enqueue` checks, in this order (the seed documents the codes, not their order; this is
the order of a route that parses, validates with Zod, then looks the key up):

1. 400 `{"message":"Invalid JSON"}`: the body is not JSON, whatever its Content-Type.
2. 422 `{"message":"Invalid enqueue payload","errors":{…}}`: the schema (Zod `flatten()`).
3. 401 `{"message":"Unauthorized"}`: the body's `key` is missing or empty, unknown or revoked, is not
   a SimpleLogs key (only server `sk_` and client `ck_` keys are; master, project and public keys
   are refused), or its kind does not match `source` (`sk_` needs "server", `ck_` needs "client").
4. 403 `{"message":"Forbidden"}`: a client key whose allowlist is empty, or whose request has no
   `Origin` header or one the allowlist does not match.
5. 202 `{"queued":true}` once the events are durably committed. Entries that fail ingestd's own
   limits are dropped (the seed: "invalid or duplicate entries may be dropped during processing");
   the call's log line counts them. Past the project's daily event limit the whole call is dropped,
   still with 202 (SimpleLogs: "Over-quota still answers 202"), and its log line says so.

A key revoked while its principal was cached is refused at commit, with the same 401.
"""

from __future__ import annotations

from ingestd.compat.simplelogs.v1 import simplelogs_service_pb2 as pb
from server.dialects.base import VendorContext, compat_service, method, reply
from server.dialects.simplelogs import translate as simplelogs
from server.errors import Unauthenticated
from server.ingest import Outcome
from server.keys import CLIENT, SERVER
from server.origins import origin_allowed
from server.pipeline import Call, Endpoint

SERVICE = compat_service(pb)

#: The `source` each SimpleLogs key kind must send.
_SOURCE_OF_KIND: dict[int, str] = {SERVER: "server", CLIENT: "client"}


class SimpleLogsServicer:
    """SimpleLogsService."""

    def __init__(self, context: VendorContext) -> None:
        self._context = context

    def endpoints(self) -> list[Endpoint]:
        return [
            Endpoint(method(SERVICE, "Enqueue"), self.enqueue, handler_auth=True, cached_auth=True),
        ]

    async def enqueue(self, call: Call, request: pb.EnqueueRequest) -> pb.EnqueueResponse:
        """SimpleLogsService.Enqueue: see the module docstring for the check order."""
        try:
            doc = simplelogs.parse_json(request.body.data)
        except simplelogs.InvalidJson:
            return _message(call, 400, "Invalid JSON")
        enqueue = simplelogs.validate(doc, max_entries=self._context.settings.max_batch_events)
        if isinstance(enqueue, simplelogs.Invalid):
            return reply(call, pb.EnqueueResponse, 422, enqueue.body)
        try:
            return await self._enqueue(call, enqueue)
        except Unauthenticated as exc:
            call.log.update(refused=exc.reason)
            return _message(call, 401, "Unauthorized")

    async def _enqueue(self, call: Call, enqueue: simplelogs.Enqueue) -> pb.EnqueueResponse:
        if not enqueue.key:
            raise Unauthenticated("missing API key", reason="MISSING_API_KEY")
        principal = await call.authenticate(enqueue.key)
        if _SOURCE_OF_KIND.get(principal.kind) != enqueue.source:
            raise Unauthenticated("the key does not match source", reason="KEY_SOURCE_MISMATCH")
        if principal.kind == CLIENT and not origin_allowed(
            call.metadata.get("origin", ""), principal.allowed_origins
        ):
            call.log.update(refused="ORIGIN_NOT_ALLOWED")
            return _message(call, 403, "Forbidden")
        project = await self._context.access.project(principal, "", write=True)
        translation = simplelogs.to_events(enqueue)
        written = await self._context.ingest.write(call, project, translation.events, dialect="simplelogs")
        if written.outcome is Outcome.REVOKED:
            raise Unauthenticated("API key revoked", reason=written.reason)
        if written.outcome is Outcome.OVER_QUOTA:
            # compat.md §6.1: "Over-quota still answers 202". The events are dropped, and the
            # call's log line says why.
            call.log.update(project=project, entries=len(enqueue.entries), dropped=len(enqueue.entries))
            call.log.update(refused=written.reason)
            return reply(call, pb.EnqueueResponse, 202, {"queued": True})
        call.log.update(
            project=project,
            entries=len(enqueue.entries),
            accepted=len(written.stored) - written.duplicates,
            dropped=len(translation.dropped) + len(written.rejected),
        )
        return reply(call, pb.EnqueueResponse, 202, {"queued": True})


def _message(call: Call, status: int, message: str) -> pb.EnqueueResponse:
    return reply(call, pb.EnqueueResponse, status, {"message": message})
