"""The generated OpenAPI document, and the docs pages that serve it with vendored assets only."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from google.api import annotations_pb2, field_behavior_pb2, httpbody_pb2  # type: ignore[attr-defined]
from google.protobuf import descriptor_pb2, descriptor_pool, duration_pb2, wrappers_pb2
from google.protobuf.descriptor import ServiceDescriptor
from grpc_tools import protoc
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from gateway.docs import ASSET_PREFIX, STATIC, add_docs_routes
from gateway.openapi import COMPAT_PACKAGE_PREFIX, build_document, load_descriptor_set, openapi_path
from gateway.routes import routes
from server import paging
from server.dialects import EDGES
from server.endpoints import CANONICAL_SERVICES, SERVICES
from tools.assets import NODE_MODULES, VENDORED, package_version
from tools.protogen import PROTO_ROOT

# Imported for their descriptors: the test proto below depends on them being in the pool.
_DEPENDENCIES = (annotations_pb2, field_behavior_pb2, httpbody_pb2, duration_pb2, wrappers_pb2)


def _document(services: tuple[ServiceDescriptor, ...] = SERVICES, **kwargs: Any) -> dict[str, Any]:
    options = {"title": "ingestd", "version": "0.1.0", "descriptor_set": load_descriptor_set(), **kwargs}
    return build_document(services, routes(services), edges=EDGES, **options)


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return _document()


def _operation(document: dict[str, Any], method: str, template: str) -> dict[str, Any]:
    found: dict[str, Any] = document["paths"][openapi_path(template)[0]][method.lower()]
    return found


def _params(operation: dict[str, Any], where: str) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in operation.get("parameters", []) if p["in"] == where}


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    validate(document, cls=OpenAPIV31SpecValidator)


def test_the_document_is_valid_without_a_descriptor_set() -> None:
    bare = _document(descriptor_set=None)
    validate(bare, cls=OpenAPIV31SpecValidator)
    assert "description" not in bare["components"]["schemas"]["ingestd.v1.Event"]


def test_the_descriptor_set_ships_in_the_ingestd_package() -> None:
    shipped = (resources.files("ingestd") / "descriptors.binpb").read_bytes()
    assert shipped == (PROTO_ROOT / "ingestd" / "descriptors.binpb").read_bytes()


def test_every_route_is_one_operation_with_its_method_and_path_parameters(document: dict[str, Any]) -> None:
    all_routes = routes(SERVICES)
    ids = [op["operationId"] for ops in document["paths"].values() for op in ops.values()]
    assert len(ids) == len(all_routes) == len(set(ids))
    for route in all_routes:
        operation = _operation(document, route.http_method, route.template)
        assert set(_params(operation, "path")) == set(route.variables), route.template
        assert all(p["required"] for p in _params(operation, "path").values())


def test_operations_are_named_and_described_from_the_protos(document: dict[str, Any]) -> None:
    write = _operation(document, "POST", "/v1/projects/{project}/events:write")
    assert write["operationId"] == "IngestService_WriteEvents"
    assert write["tags"] == ["IngestService"]
    assert write["summary"] == "Writes a batch of events"
    assert "unless `atomic` is set" in write["description"]
    tags = {tag["name"]: tag for tag in document["tags"]}
    assert tags["IngestService"]["description"].startswith("Writes telemetry events into a project.")


def test_get_requests_take_the_remaining_fields_as_query_parameters(document: dict[str, Any]) -> None:
    listing = _operation(document, "GET", "/v1/projects/{project}/events")
    query = _params(listing, "query")
    assert "project" not in query
    assert {"page_size", "page_token", "kind", "level", "start_time", "text"} <= set(query)
    assert query["kind"]["schema"] == {"$ref": "#/components/schemas/ingestd.v1.Kind"}
    assert query["start_time"]["schema"] == {"type": "string", "format": "date-time"}
    assert query["page_size"]["schema"]["type"] == "integer"
    assert "requestBody" not in listing
    assert _params(listing, "path")["project"]["schema"]["pattern"] == "^[^/]+$"


def test_body_star_is_the_request_less_its_path_fields(document: dict[str, Any]) -> None:
    write = _operation(document, "POST", "/v1/projects/{project}/events:write")
    schema = write["requestBody"]["content"]["application/json"]["schema"]
    assert set(schema["properties"]) == {"events", "atomic"}
    assert schema["required"] == ["events"]
    assert schema["properties"]["events"]["items"] == {"$ref": "#/components/schemas/ingestd.v1.Event"}
    assert _params(write, "query") == {}


def test_a_body_field_is_the_body_and_the_rest_are_query_parameters(document: dict[str, Any]) -> None:
    create = _operation(document, "POST", "/v1/organizations/{organization}/projects")
    body = create["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/ingestd.v1.Project"}
    assert set(_params(create, "query")) == {"project_id"}
    assert _params(create, "query")["project_id"]["required"] is True
    response = create["responses"]["200"]["content"]["application/json"]["schema"]
    assert response == {"$ref": "#/components/schemas/ingestd.v1.Project"}


def test_errors_are_google_rpc_status(document: dict[str, Any]) -> None:
    get = _operation(document, "GET", "/v1/projects/{project}/events/{event}")
    error = get["responses"]["default"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/google.rpc.Status"}
    status = document["components"]["schemas"]["google.rpc.Status"]
    assert set(status["properties"]) == {"code", "message", "details"}
    assert status["properties"]["details"]["items"]["required"] == ["@type"]


def test_the_event_schema_has_descriptions_and_read_only_output_fields(document: dict[str, Any]) -> None:
    event = document["components"]["schemas"]["ingestd.v1.Event"]
    assert event["description"].startswith("The canonical telemetry event")
    props = event["properties"]
    assert {name for name, p in props.items() if p.get("readOnly")} == {
        "id",
        "project",
        "receivedAt",
        "dialect",
    }
    assert all(p.get("description") for p in props.values())
    assert props["occurredAt"] == {
        "type": "string",
        "format": "date-time",
        "description": "Optional. When the event happened, as the sender saw it. Defaults to `received_at`.",
    }
    assert props["tags"]["additionalProperties"] == {"type": "string"}
    assert props["context"]["type"] == "object"
    assert "Member of the `body` oneof" in props["error"]["description"]
    kind = document["components"]["schemas"]["ingestd.v1.Kind"]
    assert kind["type"] == "string" and "KIND_ERROR" in kind["enum"]
    assert "- `KIND_ERROR`: An exception or a captured failure." in kind["description"]


def test_int64_is_a_string_or_an_integer_as_in_proto3_json(document: dict[str, Any]) -> None:
    issue = document["components"]["schemas"]["ingestd.v1.Issue"]
    assert issue["properties"]["count"]["type"] == ["string", "integer"]


def test_canonical_operations_require_a_key_and_vendor_operations_use_their_own(
    document: dict[str, Any],
) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    assert schemes["apiKey"] == {**schemes["apiKey"], "type": "apiKey", "in": "header", "name": "x-api-key"}
    canonical = {s.name for s in CANONICAL_SERVICES}
    assert all(not s.full_name.startswith(COMPAT_PACKAGE_PREFIX) for s in CANONICAL_SERVICES)
    vendors: dict[str, list[dict[str, list[str]]] | None] = {
        "LogisterService": [{"bearer": []}, {"apiKey": []}],
        "OpenSentryService": [{"openSentryKey": []}, {"openSentryQueryKey": []}],
        "OperynService": [{"apiKey": []}],
        "OtlpService": [{"bearer": []}, {"apiKey": []}],
        "SentryService": [{"sentryAuth": []}, {"sentryQueryKey": []}],
        "SimpleLogsService": None,  # the key is a field of the body
    }
    for ops in document["paths"].values():
        for op in ops.values():
            tag = op["tags"][0]
            if tag in canonical:
                expected = [{"bearer": []}, {"apiKey": []}]
            elif tag.startswith("LogStitch"):
                expected = [{"bearer": []}]
            else:
                expected = vendors[tag]
            assert op.get("security") == expected, op["operationId"]
    assert schemes["openSentryQueryKey"] == {**schemes["openSentryQueryKey"], "in": "query", "name": "key"}


def test_the_document_serves_itself_and_its_clients_get_working_examples(document: dict[str, Any]) -> None:
    assert document["servers"] == [{"url": "/", "description": "this ingestd"}]
    listing = _operation(document, "GET", "/v1/projects/{project}/events")
    page_size = next(p for p in listing["parameters"] if p["name"] == "page_size")
    assert (page_size["schema"]["minimum"], page_size["schema"]["maximum"]) == (0, paging.MAX_PAGE_SIZE)
    event = document["components"]["schemas"]["ingestd.v1.Event"]
    assert event["example"]["log"] == {"logger": "auth"} and "Example:" not in event["description"]
    members = {f for f in event["properties"] if f in ("error", "log", "span", "metric", "checkIn")}
    assert len(members & set(event["example"])) == 1, "one body, as the oneof allows"
    for tag in document["tags"]:
        assert "shared/" not in tag.get("description", "") and "seeds" not in tag.get("description", "")


# A proto that exercises what the canonical API does not: variables with a pattern, additional
# bindings, DELETE, nested and repeated query fields, recursion, wrappers, maps and HttpBody.
_SHELF_PROTO = """
syntax = "proto3";
package openapi_testing.v1;
import "google/api/annotations.proto";
import "google/api/field_behavior.proto";
import "google/api/httpbody.proto";
import "google/protobuf/duration.proto";
import "google/protobuf/wrappers.proto";

// Shelves.
service ShelfService {
  // Gets a shelf. Shelves are never cached.
  rpc GetShelf(GetShelfRequest) returns (Shelf) {
    option (google.api.http) = {
      get: "/v1/{name=shelves/*}"
      additional_bindings { get: "/v1/legacy/{name=shelves/*}" }
    };
  }
  // Deletes a shelf.
  rpc DeleteShelf(DeleteShelfRequest) returns (DeleteShelfResponse) {
    option (google.api.http) = {delete: "/v1/{name=shelves/*}"};
  }
  // Takes a vendor's JSON as it is.
  rpc Upload(UploadRequest) returns (UploadResponse) {
    option (google.api.http) = {post: "/upload/{bucket}" body: "body" response_body: "body"};
  }
}
// A shelf, which may hold shelves.
message Shelf {
  // The shelf's name.
  string name = 1 [(google.api.field_behavior) = REQUIRED];
  Shelf inner = 2;
  map<int32, Shelf> by_number = 3;
  google.protobuf.Int64Value count = 4;
  bytes blob = 5;
  repeated uint64 ids = 6;
  google.protobuf.Duration ttl = 7;
  optional bool open = 8;
  oneof material { string wood = 9; string metal = 10; }
  float width = 11;
}
enum Color { COLOR_UNSPECIFIED = 0; COLOR_RED = 1; }
message Filter {
  int32 min_count = 1;
  repeated string tags = 2;
  Filter deeper = 3;
  map<string, string> labels = 4;
}
message GetShelfRequest {
  string name = 1;
  Filter filter = 2;
  repeated Color colors = 3;
  google.protobuf.Int64Value limit = 4;
}
message DeleteShelfRequest { string name = 1; bool force = 2; }
message DeleteShelfResponse {}
message UploadRequest {
  // The vendor's JSON.
  google.api.HttpBody body = 1;
  string bucket = 2;
  string key = 3;
}
message UploadResponse { google.api.HttpBody body = 1; }
"""


@pytest.fixture(scope="module")
def shelves(tmp_path_factory: pytest.TempPathFactory) -> tuple[ServiceDescriptor, bytes]:
    root = tmp_path_factory.mktemp("protos")
    (root / "openapi_testing" / "v1").mkdir(parents=True)
    (root / "openapi_testing" / "v1" / "shelf.proto").write_text(_SHELF_PROTO)
    out = root / "set.binpb"
    well_known = resources.files("grpc_tools") / "_proto"
    includes = [f"-I{root}", f"-I{PROTO_ROOT}", f"-I{well_known}"]
    options = ["--include_source_info", "--include_imports", f"--descriptor_set_out={out}"]
    assert protoc.main(["protoc", *includes, *options, "openapi_testing/v1/shelf.proto"]) == 0
    data = out.read_bytes()
    files = {f.name: f for f in descriptor_pb2.FileDescriptorSet.FromString(data).file}
    pool = descriptor_pool.Default()
    try:
        pool.FindFileByName("openapi_testing/v1/shelf.proto")
    except KeyError:
        pool.AddSerializedFile(files["openapi_testing/v1/shelf.proto"].SerializeToString())
    return pool.FindServiceByName("openapi_testing.v1.ShelfService"), data


def test_any_service_gets_a_valid_document(shelves: tuple[ServiceDescriptor, bytes]) -> None:
    service, descriptor_set = shelves
    doc = _document((service,), descriptor_set=descriptor_set)
    validate(doc, cls=OpenAPIV31SpecValidator)
    paths = doc["paths"]
    assert set(paths) == {"/v1/{name}", "/v1/legacy/{name}", "/upload/{bucket}"}
    assert paths["/v1/{name}"]["get"]["operationId"] == "ShelfService_GetShelf"
    assert paths["/v1/legacy/{name}"]["get"]["operationId"] == "ShelfService_GetShelf2"
    assert paths["/v1/{name}"]["get"]["summary"] == "Gets a shelf"
    assert paths["/v1/{name}"]["get"]["description"] == "Gets a shelf. Shelves are never cached."
    get = paths["/v1/{name}"]["get"]
    assert _params(get, "path")["name"]["schema"] == {"type": "string", "pattern": "^shelves/[^/]+$"}
    query = _params(get, "query")
    # The recursive `deeper` and the map `labels` are not query parameters.
    assert set(query) == {"filter.min_count", "filter.tags", "colors", "limit"}
    assert query["colors"]["schema"]["items"] == {"$ref": "#/components/schemas/openapi_testing.v1.Color"}
    assert query["limit"]["schema"]["type"] == ["string", "integer", "null"]
    assert set(_params(paths["/v1/{name}"]["delete"], "query")) == {"force"}


def test_message_schemas_follow_the_proto3_json_mapping(shelves: tuple[ServiceDescriptor, bytes]) -> None:
    service, descriptor_set = shelves
    schemas = _document((service,), descriptor_set=descriptor_set)["components"]["schemas"]
    shelf = schemas["openapi_testing.v1.Shelf"]
    props = shelf["properties"]
    assert shelf["required"] == ["name"]
    assert props["inner"] == {"$ref": "#/components/schemas/openapi_testing.v1.Shelf"}
    assert props["byNumber"]["additionalProperties"] == props["inner"]
    assert props["byNumber"]["propertyNames"] == {"pattern": "^-?[0-9]+$"}
    assert props["count"]["type"] == ["string", "integer", "null"]
    assert props["blob"]["contentEncoding"] == "base64"
    assert props["ids"]["items"]["type"] == ["string", "integer"]
    assert props["ttl"]["pattern"].endswith("s$")
    assert props["open"] == {"type": "boolean"}  # proto3 `optional` is no oneof to the reader
    assert "Member of the `material` oneof" in props["wood"]["description"]
    assert props["width"]["type"] == ["number", "string"]


def test_http_body_is_raw_json_in_the_vendors_shape(shelves: tuple[ServiceDescriptor, bytes]) -> None:
    service, descriptor_set = shelves
    upload = _document((service,), descriptor_set=descriptor_set)["paths"]["/upload/{bucket}"]["post"]
    assert upload["requestBody"] == {
        "description": "The vendor's JSON.",
        "required": True,
        "content": {"application/json": {"schema": {}}},
    }
    assert set(_params(upload, "query")) == {"key"}
    assert upload["responses"]["2XX"]["content"] == {"application/json": {"schema": {}}}
    assert upload["summary"] == "Takes a vendor's JSON as it is"
    assert "description" not in upload  # a one-sentence comment is all summary


def test_a_route_outside_the_services_is_refused() -> None:
    with pytest.raises(ValueError, match="not in the services"):
        build_document(CANONICAL_SERVICES[:1], routes(CANONICAL_SERVICES), title="t", version="1")


_SEGMENT = "^[^/]+$"


@pytest.mark.parametrize(
    ("template", "path", "patterns"),
    [
        ("/v1/projects/{project}/events:write", "/v1/projects/{project}/events:write", {"project": _SEGMENT}),
        ("/v1/{name=projects/*/keys/*}:revoke", "/v1/{name}:revoke", {"name": "^projects/[^/]+/keys/[^/]+$"}),
        ("/v1/{path=files/**}", "/v1/{path}", {"path": "^files/.+$"}),
    ],
)
def test_openapi_path(template: str, path: str, patterns: dict[str, str]) -> None:
    assert openapi_path(template) == (path, patterns)


def test_openapi_path_refuses_a_bare_wildcard() -> None:
    with pytest.raises(ValueError, match="wildcard"):
        openapi_path("/v1/*/events")


# The docs pages.

Client = TestClient[web.Request, web.Application]
_LOCAL = re.compile(r"""(?:src|href)="([^"]+)"|"(?:url|favicon)": "([^"]+)\"""")
_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png", ".json": "application/json"}


@pytest.fixture
async def docs(document: dict[str, Any]) -> Any:
    app = web.Application()
    add_docs_routes(app, document)
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as client:
        yield client


async def test_openapi_json_is_the_document_and_revalidates_cheaply(
    docs: Client, document: dict[str, Any]
) -> None:
    response = await docs.get("/openapi.json")
    assert response.status == 200
    assert response.content_type == "application/json"
    assert json.loads(await response.read()) == json.loads(json.dumps(document))
    assert response.headers["Cache-Control"] == "no-cache"
    again = await docs.get("/openapi.json", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status == 304


@pytest.mark.parametrize("page", ["/api", "/reference"])
async def test_pages_reference_only_local_assets_that_are_served(docs: Client, page: str) -> None:
    response = await docs.get(page)
    assert response.status == 200
    assert response.content_type == "text/html"
    text = await response.text()
    assert not re.search(r"https?:|//", text), "a page must load nothing from another origin"
    assert "script-src 'self' 'sha256-" in response.headers["Content-Security-Policy"]
    references = [a or b for a, b in _LOCAL.findall(text)]
    assert "openapi.json" in references and len(references) >= 3
    for reference in references:
        target = urljoin(page, reference)
        asset = await docs.get(target, headers={"Accept-Encoding": "identity"})
        assert asset.status == 200, target
        assert asset.content_type == _TYPES[Path(urlsplit(target).path).suffix], target
        if urlsplit(target).path.startswith(ASSET_PREFIX):
            assert asset.headers["Cache-Control"] == "public, max-age=31536000, immutable"


async def test_assets_are_sent_gzipped_to_clients_that_accept_it(
    docs: Client,
) -> None:
    css = ASSET_PREFIX + "swagger-ui/swagger-ui.css"
    plain = await docs.get(css, headers={"Accept-Encoding": "identity"})
    packed = await docs.get(css, headers={"Accept-Encoding": "gzip"})
    assert packed.headers["Content-Encoding"] == "gzip"
    assert packed.content_type == "text/css"
    assert await packed.read() == await plain.read()  # the client inflates it
    # Without the digest in the URL the copy may change under the same name: revalidate.
    assert plain.headers["Cache-Control"] == "no-cache"


@pytest.mark.parametrize("name", ["nope.js", "README.md", "assets.json", "scalar/LICENSE", "../docs.py"])
async def test_only_listed_assets_are_served(docs: Client, name: str) -> None:
    assert (await docs.get(ASSET_PREFIX + name)).status == 404


# The vendored copies.


def _manifest() -> dict[str, dict[str, str]]:
    manifest: dict[str, dict[str, str]] = json.loads((STATIC / "assets.json").read_text())
    return manifest


def test_vendored_assets_match_their_manifest_and_gzip_siblings() -> None:
    manifest = _manifest()
    assert set(manifest) == {v.target for v in VENDORED if v.served}
    for name, entry in manifest.items():
        data = (STATIC / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], name
        if not name.endswith(".png"):  # PNGs are compressed already
            assert gzip.decompress((STATIC / (name + ".gz")).read_bytes()) == data, name
    expected = {v.target for v in VENDORED} | {n + ".gz" for n in manifest if not n.endswith(".png")}
    present = {str(p.relative_to(STATIC)) for p in STATIC.rglob("*") if p.is_file()}
    assert present == expected | {"assets.json", "README.md"}


def test_vendored_assets_are_the_pinned_packages_files() -> None:
    if not NODE_MODULES.is_dir():
        pytest.skip("node_modules is not installed (`make test` installs it)")
    pinned = json.loads((NODE_MODULES.parent / "package.json").read_text())["devDependencies"]
    for item in VENDORED:
        copy = (STATIC / item.target).read_bytes()
        assert copy == (NODE_MODULES / item.package / item.source).read_bytes(), f"{item.target}: make assets"
        if item.served:
            version = package_version(item.package)
            assert _manifest()[item.target]["version"] == version == pinned[item.package]
