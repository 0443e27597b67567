"""AdminService and authentication, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from ingestd.v1 import admin_service_pb2, event_service_pb2
from server.config import Settings
from tests.conftest import MASTER_SECRET, PROJECT_SECRET, Client
from tests.helpers import log_event, reason, violations, write_request
from tests.process import printed_secret, run_cli

pb = admin_service_pb2


async def _denied(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    return caught.value


async def test_first_start_made_the_default_organization_and_project(client: Client) -> None:
    organization = await client.admin.GetOrganization(
        pb.GetOrganizationRequest(organization="default"), metadata=client.master
    )
    assert organization.organization.id == "default"
    projects = await client.admin.ListProjects(
        pb.ListProjectsRequest(organization="default"), metadata=client.master
    )
    assert [p.id for p in projects.projects] == ["default"]
    keys = await client.admin.ListApiKeys(
        pb.ListApiKeysRequest(organization="default"), metadata=client.master
    )
    assert sorted(k.kind for k in keys.api_keys) == [pb.API_KEY_KIND_MASTER, pb.API_KEY_KIND_PROJECT]


async def test_create_project_and_a_key_for_it(client: Client) -> None:
    created = await client.admin.CreateProject(
        pb.CreateProjectRequest(
            organization="default", project_id="checkout", project=pb.Project(display_name="C")
        ),
        metadata=client.master,
    )
    assert (created.project.id, created.project.organization, created.project.display_name) == (
        "checkout",
        "default",
        "C",
    )
    got = await client.admin.GetProject(pb.GetProjectRequest(project="checkout"), metadata=client.master)
    assert got.project == created.project

    made = await client.admin.CreateApiKey(
        pb.CreateApiKeyRequest(
            organization="default", kind=pb.API_KEY_KIND_PROJECT, project="checkout", name="ci"
        ),
        metadata=client.master,
    )
    assert made.secret.startswith("pk_") and made.api_key.prefix == made.secret[:10]
    new_key = client.auth(made.secret)
    written = await client.ingest.WriteEvents(write_request(log_event("x"), project=""), metadata=new_key)
    assert written.accepted_count == 1
    listed = await client.events.ListEvents(
        event_service_pb2.ListEventsRequest(project="checkout"), metadata=new_key
    )
    assert [e.project for e in listed.events] == ["checkout"]
    default_events = await client.events.ListEvents(
        event_service_pb2.ListEventsRequest(project="default"), metadata=client.project
    )
    assert list(default_events.events) == [], "the new key wrote into its own project"

    error = await _denied(
        client.events.ListEvents(event_service_pb2.ListEventsRequest(project="default"), metadata=new_key)
    )
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_project_errors(client: Client) -> None:
    duplicate = await _denied(
        client.admin.CreateProject(
            pb.CreateProjectRequest(organization="default", project_id="default"), metadata=client.master
        )
    )
    assert duplicate.code() == grpc.StatusCode.ALREADY_EXISTS
    malformed = await _denied(
        client.admin.CreateProject(
            pb.CreateProjectRequest(organization="default", project_id="Bad_Id"), metadata=client.master
        )
    )
    assert malformed.code() == grpc.StatusCode.INVALID_ARGUMENT
    missing = await _denied(
        client.admin.GetProject(pb.GetProjectRequest(project="nope"), metadata=client.master)
    )
    assert missing.code() == grpc.StatusCode.NOT_FOUND


async def test_secrets_are_shown_once_and_never_listed(client: Client) -> None:
    made = await client.admin.CreateApiKey(
        pb.CreateApiKeyRequest(organization="default", kind=pb.API_KEY_KIND_MASTER, name="ops"),
        metadata=client.master,
    )
    listed = await client.admin.ListApiKeys(
        pb.ListApiKeysRequest(organization="default"), metadata=client.master
    )

    wire = listed.SerializeToString()
    for secret in (made.secret, MASTER_SECRET, PROJECT_SECRET):
        assert secret.encode() not in wire
    assert [k.id for k in listed.api_keys][0] == made.api_key.id, "newest first"
    assert made.secret.startswith("mk_")


async def test_key_listing_pages_and_filters(client: Client) -> None:
    for n in range(4):
        await client.admin.CreateApiKey(
            pb.CreateApiKeyRequest(
                organization="default", kind=pb.API_KEY_KIND_PROJECT, project="default", name=f"{n}"
            ),
            metadata=client.master,
        )
    names: list[str] = []
    token = ""
    while True:
        page = await client.admin.ListApiKeys(
            pb.ListApiKeysRequest(organization="default", project="default", page_size=2, page_token=token),
            metadata=client.master,
        )
        names.extend(k.name for k in page.api_keys)
        token = page.next_page_token
        if not token:
            break
    assert names == ["3", "2", "1", "0", "bootstrap project key"]


async def test_revoked_key_is_refused_on_its_next_call(client: Client) -> None:
    made = await client.admin.CreateApiKey(
        pb.CreateApiKeyRequest(organization="default", kind=pb.API_KEY_KIND_PROJECT, project="default"),
        metadata=client.master,
    )
    key = client.auth(made.secret)
    # Warm every path first, so a cached principal would be used if revocation relied on the cache.
    await client.ingest.WriteEvents(write_request(log_event("before")), metadata=key)
    await client.events.ListEvents(event_service_pb2.ListEventsRequest(project="default"), metadata=key)

    revoked = await client.admin.RevokeApiKey(
        pb.RevokeApiKeyRequest(organization="default", key=made.api_key.id), metadata=client.master
    )
    assert revoked.api_key.revoke_time.seconds > 0

    for call in (
        client.ingest.WriteEvents(write_request(log_event("after")), metadata=key),
        client.events.ListEvents(event_service_pb2.ListEventsRequest(project="default"), metadata=key),
    ):
        error = await _denied(call)
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED
        assert reason(error) == "KEY_REVOKED"
    again = await client.admin.RevokeApiKey(
        pb.RevokeApiKeyRequest(organization="default", key=made.api_key.id), metadata=client.master
    )
    assert again.api_key.revoke_time == revoked.api_key.revoke_time
    stored = await client.events.ListEvents(
        event_service_pb2.ListEventsRequest(project="default"), metadata=client.project
    )
    assert [e.message for e in stored.events] == ["before"]


@pytest.mark.parametrize(
    ("request_", "code", "field"),
    [
        (pb.CreateApiKeyRequest(kind=pb.API_KEY_KIND_PROJECT), grpc.StatusCode.INVALID_ARGUMENT, "project"),
        (
            pb.CreateApiKeyRequest(kind=pb.API_KEY_KIND_MASTER, project="default"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "project",
        ),
        (pb.CreateApiKeyRequest(), grpc.StatusCode.INVALID_ARGUMENT, "kind"),
        (
            pb.CreateApiKeyRequest(kind=pb.API_KEY_KIND_MASTER, name="n" * 101),
            grpc.StatusCode.INVALID_ARGUMENT,
            "name",
        ),
        (
            pb.CreateApiKeyRequest(kind=pb.API_KEY_KIND_PROJECT, project="nope"),
            grpc.StatusCode.NOT_FOUND,
            None,
        ),
    ],
)
async def test_key_creation_rules(
    client: Client, request_: pb.CreateApiKeyRequest, code: grpc.StatusCode, field: str | None
) -> None:
    request_.organization = "default"
    error = await _denied(client.admin.CreateApiKey(request_, metadata=client.master))
    assert error.code() == code
    if field is not None:
        assert [f for f, _ in violations(error)] == [field]


async def test_only_a_master_key_of_the_organization_administers_it(client: Client) -> None:
    by_project_key = await _denied(
        client.admin.ListApiKeys(pb.ListApiKeysRequest(organization="default"), metadata=client.project)
    )
    assert by_project_key.code() == grpc.StatusCode.PERMISSION_DENIED
    assert reason(by_project_key) == "MASTER_KEY_REQUIRED"
    other_org = await _denied(
        client.admin.ListProjects(pb.ListProjectsRequest(organization="elsewhere"), metadata=client.master)
    )
    assert other_org.code() == grpc.StatusCode.PERMISSION_DENIED
    unknown_key = await _denied(
        client.admin.RevokeApiKey(
            pb.RevokeApiKeyRequest(organization="default", key="key_x"), metadata=client.master
        )
    )
    assert unknown_key.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(
    ("metadata", "expected_reason"),
    [
        ((), "MISSING_API_KEY"),
        ((("authorization", "Bearer wrong"),), "INVALID_API_KEY"),
        ((("x-api-key", "wrong"),), "INVALID_API_KEY"),
        ((("authorization", "Basic abc"),), "MISSING_API_KEY"),
        # A present Bearer token is never overridden by x-api-key.
        ((("authorization", "Bearer wrong"), ("x-api-key", PROJECT_SECRET)), "INVALID_API_KEY"),
    ],
)
async def test_bad_credentials_are_unauthenticated(
    client: Client, metadata: tuple[tuple[str, str], ...], expected_reason: str
) -> None:
    for call in (
        client.ingest.WriteEvents(write_request(log_event()), metadata=metadata),
        client.events.ListEvents(event_service_pb2.ListEventsRequest(project="default"), metadata=metadata),
        client.admin.GetOrganization(pb.GetOrganizationRequest(organization="default"), metadata=metadata),
    ):
        error = await _denied(call)
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED
        assert reason(error) == expected_reason


async def test_x_api_key_and_master_key_writes(client: Client) -> None:
    by_header = await client.ingest.WriteEvents(
        write_request(log_event("h")), metadata=(("x-api-key", PROJECT_SECRET),)
    )
    by_master = await client.ingest.WriteEvents(write_request(log_event("m")), metadata=client.master)
    assert by_header.accepted_count == by_master.accepted_count == 1
    error = await _denied(
        client.ingest.WriteEvents(write_request(log_event(), project=""), metadata=client.master)
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, "a master key must name the project"


async def test_another_organization_reaches_nothing_of_this_one(client: Client, settings: Settings) -> None:
    made = await asyncio.to_thread(run_cli, "orgs", "create", "acme", database_url=settings.database_url)
    assert made.returncode == 0, made.stderr
    acme = client.auth(printed_secret(made.stdout))

    denied = [
        client.admin.ListProjects(pb.ListProjectsRequest(organization="default"), metadata=acme),
        client.events.ListEvents(event_service_pb2.ListEventsRequest(project="default"), metadata=acme),
        client.ingest.WriteEvents(write_request(log_event()), metadata=acme),
        client.ingest.WriteEvents(write_request(log_event(), project="no-such-project"), metadata=acme),
    ]
    for call in denied:
        assert (await _denied(call)).code() == grpc.StatusCode.PERMISSION_DENIED
    await client.admin.CreateProject(
        pb.CreateProjectRequest(organization="acme", project_id="rockets"), metadata=acme
    )
    written = await client.ingest.WriteEvents(write_request(log_event(), project="rockets"), metadata=acme)
    assert written.accepted_count == 1
    theirs = await _denied(
        client.events.ListEvents(
            event_service_pb2.ListEventsRequest(project="rockets"), metadata=client.master
        )
    )
    assert theirs.code() == grpc.StatusCode.PERMISSION_DENIED
    duplicate = await asyncio.to_thread(run_cli, "orgs", "create", "acme", database_url=settings.database_url)
    assert duplicate.returncode == 1 and "already exists" in duplicate.stderr


async def test_a_taken_project_id_tells_another_organization_only_that_it_is_taken(
    client: Client, settings: Settings
) -> None:
    """Project ids are global (admin_service.proto, CreateProject): the refusal names neither the
    holder nor anything of the project, and reads answer it like a project that does not exist."""
    await client.admin.CreateProject(
        pb.CreateProjectRequest(organization="default", project_id="rockets"), metadata=client.master
    )
    made = await asyncio.to_thread(run_cli, "orgs", "create", "acme", database_url=settings.database_url)
    acme = client.auth(printed_secret(made.stdout))

    taken = await _denied(
        client.admin.CreateProject(
            pb.CreateProjectRequest(organization="acme", project_id="rockets"), metadata=acme
        )
    )
    assert taken.code() == grpc.StatusCode.ALREADY_EXISTS
    assert "default" not in (taken.details() or "")
    for read in (
        lambda project: client.admin.GetProject(pb.GetProjectRequest(project=project), metadata=acme),
        lambda project: client.admin.UpdateProject(pb.UpdateProjectRequest(project=project), metadata=acme),
    ):
        held, missing = await _denied(read("rockets")), await _denied(read("nothing"))
        assert held.code() == missing.code() == grpc.StatusCode.NOT_FOUND
        assert (held.details() or "").replace("rockets", "X") == (missing.details() or "").replace(
            "nothing", "X"
        )
    for write in (
        lambda project: client.events.ListEvents(
            event_service_pb2.ListEventsRequest(project=project), metadata=acme
        ),
        lambda project: client.ingest.WriteEvents(write_request(log_event(), project=project), metadata=acme),
    ):
        held, missing = await _denied(write("rockets")), await _denied(write("nothing"))
        assert held.code() == missing.code() == grpc.StatusCode.PERMISSION_DENIED
        assert (held.details() or "").replace("rockets", "X") == (missing.details() or "").replace(
            "nothing", "X"
        )
    key_for = [
        await _denied(
            client.admin.CreateApiKey(
                pb.CreateApiKeyRequest(organization="acme", kind=pb.API_KEY_KIND_PROJECT, project=project),
                metadata=acme,
            )
        )
        for project in ("rockets", "nothing")
    ]
    assert [e.code() for e in key_for] == [grpc.StatusCode.NOT_FOUND] * 2
    assert (key_for[0].details() or "").replace("rockets", "X") == (key_for[1].details() or "").replace(
        "nothing", "X"
    )


async def test_project_key_cannot_get_another_projects_event(client: Client) -> None:
    await client.admin.CreateProject(
        pb.CreateProjectRequest(organization="default", project_id="other"), metadata=client.master
    )
    written = await client.ingest.WriteEvents(
        write_request(log_event(), project="other"), metadata=client.master
    )
    event_id = written.results[0].event_id
    for project in ("other", "default"):
        request = event_service_pb2.GetEventRequest(project=project, event=event_id)
        if project == "other":
            assert (await _denied(client.events.GetEvent(request, metadata=client.project))).code() == (
                grpc.StatusCode.PERMISSION_DENIED
            )
        else:
            assert (await _denied(client.events.GetEvent(request, metadata=client.project))).code() == (
                grpc.StatusCode.NOT_FOUND
            )


async def test_project_listing_pages(client: Client) -> None:
    for name in ("b", "c", "a"):
        await client.admin.CreateProject(
            pb.CreateProjectRequest(organization="default", project_id=name), metadata=client.master
        )
    ids: list[str] = []
    token = ""
    while True:
        page = await client.admin.ListProjects(
            pb.ListProjectsRequest(organization="default", page_size=2, page_token=token),
            metadata=client.master,
        )
        ids.extend(p.id for p in page.projects)
        token = page.next_page_token
        if not token:
            break
    assert ids == ["a", "b", "c", "default"]
