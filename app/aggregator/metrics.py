"""Prometheus collectors, correct across gunicorn workers.

With PROMETHEUS_MULTIPROC_DIR set (the deployed service sets it), every worker writes
its samples to files there (prometheus_client's multiprocess mode) and one scrape of
any worker returns the node's totals; gunicorn's child_exit hook (gunicorn_conf.py)
drops the gauges of a worker that exited. Without it, the process's own samples.
"""

import os
from datetime import UTC, datetime, time

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily


def registry():
    """The registry a scrape reads: every worker's files, or this process."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    merged = CollectorRegistry()
    multiprocess.MultiProcessCollector(merged)
    return merged


RECEIVED = Counter("aggregator_events_received", "Events accepted for ingestion")
UNIQUE = Counter("aggregator_events_unique", "Events stored (first time seen)")
DUPLICATES = Counter("aggregator_events_duplicate", "Events dropped as duplicates")
BATCHES = Counter("aggregator_batches", "Batches committed")
BATCH_EVENTS = Histogram(
    "aggregator_batch_events",
    "Events per committed batch",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000),
)
COMMIT_SECONDS = Histogram(
    "aggregator_commit_seconds",
    "Time to write and commit one batch",
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5),
)
QUEUE_WAIT_SECONDS = Histogram(
    "aggregator_queue_wait_seconds",
    "Time from a request's events entering the queue to a writer taking them",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5),
)
# Summed over the live workers: the node's queued events and its queue capacity.
QUEUE_DEPTH = Gauge("aggregator_queue_events", "Events waiting for a writer", multiprocess_mode="livesum")
QUEUE_CAPACITY = Gauge(
    "aggregator_queue_capacity_events", "Events the queues hold before publish answers 503", multiprocess_mode="livesum"
)
DB_ERRORS = Counter("aggregator_database_errors", "Database errors seen by writers")
RETRIES = Counter("aggregator_batch_retries", "Batch write retries")
REJECTED = Counter("aggregator_requests_rejected", "Publish requests answered 4xx or 503", ["reason"])
RESPONSES = Counter("aggregator_http_responses", "HTTP responses by status class", ["code"])


def _day_start(day):
    return datetime.combine(day, time(), tzinfo=UTC).timestamp()


class RetentionCollector:
    """The data lifecycle, read from the database at scrape time (partitions.status):
    the same on every aggregator, whichever one ran the retention."""

    def __init__(self, status):
        self.status = status

    def collect(self):
        found = self.status
        yield GaugeMetricFamily("aggregator_partitions", "Partitions of the events table", value=found["partitions"])
        if found["oldest_expiry"] is not None:
            yield GaugeMetricFamily(
                "aggregator_partition_oldest_expiry_timestamp_seconds",
                "Start of the expiry day of the oldest partition (retention drops it the day after)",
                value=_day_start(found["oldest_expiry"]),
            )
            yield GaugeMetricFamily(
                "aggregator_partition_newest_expiry_timestamp_seconds",
                "Start of the expiry day of the newest partition (created ahead)",
                value=_day_start(found["newest_expiry"]),
            )
        if found["last_run"] is not None:
            yield GaugeMetricFamily(
                "aggregator_retention_last_run_timestamp_seconds",
                "When a retention run last finished",
                value=found["last_run"].timestamp(),
            )
        yield CounterMetricFamily(
            "aggregator_retention_rows_dropped", "Events dropped by retention runs", value=found["rows_dropped"]
        )
        yield CounterMetricFamily(
            "aggregator_retention_partitions_dropped",
            "Partitions dropped by retention runs",
            value=found["partitions_dropped"],
        )


def retention_registry(status):
    found = CollectorRegistry()
    found.register(RetentionCollector(status))
    return found
