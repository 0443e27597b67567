"""The endpoint table: every RPC of every exposed service, mapped to its domain handler.

Both transports are built from this table, and `check_complete` makes startup fail when a
service declares an RPC the table does not serve.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from google.protobuf.descriptor import ServiceDescriptor

from ingestd.v1 import admin_service_pb2, alert_service_pb2, event_service_pb2, ingest_service_pb2
from server.admin import Admin
from server.dialects import VENDORS
from server.ingest import Ingest
from server.pipeline import Endpoint
from server.queries import EventQueries
from server.redaction.service import RedactionRules
from server.streams import Streams
from server.viewer_tokens import ViewerTokens

#: ingestd's own API.
CANONICAL_SERVICES: tuple[ServiceDescriptor, ...] = (
    ingest_service_pb2.DESCRIPTOR.services_by_name["IngestService"],
    event_service_pb2.DESCRIPTOR.services_by_name["EventService"],
    admin_service_pb2.DESCRIPTOR.services_by_name["AdminService"],
    alert_service_pb2.DESCRIPTOR.services_by_name["AlertService"],
)

#: Every service ingestd exposes over gRPC and over HTTP through its annotations: its own API and
#: the vendors' compat services.
SERVICES: tuple[ServiceDescriptor, ...] = CANONICAL_SERVICES + tuple(v.service for v in VENDORS)

#: Every service ingestd's gRPC port serves: those above, and the vendors' gRPC-only services
#: (`Vendor.grpc_services`), which have no HTTP rules.
GRPC_SERVICES: tuple[ServiceDescriptor, ...] = SERVICES + tuple(s for v in VENDORS for s in v.grpc_services)


def build_endpoints(
    ingest: Ingest,
    queries: EventQueries,
    admin: Admin,
    redaction: RedactionRules,
    viewer_tokens: ViewerTokens,
    streams: Streams,
    more_endpoints: Sequence[Endpoint],
) -> dict[str, Endpoint]:
    """The endpoint of each RPC, keyed by its gRPC method path (`/pkg.Service/Method`);
    `more_endpoints` are those of services that list their own (alerting, the vendors)."""
    admin_rpc = "/ingestd.v1.AdminService/"
    table = [
        Endpoint("/ingestd.v1.IngestService/WriteEvents", ingest.write_events, cached_auth=True),
        Endpoint(
            "/ingestd.v1.IngestService/StreamEvents",
            ingest.stream_events,
            client_streaming=True,
            cached_auth=True,
        ),
        Endpoint("/ingestd.v1.EventService/ListEvents", queries.list_events),
        Endpoint("/ingestd.v1.EventService/GetEvent", queries.get_event),
        Endpoint("/ingestd.v1.EventService/ListIssues", queries.list_issues),
        Endpoint("/ingestd.v1.AdminService/GetOrganization", admin.get_organization_rpc),
        Endpoint("/ingestd.v1.AdminService/CreateProject", admin.create_project_rpc),
        Endpoint("/ingestd.v1.AdminService/GetProject", admin.get_project_rpc),
        Endpoint("/ingestd.v1.AdminService/ListProjects", admin.list_projects_rpc),
        Endpoint("/ingestd.v1.AdminService/CreateApiKey", admin.create_api_key_rpc),
        Endpoint("/ingestd.v1.AdminService/ListApiKeys", admin.list_api_keys_rpc),
        Endpoint("/ingestd.v1.AdminService/RevokeApiKey", admin.revoke_api_key_rpc),
        Endpoint(admin_rpc + "UpdateProject", admin.update_project_rpc),
        Endpoint(admin_rpc + "CreateViewerToken", viewer_tokens.create_viewer_token_rpc),
        Endpoint(admin_rpc + "ListRedactionRules", redaction.list_redaction_rules_rpc),
        Endpoint(admin_rpc + "CreateRedactionRule", redaction.create_redaction_rule_rpc),
        Endpoint(admin_rpc + "UpdateRedactionRule", redaction.update_redaction_rule_rpc),
        Endpoint(admin_rpc + "DeleteRedactionRule", redaction.delete_redaction_rule_rpc),
        Endpoint(admin_rpc + "TestRedaction", redaction.test_redaction_rpc),
        # Anonymous streams take no key: the handlers never authenticate.
        Endpoint(admin_rpc + "WriteStreamEvents", streams.write_stream_events_rpc, handler_auth=True),
        Endpoint(admin_rpc + "GetStream", streams.get_stream_rpc, handler_auth=True),
        Endpoint(admin_rpc + "ClaimStream", streams.claim_stream_rpc),
        *more_endpoints,
    ]
    endpoints = {e.method: e for e in table}
    check_complete(endpoints, GRPC_SERVICES)
    return endpoints


def method_path(service: ServiceDescriptor, method_name: str) -> str:
    return f"/{service.full_name}/{method_name}"


def check_complete(endpoints: Mapping[str, Endpoint], services: Sequence[ServiceDescriptor]) -> None:
    """Raises RuntimeError unless every RPC of `services` has an endpoint of the right shape, and
    every endpoint belongs to one of them."""
    declared = {}
    for service in services:
        for method in service.methods:
            declared[method_path(service, method.name)] = method
    missing = sorted(set(declared) - set(endpoints))
    unknown = sorted(set(endpoints) - set(declared))
    if missing or unknown:
        raise RuntimeError(
            f"endpoint table out of step with the protos: missing {missing}, unknown {unknown}"
        )
    for path, method in declared.items():
        if method.client_streaming != endpoints[path].client_streaming or method.server_streaming:
            raise RuntimeError(f"{path}: the endpoint's streaming shape does not match the proto")
