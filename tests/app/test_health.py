"""GET /health, /ready and /metrics."""

import time
from datetime import UTC, datetime, timedelta

from conftest import DAY
from prometheus_client.parser import text_string_to_metric_families

from aggregator.build import build_id
from testbed.pgserver import free_port


def test_health_names_the_build_of_the_installed_code(client):
    assert client.get("/health").json == {"status": "ok", "build": build_id()}


def test_ready_when_the_database_answers(client):
    body = {"status": "ready", "database": "reachable", "writable": True, "writers": 2}
    assert client.get("/ready").json == body


def test_not_ready_when_the_database_is_unreachable_and_the_answer_names_no_detail(make_app, caplog):
    url = f"postgresql://nobody:x@127.0.0.1:{free_port()}/none"
    client = make_app(DATABASE_URL=url, CONNECT_TIMEOUT=1).test_client()
    r = client.get("/ready", headers={"Authorization": ""})  # the balancers' check has no token
    assert r.status_code == 503
    assert r.headers["Retry-After"]
    assert r.json == {"status": "unavailable", "database": "unreachable", "message": "the database does not answer"}
    # The detail (which host, which port, why) is in the log, for the operator.
    assert "127.0.0.1" in caplog.text, caplog.text


def test_ready_through_a_short_database_outage_then_not(make_app, pg_server):
    """A switchover's seconds without a primary: the writers hold the events, so the
    balancers must keep the aggregator; past the grace it is taken out."""
    client = make_app(READY_GRACE_SECONDS=2.0, CONNECT_TIMEOUT=1).test_client()
    assert client.get("/ready").json["database"] == "reachable"
    pg_server.stop()
    try:
        held = client.get("/ready")
        assert held.status_code == 200, held.json
        assert held.json["database"] == "unreachable" and held.json["holding_writes_s"] < 2.0
        time.sleep(2.0)
        assert client.get("/ready").status_code == 503
    finally:
        pg_server.start()
    assert client.get("/ready").json["database"] == "reachable"


def test_not_ready_while_fewer_writers_run_than_configured(app):
    client = app.test_client()
    assert client.post("/publish", json={"event_id": "w1"}).status_code == 202  # the writers start
    assert client.get("/ready").status_code == 200
    app.extensions["aggregator"].ingest.close()  # the writers end
    r = client.get("/ready")
    assert r.status_code == 503
    assert r.json["writers"] == 0 and r.json["writers_configured"] == 2, r.json


def metric_values(client):
    """Every sample of /metrics as {(name, labels): value}."""
    text = client.get("/metrics").get_data(as_text=True)
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_move_by_what_the_requests_did(client):
    before = metric_values(client)
    assert client.post("/publish", json=[{"event_id": "m1"}, {"event_id": "m1"}, {"event_id": "m2"}]).status_code == 202
    assert client.post("/publish", json={"event_id": "m2"}).status_code == 202
    assert client.post("/publish", json=[{"topic": "x"}]).status_code == 422
    assert client.post("/publish", data="{", content_type="application/json").status_code == 400
    after = metric_values(client)

    def moved(name, **labels):
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert moved("aggregator_events_received_total") == 4
    assert moved("aggregator_events_unique_total") == 2
    assert moved("aggregator_events_duplicate_total") == 2
    # The test client sends one request at a time: each accepted one is its own batch.
    assert moved("aggregator_batches_total") == 2
    assert moved("aggregator_batch_events_count") == 2
    assert moved("aggregator_batch_events_sum") == 4
    assert moved("aggregator_commit_seconds_count") == 2
    assert moved("aggregator_queue_wait_seconds_count") == 2
    assert moved("aggregator_requests_rejected_total", reason="validation") == 1
    assert moved("aggregator_requests_rejected_total", reason="malformed_json") == 1
    assert moved("aggregator_database_errors_total") == 0
    assert after[("aggregator_queue_events", ())] == 0


def test_metrics_show_the_data_lifecycle(make_app, clock):
    app = make_app(RETENTION_DAYS=1)
    client = app.test_client()
    client.post("/publish", json=[{"event_id": f"r{n}"} for n in range(5)])
    clock.set(DAY + timedelta(days=2))
    assert app.test_cli_runner().invoke(args=["retention"]).exit_code == 0
    found = metric_values(client)
    assert found[("aggregator_retention_rows_dropped_total", ())] == 5
    assert found[("aggregator_retention_partitions_dropped_total", ())] >= 1
    assert found[("aggregator_retention_last_run_timestamp_seconds", ())] > time.time() - 60
    oldest = datetime.combine(DAY + timedelta(days=2), datetime.min.time(), tzinfo=UTC).timestamp()
    assert found[("aggregator_partition_oldest_expiry_timestamp_seconds", ())] == oldest
    newest = found[("aggregator_partition_newest_expiry_timestamp_seconds", ())]
    assert found[("aggregator_partitions", ())] == (newest - oldest) / 86400 + 1
