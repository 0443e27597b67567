"""Routes come only from the protos' annotations, and no canonical path shadows a vendor's."""

from __future__ import annotations

import re

import pytest

from gateway.routes import RuleError, compile_template, routes
from server.endpoints import CANONICAL_SERVICES, SERVICES

#: Every path the five vendors document (docs/vendors/).
VENDOR_PATHS = [
    "/api/v1/ingest_events",
    "/api/v1/ingest_events/batch",
    "/api/v1/ingest_events.json",
    "/api/v1/check_ins",
    "/api/v1/deployments",
    "/api/v1/mobile_ingest_tokens",
    "/up",
    "/health",
    "/v1/ingest",
    "/ingest",
    "/events/logs",
    "/events/logs/batch",
    "/events/metrics",
    "/events/deployments",
    "/api",
    "/reference",
    "/openapi.json",
    "/api/v1/events",
    "/api/v1/keys",
    "/api/v1/keys/key_1",
    "/api/v1/redaction/rules",
    "/api/v1/redaction/rules/r1",
    "/api/v1/redaction/test",
    "/api/v1/viewer-tokens",
    "/api/v1/alerts",
    "/api/v1/alerts/a1",
    "/api/v1/alerts/rules",
    "/api/v1/alerts/rules/r1",
    "/api/v1/alerts/webhooks",
    "/api/v1/alerts/webhooks/w1",
    "/api/v1/streams/0b9f7a52-4d0c-4a4e-9a43-5f8f1f0b7a11/events",
    "/api/v1/streams/0b9f7a52-4d0c-4a4e-9a43-5f8f1f0b7a11/info",
    "/api/v1/streams/claim",
    "/api/v1/enqueue",
]


def _example(template: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", template)


def test_every_rpc_has_a_route_under_v1() -> None:
    found = routes(CANONICAL_SERVICES)
    rpcs = {f"/{s.full_name}/{m.name}" for s in CANONICAL_SERVICES for m in s.methods}
    assert {r.rpc for r in found} == rpcs
    assert all(re.match(r"^/v1/(projects|organizations|streams)/\{", r.template) for r in found)
    by_rpc = {r.rpc.rsplit("/", 1)[1]: (r.http_method, r.template) for r in found}
    assert by_rpc["WriteEvents"] == ("POST", "/v1/projects/{project}/events:write")
    assert by_rpc["ListEvents"] == ("GET", "/v1/projects/{project}/events")
    assert by_rpc["GetEvent"] == ("GET", "/v1/projects/{project}/events/{event}")


def test_no_route_shadows_a_vendor_path() -> None:
    for route in routes(CANONICAL_SERVICES):
        for path in VENDOR_PATHS:
            assert route.match(path) is None, f"{route.template} would capture {path}"


def test_each_route_matches_only_its_own_paths() -> None:
    found = routes(SERVICES)
    for route in found:
        example = _example(route.template)
        owners = [
            r.template for r in found if r.http_method == route.http_method and r.match(example) is not None
        ]
        assert owners == [route.template]


@pytest.mark.parametrize(
    ("template", "regex", "variables"),
    [
        ("/v1/projects/{project}/events:write", r"^/v1/projects/(?P<v0>[^/]+)/events:write$", ("project",)),
        ("/v1/{name=projects/*}/keys", r"^/v1/(?P<v0>projects/[^/]+)/keys$", ("name",)),
        ("/v1/files/{path=**}", r"^/v1/files/(?P<v0>.+)$", ("path",)),
        ("/v1/{a.b}/*", r"^/v1/(?P<v0>[^/]+)/[^/]+$", ("a.b",)),
        # A vendor whose server ignores a trailing slash binds the slashed path too.
        ("/api/{project_id}/envelope/", r"^/api/(?P<v0>[^/]+)/envelope/$", ("project_id",)),
    ],
)
def test_compile_template(template: str, regex: str, variables: tuple[str, ...]) -> None:
    assert compile_template(template) == (regex, variables)


@pytest.mark.parametrize("template", ["v1/x", "/v1/{x}/{x}", "/v1/{Bad}", "/v1/a b", "/v1/x:"])
def test_malformed_templates_are_refused(template: str) -> None:
    with pytest.raises(RuleError):
        compile_template(template)


def test_match_extracts_variables() -> None:
    [route] = [r for r in routes(SERVICES) if r.rpc.endswith("/RevokeApiKey")]
    assert route.match("/v1/organizations/default/keys/key_1:revoke") == {
        "organization": "default",
        "key": "key_1",
    }
    assert route.match("/v1/organizations/default/keys/key_1") is None
    assert (route.body, route.response_body) == ("*", "api_key")
