"""The in-process dispatcher: the HTTP gateway's calls run the same call pipeline as gRPC, with
no loopback hop (style.md principle 7)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

from google.protobuf.message import Message

from gateway.dispatch import DispatchError
from server.errors import IngestdError
from server.pipeline import Endpoint, Pipeline, request_id_from


class InProcessDispatcher:
    """Implements `gateway.dispatch.Dispatcher` over the pipeline and the endpoint table."""

    def __init__(self, pipeline: Pipeline, endpoints: Mapping[str, Endpoint]) -> None:
        self._pipeline = pipeline
        self._endpoints = endpoints

    async def unary(
        self,
        rpc: str,
        request: Message,
        metadata: Mapping[str, str],
        *,
        peer: str,
        log: dict[str, object] | None = None,
    ) -> tuple[Message, dict[str, str]]:
        headers: dict[str, str] = {}
        endpoint = self._endpoints[rpc]
        request_id = request_id_from(metadata)
        try:
            if endpoint.client_streaming:
                # Over HTTP a client-streaming RPC receives the request body as its one message.
                response = await self._pipeline.stream(
                    endpoint, _once(request), metadata, request_id=request_id, peer=peer, log_into=log
                )
                return response, headers
            response = await self._pipeline.unary(
                endpoint,
                request,
                metadata,
                request_id=request_id,
                peer=peer,
                response_metadata=headers,
                log_into=log,
            )
        except IngestdError as error:
            raise DispatchError(error.to_status()) from None
        return response, headers


async def _once(message: Message) -> AsyncIterator[Message]:
    yield message
