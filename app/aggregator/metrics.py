"""Prometheus collectors (per process; each gunicorn worker exposes its own)."""

from prometheus_client import Counter, Gauge, Histogram

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
QUEUE_DEPTH = Gauge("aggregator_queue_events", "Events waiting for a writer")
DB_ERRORS = Counter("aggregator_database_errors", "Database errors seen by writers")
RETRIES = Counter("aggregator_batch_retries", "Batch write retries")
REJECTED = Counter("aggregator_requests_rejected", "Publish requests answered 4xx or 503", ["reason"])
