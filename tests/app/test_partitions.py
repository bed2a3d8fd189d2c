"""Partitions by expiry day: created ahead, dropped whole, and deduplication across them."""

import threading
from datetime import date, timedelta

import psycopg2
from conftest import DAY

from aggregator import partitions
from aggregator.config import DEFAULTS


def settings(**overrides):
    return {**DEFAULTS, **overrides}


def partition_days(sql):
    rows = sql(
        "SELECT pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'events'::regclass"
    )
    return sorted(date.fromisoformat(bound.split("'")[1]) for (bound,) in rows)


def run_retention(database_url, config, day=None):
    conn = psycopg2.connect(database_url)
    try:
        return partitions.run(conn, config, day)
    finally:
        conn.close()


def test_partitions_exist_from_today_through_the_longest_retention_and_the_days_ahead(database_url, sql, clock):
    config = settings(RETENTION_DAYS=3, RETENTION_TOPIC_DAYS={"audit": 10}, PARTITIONS_AHEAD_DAYS=2)
    run_retention(database_url, config)
    days = partition_days(sql)
    assert [d for d in days if d >= DAY] == [DAY + timedelta(days=n) for n in range(0, 13)]
    # A second run has nothing to create.
    assert run_retention(database_url, config)["created"] == []


def test_an_insert_finds_its_partition_after_weeks_without_a_run(make_app, sql, clock):
    client = make_app().test_client()
    clock.set(DAY + timedelta(days=400))  # far past every partition created so far
    r = client.post("/publish", json={"topic": "t", "event_id": "late"})
    assert r.status_code == 202, r.json
    assert sql("SELECT expires_on FROM events") == [(DAY + timedelta(days=400 + DEFAULTS["RETENTION_DAYS"]),)]


def test_each_event_lands_in_its_topics_expiry_partition(make_app, sql, clock):
    client = make_app(RETENTION_DAYS=2, RETENTION_TOPIC_DAYS={"audit": 5}).test_client()
    r = client.post("/publish", json=[{"topic": "t", "event_id": "a"}, {"topic": "audit", "event_id": "a"}])
    assert r.json["unique"] == 2
    rows = sql("SELECT tableoid::regclass::text, topic FROM events ORDER BY topic")
    assert rows == [
        (partitions.name(DAY + timedelta(days=5)), "audit"),
        (partitions.name(DAY + timedelta(days=2)), "t"),
    ]


def test_retention_drops_only_whole_expired_partitions(make_app, database_url, sql, clock):
    config = {"RETENTION_DAYS": 1, "RETENTION_TOPIC_DAYS": {"audit": 3}}
    client = make_app(**config).test_client()
    client.post("/publish", json=[{"topic": "t", "event_id": str(n)} for n in range(50)])
    client.post("/publish", json=[{"topic": "audit", "event_id": str(n)} for n in range(7)])

    # Events expiring today are kept through today.
    summary = run_retention(database_url, settings(**config), DAY + timedelta(days=1))
    assert summary["rows_dropped"] == 0
    assert sql("SELECT count(*) FROM events") == [(57,)]

    summary = run_retention(database_url, settings(**config), DAY + timedelta(days=2))
    assert summary["rows_dropped"] == 50
    assert partitions.name(DAY + timedelta(days=1)) in summary["dropped"]
    assert sql("SELECT topic, count(*) FROM events GROUP BY topic") == [("audit", 7)]
    assert sql("SELECT count(*) FROM event_ids") == [(7,)]
    assert sql("SELECT count(*) FROM events JOIN event_ids USING (topic, event_id)") == [(7,)]
    assert min(partition_days(sql)) == DAY + timedelta(days=2)

    summary = run_retention(database_url, settings(**config), DAY + timedelta(days=4))
    assert summary["rows_dropped"] == 7
    assert sql("SELECT count(*) FROM events") == [(0,)]
    assert sql("SELECT count(*) FROM event_ids") == [(0,)]
    runs = sql("SELECT sum(rows_dropped), count(*) FROM retention_runs")
    assert runs == [(57, 3)]


def test_a_key_is_a_duplicate_in_another_partition_a_day_later_and_with_another_timestamp(make_app, sql, clock):
    client = make_app().test_client()
    first = {"topic": "t", "event_id": "k", "timestamp": "2031-03-10T08:00:00Z", "payload": {"v": 1}}
    assert client.post("/publish", json=first).json["unique"] == 1
    clock.set(DAY + timedelta(days=1))  # the same key would go to the next day's partition
    again = {**first, "timestamp": "2031-03-11T09:30:00Z", "payload": {"v": 2}}
    r = client.post("/publish", json=again)
    assert r.json == {"status": "accepted", "count": 1, "unique": 0, "duplicates": 1}
    assert sql("SELECT payload, expires_on FROM events") == [({"v": 1}, DAY + timedelta(days=30))]
    stats = client.get("/stats").json
    assert (stats["unique_processed"], stats["duplicate_dropped"]) == (1, 1)


def test_a_key_is_a_duplicate_after_its_topics_retention_changed(make_app, sql, clock):
    make_app(RETENTION_TOPIC_DAYS={"t": 3}).test_client().post("/publish", json={"topic": "t", "event_id": "k"})
    r = make_app(RETENTION_TOPIC_DAYS={"t": 9}).test_client().post("/publish", json={"topic": "t", "event_id": "k"})
    assert r.json["duplicates"] == 1
    assert sql("SELECT count(*) FROM events") == [(1,)]


def test_a_key_is_new_again_once_its_partition_expired(make_app, database_url, sql, clock):
    client = make_app(RETENTION_DAYS=1).test_client()
    client.post("/publish", json={"topic": "t", "event_id": "k"})
    clock.set(DAY + timedelta(days=2))
    run_retention(database_url, settings(RETENTION_DAYS=1))
    assert client.post("/publish", json={"topic": "t", "event_id": "k"}).json["unique"] == 1


def test_only_one_retention_run_at_a_time(database_url, clock):
    holder = psycopg2.connect(database_url)
    try:
        with holder.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", (partitions.RETENTION_LOCK,))
        assert run_retention(database_url, settings()) is None
    finally:
        holder.close()
    assert run_retention(database_url, settings()) is not None


def test_writers_that_race_for_a_missing_partition_all_store(make_app, sql, clock):
    app = make_app(WRITERS=4)
    clock.set(DAY + timedelta(days=100))
    results = []

    def publish(n):
        results.append(app.test_client().post("/publish", json={"topic": "t", "event_id": str(n)}).status_code)

    threads = [threading.Thread(target=publish, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [202] * 8
    assert sql("SELECT count(*) FROM events") == [(8,)]


def test_cli_retention(app, clock):
    result = app.test_cli_runner().invoke(args=["retention"])
    assert result.exit_code == 0, result.output
    assert '"rows_dropped": 0' in result.output


def test_before_the_text_key_switch_retention_removes_the_keys_from_both_key_tables(
    make_database, make_app, sql_at, clock
):
    # Schema 5: the digest table decides, a trigger copies into event_ids, and a key
    # left in either would make a dropped event a duplicate for ever.
    url = make_database(through=5)
    client = make_app(DATABASE_URL=url, AUTO_MIGRATE=False, RETENTION_DAYS=1).test_client()
    assert client.post("/publish", json=[{"topic": "t", "event_id": str(n)} for n in range(20)]).json["unique"] == 20
    run = sql_at(url)
    assert run("SELECT (SELECT count(*) FROM event_keys), (SELECT count(*) FROM event_ids)") == [(20, 20)]
    assert run_retention(url, settings(RETENTION_DAYS=1), DAY + timedelta(days=2))["rows_dropped"] == 20
    assert run("SELECT (SELECT count(*) FROM event_keys), (SELECT count(*) FROM event_ids)") == [(0, 0)]
    r = client.post("/publish", json={"topic": "t", "event_id": "3"})
    assert r.json["unique"] == 1  # new again once its event is gone
