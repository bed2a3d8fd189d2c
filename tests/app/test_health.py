"""GET /health, /ready and /metrics."""

from pgserver import free_port


def test_health(client):
    assert client.get("/health").json == {"status": "ok"}


def test_ready_when_the_database_answers(client):
    assert client.get("/ready").json == {"status": "ready", "database": "reachable", "writable": True}


def test_not_ready_when_the_database_is_unreachable(make_app):
    url = f"postgresql://nobody:x@127.0.0.1:{free_port()}/none"
    client = make_app(DATABASE_URL=url, CONNECT_TIMEOUT=1).test_client()
    r = client.get("/ready")
    assert r.status_code == 503
    assert r.headers["Retry-After"]
    assert r.json["database"] == "unreachable"


def test_metrics_count_events_and_batches(client):
    client.post("/publish", json=[{"event_id": "m1"}, {"event_id": "m1"}])
    text = client.get("/metrics").get_data(as_text=True)
    for name in (
        "aggregator_events_received_total",
        "aggregator_events_unique_total",
        "aggregator_events_duplicate_total",
        "aggregator_batch_events_bucket",
        "aggregator_commit_seconds_bucket",
        "aggregator_queue_events",
        "aggregator_database_errors_total",
        "aggregator_batch_retries_total",
    ):
        assert name in text, f"expected metric {name} in /metrics"
