"""The call pipeline every transport runs: request id, limits, authentication, the domain
handler, error mapping and one canonical log line.

The gRPC transport runs it for each RPC, and the HTTP gateway runs the same pipeline in-process,
so no cross-cutting rule lives only in a gRPC interceptor (style.md, principle 7).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog
from google.protobuf.message import Message
from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from server.errors import IngestdError, Internal, InvalidArgument, ResourceExhausted, Unavailable
from server.ids import request_id as new_request_id
from server.keys import Authenticator, Principal, secret_from_metadata
from storage.engine import describe_error
from storage.stats import Histogram

_MAX_REQUEST_ID = 128


#: The principal of a call whose endpoint authenticates inside its handler, until it does.
ANONYMOUS = Principal(key_id="", kind=0, organization="", project=None)


@dataclass(slots=True)
class Call:
    """One call as the domain sees it.

    `metadata` holds the request's headers (lowercase keys); `response_metadata` is what the
    handler wants sent back as response headers, such as `x-http-code` (grpc-gateway's way for a
    handler to choose the HTTP status) or rate-limit headers. `authenticate` resolves a secret the
    handler found itself, for endpoints whose key is not in the usual headers.
    """

    method: str
    request_id: str
    principal: Principal
    metadata: Mapping[str, str] = field(default_factory=dict)
    response_metadata: dict[str, str] = field(default_factory=dict)
    log: dict[str, object] = field(default_factory=dict)
    authenticator: Authenticator | None = None
    cached_auth: bool = False
    peer: str = ""

    async def authenticate(self, secret: str) -> Principal:
        """Authenticates `secret` and makes it the call's principal.

        Raises:
            Unauthenticated: an unknown or revoked key.
        """
        assert self.authenticator is not None, "the pipeline sets the authenticator"
        self.principal = await self.authenticator.authenticate(secret, cached=self.cached_auth)
        return self.principal


UnaryHandler = Callable[[Call, Any], Awaitable[Message]]
StreamHandler = Callable[[Call, AsyncIterator[Any]], Awaitable[Message]]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """How one RPC is served.

    `cached_auth` may be True only where the handler's commit re-checks the key (ingest writes), so
    a revoked key is still refused on its next call. With `handler_auth` the pipeline does not look
    for a key: the handler finds one where its vendor puts it (a body field, a query parameter) and
    calls `Call.authenticate`, in the order its vendor checks things.
    """

    method: str
    handler: UnaryHandler | StreamHandler
    client_streaming: bool = False
    cached_auth: bool = False
    handler_auth: bool = False


def _reject_nul(message: Message, prefix: str = "") -> None:
    """Refuses NUL characters in the request's own strings, which PostgreSQL cannot store or
    compare; SQLite would accept them, and both databases must answer alike. Repeated messages
    (a batch's events) are left to their own validation."""
    for descriptor, value in message.ListFields():
        name = prefix + descriptor.name
        if descriptor.type == descriptor.TYPE_STRING and not descriptor.is_repeated:
            if "\x00" in value:
                raise InvalidArgument([(name, "must not contain NUL characters")])
        elif descriptor.type == descriptor.TYPE_MESSAGE and not descriptor.is_repeated:
            _reject_nul(value, name + ".")


def request_id_from(metadata: Mapping[str, str]) -> str:
    """The caller's `x-request-id` when it is short printable ASCII, else a new one."""
    given = metadata.get("x-request-id", "")
    if given and len(given) <= _MAX_REQUEST_ID and given.isascii() and given.isprintable():
        return given
    return new_request_id()


class Pipeline:
    """Runs endpoints. One instance serves every transport of a process."""

    def __init__(self, authenticator: Authenticator, *, max_inflight: int) -> None:
        self._authenticator = authenticator
        self._max_inflight = max_inflight
        self._inflight = 0
        self._log = structlog.get_logger("ingestd.call")
        #: For `/metrics`: calls by (method, code), their latency by method, and how often the
        #: database was unreachable.
        self.calls: dict[tuple[str, str], int] = {}
        self.latency: dict[str, Histogram] = {}
        self.database_errors = 0

    async def unary(
        self,
        endpoint: Endpoint,
        request: Message,
        metadata: Mapping[str, str],
        *,
        request_id: str,
        peer: str,
        response_metadata: dict[str, str] | None = None,
        log_into: dict[str, object] | None = None,
    ) -> Message:
        """Runs a unary endpoint. The handler's response headers land in `response_metadata`.
        The call's log fields go into `log_into` when given (the HTTP gateway writes them in its
        access line); otherwise the call logs its own `rpc` line.

        Raises:
            IngestdError: the call failed; any other exception becomes `Internal`.
        """
        handler: Any = endpoint.handler
        return await self._run(
            endpoint,
            metadata,
            request_id,
            peer,
            lambda call: handler(call, request),
            request=request,
            response_metadata=response_metadata,
            log_into=log_into,
        )

    async def stream(
        self,
        endpoint: Endpoint,
        requests: AsyncIterator[Message],
        metadata: Mapping[str, str],
        *,
        request_id: str,
        peer: str,
        log_into: dict[str, object] | None = None,
    ) -> Message:
        """Runs a client-streaming endpoint; errors and logging as for `unary`."""
        handler: Any = endpoint.handler
        return await self._run(
            endpoint, metadata, request_id, peer, lambda call: handler(call, requests), log_into=log_into
        )

    async def _run(
        self,
        endpoint: Endpoint,
        metadata: Mapping[str, str],
        request_id: str,
        peer: str,
        invoke: Callable[[Call], Awaitable[Message]],
        request: Message | None = None,
        response_metadata: dict[str, str] | None = None,
        log_into: dict[str, object] | None = None,
    ) -> Message:
        started = time.perf_counter()
        outcome = "OK"
        refusal: str | None = None
        call: Call | None = None
        if self._inflight >= self._max_inflight:
            busy = ResourceExhausted("server busy, retry shortly", retry_after_s=1.0)
            if log_into is not None:
                log_into.update(rpc=endpoint.method, code="RESOURCE_EXHAUSTED", reason=busy.message)
            else:
                self._log.warning(
                    "rpc", method=endpoint.method, request_id=request_id, code="RESOURCE_EXHAUSTED"
                )
            raise busy
        self._inflight += 1
        try:
            if request is not None:
                _reject_nul(request)
            call = Call(
                endpoint.method,
                request_id,
                ANONYMOUS,
                metadata,
                response_metadata if response_metadata is not None else {},
                authenticator=self._authenticator,
                cached_auth=endpoint.cached_auth,
                peer=peer,
            )
            if not endpoint.handler_auth:
                await call.authenticate(secret_from_metadata(metadata))
            return await invoke(call)
        except IngestdError as exc:
            outcome = exc.code.name
            refusal = f"{exc.reason}: {exc.message}"
            exc.metadata.setdefault("request_id", request_id)
            raise
        except asyncio.CancelledError:
            outcome = "CANCELLED"
            raise
        except (OperationalError, InterfaceError, PoolTimeout) as exc:
            # The database is unreachable or overloaded: the call may well succeed if repeated.
            outcome = "UNAVAILABLE"
            self.database_errors += 1
            self._log.warning("database_unavailable", method=endpoint.method, error=describe_error(exc))
            raise Unavailable("database unavailable, retry shortly", retry_after_s=1.0) from exc
        except DataError as exc:
            # The database refused a value of the request (a NUL in a PostgreSQL string, say):
            # the caller's mistake, not the server's.
            outcome = "INVALID_ARGUMENT"
            raise InvalidArgument(
                [("request", "holds a value the database cannot store or compare")]
            ) from exc
        except Exception as exc:
            outcome = "INTERNAL"
            self._log.exception("unhandled", method=endpoint.method, request_id=request_id)
            raise Internal("internal error", metadata={"request_id": request_id}) from exc
        finally:
            self._inflight -= 1
            elapsed = time.perf_counter() - started
            counted = (endpoint.method, outcome)
            self.calls[counted] = self.calls.get(counted, 0) + 1
            latency = self.latency.get(endpoint.method)
            if latency is None:
                latency = self.latency[endpoint.method] = Histogram()
            latency.observe(elapsed)
            fields = call.log if call is not None else {}
            key_id = (call.principal.key_id or None) if call is not None else None
            if log_into is not None:
                log_into.update(fields, rpc=endpoint.method, code=outcome, key_id=key_id)
                if refusal is not None:
                    log_into["reason"] = refusal
            else:
                # A refusal, ours or a vendor's answer in its own HTTP status, is a warning.
                refused = refusal is not None or fields.get("http_status", 200) >= 400  # type: ignore[operator]
                (self._log.warning if refused else self._log.info)(
                    "rpc",
                    method=endpoint.method,
                    request_id=request_id,
                    code=outcome,
                    duration_ms=round(elapsed * 1000, 3),
                    key_id=key_id,
                    peer=peer,
                    **({"reason": refusal} if refusal is not None else {}),
                    **fields,
                )
