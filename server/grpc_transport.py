"""The gRPC transport: grpc.aio handlers built from the endpoint table, plus the standard health
and reflection services. No domain logic lives here."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, cast

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import Message
from google.rpc import error_details_pb2  # type: ignore[attr-defined]
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from grpc_status import rpc_status

from server.endpoints import method_path
from server.errors import CannotListen, IngestdError, InvalidArgument
from server.pipeline import Endpoint, Pipeline, request_id_from

#: The binary trailer in which gRPC's richer error model carries a lone RetryInfo.
_RETRY_INFO_TRAILER = "google.rpc.retryinfo-bin"


def _metadata(context: grpc.aio.ServicerContext[Any, Any]) -> dict[str, str]:
    return {
        key.lower(): value for key, value in (context.invocation_metadata() or ()) if isinstance(value, str)
    }


class _Undecodable:
    """What the deserializer hands on for bytes that are not the request message: the handler
    answers INVALID_ARGUMENT, where grpc would answer UNKNOWN naming its own internals."""

    __slots__ = ("type_name",)

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name

    def error(self) -> InvalidArgument:
        return InvalidArgument([("request", f"is not a valid {self.type_name} message")])


def _deserializer(request_class: type[Message]) -> Any:
    def parse(data: bytes) -> Message | _Undecodable:
        try:
            return request_class.FromString(data)
        except Exception:  # DecodeError, and the recursion limit's errors alike
            return _Undecodable(request_class.DESCRIPTOR.full_name)

    return parse


async def _decoded(requests: AsyncIterator[Any]) -> AsyncIterator[Message]:
    async for request in requests:
        if isinstance(request, _Undecodable):
            raise request.error()
        yield request


def _handler(pipeline: Pipeline, endpoint: Endpoint) -> Any:
    """A grpc.aio behaviour running `endpoint` through the pipeline; it takes the request, or the
    request iterator of a client-streaming RPC."""

    async def handle(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Message | None:
        metadata = _metadata(context)
        request_id = request_id_from(metadata)
        context.set_trailing_metadata((("x-request-id", request_id),))
        try:
            if endpoint.client_streaming:
                return await pipeline.stream(
                    endpoint, _decoded(request), metadata, request_id=request_id, peer=context.peer()
                )
            if isinstance(request, _Undecodable):
                raise request.error()
            headers: dict[str, str] = {}
            response = await pipeline.unary(
                endpoint,
                request,
                metadata,
                request_id=request_id,
                peer=context.peer(),
                response_metadata=headers,
            )
            if headers:
                # grpc-gateway's convention: a handler's headers (x-http-code among them) travel as
                # initial metadata, so a gateway in front of this server can apply them.
                await context.send_initial_metadata(tuple(headers.items()))
            return response
        except IngestdError as error:
            status = rpc_status.to_status(error.to_status())
            # abort_with_status replaces the trailers, so the request id rides along with the status.
            trailers = (*status.trailing_metadata, ("x-request-id", request_id), *_retry_trailer(error))
            await context.abort_with_status(cast(Any, status)._replace(trailing_metadata=trailers))
            return None

    return handle


def _retry_trailer(error: IngestdError) -> tuple[tuple[str, bytes], ...]:
    """The error's RetryInfo once more, alone in the `google.rpc.retryinfo-bin` trailer: some
    clients read the retry delay only there, not from the status details (OpenTelemetry's Python
    exporter, docs/vendors/otlp.md §6)."""
    for detail in error.details():
        if isinstance(detail, error_details_pb2.RetryInfo):
            return ((_RETRY_INFO_TRAILER, detail.SerializeToString()),)
    return ()


def generic_handlers(
    pipeline: Pipeline, endpoints: Mapping[str, Endpoint], services: Sequence[ServiceDescriptor]
) -> list[grpc.GenericRpcHandler]:
    """One generic handler per service, each method served by its endpoint through `pipeline`."""
    handlers: list[grpc.GenericRpcHandler] = []
    for service in services:
        methods: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}
        for method in service.methods:
            endpoint = endpoints[method_path(service, method.name)]
            request_class = message_factory.GetMessageClass(method.input_type)
            response_class = message_factory.GetMessageClass(method.output_type)
            make = (
                grpc.stream_unary_rpc_method_handler
                if method.client_streaming
                else grpc.unary_unary_rpc_method_handler
            )
            methods[method.name] = make(
                _handler(pipeline, endpoint),
                request_deserializer=_deserializer(request_class),
                response_serializer=response_class.SerializeToString,
            )
        handlers.append(grpc.method_handlers_generic_handler(service.full_name, methods))
    return handlers


class GrpcServer:
    """A grpc.aio server with ingestd's services, health and reflection."""

    def __init__(
        self,
        pipeline: Pipeline,
        endpoints: Mapping[str, Endpoint],
        services: Sequence[ServiceDescriptor],
        *,
        max_message_bytes: int,
        reuse_port: bool = False,
    ) -> None:
        options = [
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.so_reuseport", int(reuse_port)),
        ]
        self.server = grpc.aio.server(options=options)
        self.server.add_generic_rpc_handlers(generic_handlers(pipeline, endpoints, services))
        self.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self._service_names = [s.full_name for s in services]
        self._pending: set[asyncio.Future[None]] = set()
        reflection.enable_server_reflection(
            [
                *self._service_names,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ],
            self.server,
        )

    def bind(self, address: str) -> int:
        """Listens on `address` (port 0 picks a free port); returns the bound port.

        Raises:
            CannotListen: the address could not be bound.
        """
        try:
            port = self.server.add_insecure_port(address)
        except RuntimeError:  # grpcio raises where older versions returned 0
            port = 0
        if port == 0:
            raise CannotListen(f"cannot listen for gRPC on {address}: in use, or not an address of this host")
        return port

    async def start(self) -> None:
        await self.server.start()
        for name in ("", *self._service_names):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

    def set_serving(self, serving: bool) -> None:
        """Reports SERVING or NOT_SERVING for every service (`Readiness`'s listener)."""
        states = health_pb2.HealthCheckResponse
        status = states.SERVING if serving else states.NOT_SERVING
        for name in ("", *self._service_names):
            self._pending.add(task := asyncio.ensure_future(self.health.set(name, status)))
            task.add_done_callback(self._pending.discard)

    async def stop(self, grace_s: float) -> None:
        """Reports NOT_SERVING, refuses new calls, and waits up to `grace_s` for calls in flight."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace_s)
