"""The Prometheus instruments every role updates, and their exposition.

Instruments are prometheus-client's, created once at import. When ``PROMETHEUS_MULTIPROC_DIR`` is set before the
process starts (a role that forks workers: the web role's backend workers), each worker writes its values to files
there and any worker's ``/_ops/metrics`` answers for all of them; otherwise each process answers for itself.
Figures read from the database (the sender's backlog, lease holders) are collected at scrape time, by the processes
that run the cluster's shared jobs only, so each series has one source.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import REGISTRY, Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_FAST = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 20000)

REQUESTS = Counter(
    "paidsignal_http_requests", "HTTP requests answered, by role, route template, method and status.",
    ["role", "route", "method", "status"],
)  # fmt: skip
REQUEST_SECONDS = Histogram(
    "paidsignal_http_request_duration_seconds", "Time to the end of the answer, by role, route template and method.",
    ["role", "route", "method"], buckets=_FAST,
)  # fmt: skip
WEBSOCKET_EVENTS = Counter("paidsignal_websocket_events", "Events received on the backoffice's websocket.")

INGEST_QUEUE = Gauge(
    "paidsignal_ingest_queue_depth", "Ingest requests waiting for the group-commit writer.", multiprocess_mode="livesum"
)
INGEST_GROUP_REQUESTS = Histogram(
    "paidsignal_ingest_group_requests", "Requests committed together in one ingest transaction.", buckets=_SIZES
)
INGEST_GROUP_ROWS = Histogram("paidsignal_ingest_group_rows", "Event rows in one ingest transaction.", buckets=_SIZES)
INGEST_COMMIT_SECONDS = Histogram(
    "paidsignal_ingest_commit_seconds", "Time to write and commit one ingest group.", buckets=_FAST
)

WEBHOOKS = Counter("paidsignal_stripe_webhooks", "Stripe webhook deliveries by outcome.", ["outcome"])

JOB_RUNS = Counter("paidsignal_job_runs", "Job runs by job and outcome (skipped: another holds the lease).",
                   ["job", "outcome"])  # fmt: skip
JOB_SECONDS = Histogram(
    "paidsignal_job_duration_seconds", "Duration of the job runs that ran.", ["job"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)  # fmt: skip


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


class DatabaseCollector(Collector):
    """Gauges read from the database at scrape time: deliveries by provider and status, and who holds each lease."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from sqlmodel import Session

        from app.db import get_engine
        from app.services import operations

        with Session(get_engine()) as session:
            backlog = operations.delivery_backlog(session)
            leases = operations.held_leases(session)
        deliveries = GaugeMetricFamily(
            "paidsignal_conversion_deliveries",
            "Conversion deliveries in the outbox by provider and status (pending and retrying are the backlog).",
            labels=["provider", "status"],
        )
        for (provider, status), count in sorted(backlog.items()):
            deliveries.add_metric([provider, status], count)
        yield deliveries
        holders = GaugeMetricFamily(
            "paidsignal_job_lease_expires_in_seconds",
            "Seconds until each held job lease expires, by job and holder (host:pid:random).",
            labels=["job", "holder"],
        )
        for name, holder, seconds in leases:
            holders.add_metric([name, holder], seconds)
        yield holders


def exposition(*, with_database: bool) -> tuple[bytes, str]:
    """The metrics text and its content type: this process's (or, in multiprocess mode, every worker's) instruments,
    and the database gauges when ``with_database``."""
    folder = multiprocess_dir()
    if folder:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=folder)
    else:
        registry = CollectorRegistry()
        registry.register(_Forward(REGISTRY))
    if with_database:
        registry.register(DatabaseCollector())
    return generate_latest(registry), CONTENT_TYPE_LATEST


class _Forward(Collector):
    """The default registry's metrics inside a registry of our own (so the database collector is added per scrape,
    never to the process-wide registry)."""

    def __init__(self, source: CollectorRegistry) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        yield from self.source.collect()


def process_exited() -> None:
    """Drop this process's live gauges from the multiprocess files (its queue depth no longer counts)."""
    if multiprocess_dir():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(os.getpid())
