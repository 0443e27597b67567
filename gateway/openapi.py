"""The OpenAPI 3.1 document of the HTTP gateway, derived from descriptors and routes alone.

Nothing is written per API: operations come from the `google.api.http` routes, schemas from the
messages in the proto3 JSON mapping (what `json_format` emits and accepts), and descriptions from
the proto comments in the descriptor set that `tools/protogen.py` writes. The conventions are
grpc-gateway's `protoc-gen-openapiv2`: path variables are path parameters; with body `*` the rest
of the request is the body; otherwise the fields bound to neither path nor body are query
parameters, by proto field path (`page_size`, `user.id`); errors are a `google.rpc.Status`.

A body or response body of type `google.api.HttpBody` is raw content in a vendor's own shape:
it is described as `application/json` with a schema that accepts anything, and the operation is
left to its RPC comment. Those vendor operations (`ingestd.compat.*`) authenticate their vendor's
way: each carries the security schemes its edge names (`Edge.security`, with the schemes the edge
adds in `Edge.security_schemes`), the canonical operations the bearer and `x-api-key` ones.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from importlib import resources
from typing import Any

from google.api import field_behavior_pb2  # type: ignore[attr-defined]
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import (
    Descriptor,
    EnumDescriptor,
    FieldDescriptor,
    MethodDescriptor,
    ServiceDescriptor,
)
from google.rpc import status_pb2  # type: ignore[attr-defined]

from gateway.edge import Edge
from gateway.routes import Route

Schema = dict[str, Any]

HTTP_BODY = "google.api.HttpBody"
#: Vendor dialect packages: their operations are documented by their own comments and auth.
COMPAT_PACKAGE_PREFIX = "ingestd.compat."
#: The canonical API's security schemes; vendors' edges may name them too, and add their own
#: (`Edge.security_schemes`).
SECURITY_SCHEMES: dict[str, Schema] = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key as `Authorization: Bearer <key>`: a project key (`pk_…`) or a master key.",
    },
    "apiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "x-api-key",
        "description": "The same API key in the `x-api-key` header.",
    },
}
_SECURITY: list[dict[str, list[str]]] = [{"bearer": []}, {"apiKey": []}]
#: The largest page any List call returns (AIP-158), as `server.paging` enforces.
MAX_PAGE_SIZE = 1000
_REF = "#/components/schemas/"
_OUTPUT_ONLY = field_behavior_pb2.OUTPUT_ONLY
_INPUT_ONLY = field_behavior_pb2.INPUT_ONLY
_REQUIRED = field_behavior_pb2.REQUIRED
_OPENAPI_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
_VARIABLE = re.compile(r"\{([^}=]+)(?:=([^}]*))?\}")

_F = FieldDescriptor
_INT64 = {"type": ["string", "integer"], "format": "int64", "pattern": "^-?[0-9]{1,19}$"}
_UINT64 = {"type": ["string", "integer"], "format": "uint64", "pattern": "^[0-9]{1,20}$", "minimum": 0}
# json_format writes NaN and the infinities as strings; every other value is a number.
_DOUBLE = {"type": ["number", "string"], "format": "double", "pattern": "^(NaN|-?Infinity)$"}
_FLOAT = {**_DOUBLE, "format": "float", "minimum": -3.4028234663852886e38, "maximum": 3.4028234663852886e38}
_INT32 = {"type": "integer", "format": "int32", "minimum": -(2**31), "maximum": 2**31 - 1}
_UINT32 = {"type": "integer", "format": "uint32", "minimum": 0, "maximum": 2**32 - 1}
_BYTES = {"type": "string", "format": "byte", "contentEncoding": "base64"}
_SCALARS: dict[int, Schema] = {
    _F.TYPE_DOUBLE: _DOUBLE,
    _F.TYPE_FLOAT: _FLOAT,
    **dict.fromkeys((_F.TYPE_INT64, _F.TYPE_SINT64, _F.TYPE_SFIXED64), _INT64),
    **dict.fromkeys((_F.TYPE_UINT64, _F.TYPE_FIXED64), _UINT64),
    **dict.fromkeys((_F.TYPE_INT32, _F.TYPE_SINT32, _F.TYPE_SFIXED32), _INT32),
    **dict.fromkeys((_F.TYPE_UINT32, _F.TYPE_FIXED32), _UINT32),
    _F.TYPE_BOOL: {"type": "boolean"},
    _F.TYPE_STRING: {"type": "string"},
    _F.TYPE_BYTES: _BYTES,
}


def _nullable(schema: Schema) -> Schema:
    types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    return {**schema, "type": [*types, "null"]}


#: Well-known types have their own JSON forms, so they are inlined rather than referenced.
_WELL_KNOWN: dict[str, Schema] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]{1,9})?s$"},
    "google.protobuf.FieldMask": {"type": "string"},
    "google.protobuf.Struct": {"type": "object", "additionalProperties": True},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array", "items": {}},
    "google.protobuf.Empty": {"type": "object"},
    "google.protobuf.Any": {
        "type": "object",
        "properties": {"@type": {"type": "string", "description": "The type URL of the packed message."}},
        "required": ["@type"],
        "additionalProperties": True,
    },
    "google.protobuf.DoubleValue": _nullable(_DOUBLE),
    "google.protobuf.FloatValue": _nullable(_FLOAT),
    "google.protobuf.Int64Value": _nullable(_INT64),
    "google.protobuf.UInt64Value": _nullable(_UINT64),
    "google.protobuf.Int32Value": _nullable(_INT32),
    "google.protobuf.UInt32Value": _nullable(_UINT32),
    "google.protobuf.BoolValue": {"type": ["boolean", "null"]},
    "google.protobuf.StringValue": {"type": ["string", "null"]},
    "google.protobuf.BytesValue": _nullable(_BYTES),
}
#: The well-known types a query parameter can carry: the ones whose JSON form is a scalar.
_QUERY_WELL_KNOWN = {
    name for name, schema in _WELL_KNOWN.items() if schema.get("type") not in (None, "object", "array")
}


def load_descriptor_set() -> bytes | None:
    """The descriptor set shipped in the `ingestd` package (`descriptors.binpb`), or None when
    this installation lacks it; the document is then complete but without descriptions."""
    try:
        return (resources.files("ingestd") / "descriptors.binpb").read_bytes()
    except (FileNotFoundError, ModuleNotFoundError):
        return None


def build_document(
    services: Sequence[ServiceDescriptor],
    routes: Sequence[Route],
    *,
    title: str,
    version: str,
    descriptor_set: bytes | None = None,
    description: str | None = None,
    edges: Mapping[str, Edge] | None = None,
) -> dict[str, Any]:
    """The OpenAPI 3.1.0 document of `routes`, whose RPCs all belong to `services`.

    Every route is one operation, with the operationId `Service_Method` (`Service_Method2`, … for
    additional bindings). `descriptor_set` is a serialized `FileDescriptorSet` with source info:
    the source of summaries and descriptions.

    Raises:
        ValueError: a route names an RPC outside `services`, uses an HTTP method or a template
            OpenAPI cannot express (a wildcard outside a variable), or two routes share a method
            and path.
    """
    docs = comments(descriptor_set) if descriptor_set else {}
    schemas = _Schemas(docs)
    methods = {f"/{s.full_name}/{m.name}": m for s in services for m in s.methods}
    tags = _tag_names(services)
    bindings: dict[str, int] = {}
    paths: dict[str, dict[str, Any]] = {}
    security_schemes: dict[str, Any] = dict(SECURITY_SCHEMES)
    for vendor_edge in (edges or {}).values():
        security_schemes.update(vendor_edge.security_schemes)
    for route in routes:
        method = methods.get(route.rpc)
        if method is None:
            raise ValueError(f"{route.http_method} {route.template}: {route.rpc} is not in the services")
        verb = route.http_method.lower()
        if verb not in _OPENAPI_METHODS:
            raise ValueError(f"{route.rpc}: OpenAPI has no HTTP method {route.http_method}")
        bindings[route.rpc] = bindings.get(route.rpc, 0) + 1
        suffix = str(bindings[route.rpc]) if bindings[route.rpc] > 1 else ""
        path, patterns = openapi_path(route.template)
        tag = tags[method.containing_service]
        operation = _operation(route, method, patterns, schemas, docs, tag, f"{tag}_{method.name}{suffix}")
        edge = (edges or {}).get(method.containing_service.full_name)
        if edge is not None and edge.security:
            operation["security"] = [{scheme: []} for scheme in edge.security]
            unknown = set(edge.security) - security_schemes.keys()
            if unknown:
                raise ValueError(f"{route.rpc}: no security scheme {sorted(unknown)}")
        if verb in paths.setdefault(path, {}):
            raise ValueError(f"two routes are {route.http_method} {path}")
        paths[path][verb] = operation
    info = _without_empty({"title": title, "version": version, "description": description})
    document = {
        "openapi": "3.1.0",
        "info": info,
        # Relative: "try it" calls the ingestd that serves the document, wherever it runs.
        "servers": [{"url": "/", "description": "this ingestd"}],
        "tags": [_without_empty({"name": tags[s], "description": docs.get(s.full_name)}) for s in services],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.components.items())),
            "securitySchemes": security_schemes,
        },
    }
    # Schemas are shared between operations and with this module's tables: the caller gets a tree
    # of its own, safe to change.
    return copy.deepcopy(document)


def openapi_path(template: str) -> tuple[str, dict[str, str]]:
    """The OpenAPI path of a `google.api.http` template, and each variable's regular expression.

    `/v1/{name=projects/*}/keys:revoke` gives `/v1/{name}/keys:revoke` and
    `{"name": "^projects/[^/]+$"}`; custom verbs stay literal.

    Raises:
        ValueError: the template has a `*` or `**` segment outside a variable.
    """
    patterns: dict[str, str] = {}

    def variable(found: re.Match[str]) -> str:
        segments = (found.group(2) or "*").split("/")
        patterns[found.group(1)] = "^" + "/".join(_segment_regex(s) for s in segments) + "$"
        return "{" + found.group(1) + "}"

    path = _VARIABLE.sub(variable, template)
    if any(segment in ("*", "**") for segment in _VARIABLE.sub("", template).split("/")):
        raise ValueError(f"{template!r}: OpenAPI cannot express a wildcard outside a variable")
    return path, patterns


def _segment_regex(segment: str) -> str:
    return {"*": "[^/]+", "**": ".+"}.get(segment) or re.escape(segment)


def comments(descriptor_set: bytes) -> dict[str, str]:
    """The leading (else trailing) comment of every element of `descriptor_set`, by full name:
    `pkg.Message`, `pkg.Message.field`, `pkg.Enum`, `pkg.Enum.VALUE`, `pkg.Service`,
    `pkg.Service.Method`. Enum values are keyed under their enum, unlike protobuf's own scoping."""
    found: dict[str, str] = {}
    for file in descriptor_pb2.FileDescriptorSet.FromString(descriptor_set).file:
        texts = {
            tuple(loc.path): loc.leading_comments or loc.trailing_comments
            for loc in file.source_code_info.location
        }
        for name, path in _elements(file):
            text = _clean(texts.get(path, ""))
            if text:
                found[name] = text
    return found


def _elements(file: descriptor_pb2.FileDescriptorProto) -> Iterator[tuple[str, tuple[int, ...]]]:
    prefix = f"{file.package}." if file.package else ""
    for i, message in enumerate(file.message_type):
        yield from _message_elements(message, prefix + message.name, (4, i))
    for i, enum in enumerate(file.enum_type):
        yield from _enum_elements(enum, prefix + enum.name, (5, i))
    for i, service in enumerate(file.service):
        yield prefix + service.name, (6, i)
        for j, method in enumerate(service.method):
            yield f"{prefix}{service.name}.{method.name}", (6, i, 2, j)


def _message_elements(
    message: descriptor_pb2.DescriptorProto, name: str, path: tuple[int, ...]
) -> Iterator[tuple[str, tuple[int, ...]]]:
    yield name, path
    for j, field in enumerate(message.field):
        yield f"{name}.{field.name}", (*path, 2, j)
    for j, nested in enumerate(message.nested_type):
        yield from _message_elements(nested, f"{name}.{nested.name}", (*path, 3, j))
    for j, enum in enumerate(message.enum_type):
        yield from _enum_elements(enum, f"{name}.{enum.name}", (*path, 4, j))


def _enum_elements(
    enum: descriptor_pb2.EnumDescriptorProto, name: str, path: tuple[int, ...]
) -> Iterator[tuple[str, tuple[int, ...]]]:
    yield name, path
    for j, value in enumerate(enum.value):
        yield f"{name}.{value.name}", (*path, 2, j)


def _clean(comment: str) -> str:
    # protoc keeps the space after `//` on every line; Markdown would read it as indentation.
    lines = (line[1:] if line.startswith(" ") else line for line in comment.splitlines())
    return "\n".join(line.rstrip() for line in lines).strip()


def _summary(text: str) -> str:
    """The first sentence of a comment, on one line and without its full stop."""
    paragraph = " ".join(text.split("\n\n", 1)[0].split())
    return re.split(r"(?<=\.)\s", paragraph, maxsplit=1)[0].removesuffix(".")


def _without_empty(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value not in (None, "", [], {})}


def _tag_names(services: Sequence[ServiceDescriptor]) -> dict[ServiceDescriptor, str]:
    """Each service's short name, or its full name with `_` for dots when the short one is shared."""
    short = [s.name for s in services]
    return {s: s.name if short.count(s.name) == 1 else s.full_name.replace(".", "_") for s in services}


def _is_raw(message: Descriptor | None) -> bool:
    return message is not None and message.full_name == HTTP_BODY


def _behaviors(field: FieldDescriptor) -> set[int]:
    return set(field.GetOptions().Extensions[field_behavior_pb2.field_behavior])


def _is_map(field: FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def _field_at(message: Descriptor, path: str) -> FieldDescriptor:
    *parents, last = path.split(".")
    for name in parents:
        message = _message_of(message.fields_by_name[name])
    return message.fields_by_name[last]


def _message_of(field: FieldDescriptor) -> Descriptor:
    if field.message_type is None:
        raise ValueError(f"{field.full_name} is not a message field")
    return field.message_type


class _Schemas:
    """Schemas in the proto3 JSON mapping; named messages and enums go to `components` once."""

    def __init__(self, docs: dict[str, str]) -> None:
        self.docs = docs
        self.components: dict[str, Schema] = {}

    def ref(self, descriptor: Descriptor | EnumDescriptor) -> Schema:
        name = descriptor.full_name
        if name in _WELL_KNOWN:
            return dict(_WELL_KNOWN[name])
        if name == "google.protobuf.NullValue":
            return {"type": "null"}
        if name not in self.components:
            self.components[name] = {}  # a placeholder first, so a recursive type refers to itself
            if isinstance(descriptor, EnumDescriptor):
                self.components[name] = self._enum(descriptor)
            else:
                self.components[name] = self.message(descriptor)
        return {"$ref": _REF + name}

    def field(self, field: FieldDescriptor) -> Schema:
        """The field's value schema, with its description, readOnly and writeOnly."""
        if _is_map(field):
            entry = _message_of(field)
            key, value = entry.fields_by_name["key"], entry.fields_by_name["value"]
            schema: Schema = {"type": "object", "additionalProperties": self.single(value)}
            if key.type == _F.TYPE_BOOL:
                schema["propertyNames"] = {"enum": ["true", "false"]}
            elif key.type != _F.TYPE_STRING:
                schema["propertyNames"] = {"pattern": "^-?[0-9]+$"}
        elif field.is_repeated:
            schema = {"type": "array", "items": self.single(field)}
        else:
            schema = self.single(field)
        if field.name == "page_size" and field.type == _F.TYPE_INT32:
            # AIP-158: every List call takes 0 (the default) to MAX_PAGE_SIZE; the server clamps
            # larger ones (`server.paging`).
            schema.update(minimum=0, maximum=MAX_PAGE_SIZE)
        behaviors = _behaviors(field)
        notes = [self.docs.get(field.full_name, "")]
        oneof = field.containing_oneof
        if oneof is not None and not (len(oneof.fields) == 1 and oneof.name == f"_{field.name}"):
            members = ", ".join(f"`{f.json_name}`" for f in oneof.fields)
            notes.append(f"Member of the `{oneof.name}` oneof: at most one of {members} is set.")
        schema.update(
            _without_empty(
                {
                    "description": "\n\n".join(n for n in notes if n),
                    "readOnly": _OUTPUT_ONLY in behaviors or None,
                    "writeOnly": _INPUT_ONLY in behaviors or None,
                    "deprecated": field.GetOptions().deprecated or None,
                }
            )
        )
        return schema

    def single(self, field: FieldDescriptor) -> Schema:
        """The schema of one value of the field, ignoring repetition."""
        if field.enum_type is not None:
            return self.ref(field.enum_type)
        if field.message_type is not None:
            return self.ref(field.message_type)
        return dict(_SCALARS[field.type])

    def message(self, message: Descriptor) -> Schema:
        """The object schema of a message, built afresh and not registered as a component. A
        comment paragraph `Example: <JSON>` becomes the schema's example: the API documents'
        clients would otherwise fill every member of a oneof at once."""
        properties = {field.json_name: self.field(field) for field in message.fields}
        required = [field.json_name for field in message.fields if _REQUIRED in _behaviors(field)]
        text, example = _example_of(self.docs.get(message.full_name, ""))
        return _without_empty(
            {
                "type": "object",
                "properties": properties,
                "required": required,
                "description": text,
                "example": example,
            }
        )

    def _enum(self, enum: EnumDescriptor) -> Schema:
        lines = []
        for value in enum.values:
            text = self.docs.get(f"{enum.full_name}.{value.name}", "")
            lines.append(f"- `{value.name}`" + (f": {' '.join(text.split())}" if text else ""))
        description = "\n\n".join(t for t in (self.docs.get(enum.full_name), "\n".join(lines)) if t)
        # json_format also parses enum numbers, but writes names: the names are the contract.
        return {"type": "string", "enum": [v.name for v in enum.values], "description": description}


def _example_of(text: str) -> tuple[str, Any]:
    """A comment without its `Example: <JSON>` paragraph, and that example parsed (or None)."""
    kept, example = [], None
    for paragraph in text.split("\n\n"):
        if paragraph.startswith("Example: "):
            example = json.loads(" ".join(paragraph.removeprefix("Example: ").split()))
        else:
            kept.append(paragraph)
    return "\n\n".join(kept), example


def _operation(
    route: Route,
    method: MethodDescriptor,
    patterns: dict[str, str],
    schemas: _Schemas,
    docs: dict[str, str],
    tag: str,
    operation_id: str,
) -> dict[str, Any]:
    request = method.input_type
    text = docs.get(method.full_name, "")
    parameters = [_path_parameter(request, v, patterns[v], schemas) for v in route.variables]
    body: dict[str, Any] | None = None
    if route.body == "*":
        body = _raw_body(None) if _is_raw(request) else _whole_body(request, route, schemas)
    elif route.body:
        field = request.fields_by_name[route.body]
        schema = schemas.field(field)
        field_text = schema.pop("description", None)
        if _is_raw(field.message_type):
            body = _raw_body(field_text)
        else:
            content = {"application/json": {"schema": schema}}
            body = _without_empty({"description": field_text, "required": True, "content": content})
    if route.body != "*":
        excluded = {*route.variables, route.body}
        parameters += _query_parameters(request, excluded, schemas, "", (request.full_name,))
    if method.client_streaming:
        text += "\n\nOver HTTP the stream is one request: its body is one message of the stream."
    vendor = method.containing_service.full_name.startswith(COMPAT_PACKAGE_PREFIX)
    summary = _summary(text) if text else method.name
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "tags": [tag],
        "summary": summary,
        # A one-sentence comment is all summary; repeating it as the description is noise.
        "description": "" if text.strip() in (summary, summary + ".") else text.strip(),
        "parameters": parameters,
        "requestBody": body,
        "responses": _responses(method, route, schemas),
        "security": None if vendor else _SECURITY,
        "deprecated": method.GetOptions().deprecated or None,
    }
    return _without_empty(operation)


def _path_parameter(request: Descriptor, variable: str, pattern: str, schemas: _Schemas) -> dict[str, Any]:
    schema = schemas.field(_field_at(request, variable))
    text = schema.pop("description", None)
    schema.pop("readOnly", None)
    if schema.get("type") == "string":
        schema["pattern"] = pattern
    parameter = {"name": variable, "in": "path", "required": True, "description": text, "schema": schema}
    return _without_empty(parameter)


def _query_parameters(
    message: Descriptor, excluded: set[str], schemas: _Schemas, prefix: str, seen: tuple[str, ...]
) -> list[dict[str, Any]]:
    """grpc-gateway's query parameters: every scalar, enum and scalar-like well-known field not
    bound to the path or the body, with nested messages flattened to dotted names (`user.id`).

    Parameters are named by proto field name, not JSON name: every grpc-gateway-style transcoder
    accepts it, and a vendor's query keys are its field names (LogStitch's `tenant_id`)."""
    found: list[dict[str, Any]] = []
    for field in message.fields:
        proto_path = prefix + field.name
        behaviors = _behaviors(field)
        if proto_path in excluded or _OUTPUT_ONLY in behaviors or _is_map(field):
            continue
        nested = field.message_type
        if nested is not None and nested.full_name not in _QUERY_WELL_KNOWN:
            if not field.is_repeated and nested.full_name not in seen and not _is_raw(nested):
                seen_here = (*seen, nested.full_name)
                found += _query_parameters(nested, excluded, schemas, proto_path + ".", seen_here)
            continue
        schema = schemas.field(field)
        text = schema.pop("description", None)
        parameter = {"name": proto_path, "in": "query", "description": text, "schema": schema}
        found.append(_without_empty({**parameter, "required": _REQUIRED in behaviors or None}))
    return found


def _whole_body(request: Descriptor, route: Route, schemas: _Schemas) -> dict[str, Any]:
    """Body `*`: the request message, less the fields the path binds."""
    top = {v for v in route.variables if "." not in v}
    if top:
        whole = schemas.message(request)
        names = {request.fields_by_name[v].json_name for v in top}
        properties = {k: v for k, v in whole.get("properties", {}).items() if k not in names}
        required = [k for k in whole.get("required", []) if k not in names]
        schema = _without_empty({**whole, "properties": properties, "required": required})
    else:
        schema = schemas.ref(request)
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _raw_body(text: str | None) -> dict[str, Any]:
    return _without_empty(
        {
            "description": text or "The body, as the vendor's clients send it.",
            "required": True,
            "content": {"application/json": {"schema": {}}},
        }
    )


def _responses(method: MethodDescriptor, route: Route, schemas: _Schemas) -> dict[str, Any]:
    response = method.output_type
    raw = _is_raw(response)
    text = schemas.docs.get(response.full_name, "The response.")
    if route.response_body:
        field = response.fields_by_name[route.response_body]
        schema = schemas.field(field)
        text = schema.pop("description", None) or text
        raw = _is_raw(field.message_type)
    if raw:
        # The vendor's status (200, 201, 202) and error shapes are its own; the comment says which.
        anything: dict[str, Schema] = {"application/json": {"schema": {}}}
        return {
            "2XX": {"description": text, "content": anything},
            "default": {"description": "An error, in the vendor's format.", "content": anything},
        }
    if not route.response_body:
        schema = schemas.ref(response)
    status = schemas.ref(status_pb2.Status.DESCRIPTOR)
    return {
        "200": {"description": text, "content": {"application/json": {"schema": schema}}},
        "default": {
            "description": "An error: a `google.rpc.Status` whose `code` is the gRPC status code.",
            "content": {"application/json": {"schema": status}},
        },
    }
