"""IngestService over real gRPC, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from ingestd.v1 import admin_service_pb2, event_pb2, event_service_pb2, ingest_service_pb2
from tests.conftest import Client
from tests.helpers import error_event, log_event, rich_status, violations, write_request

pb = ingest_service_pb2
E = event_pb2


async def _list(client: Client, **filters: object) -> list[event_pb2.Event]:
    request = event_service_pb2.ListEventsRequest(project="default", page_size=1000, **filters)  # type: ignore[arg-type]
    return list((await client.events.ListEvents(request, metadata=client.project)).events)


async def test_write_then_get_returns_the_stored_event(client: Client) -> None:
    sent = log_event("checkout started", service="billing", environment="prod", tags={"region": "eu"})
    response = await client.ingest.WriteEvents(write_request(sent), metadata=client.project)

    [result] = response.results
    assert result.outcome == pb.WRITE_OUTCOME_ACCEPTED
    assert (response.accepted_count, response.duplicate_count, response.rejected_count) == (1, 0, 0)
    got = await client.events.GetEvent(
        event_service_pb2.GetEventRequest(project="default", event=result.event_id), metadata=client.project
    )
    event = got.event
    assert event.id == result.event_id
    assert (event.message, event.service, event.environment) == ("checkout started", "billing", "prod")
    assert dict(event.tags) == {"region": "eu"}
    assert event.kind == E.KIND_LOG and event.level == E.LEVEL_INFO
    assert event.project == "default" and event.dialect == "ingestd"
    assert event.received_at.seconds > 0 and event.occurred_at == event.received_at


async def test_every_kind_round_trips(client: Client) -> None:
    bodies = {
        "error": error_event().error,
        "transaction": E.TransactionBody(name="GET /", duration_ms=12.5, spans=[E.SpanBody(span_id="s1")]),
        "span": E.SpanBody(trace_id="t1", span_id="s2", parent_span_id="s1", op="db.query", duration_ms=3),
        "metric": E.MetricBody(name="cpu", value=0.5, unit="percent", labels={"host": "a"}),
        "log": E.LogBody(level_text="warn"),
        "check_in": E.CheckInBody(slug="nightly", status=E.CHECK_IN_STATUS_OK, expected_interval_seconds=900),
        "deployment": E.DeploymentBody(repository="acme/app", commit_sha="a1b2c3d4", urls={"compare": "u"}),
        "ai_generation": E.AiGenerationBody(
            provider="openai", model="gpt", input_tokens=12, total_cost_usd=0.1
        ),
        "timing": E.TimingBody(touchpoint="db/query", correlation_key="k", duration_ms=42),
        "audit": E.AuditBody(action="user.login", category="auth", actor=E.AuditActor(id="u1", type="user")),
    }
    events = [E.Event(message=name, **{name: body}) for name, body in bodies.items()]  # type: ignore[arg-type]
    response = await client.ingest.WriteEvents(write_request(*events), metadata=client.project)
    assert response.accepted_count == len(bodies)

    stored = {e.message: e for e in await _list(client)}
    for name, body in bodies.items():
        event = stored[name]
        assert event.WhichOneof("body") == name
        assert getattr(event, name) == body
        assert event.kind == E.Kind.Value(f"KIND_{name.upper()}")
    assert stored["span"].trace_id == "t1", "a span's trace id is filterable from the envelope"


async def test_invalid_event_is_rejected_and_the_others_are_stored(client: Client) -> None:
    events = [log_event("first"), E.Event(kind=E.KIND_METRIC, metric=E.MetricBody()), log_event("third")]
    response = await client.ingest.WriteEvents(write_request(*events), metadata=client.project)

    outcomes = [r.outcome for r in response.results]
    assert outcomes == [pb.WRITE_OUTCOME_ACCEPTED, pb.WRITE_OUTCOME_REJECTED, pb.WRITE_OUTCOME_ACCEPTED]
    rejected = response.results[1]
    assert rejected.event_id == ""
    assert rejected.error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "metric.name" in rejected.error.message
    assert sorted(e.message for e in await _list(client)) == ["first", "third"]


async def test_atomic_write_with_a_bad_event_stores_nothing(client: Client) -> None:
    events = [log_event("good"), E.Event(kind=E.KIND_LOG, metric=E.MetricBody(name="m"))]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await client.ingest.WriteEvents(write_request(*events, atomic=True), metadata=client.project)

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(caught.value) == [("events[1].kind", "KIND_LOG does not match the metric body")]
    assert await _list(client) == []


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (E.Event(message="x" * 65_537), "message"),
        (E.Event(message="m", service="s" * 201), "service"),
        (E.Event(message="m", kind=99), "kind"),  # type: ignore[arg-type]
        (E.Event(message="m", level=42), "level"),  # type: ignore[arg-type]
        (E.Event(span=E.SpanBody(span_id="s")), "span.trace_id"),
        (E.Event(check_in=E.CheckInBody()), "check_in.slug"),
        (E.Event(ai_generation=E.AiGenerationBody(provider="p")), "ai_generation.model"),
        (E.Event(audit=E.AuditBody()), "audit.action"),
        (E.Event(error=E.ErrorBody()), "error.exception"),
        (E.Event(message="m", tags={"": "v"}), "tags['']"),
        (E.Event(message="m", occurred_at={"seconds": 10**12}), "occurred_at"),
        (E.Event(message="m", context={"blob": "z" * 1_100_000}), "event"),
    ],
)
async def test_each_rule_names_the_bad_field(client: Client, event: event_pb2.Event, field: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await client.ingest.WriteEvents(write_request(event, atomic=True), metadata=client.project)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in violations(caught.value)] == [f"events[0].{field}"]


async def test_batch_limits(client: Client) -> None:
    for events, description in [([], "at least one event"), ([log_event()] * 1001, "at most 1000")]:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await client.ingest.WriteEvents(write_request(*events), metadata=client.project)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        [(field, text)] = violations(caught.value)
        assert field == "events" and description in text


async def test_retry_with_the_same_idempotency_key_stores_nothing_new(client: Client) -> None:
    first = await client.ingest.WriteEvents(
        write_request(log_event("a", idempotency_key="k1")), metadata=client.project
    )
    retry = await client.ingest.WriteEvents(
        write_request(log_event("a", idempotency_key="k1"), log_event("b", idempotency_key="k2")),
        metadata=client.project,
    )

    assert [r.outcome for r in retry.results] == [pb.WRITE_OUTCOME_DUPLICATE, pb.WRITE_OUTCOME_ACCEPTED]
    assert retry.results[0].event_id == first.results[0].event_id
    assert (retry.accepted_count, retry.duplicate_count) == (1, 1)
    assert sorted(e.message for e in await _list(client)) == ["a", "b"]


async def test_repeated_key_within_one_batch_is_stored_once(client: Client) -> None:
    response = await client.ingest.WriteEvents(
        write_request(log_event("a", idempotency_key="same"), log_event("a again", idempotency_key="same")),
        metadata=client.project,
    )
    assert [r.outcome for r in response.results] == [pb.WRITE_OUTCOME_ACCEPTED, pb.WRITE_OUTCOME_DUPLICATE]
    assert response.results[0].event_id == response.results[1].event_id
    assert [e.message for e in await _list(client)] == ["a"]


async def test_concurrent_writers_share_commits_and_lose_nothing(client: Client) -> None:
    commits = 0

    def count(_connection: object) -> None:
        nonlocal commits
        commits += 1

    async def writer(n: int) -> list[tuple[str, str, int]]:
        # Keys k0..k4 are shared by every caller: each must be stored exactly once, whoever wins.
        batch = [log_event(f"w{n}-{i}", idempotency_key=f"k{i % 5}" if i < 5 else "") for i in range(10)]
        response = await client.ingest.WriteEvents(write_request(*batch), metadata=client.project)
        return [
            (e.idempotency_key, r.event_id, r.outcome) for e, r in zip(batch, response.results, strict=True)
        ]

    event.listen(Engine, "commit", count)
    try:
        answers = [a for answer in await asyncio.gather(*(writer(n) for n in range(40))) for a in answer]
    finally:
        event.remove(Engine, "commit", count)

    stored = await _list(client)
    keyed = [(k, i, o) for k, i, o in answers if k]
    assert len({k: i for k, i, _ in keyed}) == 5
    assert all(len({i for k2, i, _ in keyed if k2 == k}) == 1 for k, _, _ in keyed), "one id per key"
    assert sum(o == pb.WRITE_OUTCOME_ACCEPTED for _, _, o in keyed) == 5
    assert len(stored) == 40 * 5 + 5
    assert 0 < commits < 40, f"{commits} commits for 40 concurrent calls: nothing was grouped"


async def test_a_batch_of_many_rows_stores_each_once(client: Client) -> None:
    """A call of 999 events, keyed and plain rows mixed, keys already stored and keys repeated in
    the call: each event is stored once, and each duplicate is answered with the first's id."""
    stored_first = await client.ingest.WriteEvents(
        write_request(log_event("early", idempotency_key="k7")), metadata=client.project
    )
    batch = [log_event(f"m{i}", idempotency_key=f"k{i % 300}" if i % 3 == 1 else "") for i in range(999)]
    response = await client.ingest.WriteEvents(write_request(*batch), metadata=client.project)

    first_of: dict[str, str] = {"k7": stored_first.results[0].event_id}
    for sent, result in zip(batch, response.results, strict=True):
        key = sent.idempotency_key
        if key and key in first_of:
            assert (result.outcome, result.event_id) == (pb.WRITE_OUTCOME_DUPLICATE, first_of[key]), key
        else:
            assert result.outcome == pb.WRITE_OUTCOME_ACCEPTED, sent.message
            if key:
                first_of[key] = result.event_id
    keyed = [e for e in batch if e.idempotency_key]
    assert response.duplicate_count == len(keyed) - len({e.idempotency_key for e in keyed} - {"k7"})
    stored = {e.id: e.message for e in await _list(client)}
    assert len(stored) == 1 + response.accepted_count == 1 + 666 + 99  # 100 keys, k7 stored before
    assert {r.event_id for r in response.results} <= stored.keys()


async def test_keyed_events_too_large_for_one_statement_are_each_stored_once(client: Client) -> None:
    """30 keyed events of 60,000 characters, about 3.6 MB of rows, go in several statements on
    PostgreSQL (1 MiB each): every event is stored once, a key stored before is a duplicate, and
    two calls racing with the same keys store each key once."""
    stored_first = await client.ingest.WriteEvents(
        write_request(log_event("early", idempotency_key="big-7")), metadata=client.project
    )
    batch = [log_event(f"{i:02d}" + "x" * 60_000, idempotency_key=f"big-{i}") for i in range(30)]
    first, second = await asyncio.gather(
        *(client.ingest.WriteEvents(write_request(*batch), metadata=client.project) for _ in range(2))
    )

    assert first.accepted_count + second.accepted_count == 29
    assert first.duplicate_count + second.duplicate_count == 31
    for one, other in zip(first.results, second.results, strict=True):
        assert one.event_id == other.event_id
    assert first.results[7].event_id == stored_first.results[0].event_id
    stored = sorted(e.message[:2] for e in await _list(client))
    assert stored == sorted(["ea", *(f"{i:02d}" for i in range(30) if i != 7)])


async def test_ids_are_time_ordered(client: Client) -> None:
    ids = []
    for n in range(3):
        response = await client.ingest.WriteEvents(
            write_request(*(log_event(f"{n}-{i}") for i in range(5))), metadata=client.project
        )
        ids.extend(r.event_id for r in response.results)
    assert ids == sorted(ids) and len(set(ids)) == 15


async def test_stream_commits_every_message(client: Client) -> None:
    async def messages() -> AsyncIterator[pb.StreamEventsRequest]:
        for n in range(5):
            events = [log_event(f"s{n}-{i}") for i in range(20)]
            if n == 2:
                events[3] = E.Event(check_in=E.CheckInBody())
            yield pb.StreamEventsRequest(project="default", events=events)
        yield pb.StreamEventsRequest(project="default", events=[log_event("dup", idempotency_key="d")] * 2)

    response = await client.ingest.StreamEvents(messages(), metadata=client.project)

    assert (response.accepted_count, response.duplicate_count, response.rejected_count) == (100, 1, 1)
    [rejection] = response.rejections
    assert rejection.index == 43
    assert "check_in.slug" in rejection.error.message
    assert len(await _list(client)) == 100


async def test_stream_must_keep_to_one_project(client: Client) -> None:
    await client.admin.CreateProject(
        admin_service_pb2.CreateProjectRequest(organization="default", project_id="other"),
        metadata=client.master,
    )

    async def messages() -> AsyncIterator[pb.StreamEventsRequest]:
        yield pb.StreamEventsRequest(project="default", events=[log_event()])
        yield pb.StreamEventsRequest(project="other", events=[log_event()])

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await client.ingest.StreamEvents(messages(), metadata=client.master)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in violations(caught.value)] == ["project"]


async def test_errors_carry_a_rich_status_with_the_request_id(client: Client) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await client.ingest.WriteEvents(
            write_request(E.Event(check_in=E.CheckInBody()), atomic=True),
            metadata=(*client.project, ("x-request-id", "req-from-caller")),
        )
    status = rich_status(caught.value)
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    from google.rpc import error_details_pb2

    from tests.helpers import detail

    info = detail(status, error_details_pb2.ErrorInfo)
    assert info.domain == "ingestd.dev" and info.metadata["request_id"] == "req-from-caller"


async def test_nul_characters_are_rejected_per_event(client: Client) -> None:
    events = [log_event("a\x00b"), log_event("fine"), log_event("k", idempotency_key="\x00")]
    response = await client.ingest.WriteEvents(write_request(*events), metadata=client.project)

    outcomes = [r.outcome for r in response.results]
    assert outcomes == [pb.WRITE_OUTCOME_REJECTED, pb.WRITE_OUTCOME_ACCEPTED, pb.WRITE_OUTCOME_REJECTED]
    assert "message" in response.results[0].error.message
    assert "idempotency_key" in response.results[2].error.message
    assert [e.message for e in await _list(client)] == ["fine"]


async def test_error_trailers_carry_the_request_id(client: Client) -> None:
    call = client.ingest.WriteEvents(write_request(), metadata=(*client.project, ("x-request-id", "req-7")))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert ("x-request-id", "req-7") in tuple(caught.value.trailing_metadata() or ())
    ok = client.ingest.WriteEvents(write_request(log_event()), metadata=client.project)
    await ok
    assert dict(await ok.trailing_metadata())["x-request-id"].startswith("req_")
