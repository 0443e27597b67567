"""How the gateway reaches the RPCs behind its routes.

`Dispatcher` is the seam: the composition root passes an in-process dispatcher that runs the
shared call pipeline (no loopback hop, see style.md principle 7), or a `ChannelDispatcher` when the
gateway fronts a remote ingestd. Both answer alike: a response plus the handler's response
headers, or a `DispatchError` carrying the `google.rpc.Status`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import grpc
from google.protobuf.message import Message
from google.rpc import code_pb2, status_pb2  # type: ignore[attr-defined]

#: The trailer in which grpcio carries a `google.rpc.Status` with its details.
_DETAILS_KEY = "grpc-status-details-bin"


class DispatchError(Exception):
    """An RPC failed with `status`."""

    def __init__(self, status: status_pb2.Status) -> None:
        super().__init__(status.message)
        self.status = status


class Dispatcher(Protocol):
    async def unary(
        self,
        rpc: str,
        request: Message,
        metadata: Mapping[str, str],
        *,
        peer: str,
        log: dict[str, object] | None = None,
    ) -> tuple[Message, dict[str, str]]:
        """Calls `rpc` (`/pkg.Service/Method`); returns its response and response headers. What
        the call would log about itself (its outcome, the key, a refusal's reason) goes into
        `log` when given, for the gateway's one access line, instead of a line of its own.

        Raises:
            DispatchError: the RPC failed.
        """
        ...


# Request headers that describe this HTTP connection rather than the call; never forwarded.
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "host", "content-length", "trailer"}
)


def forwarded_metadata(headers: Mapping[str, str]) -> dict[str, str]:
    """The request headers an RPC sees as metadata: all but hop-by-hop ones, lowercased
    (grpc-gateway forwards a chosen set; in-process there is no reason to hide any)."""
    return {k.lower(): v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP and v.isascii()}


class ChannelDispatcher:
    """Dispatches over a gRPC channel to a remote ingestd."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        response_classes: Mapping[str, type[Message]],
        client_streaming: frozenset[str] = frozenset(),
    ) -> None:
        self._channel = channel
        self._streaming = client_streaming
        self._callables: dict[str, Any] = {
            rpc: (channel.stream_unary if rpc in client_streaming else channel.unary_unary)(
                rpc, request_serializer=_serialize, response_deserializer=response_class.FromString
            )
            for rpc, response_class in response_classes.items()
        }

    async def unary(
        self,
        rpc: str,
        request: Message,
        metadata: Mapping[str, str],
        *,
        peer: str,
        log: dict[str, object] | None = None,
    ) -> tuple[Message, dict[str, str]]:
        # The remote ingestd logs the call itself; this side's access line has the HTTP facts.
        outgoing = [(k, v) for k, v in metadata.items() if _valid_metadata_key(k) and k != "x-forwarded-for"]
        # Appended to the chain the client sent, as proxies do: the server believes it only as far
        # as it trusts this gateway (INGESTD_TRUSTED_PROXIES).
        chain = metadata.get("x-forwarded-for", "")
        outgoing.append(("x-forwarded-for", f"{chain}, {peer}" if chain else peer))
        # Over HTTP a client-streaming RPC receives the request body as its one message.
        call = self._callables[rpc](
            iter((request,)) if rpc in self._streaming else request, metadata=outgoing
        )
        try:
            response = await call
            initial = await call.initial_metadata()
        except grpc.aio.AioRpcError as error:
            raise DispatchError(_status_of(error)) from None
        headers = {k: v for k, v in (initial or ()) if isinstance(v, str)}
        return response, headers


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()


def _valid_metadata_key(key: str) -> bool:
    # gRPC metadata keys are lowercase ASCII letters, digits, `-`, `_` and `.`; `grpc-` is reserved.
    return not key.startswith("grpc-") and all(c.isalnum() or c in "-_." for c in key)


def _status_of(error: grpc.aio.AioRpcError) -> status_pb2.Status:
    trailing = error.trailing_metadata() or ()
    for key, value in trailing:
        if key == _DETAILS_KEY and isinstance(value, bytes):
            return status_pb2.Status.FromString(value)
    code = error.code()
    number = code.value[0] if code is not None else code_pb2.UNKNOWN
    return status_pb2.Status(code=number, message=error.details() or "")
