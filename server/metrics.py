"""`/metrics`: what an operator graphs and alerts on, in Prometheus's text format.

The hot paths keep plain counters (`storage.stats`, dicts of counts on the pipeline, the
gateway, the ingest port, the writer and the webhook worker); this collector reads them only
when scraped, so serving a request pays no metrics library. Like the probes, the route is not in
the protos and needs no key: it holds counts, never a secret or a payload. Each process serves
its own (with `--workers N`, a scrape reaches one of them: see the README)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from server.alerting.delivery import DeliveryWorker
from server.ingest import Ingest
from server.pipeline import Pipeline
from server.readiness import Readiness
from storage.stats import Histogram
from storage.writer import GroupWriter, RowWriter


@dataclass(frozen=True, slots=True)
class Sources:
    """What the collector reads; the composition root builds it."""

    pipeline: Pipeline
    ingest: Ingest
    writer: RowWriter
    deliveries: DeliveryWorker
    readiness: Readiness
    http_responses: dict[int, int]
    bytes_in_flight: Callable[[], int]


class _Collector(Collector):
    def __init__(self, sources: Sources) -> None:
        self._s = sources

    def collect(self) -> Iterator[Metric]:
        s = self._s
        calls = CounterMetricFamily(
            "ingestd_calls", "Calls by RPC and gRPC code, over gRPC and HTTP.", labels=["rpc", "code"]
        )
        for (rpc, code), n in sorted(s.pipeline.calls.items()):
            calls.add_metric([rpc, code], n)
        yield calls
        latency = HistogramMetricFamily("ingestd_call_seconds", "Call latency by RPC.", labels=["rpc"])
        for rpc, histogram in sorted(s.pipeline.latency.items()):
            latency.add_metric([rpc], _buckets(histogram), histogram.sum)
        yield latency
        responses = CounterMetricFamily(
            "ingestd_http_responses", "HTTP responses by status.", labels=["status"]
        )
        for status, n in sorted(s.http_responses.items()):
            responses.add_metric([str(status)], n)
        yield responses
        events = CounterMetricFamily(
            "ingestd_events",
            "Events received, by dialect and whether they were valid.",
            labels=["dialect", "result"],
        )
        for (dialect, result), n in sorted(s.ingest.events.items()):
            events.add_metric([dialect, result], n)
        yield events
        committed = CounterMetricFamily(
            "ingestd_events_committed",
            "What became of valid events at commit: stored, duplicate, revoked, over_quota, unavailable.",
            labels=["result"],
        )
        for result, n in sorted(s.ingest.committed.items()):
            committed.add_metric([result], n)
        yield committed
        yield GaugeMetricFamily(
            "ingestd_bytes_in_flight",
            "Request body bytes held, compressed and inflated.",
            value=s.bytes_in_flight(),
        )
        errors = CounterMetricFamily(
            "ingestd_database_errors",
            "Database failures: calls that found it unreachable, groups it failed to commit.",
            labels=["where"],
        )
        errors.add_metric(["call"], s.pipeline.database_errors)
        writer = s.writer
        if isinstance(writer, GroupWriter):
            errors.add_metric(["commit"], writer.failed_groups)
            yield HistogramMetricFamily(
                "ingestd_commit_seconds",
                "Group commit latency.",
                buckets=_buckets(writer.commit_seconds),
                sum_value=writer.commit_seconds.sum,
            )
            yield HistogramMetricFamily(
                "ingestd_commit_group_rows",
                "Rows per group commit.",
                buckets=_buckets(writer.group_rows),
                sum_value=writer.group_rows.sum,
            )
            yield GaugeMetricFamily(
                "ingestd_writer_queue", "Submissions waiting for the group writer.", value=writer.queued()
            )
        yield errors
        attempts = CounterMetricFamily(
            "ingestd_webhook_deliveries", "Webhook delivery attempts by result.", labels=["result"]
        )
        for result, n in sorted(s.deliveries.attempts.items()):
            attempts.add_metric([result], n)
        yield attempts
        yield GaugeMetricFamily(
            "ingestd_ready", "1 while the process takes writes (see /readyz).", value=int(s.readiness.ready)
        )


def _buckets(histogram: Histogram) -> list[tuple[str, float]]:
    return [(bound, float(n)) for bound, n in histogram.cumulative()]


def add_metrics_route(app: web.Application, sources: Sources) -> None:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(sources))

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(registry),
            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
        )

    app.router.add_get("/metrics", metrics)
