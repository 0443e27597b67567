"""The OTLP translator and its encodings, pure and table-driven: spans, exception events, log
records and every metric type as canonical events (docs/vendors/otlp.md §5); OTLP/JSON's hex ids,
integer enums and unknown fields (§3); responses and errors in the request's encoding."""

from __future__ import annotations

import base64
import math
import traceback
from typing import Any

import orjson
import pytest
from google.protobuf import json_format, timestamp_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from ingestd.v1 import event_pb2
from server.dialects.answer import Answer
from server.dialects.otlp import stacktrace, values, wire
from server.dialects.otlp.service import _in_otlp_shape
from server.dialects.otlp.translate import translate_logs, translate_metrics, translate_traces
from server.errors import IngestdError, PermissionDenied, ResourceExhausted, Unauthenticated, Unavailable
from server.normalize import normalize
from storage.events import EventRow

E = event_pb2
M = metrics_pb2
TRACE = bytes.fromhex("5b8efff798038103d269b633813fc60c")
ROOT = bytes.fromhex("eee19b7ec3c1b174")
CHILD = bytes.fromhex("eee19b7ec3c1b173")
T0 = 1_718_900_000_000_000_000  # 2024-06-20T16:13:20Z in unix nanoseconds


def _kv(key: str, value: object) -> common_pb2.KeyValue:
    return common_pb2.KeyValue(key=key, value=_any(value))


def _any(value: object) -> common_pb2.AnyValue:
    if isinstance(value, bool):
        return common_pb2.AnyValue(bool_value=value)
    if isinstance(value, int):
        return common_pb2.AnyValue(int_value=value)
    if isinstance(value, float):
        return common_pb2.AnyValue(double_value=value)
    if isinstance(value, bytes):
        return common_pb2.AnyValue(bytes_value=value)
    if isinstance(value, list):
        return common_pb2.AnyValue(array_value=common_pb2.ArrayValue(values=[_any(v) for v in value]))
    if isinstance(value, dict):
        pairs = [_kv(k, v) for k, v in value.items()]
        return common_pb2.AnyValue(kvlist_value=common_pb2.KeyValueList(values=pairs))
    return common_pb2.AnyValue(string_value=str(value))


RESOURCE = resource_pb2.Resource(
    attributes=[
        _kv("service.name", "checkout"),
        _kv("service.version", "2.4.1"),
        _kv("deployment.environment.name", "production"),
        _kv("host.name", "web-1"),
    ]
)
SCOPE = common_pb2.InstrumentationScope(name="app.checkout", version="1.0")


def _traces(*spans: trace_pb2.Span, resource: resource_pb2.Resource = RESOURCE) -> Any:
    scoped = trace_pb2.ScopeSpans(scope=SCOPE, spans=list(spans))
    return trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[trace_pb2.ResourceSpans(resource=resource, scope_spans=[scoped])]
    )


def _span(**fields: Any) -> trace_pb2.Span:
    values_: dict[str, Any] = {
        "trace_id": TRACE,
        "span_id": ROOT,
        "name": "GET /checkout",
        "kind": trace_pb2.Span.SPAN_KIND_SERVER,
        "start_time_unix_nano": T0,
        "end_time_unix_nano": T0 + 250_000_000,
    }
    values_.update(fields)
    return trace_pb2.Span(**values_)


def _logs(*records: logs_pb2.LogRecord, resource: resource_pb2.Resource = RESOURCE) -> Any:
    scoped = logs_pb2.ScopeLogs(scope=SCOPE, log_records=list(records))
    return logs_service_pb2.ExportLogsServiceRequest(
        resource_logs=[logs_pb2.ResourceLogs(resource=resource, scope_logs=[scoped])]
    )


def _metrics(*metrics: metrics_pb2.Metric) -> Any:
    scoped = M.ScopeMetrics(scope=SCOPE, metrics=list(metrics))
    return metrics_service_pb2.ExportMetricsServiceRequest(
        resource_metrics=[M.ResourceMetrics(resource=RESOURCE, scope_metrics=[scoped])]
    )


def _at(unix_nanos: int) -> timestamp_pb2.Timestamp:
    return timestamp_pb2.Timestamp(seconds=unix_nanos // 10**9, nanos=unix_nanos % 10**9)


def _context(event: event_pb2.Event) -> dict[str, Any]:
    return json_format.MessageToDict(event.context)


def _stores(event: event_pb2.Event) -> None:
    """The server's own validation accepts the event."""
    received = timestamp_pb2.Timestamp(seconds=T0 // 10**9)
    row = normalize(
        event, project="p", event_id="e", received=received, received_us=T0 // 1000, dialect="otlp"
    )
    assert isinstance(row, EventRow), row


# Traces


def test_a_root_span_is_a_transaction_with_the_resource_as_envelope() -> None:
    out = translate_traces(_traces(_span(status=trace_pb2.Status(code=1))))
    [event] = out.events
    assert (out.items, out.owners, out.refused) == (1, [0], {})
    assert event.kind == E.KIND_TRANSACTION
    assert event.transaction == E.TransactionBody(
        name="GET /checkout", duration_ms=250.0, status="ok", op="server"
    )
    assert (event.trace_id, event.span_id) == (TRACE.hex(), ROOT.hex())
    assert (event.service, event.release, event.environment) == ("checkout", "2.4.1", "production")
    assert event.occurred_at == _at(T0)
    assert event.idempotency_key == f"otlp:{TRACE.hex()}:{ROOT.hex()}"
    context = _context(event)
    assert context["resource"] == {"host.name": "web-1"}
    assert context["scope"] == {"name": "app.checkout", "version": "1.0"}
    _stores(event)


def test_a_child_span_is_a_span_with_its_trace_and_parent_in_lowercase_hex() -> None:
    child = _span(
        span_id=CHILD,
        parent_span_id=ROOT,
        name="SELECT orders",
        kind=trace_pb2.Span.SPAN_KIND_CLIENT,
        attributes=[_kv("db.system.name", "postgresql"), _kv("db.rows", 3)],
        status=trace_pb2.Status(code=trace_pb2.Status.STATUS_CODE_ERROR, message="timeout"),
    )
    [event] = translate_traces(_traces(child)).events
    assert event.kind == E.KIND_SPAN
    assert event.span == E.SpanBody(
        trace_id=TRACE.hex(),
        span_id=CHILD.hex(),
        parent_span_id=ROOT.hex(),
        op="db",
        kind="client",
        name="SELECT orders",
        status="error",
        start_time=_at(T0),
        end_time=_at(T0 + 250_000_000),
        duration_ms=250.0,
    )
    assert (event.trace_id, event.span_id, event.level) == (TRACE.hex(), CHILD.hex(), E.LEVEL_ERROR)
    context = _context(event)
    assert context["attributes"] == {"db.system.name": "postgresql", "db.rows": 3.0}
    assert context["status_message"] == "timeout"
    _stores(event)


@pytest.mark.parametrize(
    ("kind", "attributes", "op"),
    [
        (trace_pb2.Span.SPAN_KIND_SERVER, {"http.request.method": "GET"}, "http.server"),
        (trace_pb2.Span.SPAN_KIND_CLIENT, {"http.method": "GET"}, "http.client"),
        (trace_pb2.Span.SPAN_KIND_CLIENT, {"rpc.system": "grpc"}, "rpc.client"),
        (trace_pb2.Span.SPAN_KIND_PRODUCER, {"messaging.system": "kafka"}, "messaging.producer"),
        (trace_pb2.Span.SPAN_KIND_INTERNAL, {"http.method": "GET"}, "http"),
        (trace_pb2.Span.SPAN_KIND_UNSPECIFIED, {}, "internal"),
        (trace_pb2.Span.SPAN_KIND_CONSUMER, {}, "consumer"),
    ],
)
def test_the_op_is_the_conventions_category_with_the_span_kind(
    kind: int, attributes: dict[str, Any], op: str
) -> None:
    span = _span(kind=kind, attributes=[_kv(k, v) for k, v in attributes.items()])
    [event] = translate_traces(_traces(span)).events
    assert event.transaction.op == op


def test_span_events_and_links_are_kept_in_the_context() -> None:
    span = _span(
        events=[
            trace_pb2.Span.Event(name="cache.miss", time_unix_nano=T0 + 5, attributes=[_kv("key", "k1")])
        ],
        links=[trace_pb2.Span.Link(trace_id=TRACE, span_id=CHILD, trace_state="a=1")],
        trace_state="vendor=x",
    )
    context = _context(translate_traces(_traces(span)).events[0])
    assert context["events"] == [
        {"name": "cache.miss", "time": "2024-06-20T16:13:20.000000005Z", "attributes": {"key": "k1"}}
    ]
    assert context["links"] == [{"trace_id": TRACE.hex(), "span_id": CHILD.hex(), "trace_state": "a=1"}]
    assert context["trace_state"] == "vendor=x"


def _python_traceback() -> str:
    def charge() -> None:
        raise ValueError("card declined")

    def checkout() -> None:
        try:
            charge()
        except ValueError as cause:
            raise RuntimeError("checkout failed") from cause

    try:
        checkout()
    except RuntimeError as raised:
        return "".join(traceback.format_exception(raised))
    raise AssertionError("unreachable")


def test_an_exception_span_event_is_an_error_with_its_python_frames_and_causes() -> None:
    text = _python_traceback()
    exception = trace_pb2.Span.Event(
        name="exception",
        time_unix_nano=T0 + 1000,
        attributes=[
            _kv("exception.type", "app.errors.CheckoutError"),
            _kv("exception.message", "checkout failed"),
            _kv("exception.stacktrace", text),
            _kv("exception.escaped", "True"),
            _kv("order", 42),
        ],
    )
    out = translate_traces(_traces(_span(span_id=CHILD, parent_span_id=ROOT, events=[exception])))
    span, error = out.events
    assert out.owners == [0, 0]
    assert "events" not in _context(span)
    assert error.kind == E.KIND_ERROR
    assert (error.trace_id, error.span_id, error.level) == (TRACE.hex(), CHILD.hex(), E.LEVEL_ERROR)
    assert error.occurred_at == _at(T0 + 1000)
    assert error.idempotency_key == f"otlp:{TRACE.hex()}:{CHILD.hex()}:exception:0"
    raised = error.error.exception
    assert (raised.type, raised.module, raised.qualified_type, raised.value) == (
        "CheckoutError",
        "app.errors",
        "app.errors.CheckoutError",
        "checkout failed",
    )
    assert raised.mechanism.HasField("handled") and not raised.mechanism.handled
    assert [f.function for f in raised.frames] == ["_python_traceback", "checkout"]
    assert raised.frames[-1].context_line == 'raise RuntimeError("checkout failed") from cause'
    assert raised.frames[-1].filename == __file__ and raised.frames[-1].abs_path == __file__
    assert all(f.in_app and f.lineno > 0 for f in raised.frames)
    [cause] = error.error.causes
    assert (cause.type, cause.value) == ("ValueError", "card declined")
    assert [f.function for f in cause.frames] == ["checkout", "charge"]
    context = _context(error)
    assert context["span"] == {"name": "GET /checkout"}
    assert context["attributes"] == {"order": 42.0}
    assert "stacktrace" not in context
    assert (error.service, error.release) == ("checkout", "2.4.1")
    _stores(error)


def test_a_stack_trace_of_another_language_is_kept_as_text() -> None:
    java = "java.lang.IllegalStateException: closed\n\tat com.acme.Pool.get(Pool.java:42)\n"
    exception = trace_pb2.Span.Event(
        name="exception",
        attributes=[
            _kv("exception.type", "java.lang.IllegalStateException"),
            _kv("exception.stacktrace", java),
        ],
    )
    _, error = translate_traces(_traces(_span(events=[exception]))).events
    assert error.error.exception.type == "IllegalStateException"
    assert not error.error.exception.frames
    assert _context(error)["stacktrace"] == java
    assert error.occurred_at == _at(T0)  # the event has no time: the span's start
    _stores(error)


def test_an_exception_event_without_type_or_message_makes_no_error() -> None:
    exception = trace_pb2.Span.Event(name="exception", attributes=[_kv("exception.stacktrace", "x")])
    out = translate_traces(_traces(_span(events=[exception])))
    assert [e.kind for e in out.events] == [E.KIND_TRANSACTION]


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"trace_id": b""}, "trace_id must be 16 bytes, not all zero"),
        ({"trace_id": bytes(16)}, "trace_id must be 16 bytes, not all zero"),
        ({"trace_id": TRACE * 2}, "trace_id must be 16 bytes, not all zero"),
        ({"span_id": b"\x01"}, "span_id must be 8 bytes, not all zero"),
        ({"parent_span_id": bytes(8)}, "parent_span_id must be empty or 8 bytes, not all zero"),
    ],
)
def test_a_span_with_an_invalid_id_is_refused_alone(fields: dict[str, Any], why: str) -> None:
    out = translate_traces(_traces(_span(**fields), _span(span_id=CHILD)))
    assert out.items == 2
    assert out.refused == {0: why}
    assert out.owners == [1]


def test_a_span_without_times_or_name_takes_the_receive_time_and_an_unknown_name() -> None:
    [event] = translate_traces(_traces(_span(name="", start_time_unix_nano=0, end_time_unix_nano=0))).events
    assert not event.HasField("occurred_at")
    assert (event.transaction.name, event.transaction.duration_ms) == ("unknown", 0.0)
    _stores(event)


def test_the_older_environment_attribute_and_a_resource_without_attributes() -> None:
    older = resource_pb2.Resource(attributes=[_kv("deployment.environment", "staging")])
    [event] = translate_traces(_traces(_span(), resource=older)).events
    assert (event.service, event.environment) == ("", "staging")
    both = resource_pb2.Resource(
        attributes=[_kv("deployment.environment", "old"), _kv("deployment.environment.name", "new")]
    )
    [event] = translate_traces(_traces(_span(), resource=both)).events
    assert event.environment == "new"
    assert "resource" not in _context(event)


# Logs


@pytest.mark.parametrize(
    ("number", "text", "level"),
    [
        (1, "", E.LEVEL_TRACE),
        (4, "", E.LEVEL_TRACE),
        (5, "", E.LEVEL_DEBUG),
        (9, "INFO", E.LEVEL_INFO),
        (12, "", E.LEVEL_INFO),
        (13, "WARN", E.LEVEL_WARNING),
        (17, "ERROR", E.LEVEL_ERROR),
        (20, "", E.LEVEL_ERROR),
        (21, "FATAL", E.LEVEL_FATAL),
        (24, "", E.LEVEL_FATAL),
        (0, "Warning", E.LEVEL_WARNING),
        (0, "CRITICAL", E.LEVEL_FATAL),
        (0, "", E.LEVEL_UNSPECIFIED),
        (99, "nonsense", E.LEVEL_UNSPECIFIED),
    ],
)
def test_the_level_comes_from_the_severity_number_else_its_text(number: int, text: str, level: int) -> None:
    record = logs_pb2.LogRecord(severity_number=number, severity_text=text)  # type: ignore[arg-type]
    [event] = translate_logs(_logs(record)).events
    assert event.level == level


def test_a_log_record_is_a_log_with_its_body_attributes_and_trace_context() -> None:
    record = logs_pb2.LogRecord(
        time_unix_nano=T0,
        observed_time_unix_nano=T0 + 7,
        severity_number=logs_pb2.SEVERITY_NUMBER_WARN,
        severity_text="WARNING",
        body=_any("payment retried"),
        attributes=[_kv("code.function.name", "pay"), _kv("attempt", 2)],
        trace_id=TRACE,
        span_id=CHILD,
        event_name="payment.retry",
    )
    out = translate_logs(_logs(record))
    [event] = out.events
    assert (out.items, out.owners) == (1, [0])
    assert event.kind == E.KIND_LOG
    assert (event.message, event.level) == ("payment retried", E.LEVEL_WARNING)
    assert (event.log.level_text, event.log.logger) == ("WARNING", "app.checkout")
    assert json_format.MessageToDict(event.log.metadata) == {"code.function.name": "pay", "attempt": 2.0}
    assert (event.trace_id, event.span_id) == (TRACE.hex(), CHILD.hex())
    assert event.occurred_at == _at(T0)
    context = _context(event)
    assert context["event_name"] == "payment.retry"
    assert context["observed_time"] == "2024-06-20T16:13:20.000000007Z"
    assert (event.service, event.environment) == ("checkout", "production")
    _stores(event)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"user": "u1", "items": [1, 2]}, '{"user":"u1","items":[1,2]}'),
        ([True, "x"], '[true,"x"]'),
        (42, "42"),
        (1.5, "1.5"),
        (False, "false"),
        (b"\x00\xff", base64.b64encode(b"\x00\xff").decode()),
        (None, ""),
    ],
)
def test_a_structured_body_is_its_json(body: object, message: str) -> None:
    record = logs_pb2.LogRecord(body=_any(body)) if body is not None else logs_pb2.LogRecord()
    [event] = translate_logs(_logs(record)).events
    assert event.message == message
    _stores(event)


def test_a_log_takes_the_observed_time_else_none_and_drops_invalid_trace_ids() -> None:
    observed, unknown = translate_logs(
        _logs(
            logs_pb2.LogRecord(observed_time_unix_nano=T0, body=_any("a"), trace_id=bytes(16)),
            logs_pb2.LogRecord(body=_any("b"), trace_id=b"short", span_id=CHILD),
        )
    ).events
    assert observed.occurred_at == _at(T0) and observed.trace_id == ""
    assert not unknown.HasField("occurred_at")
    assert (unknown.trace_id, unknown.span_id) == ("", CHILD.hex())


# Metrics


def _metric(name: str = "requests", unit: str = "1", **data: Any) -> metrics_pb2.Metric:
    return M.Metric(name=name, unit=unit, description="what it counts", **data)


def test_gauges_and_sums_are_one_metric_per_point_with_labels_and_unit() -> None:
    gauge = _metric(
        "queue.depth",
        "{item}",
        gauge=M.Gauge(
            data_points=[
                M.NumberDataPoint(as_int=7, time_unix_nano=T0, attributes=[_kv("queue", "mail")]),
                M.NumberDataPoint(as_double=2.5, time_unix_nano=T0, attributes=[_kv("shard", 3)]),
            ]
        ),
    )
    total = _metric(
        sum=M.Sum(
            aggregation_temporality=M.AGGREGATION_TEMPORALITY_CUMULATIVE,
            is_monotonic=True,
            data_points=[M.NumberDataPoint(as_int=12, start_time_unix_nano=T0 - 10**9, time_unix_nano=T0)],
        )
    )
    out = translate_metrics(_metrics(gauge, total))
    assert (out.items, out.owners) == (3, [0, 1, 2])
    first, second, counter = out.events
    assert first.metric == E.MetricBody(
        name="queue.depth", value=7.0, unit="{item}", labels={"queue": "mail"}
    )
    assert second.metric.value == 2.5 and dict(second.metric.labels) == {"shard": "3"}
    assert _context(first)["type"] == "gauge"
    assert first.occurred_at == _at(T0)
    assert counter.metric.value == 12.0
    context = _context(counter)
    assert (context["type"], context["temporality"], context["monotonic"]) == ("sum", "cumulative", True)
    assert context["start_time"] == "2024-06-20T16:13:19Z"
    assert context["description"] == "what it counts"
    assert context["resource"] == {"host.name": "web-1"}
    assert (counter.service, counter.release) == ("checkout", "2.4.1")
    for event in out.events:
        assert event.kind == E.KIND_METRIC
        _stores(event)


def test_a_histogram_point_is_its_sum_with_buckets_in_the_context() -> None:
    histogram = _metric(
        "http.server.duration",
        "ms",
        histogram=M.Histogram(
            aggregation_temporality=M.AGGREGATION_TEMPORALITY_DELTA,
            data_points=[
                M.HistogramDataPoint(
                    count=3, sum=42.0, min=1.0, max=30.0, bucket_counts=[1, 1, 1], explicit_bounds=[5.0, 10.0]
                )
            ],
        ),
    )
    [event] = translate_metrics(_metrics(histogram)).events
    assert (event.metric.name, event.metric.value, event.metric.unit) == ("http.server.duration", 42.0, "ms")
    context = _context(event)
    assert {k: context[k] for k in ("type", "temporality", "count", "sum", "min", "max")} == {
        "type": "histogram",
        "temporality": "delta",
        "count": 3.0,
        "sum": 42.0,
        "min": 1.0,
        "max": 30.0,
    }
    assert (context["bucket_counts"], context["explicit_bounds"]) == ([1.0, 1.0, 1.0], [5.0, 10.0])
    _stores(event)


def test_an_exponential_histogram_and_a_summary_point() -> None:
    exponential = _metric(
        exponential_histogram=M.ExponentialHistogram(
            aggregation_temporality=M.AGGREGATION_TEMPORALITY_CUMULATIVE,
            data_points=[
                M.ExponentialHistogramDataPoint(
                    count=4,
                    sum=9.5,
                    scale=2,
                    zero_count=1,
                    positive=M.ExponentialHistogramDataPoint.Buckets(offset=-1, bucket_counts=[2, 1]),
                )
            ],
        )
    )
    summary = _metric(
        summary=M.Summary(
            data_points=[
                M.SummaryDataPoint(
                    count=10,
                    sum=55.0,
                    quantile_values=[
                        M.SummaryDataPoint.ValueAtQuantile(quantile=0.5, value=5.0),
                        M.SummaryDataPoint.ValueAtQuantile(quantile=0.99, value=9.9),
                    ],
                )
            ]
        )
    )
    exp_event, summary_event = translate_metrics(_metrics(exponential, summary)).events
    assert exp_event.metric.value == 9.5
    context = _context(exp_event)
    assert (context["type"], context["scale"], context["zero_count"]) == ("exponential_histogram", 2.0, 1.0)
    assert context["positive"] == {"offset": -1.0, "bucket_counts": [2.0, 1.0]}
    assert "negative" not in context
    assert summary_event.metric.value == 55.0
    context = _context(summary_event)
    assert (context["type"], context["count"]) == ("summary", 10.0)
    assert context["quantiles"] == [{"quantile": 0.5, "value": 5.0}, {"quantile": 0.99, "value": 9.9}]
    _stores(exp_event)
    _stores(summary_event)


def test_a_point_without_a_recorded_value_is_skipped_not_rejected() -> None:
    gauge = _metric(
        gauge=M.Gauge(
            data_points=[
                M.NumberDataPoint(as_int=1, flags=M.DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK),
                M.NumberDataPoint(as_int=2),
            ]
        )
    )
    out = translate_metrics(_metrics(gauge))
    assert (out.items, out.owners, out.refused) == (2, [1], {})


def test_exemplars_keep_their_trace_in_hex() -> None:
    point = M.NumberDataPoint(
        as_double=1.0,
        exemplars=[M.Exemplar(as_int=3, trace_id=TRACE, span_id=CHILD, time_unix_nano=T0)],
    )
    [event] = translate_metrics(_metrics(_metric(gauge=M.Gauge(data_points=[point])))).events
    assert _context(event)["exemplars"] == [
        {"value": 3.0, "time": "2024-06-20T16:13:20Z", "trace_id": TRACE.hex(), "span_id": CHILD.hex()}
    ]


# Values


def test_attribute_values_become_json_values() -> None:
    deep: object = "leaf"
    for _ in range(values.MAX_DEPTH + 3):
        deep = [deep]
    converted = values.attributes(
        [
            _kv("big", 2**60),
            _kv("nan", math.nan),
            _kv("inf", -math.inf),
            _kv("raw", b"\x01\x02"),
            _kv("map", {"a": [1, "x"]}),
            _kv("deep", deep),
        ]
    )
    assert converted["big"] == str(2**60)
    assert (converted["nan"], converted["inf"]) == ("NaN", "-Infinity")
    assert converted["raw"] == "AQI="
    assert converted["map"] == {"a": [1, "x"]}
    nested = converted["deep"]
    for _ in range(values.MAX_DEPTH):
        nested = nested[0]
    assert nested == "…"


def test_a_traceback_without_frames_is_not_read_as_one() -> None:
    assert stacktrace.parse("ValueError: x") is None
    assert stacktrace.parse("") is None


def test_traceback_source_lines_skip_the_caret_markers() -> None:
    text = (
        "Traceback (most recent call last):\n"
        '  File "/srv/app/main.py", line 3, in <module>\n'
        "    total = price / count\n"
        "            ~~~~~~^~~~~~~\n"
        '  File "/usr/lib/python3.12/json/__init__.py", line 346, in loads\n'
        "    return _default_decoder.decode(s)\n"
        "ZeroDivisionError: division by zero\n"
    )
    [exception] = stacktrace.parse(text) or []
    assert (exception.type, exception.value) == ("ZeroDivisionError", "division by zero")
    app, library = exception.frames
    assert (app.context_line, app.lineno, app.in_app) == ("total = price / count", 3, True)
    assert (library.function, library.in_app) == ("loads", False)


# Wire


HEX_TRACE = TRACE.hex()
OTLP_JSON: dict[str, Any] = {
    "resourceSpans": [
        {
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "web"}}]},
            "scopeSpans": [
                {
                    "scope": {"name": "manual"},
                    "spans": [
                        {
                            "traceId": HEX_TRACE,
                            "spanId": CHILD.hex(),
                            "parentSpanId": ROOT.hex(),
                            "name": "GET /",
                            "kind": 2,
                            "startTimeUnixNano": str(T0),
                            "endTimeUnixNano": T0 + 10**6,
                            "attributes": [{"key": "traceId", "value": {"stringValue": "not an id"}}],
                            "links": [{"traceId": HEX_TRACE, "spanId": ROOT.hex()}],
                            "status": {"code": 2},
                            "someFutureField": {"x": 1},
                        }
                    ],
                }
            ],
        }
    ]
}


def test_otlp_json_ids_are_hex_not_base64() -> None:
    body = orjson.dumps(OTLP_JSON)
    # The trap: protobuf's own JSON parser reads a hex id as base64, into 24 bytes.
    naive = trace_service_pb2.ExportTraceServiceRequest()
    json_format.Parse(body, naive, ignore_unknown_fields=True)
    assert len(naive.resource_spans[0].scope_spans[0].spans[0].trace_id) == 24

    request = wire.decode(wire.TRACES, body, wire.JSON)
    span = request.resource_spans[0].scope_spans[0].spans[0]  # type: ignore[attr-defined]
    assert (span.trace_id, span.span_id, span.parent_span_id) == (TRACE, CHILD, ROOT)
    assert (span.links[0].trace_id, span.links[0].span_id) == (TRACE, ROOT)
    assert span.kind == trace_pb2.Span.SPAN_KIND_SERVER and span.status.code == 2
    assert (span.start_time_unix_nano, span.end_time_unix_nano) == (T0, T0 + 10**6)
    assert span.attributes[0].value.string_value == "not an id"
    [event] = translate_traces(request).events  # type: ignore[arg-type]
    assert (event.trace_id, event.span.parent_span_id) == (HEX_TRACE, ROOT.hex())


def test_protobuf_and_empty_bodies_decode() -> None:
    request = _traces(_span())
    assert wire.decode(wire.TRACES, request.SerializeToString(), wire.PROTOBUF) == request
    assert wire.decode(wire.LOGS, b"", wire.PROTOBUF) == logs_service_pb2.ExportLogsServiceRequest()
    assert wire.decode(wire.METRICS, b" \n", wire.JSON) == metrics_service_pb2.ExportMetricsServiceRequest()


def _refusal(signal: wire.Signal, body: bytes, media: str) -> Answer:
    with pytest.raises(Answer) as refused:
        wire.decode(signal, body, media)
    return refused.value


@pytest.mark.parametrize(
    ("body", "media"),
    [
        (b"\xff\xff\xff", wire.PROTOBUF),
        (b"{not json", wire.JSON),
        (b"[]", wire.JSON),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "xyz"}]}]}]}', wire.JSON),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"spanId": "abc"}]}]}]}', wire.JSON),
        (b'{"resourceSpans": "nope"}', wire.JSON),
    ],
)
def test_a_body_that_does_not_decode_is_400_in_its_own_encoding(body: bytes, media: str) -> None:
    answer = _refusal(wire.TRACES, body, media)
    assert (answer.status, answer.content_type) == (400, media)
    assert isinstance(answer.body, bytes)
    status = _status(answer.body, media)
    assert status.code == code_pb2.INVALID_ARGUMENT
    assert status.message.startswith("the body is not an ExportTraceServiceRequest")
    bad = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad) and bad.field_violations[0].field == "body"


def _status(body: bytes, media: str) -> status_pb2.Status:
    if media == wire.PROTOBUF:
        return status_pb2.Status.FromString(body)
    return json_format.Parse(body, status_pb2.Status())


def test_responses_mirror_the_encoding_and_count_only_rejections() -> None:
    assert wire.encode(wire.response(wire.TRACES), wire.PROTOBUF) == b""
    assert wire.encode(wire.response(wire.TRACES), wire.JSON) == b"{}"
    partial = wire.response(wire.LOGS, 2, "2 of 5 not stored")
    assert orjson.loads(wire.encode(partial, wire.JSON)) == {
        "partialSuccess": {"rejectedLogRecords": "2", "errorMessage": "2 of 5 not stored"}
    }
    again = logs_service_pb2.ExportLogsServiceResponse.FromString(wire.encode(partial, wire.PROTOBUF))
    assert again.partial_success.rejected_log_records == 2


def test_a_throttle_carries_retry_info_and_retry_after() -> None:
    answer = wire.error(429, code_pb2.RESOURCE_EXHAUSTED, "over the limit", wire.PROTOBUF, retry_after_s=60)
    assert (answer.status, dict(answer.headers)) == (429, {"retry-after": "60"})
    assert isinstance(answer.body, bytes)
    status = status_pb2.Status.FromString(answer.body)
    info = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(info) and info.retry_delay.seconds == 60


@pytest.mark.parametrize(
    ("content_type", "media"),
    [
        ("application/x-protobuf", wire.PROTOBUF),
        ("Application/JSON; charset=utf-8", wire.JSON),
        ("application/protobuf", None),
        ("text/plain", None),
        ("", None),
    ],
)
def test_media_types(content_type: str, media: str | None) -> None:
    assert wire.media_type(content_type) == media


@pytest.mark.parametrize(
    ("refusal", "status", "retry_after"),
    [
        (Unavailable("database unavailable, retry shortly", retry_after_s=0.2), 503, "1"),
        (ResourceExhausted("daily limit", retry_after_s=60.0), 429, "60"),
        (Unauthenticated("invalid API key"), 401, None),
        (PermissionDenied("wrong kind"), 403, None),
    ],
)
def test_refusals_over_http_keep_their_status_and_retry_hint(
    refusal: IngestdError, status: int, retry_after: str | None
) -> None:
    answer = _in_otlp_shape(refusal, wire.JSON)
    assert isinstance(answer, Answer)
    assert (answer.status, answer.headers.get("retry-after")) == (status, retry_after)
    assert isinstance(answer.body, bytes)
    assert _status(answer.body, wire.JSON).code == refusal.code.value[0]
