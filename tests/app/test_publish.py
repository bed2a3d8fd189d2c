"""POST /publish: idempotent, durable, all-or-nothing per request."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest


def stored(sql):
    return sql("SELECT count(*) FROM events")[0][0]


def test_single_event_is_stored_and_counted(client, sql):
    r = client.post("/publish", json={"topic": "orders", "event_id": "e1", "payload": {"a": 1}})
    assert r.status_code == 202
    assert r.json == {"status": "accepted", "count": 1, "unique": 1, "duplicates": 0}
    assert sql("SELECT topic, event_id, payload FROM events") == [("orders", "e1", {"a": 1})]


def test_duplicates_inside_one_request(client, sql):
    events = [{"topic": "t", "event_id": "a"}, {"topic": "t", "event_id": "a"}, {"topic": "t", "event_id": "b"}]
    r = client.post("/publish", json=events)
    assert r.json == {"status": "accepted", "count": 3, "unique": 2, "duplicates": 1}
    assert stored(sql) == 2


def test_duplicates_across_requests(client, sql):
    client.post("/publish", json={"topic": "t", "event_id": "a"})
    r = client.post("/publish", json=[{"topic": "t", "event_id": "a"}, {"topic": "t", "event_id": "c"}])
    assert r.json == {"status": "accepted", "count": 2, "unique": 1, "duplicates": 1}
    assert stored(sql) == 2


def test_same_id_in_two_topics_is_two_events(client, sql):
    r = client.post("/publish", json=[{"topic": "a", "event_id": "x"}, {"topic": "b", "event_id": "x"}])
    assert r.json["unique"] == 2
    assert stored(sql) == 2


def test_id_alias_default_topic_and_receive_time(client, sql):
    r = client.post("/publish", json={"id": "only-id"})
    assert r.status_code == 202
    rows = sql("SELECT topic, event_id, ts IS NOT NULL, abs(extract(epoch FROM ts - received_at)) < 5 FROM events")
    assert rows == [("default", "only-id", True, True)]


def test_timestamp_with_offset_is_kept(client, sql):
    client.post("/publish", json={"event_id": "t1", "timestamp": "2026-01-02T03:04:05.123456+02:00"})
    assert sql("SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') FROM events") == [
        ("2026-01-02 01:04:05.123456",)
    ]


def test_timestamp_offset_beyond_postgresql_range_is_stored_in_utc(client, sql):
    assert (
        client.post("/publish", json={"event_id": "far", "timestamp": "2026-01-02T16:00:00+16:00"}).status_code == 202
    )
    assert sql("SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') FROM events") == [("2026-01-02 00:00",)]


def test_timestamp_that_overflows_in_utc_is_422(client, sql):
    r = client.post("/publish", json={"event_id": "early", "timestamp": "0001-01-01T00:00:00+01:00"})
    assert r.status_code == 422
    assert r.json["details"][0]["field"] == "timestamp"
    assert stored(sql) == 0


def test_fifty_threads_posting_the_same_event_store_it_once(client, sql):
    barrier = threading.Barrier(50)

    def post(_):
        barrier.wait()
        return client.post("/publish", json={"topic": "race", "event_id": "same"}).json

    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(post, range(50)))
    assert sum(r["unique"] for r in results) == 1
    assert sum(r["duplicates"] for r in results) == 49
    assert stored(sql) == 1
    stats = client.get("/stats").json
    assert (stats["received"], stats["unique_processed"], stats["duplicate_dropped"]) == (50, 1, 49)


def test_concurrent_unique_events_are_all_stored(client, sql):
    def post(i):
        return client.post("/publish", json=[{"topic": f"t{i % 3}", "event_id": f"{i}-{j}"} for j in range(20)]).json

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(post, range(64)))
    assert sum(r["unique"] for r in results) == 64 * 20
    assert stored(sql) == 64 * 20


def test_malformed_json_is_400_and_nothing_stored(client, sql):
    r = client.post("/publish", data=b'{"event_id": "a",', content_type="application/json")
    assert r.status_code == 400
    assert r.json["error"] == "malformed_json"
    assert stored(sql) == 0


@pytest.mark.parametrize(
    "body", [b'{"event_id": "caf\xe9"}', b'[{"event_id": "a"}, {"event_id": "\xff\xfe"}]'], ids=["latin-1", "bytes"]
)
def test_a_body_that_is_not_utf8_is_400_naming_the_body_and_nothing_stored(client, sql, body):
    r = client.post("/publish", data=body, content_type="application/json")
    assert r.status_code == 400
    assert r.json["error"] == "malformed_json"
    assert "JSON" in r.json["message"]
    assert sql("SELECT count(*) FROM events") == [(0,)]


def test_not_json_content_type_is_415(client):
    r = client.post("/publish", data=b"event_id=a", content_type="application/x-www-form-urlencoded")
    assert r.status_code == 415


def test_schema_errors_name_each_item_and_field_and_store_nothing(client, sql):
    events = [
        {"topic": "ok", "event_id": "good"},
        {"topic": "bad topic", "event_id": "x"},
        {"topic": "ok"},
        {"event_id": "y", "timestamp": "yesterday"},
        {"event_id": "z", "timestamp": "2026-01-01T00:00:00"},
        {"event_id": "p", "payload": [1, 2]},
        {"event_id": "u", "unknown": 1},
    ]
    r = client.post("/publish", json=events)
    assert r.status_code == 422
    found = {(d["index"], d["field"]) for d in r.json["details"]}
    assert found == {(1, "topic"), (2, "event_id"), (3, "timestamp"), (4, "timestamp"), (5, "payload"), (6, "unknown")}
    assert stored(sql) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"event_id": ""}, "event_id"),
        ({"event_id": "x" * 256}, "event_id"),
        ({"event_id": "a\u0000b"}, "event_id"),
        ({"event_id": "a", "topic": "t" * 256}, "topic"),
        ({"event_id": "a", "payload": {"s": "nul\u0000"}}, "payload"),
    ],
)
def test_bad_single_event_is_422_naming_the_field(client, sql, body, field):
    r = client.post("/publish", json=body)
    assert r.status_code == 422
    assert [d["field"] for d in r.json["details"]] == [field]
    assert stored(sql) == 0


def test_oversized_payload_is_422(client, sql):
    r = client.post("/publish", json={"event_id": "big", "payload": {"s": "x" * 70_000}})
    assert r.status_code == 422
    assert r.json["details"][0]["field"] == "payload"
    assert stored(sql) == 0


def test_payload_limit_applies_to_the_payload_not_the_whole_event(make_app, sql):
    client = make_app(MAX_PAYLOAD_BYTES=100).test_client()
    payload = {"s": "x" * 92}  # serialized: exactly 100 bytes
    long_id = "i" * 200  # the serialized event is far above 100 bytes
    assert client.post("/publish", json={"event_id": long_id, "payload": payload}).status_code == 202
    r = client.post("/publish", json={"event_id": "over", "payload": {"s": "x" * 93}})
    assert r.status_code == 422
    assert r.json["details"][0] == {
        "index": None,
        "field": "payload",
        "message": "payload is 101 bytes; the maximum is 100",
    }
    assert stored(sql) == 1


def test_the_text_backslash_u0000_is_not_a_nul(client):
    payload = {"s": "\\u0000 is how JSON escapes NUL"}
    assert client.post("/publish", json={"topic": "esc", "event_id": "1", "payload": payload}).status_code == 202
    assert client.get("/events?topic=esc").json["events"][0]["payload"] == payload


def test_too_many_events_is_413(make_app, sql):
    client = make_app(MAX_EVENTS_PER_REQUEST=10).test_client()
    r = client.post("/publish", json=[{"event_id": str(i)} for i in range(11)])
    assert r.status_code == 413
    assert r.json["error"] == "too_many_events"
    assert stored(sql) == 0


def test_too_large_body_is_413(make_app, sql):
    client = make_app(MAX_CONTENT_LENGTH=1000).test_client()
    r = client.post("/publish", json=[{"event_id": str(i), "source": "s" * 50} for i in range(50)])
    assert r.status_code == 413
    assert r.json["error"] == "request_entity_too_large"
    assert stored(sql) == 0


def test_empty_array_is_422(client):
    assert client.post("/publish", json=[]).status_code == 422


def test_database_down_is_503_then_recovers_without_restart(make_app, pg_server, sql):
    client = make_app(RETRY_DEADLINE_SECONDS=1.0).test_client()
    assert client.post("/publish", json={"event_id": "before"}).status_code == 202
    pg_server.stop()
    try:
        r = client.post("/publish", json={"event_id": "during"})
        assert r.status_code == 503
        assert r.headers["Retry-After"] == "2"
        assert r.json["error"] == "unavailable"
    finally:
        pg_server.start()
    r = client.post("/publish", json={"event_id": "after"})
    assert r.status_code == 202
    assert sorted(row[0] for row in sql("SELECT event_id FROM events")) == ["after", "before"]


def test_a_database_error_not_about_the_events_is_503_not_rejected(make_app, sql):
    """A schema the code does not expect (say, new code before its migration) is the
    server's problem: retryable 503, never a 422 that tells the client to give up.
    (The writers retry it until their deadline: a short one keeps the test short.)"""
    client = make_app(RETRY_DEADLINE_SECONDS=1.0).test_client()
    sql("ALTER TABLE events RENAME TO events_moved")
    try:
        r = client.post("/publish", json=[{"event_id": "a"}, {"event_id": "b"}])
        assert r.status_code == 503, r.json
        assert r.json["error"] == "unavailable"
        assert r.headers["Retry-After"]
    finally:
        sql("ALTER TABLE events_moved RENAME TO events")
    assert client.post("/publish", json=[{"event_id": "a"}]).status_code == 202


def test_bodies_past_the_workers_byte_budget_get_503_unread_and_nothing_stored(make_app, sql):
    app = make_app(INFLIGHT_MAX_BYTES=1000)
    client = app.test_client()
    budget = app.extensions["aggregator"].body_budget
    with budget.reserve(900):  # another request's body is in flight
        r = client.post("/publish", json=[{"event_id": f"b{i}", "payload": "x" * 50} for i in range(5)])
        assert r.status_code == 503
        assert r.headers["Retry-After"]
        assert "bytes of requests in flight" in r.json["message"]
    assert stored(sql) == 0
    assert budget.used == 0
    assert client.post("/publish", json={"event_id": "after"}).status_code == 202
    assert budget.used == 0  # given back after the answer
