"""Does the key table's layout explain why ingest slows down at size?

    python bench/keys.py                        (10 million existing keys)
    python bench/keys.py --existing 50000000

bench/scale.py measured ingest at 50 M events at 0.73 of the empty table's rate with the
digest keys of schemas 3 to 5. This isolates the dedup key table: the same inserts the
app makes (batches of 500 new keys, ON CONFLICT DO NOTHING, in index order, one commit
each) into that digest layout (`key uuid PRIMARY KEY`, a SHA-256 prefix, so each batch
lands all over the index) and into the text layout of schema 6 (`PRIMARY KEY (topic,
event_id)`, where a publisher's ids in sequence land in a few hot pages), and the same
text layout with random UUIDv4 ids; first empty, then holding --existing keys. Same
server, same run; each layout's rate at size is printed with its ratio to its own empty
rate, and the index's bytes per key.
"""

import argparse
import os
import sys
import time
import uuid

import psycopg2

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from scale import DIGEST, SERVER_OPTIONS, connect  # noqa: E402

from testbed.pgserver import PgServer  # noqa: E402

BATCH = 500
LAYOUTS = {
    "digest": (
        "CREATE TABLE keys_digest (key uuid PRIMARY KEY, expires_on date NOT NULL)",
        f"INSERT INTO keys_digest (key, expires_on) SELECT {DIGEST}, current_date "
        "FROM unnest(%s::text[], %s::text[]) AS k(topic, event_id) ORDER BY 1 ON CONFLICT DO NOTHING",
        f"INSERT INTO keys_digest SELECT {DIGEST}, current_date FROM (SELECT 'topic-' || mod(n, 50) AS topic, "
        "'d' || mod(n, 60) || '-' || n AS event_id FROM generate_series(1, %s) n) k ON CONFLICT DO NOTHING",
    ),
    "text": (
        "CREATE TABLE keys_text (topic text, event_id text, expires_on date NOT NULL, PRIMARY KEY (topic, event_id))",
        "INSERT INTO keys_text (topic, event_id, expires_on) SELECT t, i, current_date "
        "FROM unnest(%s::text[], %s::text[]) AS k(t, i) ORDER BY 1, 2 ON CONFLICT DO NOTHING",
        "INSERT INTO keys_text SELECT 'topic-' || mod(n, 50), 'd' || mod(n, 60) || '-' || n, "
        "current_date FROM generate_series(1, %s) n ON CONFLICT DO NOTHING",
    ),
    # The same text layout with random ids (UUIDv4): no locality left to keep.
    "text_uuid4": (
        "CREATE TABLE keys_text_uuid4 (topic text, event_id text, expires_on date NOT NULL, "
        "PRIMARY KEY (topic, event_id))",
        "INSERT INTO keys_text_uuid4 (topic, event_id, expires_on) SELECT t, i, current_date "
        "FROM unnest(%s::text[], %s::text[]) AS k(t, i) ORDER BY 1, 2 ON CONFLICT DO NOTHING",
        "INSERT INTO keys_text_uuid4 SELECT 'topic-' || mod(n, 50), gen_random_uuid()::text, "
        "current_date FROM generate_series(1, %s) n ON CONFLICT DO NOTHING",
    ),
}


def insert_rate(conn, statement, tag, count, random_ids=False):
    """New keys per second: `count` keys as the app's bench names them (or random UUIDs),
    BATCH per commit."""
    cur = conn.cursor()
    started = time.perf_counter()
    for first in range(0, count, BATCH):
        ids = range(first, min(first + BATCH, count))
        names = [str(uuid.uuid4()) for _ in ids] if random_ids else [f"{tag}-{i}" for i in ids]
        cur.execute(statement, ([f"topic-{i % 8}" for i in ids], names))
        conn.commit()
    return count / (time.perf_counter() - started)


def index_bytes_per_key(conn, table):
    cur = conn.cursor()
    cur.execute(f"SELECT pg_indexes_size('{table}'), (SELECT count(*) FROM {table})")
    size, rows = cur.fetchone()
    return size / rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--existing", type=int, default=10_000_000, help="keys in the table for the second rate")
    parser.add_argument("--keys", type=int, default=100_000, help="new keys per rate measurement")
    args = parser.parse_args()

    server = PgServer()
    server.init()
    server.extra_options = SERVER_OPTIONS
    server.start()
    try:
        admin = connect(server.url())
        admin.cursor().execute("CREATE DATABASE keys")
        admin.close()
        conn = psycopg2.connect(server.url("keys"))
        rows = []
        for layout, (create, insert, load) in LAYOUTS.items():
            conn.cursor().execute(create)
            conn.commit()
            empty = insert_rate(conn, insert, "empty", args.keys, layout.endswith("uuid4"))
            started = time.perf_counter()
            conn.cursor().execute(load, (args.existing,))
            conn.commit()
            loaded = time.perf_counter() - started
            conn.autocommit = True
            conn.cursor().execute(f"VACUUM ANALYZE keys_{layout}")
            conn.cursor().execute("CHECKPOINT")
            conn.autocommit = False
            full = insert_rate(conn, insert, "full", args.keys, layout.endswith("uuid4"))
            per_key = index_bytes_per_key(conn, f"keys_{layout}")
            rows.append((layout, empty, full, loaded, per_key))
            print(f"{layout}: empty {empty:,.0f} keys/s, at {args.existing:,} keys {full:,.0f} keys/s", flush=True)
        size = f"{args.existing:,}"
        print(f"\n| layout | new keys/s, empty | new keys/s at {size} | ratio | load s | index bytes per key |")
        print("|---|---|---|---|---|---|")
        for layout, empty, full, loaded, per_key in rows:
            print(f"| {layout} | {empty:,.0f} | {full:,.0f} | {full / empty:.2f} | {loaded:.0f} | {per_key:.1f} |")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
