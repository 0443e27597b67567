"""OTLP over HTTP and gRPC against a live ingestd, request by request (docs/vendors/otlp.md): an
OTLP/JSON body built to the specification (hex ids), both encodings mirrored in the answer,
gzip, empty bodies, partial success, keys and their kinds under `/v1` and `/api/otlp/v1`,
throttling with `Retry-After` and RetryInfo, and every bad input answered as the specification
says, never with a 500."""

from __future__ import annotations

import gzip
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import grpc
import orjson
import pytest
from google.protobuf import json_format
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from ingestd.v1 import event_pb2
from tests.conftest import MASTER_SECRET, PROJECT_SECRET, Http, grpc_channel, http_gateway, make_settings

E = event_pb2
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
TRACE = "5b8efff798038103d269b633813fc60c"
ROOT = "eee19b7ec3c1b174"
CHILD = "eee19b7ec3c1b173"
T0 = 1_718_900_000_000_000_000


@dataclass
class Reply:
    status: int
    body: bytes
    headers: Mapping[str, str]

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")

    def status_message(self) -> status_pb2.Status:
        """The `google.rpc.Status` of an error, in whichever encoding it came."""
        if self.content_type == PROTOBUF:
            return status_pb2.Status.FromString(self.body)
        assert self.content_type.startswith(JSON), self.content_type
        return json_format.Parse(self.body, status_pb2.Status(), ignore_unknown_fields=True)


async def post(
    http: Http,
    path: str,
    body: bytes,
    content_type: str = PROTOBUF,
    *,
    key: str | None = PROJECT_SECRET,
    headers: Mapping[str, str] | None = None,
) -> Reply:
    sent = {"Content-Type": content_type, **(headers or {})}
    if key is not None:
        sent.setdefault("Authorization", f"Bearer {key}")
    async with http.session.post(http.url(path), data=body, headers=sent) as response:
        return Reply(response.status, await response.read(), response.headers)


def _kv(key: str, value: str) -> common_pb2.KeyValue:
    return common_pb2.KeyValue(key=key, value=common_pb2.AnyValue(string_value=value))


def traces(*spans: trace_pb2.Span, service: str = "web") -> trace_service_pb2.ExportTraceServiceRequest:
    resource = resource_pb2.Resource(attributes=[_kv("service.name", service)])
    return trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(resource=resource, scope_spans=[trace_pb2.ScopeSpans(spans=list(spans))])
        ]
    )


def span(span_id: str = ROOT, trace_id: str = TRACE, **fields: Any) -> trace_pb2.Span:
    return trace_pb2.Span(
        trace_id=bytes.fromhex(trace_id),
        span_id=bytes.fromhex(span_id),
        name=fields.pop("name", "GET /"),
        start_time_unix_nano=T0,
        end_time_unix_nano=T0 + 5_000_000,
        **fields,
    )


def logs(*messages: str) -> logs_service_pb2.ExportLogsServiceRequest:
    records = [
        logs_pb2.LogRecord(body=common_pb2.AnyValue(string_value=m), severity_number=9) for m in messages
    ]
    return logs_service_pb2.ExportLogsServiceRequest(
        resource_logs=[logs_pb2.ResourceLogs(scope_logs=[logs_pb2.ScopeLogs(log_records=records)])]
    )


async def stored(http: Http, **query: str) -> list[dict[str, Any]]:
    async with http.session.get(
        http.url("/v1/projects/default/events"), params={"pageSize": "100", **query}, headers=http.bearer()
    ) as response:
        assert response.status == 200, await response.text()
        events: list[dict[str, Any]] = (await response.json()).get("events", [])
        return events


async def new_key(http: Http, kind: str) -> tuple[str, str]:
    async with http.session.post(
        http.url("/v1/organizations/default/keys"),
        json={"kind": kind, "project": "default"},
        headers=http.bearer(MASTER_SECRET),
    ) as response:
        assert response.status == 200, await response.text()
        created = await response.json()
        return created["apiKey"]["id"], created["secret"]


# What a request to the specification reads back as


async def test_an_otlp_json_request_built_to_the_spec_reads_back_with_its_hex_ids(http: Http) -> None:
    body = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [
                        {"key": "service.name", "value": {"stringValue": "shop"}},
                        {"key": "deployment.environment", "value": {"stringValue": "staging"}},
                    ]
                },
                "scopeSpans": [
                    {
                        "scope": {"name": "manual", "version": "1"},
                        "spans": [
                            {
                                "traceId": TRACE,
                                "spanId": ROOT,
                                "name": "GET /cart",
                                "kind": 2,
                                "startTimeUnixNano": str(T0),
                                "endTimeUnixNano": str(T0 + 20_000_000),
                                "status": {"code": 1},
                                "newerField": True,
                            },
                            {
                                "traceId": TRACE,
                                "spanId": CHILD,
                                "parentSpanId": ROOT,
                                "name": "redis GET",
                                "kind": 3,
                                "startTimeUnixNano": T0 + 1_000_000,
                                "endTimeUnixNano": T0 + 3_000_000,
                                "attributes": [{"key": "db.system", "value": {"stringValue": "redis"}}],
                            },
                        ],
                    }
                ],
            }
        ]
    }
    reply = await post(http, "/v1/traces", orjson.dumps(body), JSON)
    assert (reply.status, reply.content_type, orjson.loads(reply.body)) == (200, JSON, {})

    events = {e["kind"]: e for e in await stored(http, traceId=TRACE)}
    transaction, child = events["KIND_TRANSACTION"], events["KIND_SPAN"]
    assert (transaction["traceId"], transaction["spanId"]) == (TRACE, ROOT)
    assert transaction["transaction"] == {
        "name": "GET /cart",
        "durationMs": 20.0,
        "status": "ok",
        "op": "server",
    }
    assert (transaction["service"], transaction["environment"]) == ("shop", "staging")
    assert transaction["occurredAt"] == "2024-06-20T16:13:20Z"
    assert (child["span"]["traceId"], child["span"]["spanId"], child["span"]["parentSpanId"]) == (
        TRACE,
        CHILD,
        ROOT,
    )
    assert (child["span"]["kind"], child["span"]["op"], child["span"]["durationMs"]) == ("client", "db", 2.0)


async def test_protobuf_is_answered_in_protobuf_and_gzip_is_inflated(http: Http) -> None:
    reply = await post(http, "/v1/traces", traces(span()).SerializeToString())
    assert (reply.status, reply.content_type, reply.body) == (200, PROTOBUF, b"")

    packed = gzip.compress(logs("zipped").SerializeToString())
    reply = await post(http, "/v1/logs", packed, headers={"Content-Encoding": "gzip"})
    assert reply.status == 200, reply.body
    assert logs_service_pb2.ExportLogsServiceResponse.FromString(reply.body) == (
        logs_service_pb2.ExportLogsServiceResponse()
    )
    [log] = await stored(http, kind="KIND_LOG")
    assert (log["message"], log["level"], log["dialect"]) == ("zipped", "LEVEL_INFO", "otlp")


async def test_an_empty_body_is_a_valid_request(http: Http) -> None:
    for path in ("/v1/traces", "/v1/logs", "/v1/metrics", "/api/otlp/v1/traces", "/api/otlp/v1/metrics"):
        for content_type, empty in ((PROTOBUF, b""), (JSON, b"{}")):
            reply = await post(http, path, b"", content_type)
            assert (reply.status, reply.content_type, reply.body) == (200, content_type, empty), path


async def test_a_retried_span_is_stored_once(http: Http) -> None:
    body = traces(span()).SerializeToString()
    for _ in range(2):
        assert (await post(http, "/v1/traces", body)).status == 200
    assert len(await stored(http, traceId=TRACE)) == 1


# Partial success


async def test_items_that_cannot_be_stored_are_counted_in_a_partial_success(http: Http) -> None:
    request = traces(span(), span(span_id=CHILD, parent_span_id=b"\x00" * 8), span(trace_id="00" * 16))
    reply = await post(http, "/v1/traces", request.SerializeToString())
    assert reply.status == 200
    answer = trace_service_pb2.ExportTraceServiceResponse.FromString(reply.body)
    assert answer.partial_success.rejected_spans == 2
    assert answer.partial_success.error_message == (
        "2 of 3 not stored: span 1: parent_span_id must be empty or 8 bytes, not all zero; "
        "span 2: trace_id must be 16 bytes, not all zero"
    )
    assert [e["spanId"] for e in await stored(http)] == [ROOT]

    too_long = "x" * 70_000
    reply = await post(http, "/api/otlp/v1/logs", orjson.dumps(_json_logs("kept", too_long)), JSON)
    assert reply.status == 200
    assert orjson.loads(reply.body) == {
        "partialSuccess": {
            "rejectedLogRecords": "1",
            "errorMessage": "1 of 2 not stored: log record 1: message longer than 65536 characters",
        }
    }
    assert [e["message"] for e in await stored(http, kind="KIND_LOG")] == ["kept"]


def _json_logs(*messages: str) -> dict[str, Any]:
    records = [{"severityNumber": 9, "body": {"stringValue": m}} for m in messages]
    return {"resourceLogs": [{"scopeLogs": [{"logRecords": records}]}]}


# Keys


async def test_keys_come_as_bearer_or_x_api_key_and_sdk_keys_write_under_api_otlp(http: Http) -> None:
    body = logs("by x-api-key").SerializeToString()
    reply = await post(http, "/v1/logs", body, key=None, headers={"X-Api-Key": PROJECT_SECRET})
    assert reply.status == 200
    _, server_key = await new_key(http, "API_KEY_KIND_SERVER")
    assert server_key.startswith("sk_")
    reply = await post(http, "/api/otlp/v1/logs", logs("by a server key").SerializeToString(), key=server_key)
    assert reply.status == 200
    reply = await post(http, "/api/otlp/v1/traces", traces(span()).SerializeToString(), key=server_key)
    assert reply.status == 200
    messages = {e["message"] for e in await stored(http, kind="KIND_LOG")}
    assert messages == {"by x-api-key", "by a server key"}


@pytest.mark.parametrize("content_type", [PROTOBUF, JSON])
async def test_a_missing_unknown_or_revoked_key_is_401_and_another_kind_403(
    http: Http, content_type: str
) -> None:
    body = b"" if content_type == PROTOBUF else b"{}"
    for key in (None, "pk_nobody"):
        reply = await post(http, "/v1/logs", body, content_type, key=key)
        assert (reply.status, reply.content_type) == (401, content_type)
        assert reply.status_message().code == code_pb2.UNAUTHENTICATED
    for kind in ("API_KEY_KIND_PUBLIC", "API_KEY_KIND_CLIENT"):
        _, secret = await new_key(http, kind)
        reply = await post(http, "/api/otlp/v1/logs", body, content_type, key=secret)
        assert reply.status == 403
        assert reply.status_message().code == code_pb2.PERMISSION_DENIED
    reply = await post(http, "/v1/logs", body, content_type, key=MASTER_SECRET)
    assert reply.status == 403

    key_id, secret = await new_key(http, "API_KEY_KIND_PROJECT")
    assert (await post(http, "/v1/logs", body, content_type, key=secret)).status == 200
    async with http.session.post(
        http.url(f"/v1/organizations/default/keys/{key_id}:revoke"),
        json={},
        headers=http.bearer(MASTER_SECRET),
    ) as response:
        assert response.status == 200
    reply = await post(http, "/v1/logs", logs("late").SerializeToString(), content_type=PROTOBUF, key=secret)
    assert reply.status == 401
    assert await stored(http, kind="KIND_LOG") == []


# Bad input


async def test_bad_input_gets_the_answer_the_specification_defines(http: Http) -> None:
    reply = await post(http, "/v1/traces", b"\xff\xfenot protobuf")
    assert (reply.status, reply.content_type) == (400, PROTOBUF)
    assert reply.status_message().code == code_pb2.INVALID_ARGUMENT

    reply = await post(
        http, "/v1/traces", b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "q"}]}]}]}', JSON
    )
    assert (reply.status, reply.content_type) == (400, JSON)
    assert "traceId 'q' is not hex" in reply.status_message().message

    packed = gzip.compress(logs("x").SerializeToString())
    reply = await post(http, "/v1/logs", packed[:-6], headers={"Content-Encoding": "gzip"})
    assert reply.status == 400
    assert reply.status_message().code == code_pb2.INVALID_ARGUMENT

    reply = await post(http, "/v1/logs", b"x", headers={"Content-Encoding": "br"})
    assert reply.status == 415

    for wrong in ("text/plain", "application/protobuf", ""):
        reply = await post(http, "/v1/metrics", b"{}", wrong)
        assert (reply.status, reply.content_type) == (415, JSON), wrong
        assert reply.status_message().code == code_pb2.INVALID_ARGUMENT

    async with http.session.get(http.url("/v1/traces"), headers=http.bearer()) as response:
        assert response.status == 404
        assert (await response.json())["code"] == code_pb2.NOT_FOUND
    assert await stored(http) == []


async def test_a_body_over_the_cap_is_413_as_sent_and_inflated(http_target: tuple[str, str]) -> None:
    database_url, mode = http_target
    settings = make_settings(
        database_url, http_max_body_bytes=64 * 1024, http_max_decompressed_bytes=256 * 1024
    )
    async with http_gateway(settings, mode) as http:
        large = logs("y" * 60_000, "z" * 60_000).SerializeToString()
        reply = await post(http, "/v1/logs", large)
        assert reply.status == 413
        assert reply.status_message().code == code_pb2.RESOURCE_EXHAUSTED
        bomb = gzip.compress(logs("b" * 300_000).SerializeToString())
        assert len(bomb) < 64 * 1024
        reply = await post(http, "/v1/logs", bomb, headers={"Content-Encoding": "gzip"})
        assert reply.status == 413
        fits = gzip.compress(logs("c" * 60_000, "d" * 60_000).SerializeToString())
        assert (await post(http, "/v1/logs", fits, headers={"Content-Encoding": "gzip"})).status == 200


# Throttling


@pytest.mark.parametrize("content_type", [PROTOBUF, JSON])
async def test_over_the_daily_limit_http_answers_429_with_retry_after(
    limited: Http, content_type: str
) -> None:
    first = logs("first")
    body = (
        first.SerializeToString() if content_type == PROTOBUF else json_format.MessageToJson(first).encode()
    )
    assert (await post(limited, "/v1/logs", body, content_type)).status == 200
    reply = await post(limited, "/v1/logs", body, content_type)
    assert (reply.status, reply.headers["Retry-After"], reply.content_type) == (429, "60", content_type)
    status = reply.status_message()
    assert status.code == code_pb2.RESOURCE_EXHAUSTED
    info = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(info) and info.retry_delay.seconds == 60


async def test_over_the_daily_limit_grpc_answers_unavailable_with_retry_info(limited: Http) -> None:
    async with grpc_channel(limited.running.grpc_port) as channel:
        stub = logs_service_pb2_grpc.LogsServiceStub(channel)
        auth = (("authorization", f"Bearer {PROJECT_SECRET}"),)
        await stub.Export(logs("first"), metadata=auth)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.Export(logs("second"), metadata=auth)
    error = refused.value
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    trailers = dict(error.trailing_metadata() or ())
    # OpenTelemetry's Python exporter reads the delay only from this trailer.
    info = error_details_pb2.RetryInfo.FromString(trailers["google.rpc.retryinfo-bin"])
    assert info.retry_delay.seconds == 60
    status = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
    assert any(d.Is(error_details_pb2.RetryInfo.DESCRIPTOR) for d in status.details)


# gRPC


async def test_grpc_export_answers_partial_success_and_refuses_bad_keys(http: Http) -> None:
    async with grpc_channel(http.running.grpc_port) as channel:
        traces_stub = trace_service_pb2_grpc.TraceServiceStub(channel)
        metrics_stub = metrics_service_pb2_grpc.MetricsServiceStub(channel)
        auth = (("x-api-key", PROJECT_SECRET),)
        answer = await traces_stub.Export(traces(span(), span(span_id="00" * 8)), metadata=auth)
        assert answer.partial_success.rejected_spans == 1
        assert answer.partial_success.error_message.startswith("1 of 2 not stored: span 1: span_id")
        empty = metrics_service_pb2.ExportMetricsServiceRequest()
        assert (
            await metrics_stub.Export(empty, metadata=auth)
            == metrics_service_pb2.ExportMetricsServiceResponse()
        )
        for metadata in ((), (("x-api-key", "pk_nobody"),)):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await traces_stub.Export(traces(span()), metadata=metadata)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        _, public = await new_key(http, "API_KEY_KIND_PUBLIC")
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await traces_stub.Export(traces(span()), metadata=(("x-api-key", public),))
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        raw = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await raw(b"\xff\xfe not protobuf", metadata=auth)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [e["spanId"] for e in await stored(http, traceId=TRACE)] == [ROOT]
