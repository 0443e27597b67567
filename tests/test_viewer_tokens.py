"""Viewer tokens over gRPC: AdminService.CreateViewerToken (a master key of the organization, or a
live project key of the project), EventService ListEvents/GetEvent held to the token's tenant,
read-only everywhere else, expiry against the injected clock, tampering, rotation of the stored
signing secret, and secrets from settings. On SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import grpc
import jwt
import pytest

from ingestd.v1 import admin_service_pb2 as admin_pb
from ingestd.v1 import event_pb2 as E
from ingestd.v1 import event_service_pb2 as pb
from server import viewer_tokens
from server.config import Settings
from server.errors import FailedPrecondition
from server.main import core, running
from storage.signing import SigningSecretRepository
from tests.conftest import Client, grpc_channel, make_settings
from tests.helpers import log_event, write_request
from tests.http.test_logister_ratelimit import ManualClock

START_S = 1_767_225_600
SECRET_A = "a" * 40
SECRET_B = "b" * 40


def audit(tenant: str, action: str = "user.login") -> E.Event:
    return E.Event(kind=E.KIND_AUDIT, message=action, audit=E.AuditBody(action=action, tenant_id=tenant))


async def refused(call: Awaitable[Any], code: grpc.StatusCode) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert caught.value.code() == code, caught.value.details()


async def token(
    client: Client, tenant: str = "acme", *, secret: tuple[tuple[str, str], ...] = (), **kw: Any
) -> str:
    request = admin_pb.CreateViewerTokenRequest(project="default", tenant_id=tenant, **kw)
    made = await client.admin.CreateViewerToken(request, metadata=secret or client.project)
    assert made.token.startswith("vt_")
    return str(made.token)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START_S)


@pytest.fixture
async def clocked(settings: Settings, clock: ManualClock) -> AsyncIterator[Client]:
    async with running(settings, clock) as started, grpc_channel(started.grpc_port) as channel:
        yield Client.for_channel(started, channel)


async def test_a_master_key_or_a_live_project_key_creates_tokens(clocked: Client, clock: ManualClock) -> None:
    client = clocked
    made = await client.admin.CreateViewerToken(
        admin_pb.CreateViewerTokenRequest(project="default", tenant_id="acme", expires_in_seconds=120),
        metadata=client.master,
    )
    assert made.expire_time.ToMicroseconds() == clock.now + 120_000_000
    await token(client)

    await client.admin.CreateProject(
        admin_pb.CreateProjectRequest(organization="default", project_id="other"), metadata=client.master
    )
    await refused(
        client.admin.CreateViewerToken(
            admin_pb.CreateViewerTokenRequest(project="other", tenant_id="acme"), metadata=client.project
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    test_key = await client.admin.CreateApiKey(
        admin_pb.CreateApiKeyRequest(
            organization="default", kind=admin_pb.API_KEY_KIND_PROJECT, project="default", test=True
        ),
        metadata=client.master,
    )
    await refused(token(client, secret=client.auth(test_key.secret)), grpc.StatusCode.PERMISSION_DENIED)
    for bad in ({"tenant_id": ""}, {"tenant_id": "t" * 201}, {"expires_in_seconds": 59}, {"tier": "x" * 101}):
        request = admin_pb.CreateViewerTokenRequest(**{"project": "default", "tenant_id": "acme", **bad})
        await refused(
            client.admin.CreateViewerToken(request, metadata=client.project), grpc.StatusCode.INVALID_ARGUMENT
        )


async def test_a_token_lists_and_gets_only_its_tenants_audit_events(client: Client) -> None:
    written = await client.ingest.WriteEvents(
        write_request(audit("acme", "a.one"), audit("globex"), log_event(), audit("acme", "a.two")),
        metadata=client.project,
    )
    acme_one, globex, log, acme_two = (r.event_id for r in written.results)
    viewer = client.auth(await token(client))

    listed = await client.events.ListEvents(pb.ListEventsRequest(project="default"), metadata=viewer)
    assert [e.id for e in listed.events] == [acme_two, acme_one]
    assert not listed.next_page_token
    unnamed = await client.events.ListEvents(pb.ListEventsRequest(), metadata=viewer)
    assert [e.id for e in unnamed.events] == [acme_two, acme_one], "the token's own project"
    first = await client.events.ListEvents(
        pb.ListEventsRequest(project="default", page_size=1), metadata=viewer
    )
    assert [e.id for e in first.events] == [acme_two] and first.next_page_token
    rest = await client.events.ListEvents(
        pb.ListEventsRequest(project="default", page_size=1, page_token=first.next_page_token),
        metadata=viewer,
    )
    assert [e.id for e in rest.events] == [acme_one] and not rest.next_page_token
    logs = await client.events.ListEvents(
        pb.ListEventsRequest(project="default", kind=E.KIND_LOG), metadata=viewer
    )
    assert list(logs.events) == []

    got = await client.events.GetEvent(pb.GetEventRequest(project="default", event=acme_one), metadata=viewer)
    assert got.event.audit.tenant_id == "acme"
    for hidden in (globex, log, "nope"):
        await refused(
            client.events.GetEvent(pb.GetEventRequest(project="default", event=hidden), metadata=viewer),
            grpc.StatusCode.NOT_FOUND,
        )
    everything = await client.events.ListEvents(
        pb.ListEventsRequest(project="default"), metadata=client.project
    )
    assert len(everything.events) == 4


async def test_a_token_is_read_only(client: Client) -> None:
    viewer = client.auth(await token(client))
    for call in (
        client.ingest.WriteEvents(write_request(audit("acme")), metadata=viewer),
        client.events.ListIssues(pb.ListIssuesRequest(project="default"), metadata=viewer),
        client.events.ListEvents(pb.ListEventsRequest(project="other"), metadata=viewer),
        client.admin.ListApiKeys(admin_pb.ListApiKeysRequest(organization="default"), metadata=viewer),
        client.admin.CreateViewerToken(
            admin_pb.CreateViewerTokenRequest(project="default", tenant_id="acme"), metadata=viewer
        ),
    ):
        await refused(call, grpc.StatusCode.PERMISSION_DENIED)


async def test_an_expired_or_tampered_token_is_unauthenticated(clocked: Client, clock: ManualClock) -> None:
    client = clocked
    made = await token(client, expires_in_seconds=60)
    request = pb.ListEventsRequest(project="default")
    clock.advance(59)
    await client.events.ListEvents(request, metadata=client.auth(made))
    clock.advance(1)
    await refused(
        client.events.ListEvents(request, metadata=client.auth(made)), grpc.StatusCode.UNAUTHENTICATED
    )

    fresh = await token(client)
    header, claims, signature = fresh.split(".")
    for bad in (f"{header}.{claims}.{signature[::-1]}", f"{header}.{claims}x.{signature}", "vt_x.y.z", "vt_"):
        await refused(
            client.events.ListEvents(request, metadata=client.auth(bad)), grpc.StatusCode.UNAUTHENTICATED
        )
    # Signed with the right algorithm but an unknown secret.
    forged = "vt_" + jwt.encode(
        {**jwt.decode(fresh[3:], options={"verify_signature": False}), "tenant_id": "globex"},
        "z" * 40,
        headers={"kid": jwt.get_unverified_header(fresh[3:])["kid"]},
    )
    await refused(
        client.events.ListEvents(request, metadata=client.auth(forged)), grpc.StatusCode.UNAUTHENTICATED
    )


async def test_after_a_rotation_old_tokens_verify_until_the_old_secret_is_retired(
    settings: Settings, clock: ManualClock
) -> None:
    request = pb.ListEventsRequest(project="default")
    async with running(settings, clock) as started, grpc_channel(started.grpc_port) as channel:
        client = Client.for_channel(started, channel)
        old = await token(client)
        async with core(dataclasses.replace(settings, migrate_on_start=False), clock) as operator:
            await operator.viewer_tokens.rotate_secret()
            clock.advance(int(settings.settings_cache_ttl_s) + 1)  # the server reads the secrets again
            new = await token(client)
            assert jwt.get_unverified_header(new[3:])["kid"] != jwt.get_unverified_header(old[3:])["kid"]
            for made in (old, new):
                await client.events.ListEvents(request, metadata=client.auth(made))

            # A day later no token of the first secret can be valid: the next rotation deletes it.
            clock.advance(viewer_tokens.MAX_LIFETIME_S)
            await operator.viewer_tokens.rotate_secret()
            async with operator.sessions() as session:
                kept = await SigningSecretRepository(session).newest_first()
            assert len(kept) == 2
            assert jwt.get_unverified_header(old[3:])["kid"] not in {s.id for s in kept}
            clock.advance(int(settings.settings_cache_ttl_s) + 1)
            latest = await token(client)
            assert jwt.get_unverified_header(latest[3:])["kid"] == kept[0].id
            await client.events.ListEvents(request, metadata=client.auth(latest))


async def test_secrets_from_settings_first_signs_all_verify(database_url: str) -> None:
    settings = make_settings(database_url, viewer_token_secrets=f" {SECRET_A} , {SECRET_B} ")
    request = pb.ListEventsRequest(project="default")
    async with running(settings) as started, grpc_channel(started.grpc_port) as channel:
        client = Client.for_channel(started, channel)
        made = await token(client)
        claims = jwt.decode(made[3:], SECRET_A, algorithms=["HS256"], audience="viewer")
        assert claims["tenant_id"] == "acme"
        by_b = "vt_" + jwt.encode(
            claims, SECRET_B, headers={"kid": "cfg_" + hashlib.sha256(SECRET_B.encode()).hexdigest()[:16]}
        )
        for secret in (made, by_b):
            await client.events.ListEvents(request, metadata=client.auth(secret))
        async with core(dataclasses.replace(settings, migrate_on_start=False)) as operator:
            with pytest.raises(FailedPrecondition):
                await operator.viewer_tokens.rotate_secret()
            async with operator.sessions() as session:
                assert await SigningSecretRepository(session).newest_first() == []

    rotated = make_settings(database_url, viewer_token_secrets="c" * 40)
    async with running(rotated) as started, grpc_channel(started.grpc_port) as channel:
        client = Client.for_channel(started, channel)
        await refused(
            client.events.ListEvents(request, metadata=client.auth(made)), grpc.StatusCode.UNAUTHENTICATED
        )
