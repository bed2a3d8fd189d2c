"""Schema migrations are idempotent and exposed as a CLI command."""

import random
import threading
import time

import psycopg2

from aggregator import schema


def test_migrate_twice_applies_nothing_the_second_time(database_url):
    conn = psycopg2.connect(database_url)
    try:
        assert schema.migrate(conn) == []  # the fixture migrated already
        with conn.cursor() as cur:
            cur.execute("SELECT version FROM schema_migrations ORDER BY version")
            assert cur.fetchall() == [(version,) for version, _, _ in schema.MIGRATIONS]
    finally:
        conn.close()


def test_cli_migrate(app):
    result = app.test_cli_runner().invoke(args=["migrate"])
    assert result.exit_code == 0, result.output
    assert "schema is up to date" in result.output


LEGACY_ROWS = 1_000_000


def fill_legacy(url, rows):
    """What a deployment before partitioning holds: `rows` events and their counters."""
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                "INSERT INTO events (topic, event_id, ts, source, payload)"
                " SELECT 'old' || mod(n, 4), 'e' || n, now() - n * interval '1 s',"
                "        CASE WHEN mod(n, 3) = 0 THEN 'sensor' END, jsonb_build_object('n', n)"
                " FROM generate_series(1, %s) n",
                (rows,),
            )
            cur.execute(
                "INSERT INTO counter_shards (shard, received, unique_processed, duplicate_dropped, batches)"
                " VALUES (999999, %s, %s, 0, 1)",
                (rows, rows),
            )
            cur.execute(
                "INSERT INTO topic_counter_shards (topic, shard, events)"
                " SELECT topic, 999999, count(*) FROM events GROUP BY topic"
            )
    finally:
        conn.close()


class Publisher:
    """Threads publishing batches of 10 through the app until stopped: new keys, with
    about 30 % duplicates (of their own earlier keys and of the old table's keys)."""

    def __init__(self, app, threads=4):
        self.app, self.acked, self.ack_times, self.refused = app, [], [], 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(n,)) for n in range(threads)]

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _run(self, worker):
        client, rng, sent = self.app.test_client(), random.Random(worker), 0
        while not self._stop.is_set():
            batch = []
            for _ in range(10):
                if sent and rng.random() < 0.15:
                    key = ("new", f"w{worker}-{rng.randrange(sent)}")
                elif rng.random() < 0.15:
                    n = rng.randrange(1, LEGACY_ROWS + 1)
                    key = (f"old{n % 4}", f"e{n}")
                else:
                    key, sent = ("new", f"w{worker}-{sent}"), sent + 1
                batch.append({"topic": key[0], "event_id": key[1], "payload": {"w": worker}})
            answer = client.post("/publish", json=batch)
            with self._lock:
                if answer.status_code == 202:
                    self.acked.extend((e["topic"], e["event_id"]) for e in batch)
                    self.ack_times.append(time.monotonic())
                else:
                    self.refused += 1

    def longest_gap(self, start, end):
        times = sorted(t for t in self.ack_times if start <= t <= end)
        return max((b - a for a, b in zip([start, *times], [*times, end], strict=True)), default=end - start)


def test_partitioning_an_existing_table_under_load_loses_nothing_and_stalls_little(make_database, make_app, sql_at):
    """A deployment's whole history under load: the table partitioned (3, 4), then its
    dedup keys moved from digests to text (5, 6)."""
    url = make_database(through=2)
    steps = []
    fill_legacy(url, LEGACY_ROWS)
    app = make_app(DATABASE_URL=url, AUTO_MIGRATE=False, WRITERS=2)
    conn = psycopg2.connect(url)
    try:
        with Publisher(app) as publisher:
            time.sleep(2)
            started = time.monotonic()
            for step in ([3], [4], [5], [6]):
                step_started = time.monotonic()
                # Additive steps run beside the older code; a switch once every
                # aggregator runs this code.
                assert schema.migrate(conn, switch=step in ([4], [6]), through=step[0]) == step
                steps.append((step[0], time.monotonic() - step_started))
            finished = time.monotonic()
            time.sleep(2)
    finally:
        conn.close()
    gap = publisher.longest_gap(started, finished)
    print(
        "migrations " + ", ".join(f"{version}: {seconds:.1f} s" for version, seconds in steps),
        f"in all {finished - started:.1f} s, longest wait for an acknowledgement {gap:.2f} s, "
        f"{len(publisher.acked)} acknowledged, {publisher.refused} requests refused",
    )
    assert gap < 5.0
    assert publisher.refused == 0
    run = sql_at(url)
    assert run("SELECT relkind FROM pg_class WHERE oid = 'events'::regclass") == [("p",)]
    stored = set(run("SELECT topic, event_id FROM events WHERE topic = 'new'"))
    assert {key for key in publisher.acked if key[0] == "new"} <= stored
    assert run("SELECT count(*) FROM events WHERE topic LIKE 'old%'") == [(LEGACY_ROWS,)]
    stats = app.test_client().get("/stats").json
    total = run("SELECT count(*) FROM events")[0][0]
    assert stats["unique_processed"] == total == run("SELECT count(*) FROM event_ids")[0][0]
    assert run("SELECT count(*) FROM events JOIN event_ids USING (topic, event_id, expires_on)") == [(total,)]
    assert run("SELECT to_regclass('event_keys')") == [(None,)]
    assert stats["received"] == LEGACY_ROWS + len(publisher.acked)
    assert stats["received"] == stats["unique_processed"] + stats["duplicate_dropped"]
