"""Per-project limits: AdminService.UpdateProject and the daily event limit over real gRPC, on SQLite
and PostgreSQL, with the server's clock injected so the UTC day ends without waiting; and the
quota itself, exact when two nodes race for the last events."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import grpc
import pytest
from google.protobuf import field_mask_pb2
from google.rpc import error_details_pb2

from ingestd.v1 import admin_service_pb2
from server.config import Settings
from server.errors import FailedPrecondition, ResourceExhausted
from server.main import core, running
from server.quotas import ProjectQuotas
from tests.conftest import Client, grpc_channel, make_settings
from tests.helpers import (
    BEFORE_MIDNIGHT_S,
    ManualClock,
    detail,
    log_event,
    reason,
    rich_status,
    violations,
    write_request,
)

pb = admin_service_pb2


@contextlib.asynccontextmanager
async def serving(settings: Settings, clock: ManualClock) -> AsyncIterator[Client]:
    async with running(settings, clock) as started, grpc_channel(started.grpc_port) as channel:
        yield Client.for_channel(started, channel)


async def _refused(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    return caught.value


def _update(
    project: str = "default", mask: tuple[str, ...] = (), **fields: object
) -> pb.UpdateProjectRequest:
    return pb.UpdateProjectRequest(
        project=project, update=pb.Project(**fields), update_mask=field_mask_pb2.FieldMask(paths=mask)
    )


async def _write(client: Client, count: int, tag: str) -> int:
    events = [log_event(f"{tag}-{n}") for n in range(count)]
    response = await client.ingest.WriteEvents(write_request(*events), metadata=client.project)
    return int(response.accepted_count)


async def test_projects_are_unlimited_until_update_project_sets_limits(client: Client) -> None:
    got = await client.admin.GetProject(pb.GetProjectRequest(project="default"), metadata=client.master)
    assert got.project.limits == pb.ProjectLimits(), "self-hosted default: no limit at all"
    display_name = got.project.display_name

    limits = pb.ProjectLimits(daily_event_limit=1000, alert_rule_limit=3, webhooks_disabled=True)
    updated = await client.admin.UpdateProject(
        _update(mask=("limits",), display_name="ignored", limits=limits), metadata=client.master
    )
    assert updated.project.limits == limits
    assert updated.project.display_name == display_name, "only the masked fields change"
    assert updated.project.create_time == got.project.create_time

    one = await client.admin.UpdateProject(
        _update(mask=("limits.alert_rule_limit", "id"), limits=pb.ProjectLimits(alert_rule_limit=7)),
        metadata=client.master,
    )
    assert one.project.limits == pb.ProjectLimits(
        daily_event_limit=1000, alert_rule_limit=7, webhooks_disabled=True
    )
    listed = await client.admin.ListProjects(
        pb.ListProjectsRequest(organization="default"), metadata=client.master
    )
    assert [p.limits for p in listed.projects] == [one.project.limits]

    # An empty mask sets every writable field.
    everything = await client.admin.UpdateProject(_update(display_name="Main"), metadata=client.master)
    assert (everything.project.display_name, everything.project.limits) == ("Main", pb.ProjectLimits())

    created = await client.admin.CreateProject(
        pb.CreateProjectRequest(
            organization="default",
            project_id="free",
            project=pb.Project(limits=pb.ProjectLimits(daily_event_limit=10)),
        ),
        metadata=client.master,
    )
    assert created.project.limits.daily_event_limit == 10


async def test_update_project_refuses_bad_limits_masks_and_keys(client: Client) -> None:
    error = await _refused(
        client.admin.UpdateProject(
            _update(limits=pb.ProjectLimits(daily_event_limit=-1, alert_rule_limit=-2)),
            metadata=client.master,
        )
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [field for field, _ in violations(error)] == [
        "update.limits.daily_event_limit",
        "update.limits.alert_rule_limit",
    ]
    error = await _refused(client.admin.UpdateProject(_update(mask=("limits.nope",)), metadata=client.master))
    assert violations(error) == [("update_mask", "'limits.nope' is not a field of a project")]
    error = await _refused(client.admin.UpdateProject(_update(), metadata=client.project))
    assert (error.code(), reason(error)) == (grpc.StatusCode.PERMISSION_DENIED, "MASTER_KEY_REQUIRED")
    error = await _refused(client.admin.UpdateProject(_update("missing"), metadata=client.master))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    got = await client.admin.GetProject(pb.GetProjectRequest(project="default"), metadata=client.master)
    assert got.project.limits == pb.ProjectLimits(), "nothing changed"


async def test_the_daily_limit_holds_exactly_until_utc_midnight(database_url: str) -> None:
    clock = ManualClock(BEFORE_MIDNIGHT_S)
    # A long cache TTL: the limit applies at once because UpdateProject ran on this node.
    settings = make_settings(database_url, settings_cache_ttl_s=3600.0)
    async with serving(settings, clock) as client:
        assert await _write(client, 3, "unlimited") == 3, "unlimited: nothing counted"
        await client.admin.UpdateProject(
            _update(mask=("limits.daily_event_limit",), limits=pb.ProjectLimits(daily_event_limit=5)),
            metadata=client.master,
        )
        assert await _write(client, 3, "a") == 3, "counting begins when the limit is set"

        error = await _refused(
            client.ingest.WriteEvents(write_request(*[log_event("b")] * 3), metadata=client.project)
        )
        assert (error.code(), reason(error)) == (
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "DAILY_EVENT_LIMIT_REACHED",
        )
        retry = detail(rich_status(error), error_details_pb2.RetryInfo)
        assert retry.retry_delay.seconds == 60, "until the next UTC midnight"
        info = detail(rich_status(error), error_details_pb2.ErrorInfo)
        assert info.metadata["limit"] == "5"

        assert await _write(client, 2, "c") == 2, "a refused batch counted nothing: exactly 5 fit"
        error = await _refused(
            client.ingest.WriteEvents(write_request(log_event("d")), metadata=client.project)
        )
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED

        clock.advance(59)
        error = await _refused(
            client.ingest.WriteEvents(write_request(log_event("e")), metadata=client.project)
        )
        assert detail(rich_status(error), error_details_pb2.RetryInfo).retry_delay.seconds == 1
        clock.advance(1)
        assert await _write(client, 5, "next-day") == 5, "a new UTC day starts a new count"
        error = await _refused(
            client.ingest.WriteEvents(write_request(log_event("f")), metadata=client.project)
        )
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED

        await client.admin.UpdateProject(_update(mask=("limits",)), metadata=client.master)
        assert await _write(client, 10, "lifted") == 10, "0 is unlimited again"


@contextlib.asynccontextmanager
async def _node(settings: Settings, clock: ManualClock) -> AsyncIterator[ProjectQuotas]:
    """The quotas of one ingestd node on the shared database."""
    async with core(settings, clock) as c:
        yield ProjectQuotas(c.sessions, clock, settings)


async def _set_limits(settings: Settings, **limits: int | bool) -> None:
    async with core(settings) as c:
        await c.admin.update_project("default", pb.Project(limits=pb.ProjectLimits(**limits)), ["limits"])


async def test_two_nodes_racing_for_the_last_events_admit_exactly_the_limit(database_url: str) -> None:
    clock = ManualClock(BEFORE_MIDNIGHT_S)
    settings = make_settings(database_url)
    async with running(settings, clock):  # migrated, with the default project
        pass
    await _set_limits(settings, daily_event_limit=10)
    async with _node(settings, clock) as first, _node(settings, clock) as second:
        await first.reserve("default", 9)

        async def attempt(node: ProjectQuotas) -> bool:
            try:
                await node.reserve("default", 1)
            except ResourceExhausted:
                return False
            return True

        outcomes = await asyncio.gather(*(attempt(node) for node in (first, second) * 4))
        assert sorted(outcomes) == [False] * 7 + [True], "exactly one wins the last slot"
        assert await second.used_today("default") == 10


async def test_a_failed_commit_gives_its_events_back(database_url: str) -> None:
    clock = ManualClock(BEFORE_MIDNIGHT_S)
    settings = make_settings(database_url)
    async with running(settings, clock):
        pass
    await _set_limits(settings, daily_event_limit=4)
    async with _node(settings, clock) as quotas:
        reservation = await quotas.reserve("default", 3)
        assert reservation is not None
        await quotas.release(reservation)
        assert await quotas.used_today("default") == 0
        await quotas.reserve("default", 4)
        with pytest.raises(ResourceExhausted):  # a refused reservation counts nothing to give back
            await quotas.reserve("default", 1)
        assert await quotas.used_today("default") == 4


async def test_alert_rule_and_webhook_checks(database_url: str) -> None:
    clock = ManualClock(BEFORE_MIDNIGHT_S)
    settings = make_settings(database_url)
    async with running(settings, clock):
        pass
    async with _node(settings, clock) as quotas:
        await quotas.check_alert_rule_limit("default", 1_000)
        await quotas.check_webhooks_available("default")
        await _set_limits(settings, alert_rule_limit=2, webhooks_disabled=True)
        await quotas.check_alert_rule_limit("default", 1)
        with pytest.raises(ResourceExhausted) as exhausted:
            await quotas.check_alert_rule_limit("default", 2)
        assert (exhausted.value.reason, exhausted.value.metadata) == (
            "ALERT_RULE_LIMIT_REACHED",
            {"limit": "2"},
        )
        with pytest.raises(FailedPrecondition) as unavailable:
            await quotas.check_webhooks_available("default")
        assert unavailable.value.reason == "WEBHOOKS_NOT_AVAILABLE"
