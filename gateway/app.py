"""The HTTP gateway: one aiohttp application whose routes all come from `google.api.http`
annotations, in the style of grpc-gateway.

For each request the gateway matches a route, reads the body within limits, builds the RPC's
request message (path variables, query parameters, then the body), dispatches it, and renders the
response. Canonical routes speak proto3 JSON and answer errors as `google.rpc.Status`. A route whose
body field is a `google.api.HttpBody` is a vendor route: its bytes go to the dialect as sent (gzip
inflated first only where its edge says `inflate_gzip`), its response bytes come back as the
dialect made them, with the HTTP status the dialect put in `x-http-code`, and its errors are
rendered by its vendor's edge (`gateway.edge`).
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import orjson
import structlog
from aiohttp import web
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor, ServiceDescriptor
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2  # type: ignore[attr-defined]

from gateway.body import BodyBudget, BodyError, BodyLimits, Reservation, json_depth_exceeds, read_body
from gateway.codec import DecodeError, MessageCodec, assign_text, codec_for
from gateway.dispatch import Dispatcher, DispatchError, forwarded_metadata
from gateway.edge import Edge
from gateway.front import Request
from gateway.routes import Route, routes
from gateway.status import http_status, make_status, retry_after, status_body

_HTTP_BODY = "google.api.HttpBody"
_MAX_REQUEST_ID = 128
# Routes matched by (method, path) and remembered; past this many the memo starts afresh.
_MAX_MATCHED = 4096
_JSON = "application/json"
_CORS_METHODS = "GET, POST, OPTIONS"
_CANONICAL_CORS_HEADERS = "Authorization, Content-Type, Content-Encoding, X-Api-Key, X-Request-Id"
_CANONICAL_CORS_EXPOSED = "X-Request-Id, Retry-After"
# Request ids need only be unique: a PRNG seeded once, not a system call per request.
_unique = random.Random(secrets.randbits(128))
_access_log = structlog.get_logger("ingestd.http")


@dataclass(frozen=True, slots=True)
class GatewayLimits:
    """The limits of canonical routes; vendor edges may lower the body cap."""

    max_body_bytes: int
    max_decompressed_bytes: int
    max_json_depth: int
    body_timeout_s: float
    #: Request body bytes the process holds at once, compressed and inflated (`BodyBudget`).
    max_bytes_in_flight: int
    #: Browser origins the canonical API answers CORS requests from (exact, or `*` for any).
    cors_origins: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Binding:
    route: Route
    request_class: type[Message]
    request_codec: MessageCodec
    response_codec: MessageCodec | None
    #: The request field the body binds to: None for `*`, a name, or "" when there is no body.
    body_field: str | None
    raw: bool
    edge: Edge | None
    limits: BodyLimits


class HttpGateway:
    """The routes and the one request handler."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        services: Sequence[ServiceDescriptor],
        edges: Mapping[str, Edge],
        limits: GatewayLimits,
    ) -> None:
        self._dispatcher = dispatcher
        self._limits = limits
        self.body_budget = BodyBudget(limits.max_bytes_in_flight)
        #: For `/metrics`: HTTP responses by status.
        self.responses: dict[int, int] = {}
        methods = {f"/{s.full_name}/{m.name}": m for s in services for m in s.methods}
        self._bindings: dict[str, list[_Binding]] = {}
        self._matched: dict[tuple[str, str], tuple[_Binding, Mapping[str, str]] | tuple[()]] = {}
        self.routes = routes(services)
        for route in self.routes:
            method = methods[route.rpc]
            edge = edges.get(method.containing_service.full_name)
            binding = self._bind(route, method, edge)
            self._bindings.setdefault(route.http_method, []).append(binding)
        # Longest first, so that the most specific owner of an unmatched path answers it.
        self._prefix_owners = sorted(
            ((prefix, edge) for edge in edges.values() for prefix in edge.unmatched_prefixes),
            key=lambda owned: len(owned[0]),
            reverse=True,
        )

    def _bind(self, route: Route, method: MethodDescriptor, edge: Edge | None) -> _Binding:
        body_field: str | None = None if route.body == "*" else route.body
        raw = body_field is not None and _is_http_body(method.input_type, body_field)
        raw_response = bool(route.response_body) and _is_http_body(method.output_type, route.response_body)
        if edge is None and (raw or raw_response):
            raise ValueError(f"{route.rpc}: an HttpBody route needs a vendor edge")
        max_bytes = (
            edge.max_body_bytes if edge is not None and edge.max_body_bytes else self._limits.max_body_bytes
        )
        return _Binding(
            route=route,
            request_class=message_factory.GetMessageClass(method.input_type),
            request_codec=codec_for(method.input_type),
            response_codec=None if raw_response else codec_for(method.output_type),
            body_field=body_field,
            raw=raw,
            edge=edge,
            limits=BodyLimits(
                max_bytes=max_bytes,
                max_decompressed_bytes=self._limits.max_decompressed_bytes,
                timeout_s=self._limits.body_timeout_s,
                inflate=edge is None or edge.inflate_gzip,
            ),
        )

    def add_to(self, app: web.Application) -> None:
        app.router.add_route("*", "/{tail:.*}", self.handle)

    def serves(self, path: str) -> bool:
        """Whether a POST to `path` has a route here (`gateway.front` serves only those)."""
        return self._match("POST", path) is not None

    def _match(self, method: str, path: str) -> tuple[_Binding, Mapping[str, str]] | None:
        """The route of `method` and `path` and its path variables (not to be changed: they are
        remembered for the next request to the same path, as most requests are)."""
        key = (method, path)
        found = self._matched.get(key)
        if found is None:
            found = self._find(method, path)
            if len(self._matched) >= _MAX_MATCHED:
                self._matched.clear()
            self._matched[key] = found
        return found or None

    def _find(self, method: str, path: str) -> tuple[_Binding, Mapping[str, str]] | tuple[()]:
        # HEAD is a GET without a body (aiohttp drops the body); vendor health probes use it.
        for binding in self._bindings.get("GET" if method == "HEAD" else method, ()):
            variables = binding.route.match(path)
            if variables is not None:
                return binding, variables
        return ()

    def _any_method(self, path: str) -> tuple[list[str], Edge | None]:
        allowed: list[str] = []
        edge: Edge | None = None
        for method, bindings in self._bindings.items():
            for binding in bindings:
                if binding.route.match(path) is not None:
                    allowed.append(method)
                    edge = edge or binding.edge
        if not allowed:
            edge = next((owner for prefix, owner in self._prefix_owners if path.startswith(prefix)), None)
        return allowed, edge

    async def handle(self, request: Request) -> web.StreamResponse:
        started = time.perf_counter()
        request_id = _request_id(request.headers.get("X-Request-Id", ""))
        path = request.path
        found = self._match(request.method, path)
        call: dict[str, object] = {}
        if found is None:
            response = self._unmatched(request, path, request_id)
            self._access(request, response.status, started, request_id, call)
            return response
        binding, variables = found
        try:
            response = await self._serve(request, binding, variables, request_id, call)
        except (BodyError, DecodeError, DispatchError) as error:
            response = self._error(binding.edge, _status_of(error), _http_of(error), request_id)
            if not isinstance(error, DispatchError):  # the call's own refusal is in `call` already
                call["reason"] = str(error)
        except asyncio.CancelledError:
            self._access(request, 499, started, request_id, call)  # nginx's "client closed request"
            raise
        response.headers["X-Request-Id"] = request_id
        if binding.edge is not None and binding.edge.cors:
            _allow_origin(request, response, credentials=True, expose=", ".join(binding.edge.expose_headers))
        elif binding.edge is None and self._cors_allows(request):
            _allow_origin(request, response, credentials=False, expose=_CANONICAL_CORS_EXPOSED)
        self._access(request, response.status, started, request_id, call)
        return response

    def _access(
        self, request: Request, status: int, started: float, request_id: str, call: dict[str, object]
    ) -> None:
        """One line per HTTP request: info, a warning for a 4xx, an error for a 5xx."""
        call.pop("http_status", None)  # a vendor's own status: the line's `status` is the one sent
        self.responses[status] = self.responses.get(status, 0) + 1
        log = _access_log
        (log.info if status < 400 else log.warning if status < 500 else log.error)(
            "http",
            method=request.method,
            path=request.path,
            status=status,
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
            request_id=request_id,
            peer=request.remote,
            **call,
        )

    async def _serve(
        self,
        request: Request,
        binding: _Binding,
        variables: Mapping[str, str],
        request_id: str,
        call: dict[str, object],
    ) -> web.Response:
        edge = binding.edge
        if edge is not None and edge.precheck is not None and (binding.body_field != "" or binding.raw):
            refused = edge.precheck(request.headers, request.query)
            if refused is not None:
                return self._error(edge, refused[1], refused[0], request_id)
        message = binding.request_class()
        for field_path, value in variables.items():
            assign_text(message, field_path, [value])
        if binding.body_field == "" and not binding.raw:
            return await self._answer(request, binding, message, variables, request_id, call)
        # The body's bytes, as sent and inflated, count against the process's budget until the
        # call is answered: the request message built from them lives as long.
        reservation = Reservation(self.body_budget)
        try:
            data = await read_body(request, binding.limits, reservation)
            self._bind_body(message, binding, data, request.headers.get("Content-Type", ""))
            del data
            return await self._answer(request, binding, message, variables, request_id, call)
        finally:
            reservation.release()

    async def _answer(
        self,
        request: Request,
        binding: _Binding,
        message: Message,
        variables: Mapping[str, str],
        request_id: str,
        call: dict[str, object],
    ) -> web.Response:
        if binding.body_field is not None and request.query:
            self._bind_query(message, binding, request.query, variables)
        metadata = forwarded_metadata(request.headers)
        metadata["x-request-id"] = request_id
        reply, headers = await self._dispatcher.unary(
            binding.route.rpc, message, metadata, peer=request.remote or "", log=call
        )
        if binding.response_codec is None:
            body = getattr(reply, binding.route.response_body)
            status = int(headers.pop("x-http-code", "200"))
            return web.Response(
                status=status,
                body=body.data,
                content_type=None,
                headers={"Content-Type": body.content_type or _JSON, **_plain_headers(headers)},
            )
        out = reply if not binding.route.response_body else getattr(reply, binding.route.response_body)
        rendered = orjson.dumps(codec_for(out.DESCRIPTOR).encode(out))
        return web.Response(body=rendered, content_type=_JSON)

    def _bind_body(self, message: Message, binding: _Binding, data: bytes, content_type: str) -> None:
        if binding.raw:
            assert binding.body_field
            target = getattr(message, binding.body_field)
            target.content_type = content_type
            target.data = data
            return
        if not data.strip():
            return
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise BodyError(400, code_pb2.INVALID_ARGUMENT, f"invalid JSON: {exc}", "INVALID_JSON") from None
        if json_depth_exceeds(value, self._limits.max_json_depth):
            raise BodyError(
                400,
                code_pb2.INVALID_ARGUMENT,
                f"JSON nests deeper than {self._limits.max_json_depth} levels",
                "JSON_TOO_DEEP",
            )
        if binding.body_field is None:
            binding.request_codec.merge(message, value)
        else:
            target = getattr(message, binding.body_field)
            codec_for(target.DESCRIPTOR).merge(target, value)

    def _bind_query(
        self, message: Message, binding: _Binding, query: Mapping[str, str], variables: Mapping[str, str]
    ) -> None:
        # grpc-gateway binds query parameters to the fields that neither the path nor the body
        # already bind; with body "*" there are none left.
        values: dict[str, list[str]] = {}
        for key, value in query.items():
            values.setdefault(key, []).append(value)
        for key, given in values.items():
            if key in variables or (binding.body_field and key.split(".")[0] == binding.body_field):
                continue
            if binding.edge and key.split(".")[0] not in binding.request_class.DESCRIPTOR.fields_by_name:
                continue  # vendor servers ignore the parameters they do not define
            assign_text(message, key, given)

    def _cors_allows(self, request: Request) -> bool:
        origin = request.headers.get("Origin")
        origins = self._limits.cors_origins
        return origin is not None and bool(origins) and ("*" in origins or origin in origins)

    def _unmatched(self, request: Request, path: str, request_id: str) -> web.StreamResponse:
        allowed, edge = self._any_method(path)
        if request.method == "OPTIONS" and edge is not None and edge.cors:
            asked = request.headers.get("Access-Control-Request-Headers", "")
            return _preflight(request, _CORS_METHODS, asked or "content-type", credentials=True, expose="")
        if allowed and edge is None and request.method == "OPTIONS" and self._cors_allows(request):
            # A preflight of the canonical API from an allowed origin.
            methods = ", ".join(sorted({*allowed, "OPTIONS"}))
            return _preflight(
                request, methods, _CANONICAL_CORS_HEADERS, credentials=False, expose=_CANONICAL_CORS_EXPOSED
            )
        if allowed and edge is None:
            status = make_status(
                code_pb2.UNIMPLEMENTED, f"{request.method} is not allowed here", "METHOD_NOT_ALLOWED"
            )
            response = self._error(None, status, 405, request_id)
            response.headers["Allow"] = ", ".join(sorted(allowed))
        else:
            status = make_status(
                code_pb2.NOT_FOUND, f"no route for {request.method} {path}", "ROUTE_NOT_FOUND"
            )
            response = self._error(edge, status, 404, request_id)
        response.headers["X-Request-Id"] = request_id
        return response

    def _error(
        self, edge: Edge | None, status: status_pb2.Status, http: int, request_id: str
    ) -> web.Response:
        headers: dict[str, str] = {}
        delay = retry_after(status)
        if delay is not None:
            headers["Retry-After"] = delay
        if edge is None:
            return web.Response(status=http, body=status_body(status), content_type=_JSON, headers=headers)
        http, body = edge.render_error(http, status, request_id)
        headers["Content-Type"] = edge.content_type_for(http) if edge.content_type_for else edge.content_type
        return web.Response(status=http, body=body, headers=headers)


def _is_http_body(message: Descriptor, field_name: str) -> bool:
    field: FieldDescriptor | None = message.fields_by_name.get(field_name)
    return field is not None and field.message_type is not None and field.message_type.full_name == _HTTP_BODY


def _status_of(error: BodyError | DecodeError | DispatchError) -> status_pb2.Status:
    if isinstance(error, DecodeError):
        status = make_status(code_pb2.INVALID_ARGUMENT, "invalid request", "INVALID_ARGUMENT")
        _add_violations(status, error.violations)
        return status
    return error.status


def _http_of(error: BodyError | DecodeError | DispatchError) -> int:
    if isinstance(error, BodyError):
        return error.http_status
    if isinstance(error, DecodeError):
        return 400
    return http_status(error.status)


def _add_violations(status: status_pb2.Status, violations: Iterable[tuple[str, str]]) -> None:
    request = error_details_pb2.BadRequest()
    for field, description in violations:
        request.field_violations.add(field=field, description=description)
    status.details.add().Pack(request)
    status.message = "invalid request: " + "; ".join(f"{f}: {d}" for f, d in violations)


def _request_id(given: str) -> str:
    if given and len(given) <= _MAX_REQUEST_ID and given.isascii() and given.isprintable():
        return given
    return "req_%016x" % _unique.getrandbits(64)  # noqa: UP031


def _plain_headers(headers: Mapping[str, str]) -> dict[str, str]:
    # A handler's response metadata becomes HTTP headers, except gRPC's own and the request id,
    # which the gateway sets itself.
    return {k: v for k, v in headers.items() if not k.startswith("grpc-") and k != "x-request-id"}


def _allow_origin(request: Request, response: web.StreamResponse, *, credentials: bool, expose: str) -> None:
    """Lets the request's origin read the answer: echoes the exact origin, since vendors' beacons are
    credentialed and `*` would be refused (docs/vendors/opensentry.md §5). The canonical API's keys
    travel in headers, never cookies, so it allows no credentials."""
    origin = request.headers.get("Origin")
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        if credentials:
            response.headers["Access-Control-Allow-Credentials"] = "true"
        if expose:
            response.headers["Access-Control-Expose-Headers"] = expose
    response.headers["Vary"] = "Origin"


def _preflight(
    request: Request, methods: str, headers: str, *, credentials: bool, expose: str
) -> web.Response:
    response = web.Response(status=204)
    _allow_origin(request, response, credentials=credentials, expose=expose)
    response.headers["Access-Control-Allow-Methods"] = methods
    response.headers["Access-Control-Allow-Headers"] = headers
    response.headers["Access-Control-Max-Age"] = "86400"
    return response
