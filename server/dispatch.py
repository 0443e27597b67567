"""The in-process dispatcher: the HTTP gateway's calls run the same call pipeline as gRPC, with
no loopback hop (style.md principle 7)."""

from __future__ import annotations

from collections.abc import Mapping

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
        self, rpc: str, request: Message, metadata: Mapping[str, str], *, peer: str
    ) -> tuple[Message, dict[str, str]]:
        headers: dict[str, str] = {}
        try:
            response = await self._pipeline.unary(
                self._endpoints[rpc],
                request,
                metadata,
                request_id=request_id_from(metadata),
                peer=peer,
                response_metadata=headers,
            )
        except IngestdError as error:
            raise DispatchError(error.to_status()) from None
        return response, headers
