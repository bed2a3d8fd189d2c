"""The ingestion pool: bounded queue, group commit, isolation of a refused request."""

import contextlib
import os
import shutil
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import orjson
import psycopg2
import pytest
from prometheus_client import REGISTRY

from aggregator import partitions
from aggregator.config import DEFAULTS
from aggregator.ingest import BatchQueue, IngestPool, QueueFull, Rejected, Submission, Unavailable, write_batch
from drills.polling import wait_until


def row(topic, event_id, ts="2026-01-01T00:00:00+00:00", payload=None):
    return orjson.dumps({"topic": topic, "event_id": event_id, "timestamp": ts, "source": None, "payload": payload})


def rows(count, prefix=""):
    return [row("t", f"{prefix}{i}") for i in range(count)]


def test_queue_refuses_beyond_capacity_but_always_takes_one_request():
    queue = BatchQueue(capacity=5)
    queue.put(Submission(rows(8)))  # empty queue: accepted
    with pytest.raises(QueueFull):
        queue.put(Submission(rows(1, "x")))
    assert queue.depth == 8


def test_take_gathers_many_submissions_up_to_the_event_limit():
    queue = BatchQueue(capacity=1000)
    for i in range(10):
        queue.put(Submission(rows(3, f"{i}-")))
    batch = queue.take(max_events=7, max_wait=0)
    assert [len(s) for s in batch] == [3, 3]
    assert queue.depth == 24


def test_a_writer_whose_events_another_writer_took_waits_again_instead_of_ending():
    """Writer A gathers for 0.5 s after the first request; writer B takes that request
    meanwhile. A must go on waiting (it once returned an empty batch, which ends a
    writer: a pool of two ran on one within minutes, silently)."""
    queue = BatchQueue(capacity=100)
    taken = []
    a = threading.Thread(target=lambda: taken.append(queue.take(max_events=10, max_wait=0.5)))
    a.start()
    queue.put(Submission(rows(1, "first-")))
    time.sleep(0.1)  # A saw it and now waits for more
    assert len(queue.take(max_events=1, max_wait=0)) == 1  # writer B
    a.join(1.0)
    assert a.is_alive(), f"writer A returned {taken} instead of waiting for the next request"
    queue.put(Submission(rows(1, "second-")))
    a.join(2.0)
    assert [len(batch) for batch in taken] == [1]


def test_a_key_shared_in_one_batch_is_stored_and_credited_from_its_first_carrier(database_url, sql):
    first = Submission([row("t", "a", payload={"by": "first"}), row("t", "b")])
    second = Submission([row("t", "a", payload={"by": "second"}), row("t", "c"), row("t", "c")])
    third = Submission([row("t", "b")])
    conn = psycopg2.connect(database_url)
    try:
        write_batch(conn, [first, second, third], shard=0)
    finally:
        conn.close()
    results = [(s.unique, s.duplicates) for s in (first, second, third)]
    assert results == [(2, 0), (1, 2), (0, 1)]
    assert sql("SELECT payload->>'by' FROM events WHERE event_id = 'a'") == [("first",)]
    assert sql("SELECT received, unique_processed, duplicate_dropped, batches FROM counter_shards") == [(6, 3, 3, 1)]


@pytest.fixture
def pool(app):
    pool = IngestPool({**app.config, "BATCH_MAX_WAIT_MS": 20})
    pool.start()
    yield pool
    pool.close()


def test_concurrent_requests_are_group_committed(pool, sql):
    barrier = threading.Barrier(40)

    def submit(i):
        barrier.wait()
        return pool.submit([row("g", str(i))], timeout=30)

    with ThreadPoolExecutor(40) as executor:
        results = list(executor.map(submit, range(40)))
    assert results == [(1, 0)] * 40
    batches = sql("SELECT sum(batches) FROM counter_shards")[0][0]
    assert batches < 40, f"expected requests to share commits, found {batches} batches for 40 requests"


def test_a_refused_request_writes_nothing_and_does_not_fail_its_batch_mates(pool, sql):
    good = [row("ok", str(i)) for i in range(5)]
    bad = [row("bad", "1"), row("bad", "2", ts="not a timestamp")]
    outcomes = {}

    def submit(name, events):
        try:
            outcomes[name] = pool.submit(events, timeout=30)
        except Rejected as exc:
            outcomes[name] = exc

    threads = [
        threading.Thread(target=submit, args=("good", good)),
        threading.Thread(target=submit, args=("bad", bad)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes["good"] == (5, 0)
    assert isinstance(outcomes["bad"], Rejected)
    assert sql("SELECT topic, count(*) FROM events GROUP BY topic") == [("ok", 5)]
    assert sql("SELECT sum(received), sum(unique_processed) FROM counter_shards") == [(5, 5)]


def test_close_drains_the_queue(make_app, database_url, sql):
    """Events still queued when the pool closes are written and acknowledged."""
    # One event per batch: the writers hold two requests, the rest wait in the queue.
    pool = IngestPool(make_app(BATCH_MAX_EVENTS=1).config)
    pool.start()
    # Hold the writers on a table lock so that requests pile up in the queue.
    blocker = psycopg2.connect(database_url)
    blocker.cursor().execute("LOCK TABLE events IN EXCLUSIVE MODE")
    with ThreadPoolExecutor(8) as executor:
        futures = [executor.submit(pool.submit, [row("d", str(i))], 30) for i in range(200)]
        assert wait_until(lambda: pool.queue.depth > 0, 10), "expected events waiting in the queue"
        closer = threading.Thread(target=pool.close)
        closer.start()
        assert wait_until(lambda: pool.queue._closed, 5)
        queued_at_close = pool.queue.depth
        blocker.rollback()  # let the writers through
        results = [f.exception() or f.result() for f in futures]
    closer.join()
    blocker.close()
    assert queued_at_close > 0, "the pool closed with an empty queue: nothing was drained"
    acknowledged = sum(1 for r in results if r == (1, 0))
    stored = sql("SELECT count(*) FROM events")[0][0]
    assert stored == acknowledged
    # Every request queued before close was drained, not dropped.
    assert acknowledged >= queued_at_close


def test_writers_replace_connections_the_server_kills_without_exhausting_their_pool(pool, sql):
    # More kills than the pool has connections: a leaked slot would end in "pool exhausted".
    for round_ in range(5):
        assert pool.submit([row("k", str(round_))], timeout=30) == (1, 0)
        sql("SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE application_name = 'aggregator'")
    assert pool.submit([row("k", "last")], timeout=30) == (1, 0)
    assert sql("SELECT count(*) FROM events WHERE topic = 'k'")[0][0] == 6


def test_aggregators_on_different_nodes_never_share_a_counter_shard(make_app, sql):
    """Process ids repeat across nodes: two pools of the same process stand for two
    nodes' workers with one pid. Their counter rows stay apart and the totals exact."""
    pools = [IngestPool(make_app(NODE_ID=node).config) for node in (0, 1)]
    for pool in pools:
        pool.start()
    try:
        with ThreadPoolExecutor(16) as executor:
            futures = [executor.submit(pools[i % 2].submit, [row("n", str(i))], 30) for i in range(200)]
            assert [f.result() for f in futures] == [(1, 0)] * 200
    finally:
        for pool in pools:
            pool.close()
    shards = {
        node: {s for (s,) in sql(f"SELECT shard FROM counter_shards WHERE shard / 1024 = {node}")} for node in (0, 1)
    }
    assert shards[0] and shards[1], f"expected counter rows from both nodes, found {shards}"
    assert sql("SELECT sum(received), sum(unique_processed) FROM counter_shards") == [(200, 200)]


def test_concurrent_batches_sharing_keys_in_opposite_orders_do_not_deadlock(database_url, sql):
    """Two writers insert the same 3,000 keys, one ascending, one descending, at once:
    they wait for each other (the second stores nothing new) and neither deadlocks."""
    keys = [row("d", f"{i:05d}") for i in range(3000)]
    batches = [[Submission(keys)], [Submission(list(reversed(keys)))]]
    barrier = threading.Barrier(2)
    errors = []

    def write(index):
        conn = psycopg2.connect(database_url)
        try:
            barrier.wait()
            write_batch(conn, batches[index], shard=index)
        except psycopg2.Error as exc:
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=write, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, f"expected both batches to commit, found {errors}"
    assert sql("SELECT count(*) FROM events") == [(3000,)]
    assert sorted(b[0].unique for b in batches) == [0, 3000]


def test_a_writer_that_meets_any_error_answers_503_and_goes_on(pool, sql, caplog):
    """Not a psycopg2 error: rows that are not UTF-8 make the writer's own code raise.
    The request is answered at once (503, nothing stored), the error is logged and the
    same writers commit the next request."""
    with pytest.raises(Unavailable):
        pool.submit([b"\xff\xfe not json"], timeout=5)
    assert "writer-" in caplog.text and "UnicodeDecodeError" in caplog.text, caplog.text
    assert pool.writers_alive() == (2, 2)
    assert pool.submit(rows(3, "after-"), timeout=5) == (3, 0)
    assert sql("SELECT count(*) FROM events") == [(3,)]


def batch_retries():
    """The writers' batch retries so far, in this process (0 before the first)."""
    return REGISTRY.get_sample_value("aggregator_batch_retries_total") or 0


def test_a_request_that_times_out_while_queued_is_withdrawn_and_never_stored(make_app, pg_server, sql):
    """The database goes away: the only writer retries its batch; a second request waits
    in the queue, times out (503) and must never be committed once the database is back."""
    app = make_app(WRITERS=1, RETRY_DEADLINE_SECONDS=6)
    pool = IngestPool(app.config)
    pool.start()
    pg_server.stop()
    try:

        def busy():
            """Whatever its outcome (stored once the database is back, or 503): it keeps the writer busy."""
            with contextlib.suppress(Unavailable):
                pool.submit(rows(1, "first-"), 30)

        retries = batch_retries()
        first = threading.Thread(target=busy)
        first.start()
        # The writer took it and retries it (an empty queue alone may only mean the
        # thread has not submitted yet; then both requests would share one batch).
        assert wait_until(lambda: pool.queue.depth == 0 and batch_retries() > retries, 5)
        with pytest.raises(Unavailable, match="nothing was stored"):
            pool.submit(rows(1, "queued-"), timeout=1)
    finally:
        pg_server.start()
    try:
        first.join(30)
        assert pool.submit(rows(1, "later-"), timeout=10) == (1, 0)
    finally:
        pool.close()
    assert sql("SELECT count(*) FROM events WHERE event_id LIKE 'queued-%%'") == [(0,)]


def test_queue_refuses_beyond_its_byte_budget():
    queue = BatchQueue(capacity=1000, max_bytes=1000)
    big = Submission([row("t", "big", payload="x" * 900)])
    queue.put(big)  # alone in the queue: accepted even near the budget
    with pytest.raises(QueueFull):
        queue.put(Submission([row("t", "more", payload="x" * 200)]))
    queue.take(max_events=10, max_wait=0)
    queue.put(Submission([row("t", "more", payload="x" * 200)]))  # its bytes were given back


@pytest.fixture
def small_disk(pg_server, admin_sql_run):
    """The tablespace `small_disk` on a 24 MiB filesystem. Ask for it before the
    database: it goes after the database (and whatever it put there) was dropped."""
    if os.geteuid() != 0:
        pytest.skip("mounting a filesystem needs root")
    mount = os.path.join(pg_server.base, "small_disk")
    os.mkdir(mount)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", mount], check=True)
    shutil.chown(mount, "postgres", "postgres")
    admin_sql_run(f"CREATE TABLESPACE small_disk LOCATION '{mount}'")
    yield "small_disk"
    admin_sql_run("DROP TABLESPACE small_disk")
    subprocess.run(["umount", "--lazy", mount], check=True)
    os.rmdir(mount)


def test_a_full_disk_answers_503_acknowledges_only_what_is_stored_and_recovers_when_space_is_freed(
    small_disk, make_app, sql
):
    # Today's partition and the key table live on the small filesystem; a ballast table
    # takes most of it, as old partitions would.
    today = partitions.name(partitions.today() + timedelta(days=DEFAULTS["RETENTION_DAYS"]))
    sql(f"ALTER TABLE {today} SET TABLESPACE small_disk")
    sql("ALTER TABLE event_ids SET TABLESPACE small_disk")
    sql("CREATE TABLE ballast TABLESPACE small_disk AS SELECT repeat('x', 1000) AS f FROM generate_series(1, 14000)")
    client = make_app(RETRY_DEADLINE_SECONDS=10).test_client()
    retries = batch_retries()
    acked, answer = 0, None
    for batch in range(200):
        events = [{"event_id": f"{batch}-{n}", "payload": {"text": "y" * 900}} for n in range(100)]
        answer = client.post("/publish", json=events)
        if answer.status_code != 202:
            break
        acked += 100
    assert answer.status_code == 503, f"expected the disk to fill, {acked} events acknowledged"
    assert answer.headers["Retry-After"] == str(DEFAULTS["RETRY_AFTER_SECONDS"])
    assert answer.json["error"] == "unavailable"
    assert batch_retries() == retries, "a full disk is not retried"
    assert acked > 0
    assert sql("SELECT count(*) FROM events") == [(acked,)]
    assert client.get("/stats").json["unique_processed"] == acked

    sql("DROP TABLE ballast")  # what a retention run does to an expired partition
    again = client.post("/publish", json=events)
    assert again.status_code == 202, again.json
    assert sql("SELECT count(*) FROM events") == [(acked + 100,)]
