"""OTLP metrics as canonical events: one `KIND_METRIC` per data point, of every metric type
(docs/vendors/otlp.md §5.4). Pure, like the translator that calls it.

- gauge and sum: the point's value (`as_double` or `as_int`);
- histogram, exponential histogram and summary: the point's sum (0 when the point has none);
- the point's attributes are the metric's labels, and the metric's unit its unit;
- what a value alone cannot say goes into the context: the metric type, description,
  temporality and monotonicity, count, min and max, buckets and bounds, scale and zero count,
  quantiles, and the exemplars.

A point flagged "no recorded value" (flag 1) marks a gap in a series, not a measurement: it is
skipped, and not counted as rejected.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2

from ingestd.v1 import event_pb2
from server.dialects.otlp import values
from server.dialects.otlp.envelope import (
    SPAN_ID_BYTES,
    TRACE_ID_BYTES,
    Origin,
    Translation,
    hex_id,
    iso,
    origin,
    timestamp,
)

E = event_pb2
M = metrics_pb2

_NO_RECORDED_VALUE = M.DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK
_TEMPORALITIES = {
    M.AGGREGATION_TEMPORALITY_DELTA: "delta",
    M.AGGREGATION_TEMPORALITY_CUMULATIVE: "cumulative",
}

Point = (
    metrics_pb2.NumberDataPoint
    | metrics_pb2.HistogramDataPoint
    | metrics_pb2.ExponentialHistogramDataPoint
    | metrics_pb2.SummaryDataPoint
)


def translate(request: metrics_service_pb2.ExportMetricsServiceRequest) -> Translation:
    """A metric event per data point; every point counts as an item, skipped ones too."""
    out = Translation()
    for resource_metrics in request.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            where = origin(resource_metrics.resource, scope_metrics.scope)
            for metric in scope_metrics.metrics:
                # What the context says of the metric itself, the same for each of its points.
                described = {
                    "description": metric.description,
                    "metadata": values.attributes(metric.metadata),
                }
                for point, value, context in _points(metric):
                    item = out.items
                    out.items += 1
                    if point.flags & _NO_RECORDED_VALUE:
                        continue
                    out.add(_event(metric, point, value, context, described, where), item)
    return out


def _points(metric: metrics_pb2.Metric) -> list[tuple[Point, float, dict[str, Any]]]:
    """Each data point of `metric`, its value, and what the context says of it."""
    data = metric.WhichOneof("data")
    found: list[tuple[Point, float, dict[str, Any]]] = []
    if data == "gauge":
        for number in metric.gauge.data_points:
            found.append((number, _number(number), {"type": "gauge"}))
    elif data == "sum":
        series = {
            "type": "sum",
            "temporality": _TEMPORALITIES.get(metric.sum.aggregation_temporality),
            "monotonic": metric.sum.is_monotonic,
        }
        for number in metric.sum.data_points:
            found.append((number, _number(number), series))
    elif data == "histogram":
        temporality = _TEMPORALITIES.get(metric.histogram.aggregation_temporality)
        for bars in metric.histogram.data_points:
            context: dict[str, Any] = {
                "type": "histogram",
                "temporality": temporality,
                "count": bars.count,
                **_sum_min_max(bars),
                "bucket_counts": list(bars.bucket_counts),
                "explicit_bounds": [values.finite(b) for b in bars.explicit_bounds],
            }
            found.append((bars, bars.sum, context))
    elif data == "exponential_histogram":
        temporality = _TEMPORALITIES.get(metric.exponential_histogram.aggregation_temporality)
        for exp in metric.exponential_histogram.data_points:
            context = {
                "type": "exponential_histogram",
                "temporality": temporality,
                "count": exp.count,
                **_sum_min_max(exp),
                "scale": exp.scale,
                "zero_count": exp.zero_count,
                "zero_threshold": exp.zero_threshold or None,
                "positive": _buckets(exp.positive),
                "negative": _buckets(exp.negative),
            }
            found.append((exp, exp.sum, context))
    elif data == "summary":
        for summary in metric.summary.data_points:
            context = {
                "type": "summary",
                "count": summary.count,
                "sum": values.finite(summary.sum),
                "quantiles": [
                    {"quantile": q.quantile, "value": values.finite(q.value)} for q in summary.quantile_values
                ],
            }
            found.append((summary, summary.sum, context))
    return found


def _number(point: metrics_pb2.NumberDataPoint | metrics_pb2.Exemplar) -> float:
    return float(point.as_int) if point.WhichOneof("value") == "as_int" else point.as_double


def _sum_min_max(
    point: metrics_pb2.HistogramDataPoint | metrics_pb2.ExponentialHistogramDataPoint,
) -> dict[str, Any]:
    """A histogram point's sum, min and max, each None when the point has none."""
    return {
        "sum": values.finite(point.sum) if point.HasField("sum") else None,
        "min": values.finite(point.min) if point.HasField("min") else None,
        "max": values.finite(point.max) if point.HasField("max") else None,
    }


def _buckets(buckets: metrics_pb2.ExponentialHistogramDataPoint.Buckets) -> dict[str, Any] | None:
    if not buckets.bucket_counts:
        return None
    return {"offset": buckets.offset, "bucket_counts": list(buckets.bucket_counts)}


def _event(
    metric: metrics_pb2.Metric,
    point: Point,
    value: float,
    context: dict[str, Any],
    described: dict[str, Any],
    where: Origin,
) -> event_pb2.Event:
    event = E.Event(
        kind=E.KIND_METRIC,
        metric=E.MetricBody(
            name=metric.name, value=value, unit=metric.unit, labels=values.labels(point.attributes)
        ),
    )
    occurred = timestamp(point.time_unix_nano)
    if occurred is not None:
        event.occurred_at.CopyFrom(occurred)
    exemplars = getattr(point, "exemplars", ())
    where.stamp(
        event,
        {
            **context,
            **described,
            "start_time": iso(point.start_time_unix_nano),
            "exemplars": [_exemplar(x) for x in exemplars],
        },
    )
    return event


def _exemplar(exemplar: metrics_pb2.Exemplar) -> dict[str, Any]:
    described: dict[str, Any] = {
        "value": values.finite(_number(exemplar)),
        "time": iso(exemplar.time_unix_nano),
        "trace_id": hex_id(exemplar.trace_id, TRACE_ID_BYTES),
        "span_id": hex_id(exemplar.span_id, SPAN_ID_BYTES),
        "attributes": values.attributes(exemplar.filtered_attributes),
    }
    return {k: v for k, v in described.items() if v not in (None, "", {})}
