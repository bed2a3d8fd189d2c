"""GET /stats: exact counters, consistent with the stored rows at every read."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor


def test_stats_start_at_zero(client):
    stats = client.get("/stats").json
    assert (stats["received"], stats["unique_processed"], stats["duplicate_dropped"], stats["topics"]) == (0, 0, 0, [])
    assert stats["uptime"] >= 0


def test_per_topic_counts(client):
    client.post("/publish", json=[{"topic": "a", "event_id": "1"}, {"topic": "a", "event_id": "2"}])
    client.post("/publish", json=[{"topic": "b", "event_id": "1"}, {"topic": "a", "event_id": "1"}])
    stats = client.get("/stats").json
    assert stats["topics"] == ["a", "b"]
    assert stats["per_topic"] == {"a": 2, "b": 1}
    assert (stats["received"], stats["unique_processed"], stats["duplicate_dropped"]) == (4, 3, 1)


def test_invariant_holds_at_every_read_under_concurrent_writes(client, sql):
    stop = threading.Event()
    violations = []

    def reader():
        while not stop.is_set():
            s = client.get("/stats").json
            if s["received"] != s["unique_processed"] + s["duplicate_dropped"]:
                violations.append(s)

    def writer(i):
        client.post("/publish", json=[{"topic": "c", "event_id": str((i * 7 + j) % 300)} for j in range(10)])

    readers = [threading.Thread(target=reader) for _ in range(2)]
    for t in readers:
        t.start()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(writer, range(100)))
    stop.set()
    for t in readers:
        t.join()
    assert not violations, f"received != unique + duplicates in {len(violations)} reads: {violations[:3]}"
    stats = client.get("/stats").json
    assert stats["received"] == 1000
    assert stats["unique_processed"] == sql("SELECT count(*) FROM events")[0][0]


def test_state_survives_an_app_restart(make_app, sql):
    first = make_app()
    first.test_client().post("/publish", json=[{"topic": "r", "event_id": "1"}, {"topic": "r", "event_id": "2"}])
    first.extensions["aggregator"].close()
    second = make_app().test_client()
    r = second.post("/publish", json=[{"topic": "r", "event_id": "1"}, {"topic": "r", "event_id": "3"}])
    assert r.json == {"status": "accepted", "count": 2, "unique": 1, "duplicates": 1}
    stats = second.get("/stats").json
    assert (stats["received"], stats["unique_processed"], stats["duplicate_dropped"]) == (4, 3, 1)
    assert sql("SELECT count(*) FROM events")[0][0] == 3


def test_uptime_never_runs_backwards_between_two_instances(make_app):
    """Two instances over one database, started a second apart, asked in turn (as the
    balancer does): the service's uptime only grows, and it is the older one's age."""
    older = make_app().test_client()
    first = older.get("/stats").json["uptime"]
    time.sleep(1.0)
    newer = make_app().test_client()
    seen = [client.get("/stats").json["uptime"] for _ in range(3) for client in (newer, older)]
    assert seen == sorted(seen), f"uptime ran backwards: {seen}"
    assert seen[0] >= first + 1.0, f"the newer instance reported its own age: {first} then {seen}"


def test_uptime_starts_again_after_every_instance_was_gone(make_app, sql):
    client = make_app().test_client()
    client.get("/stats")
    # No instance heard from for longer than three heartbeats: the service was down.
    sql("UPDATE service_uptime SET since = now() - interval '1 hour', seen_at = now() - interval '1 minute'")
    assert client.get("/stats").json["uptime"] < 60  # this process's age, until the next beat
    sql("UPDATE service_uptime SET seen_at = now() - interval '1 minute'")
    make_app().test_client().get("/stats")  # a new instance starts the new run
    assert client.get("/stats").json["uptime"] < 60
