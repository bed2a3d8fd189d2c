"""Schema migrations: numbered, applied once, under an advisory lock.

Run by `flask --app aggregator migrate` (the deployment does this once) and, when
AUTO_MIGRATE is on, when the ingestion pool starts. Never at import time.

A migration is SQL, or a function for one that works in steps (its own transactions,
so a long backfill never holds a lock). Most only add, and the running (older) code
keeps working on them; a *switch* changes what the older code relies on, so the
deployment applies it (`migrate --switch`) only once every aggregator runs the new
code, which works on the schema before and after it.
"""

from datetime import timedelta

import psycopg2
import psycopg2.errors
from psycopg2 import sql

from . import config, partitions

MIGRATION_LOCK = 7_364_221
# Keys copied per transaction while migrations 3 and 5 fill the key table.
BACKFILL_BATCH = 20_000
# Attempts at the switch's short exclusive lock before migrate gives up.
SWITCH_ATTEMPTS = 30

SQL_MIGRATIONS = [
    (
        1,
        """
        CREATE TABLE events (
            topic       text        NOT NULL,
            event_id    text        NOT NULL,
            ts          timestamptz NOT NULL,
            source      text,
            payload     jsonb,
            received_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (topic, event_id)
        );
        CREATE INDEX events_order ON events (ts, topic, event_id);
        CREATE INDEX events_source ON events (source, ts) WHERE source IS NOT NULL;

        -- Counters are sharded per writer: each batch updates its own row in the
        -- same transaction as its inserts, so writers never wait on one hot row.
        CREATE TABLE counter_shards (
            shard             integer PRIMARY KEY,
            received          bigint  NOT NULL DEFAULT 0,
            unique_processed  bigint  NOT NULL DEFAULT 0,
            duplicate_dropped bigint  NOT NULL DEFAULT 0,
            batches           bigint  NOT NULL DEFAULT 0
        );
        CREATE TABLE topic_counter_shards (
            topic  text    NOT NULL,
            shard  integer NOT NULL,
            events bigint  NOT NULL DEFAULT 0,
            PRIMARY KEY (topic, shard)
        );
        """,
    ),
    (
        2,
        """
        -- GET /stats uptime: since when the service (any instance) has served without a break.
        CREATE TABLE service_uptime (
            id      boolean PRIMARY KEY DEFAULT true CHECK (id),
            since   timestamptz NOT NULL,
            seen_at timestamptz NOT NULL
        );
        """,
    ),
]


# Migration 3, additive: the key table, the retention record, and the old table made
# ready to become the first partition. Every row it holds (and every row the older code
# still writes) gets one expiry day, `legacy`: RETENTION_DAYS after this migration.
PREPARE = """
-- (topic, event_id) as 16 bytes: the first half of its SHA-256 (topics cannot contain
-- the separator). A fixed-width key keeps the table at about 92 bytes per event however
-- long the ids are (173 for UUID ids kept as text; bench/scale.py).
CREATE OR REPLACE FUNCTION event_key(topic text, event_id text) RETURNS uuid
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN encode(substring(sha256(convert_to(topic || E'\\x1f' || event_id, 'UTF8')) FOR 16), 'hex')::uuid;
CREATE TABLE IF NOT EXISTS event_keys (
    key        uuid PRIMARY KEY,
    expires_on date NOT NULL
);
CREATE TABLE IF NOT EXISTS retention_runs (
    ran_at             timestamptz PRIMARY KEY DEFAULT clock_timestamp(),
    partitions_created integer NOT NULL,
    partitions_dropped integer NOT NULL,
    rows_dropped       bigint  NOT NULL
);
-- A constant default: no table rewrite, the old rows read it from the catalog.
ALTER TABLE events ADD COLUMN IF NOT EXISTS expires_on date NOT NULL DEFAULT %(legacy)s;
-- Until the switch, whatever the older code inserts has its key copied, in its own
-- statement's transaction.
CREATE OR REPLACE FUNCTION events_copy_keys() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO event_keys (key, expires_on)
    SELECT event_key(topic, event_id), expires_on FROM new_rows ORDER BY 1
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
CREATE OR REPLACE TRIGGER events_copy_keys AFTER INSERT ON events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION events_copy_keys();
"""

# The keys of the rows already stored, one batch per transaction, in key order.
BACKFILL = """
WITH batch AS (
    SELECT topic, event_id, expires_on FROM ONLY events
    WHERE (topic, event_id) > (%(topic)s, %(event_id)s)
    ORDER BY topic, event_id LIMIT %(limit)s
), copied AS (
    INSERT INTO event_keys (key, expires_on)
    SELECT event_key(topic, event_id), expires_on FROM batch ORDER BY 1 ON CONFLICT DO NOTHING
)
SELECT topic, event_id FROM batch ORDER BY topic DESC, event_id DESC LIMIT 1
"""

# Migration 4, the switch: `events` becomes a table partitioned by expiry day and the old
# table the partition of the day its rows expire. The CHECK constraint (validated
# beforehand, without blocking writes) spares the attach a scan, so the exclusive lock
# lasts milliseconds.
SWITCH = """
LOCK TABLE events IN ACCESS EXCLUSIVE MODE;
ALTER TABLE events RENAME TO {old};
ALTER INDEX events_pkey RENAME TO {old_pkey};
ALTER INDEX events_order RENAME TO {old_order};
ALTER INDEX events_source RENAME TO {old_source};
DROP TRIGGER events_copy_keys ON {old};
DROP FUNCTION events_copy_keys();
ALTER TABLE {old} ALTER COLUMN expires_on DROP DEFAULT;
-- The old table's columns exactly, as the attach below requires.
CREATE TABLE events (LIKE {old} INCLUDING DEFAULTS) PARTITION BY RANGE (expires_on);
CREATE INDEX events_order ON events (ts, topic, event_id);
CREATE INDEX events_source ON events (source, ts) WHERE source IS NOT NULL;
ALTER TABLE events ATTACH PARTITION {old} FOR VALUES FROM (%(legacy)s) TO (%(legacy_end)s);
"""

LEGACY_DEFAULT = """
SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d
JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
WHERE d.adrelid = 'events'::regclass AND a.attname = 'expires_on'
"""


def _legacy_expiry(conn):
    """The expiry day migration 3 gave the old rows (the column's constant default)."""
    with conn.cursor() as cur:
        cur.execute(LEGACY_DEFAULT)
        expression = cur.fetchone()[0]  # e.g. '2027-01-05'::date, written by PREPARE
        cur.execute(f"SELECT {expression}")
        return cur.fetchone()[0]


def _in_lock_tries(conn, work):
    """Run work(cursor), DDL that needs a strong lock, in one transaction whose lock
    waits end after LOCK_TIMEOUT (or a deadlock with a writer), up to SWITCH_ATTEMPTS
    times: waiting behind a long transaction must not queue the writers behind it for
    longer than that."""
    for attempt in range(SWITCH_ATTEMPTS):
        try:
            with conn, conn.cursor() as cur:
                cur.execute(f"SET LOCAL lock_timeout = '{partitions.LOCK_TIMEOUT}'")
                work(cur)
            return
        except (psycopg2.errors.LockNotAvailable, psycopg2.errors.DeadlockDetected):
            if attempt + 1 == SWITCH_ATTEMPTS:
                raise


def prepare_partitioning(conn, settings):
    legacy = partitions.today() + timedelta(days=settings["RETENTION_DAYS"])
    _in_lock_tries(conn, lambda cur: cur.execute(PREPARE, {"legacy": legacy}))
    legacy = _legacy_expiry(conn)  # an interrupted earlier run may have set it
    last = ("", "")
    while last is not None:
        with conn, conn.cursor() as cur:
            cur.execute(BACKFILL, {"topic": last[0], "event_id": last[1], "limit": BACKFILL_BATCH})
            last = cur.fetchone()
    with conn, conn.cursor() as cur:
        cur.execute(
            "SELECT 1 FROM pg_constraint WHERE conrelid = 'events'::regclass AND conname = 'events_legacy_expiry'"
        )
        exists = cur.fetchone()
    if not exists:
        _in_lock_tries(
            conn,
            lambda cur: cur.execute(
                "ALTER TABLE events ADD CONSTRAINT events_legacy_expiry"
                " CHECK (expires_on >= %(legacy)s AND expires_on < %(legacy_end)s) NOT VALID",
                {"legacy": legacy, "legacy_end": legacy + timedelta(days=1)},
            ),
        )
    # Scans the old rows under a lock that lets inserts through.
    with conn, conn.cursor() as cur:
        cur.execute("ALTER TABLE events VALIDATE CONSTRAINT events_legacy_expiry")


def partition_events(conn, settings):
    legacy = _legacy_expiry(conn)
    old = partitions.name(legacy)
    names = {"old": old, **{f"old_{suffix}": f"{old}_{suffix}" for suffix in ("pkey", "order", "source")}}
    statement = sql.SQL(SWITCH).format(**{key: sql.Identifier(value) for key, value in names.items()})

    def switch(cur):
        cur.execute(statement, {"legacy": legacy, "legacy_end": legacy + timedelta(days=1)})
        # Today's partitions before any insert can look for them.
        partitions.attach_missing(cur, settings)

    _in_lock_tries(conn, switch)


# Migration 5, additive: the dedup keys as text, `event_ids (topic, event_id)`, beside
# the digest table of migration 3. A publisher's ids mostly come in sequence, so a batch's
# new keys land in a few hot pages of this index, where digests land all over theirs:
# at 10 M keys the digest table kept 0.57 of its empty-table insert rate, text keys 0.92
# (bench/keys.py), for about 29 bytes per event more. Until the switch, the digest table
# still decides and a trigger copies every event stored into event_ids.
PREPARE_TEXT_KEYS = """
CREATE TABLE IF NOT EXISTS event_ids (
    topic      text NOT NULL,
    event_id   text NOT NULL,
    expires_on date NOT NULL,
    PRIMARY KEY (topic, event_id)
);
CREATE OR REPLACE FUNCTION events_copy_ids() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO event_ids (topic, event_id, expires_on)
    SELECT topic, event_id, expires_on FROM new_rows ORDER BY 1, 2
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
CREATE OR REPLACE TRIGGER events_copy_ids AFTER INSERT ON events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION events_copy_ids();
"""

# The keys of the events already stored, in the order of the events_order index.
BACKFILL_IDS = """
WITH batch AS (
    SELECT ts, topic, event_id, expires_on FROM events
    WHERE (ts, topic, event_id) > (%(ts)s, %(topic)s, %(event_id)s)
    ORDER BY ts, topic, event_id LIMIT %(limit)s
), copied AS (
    INSERT INTO event_ids (topic, event_id, expires_on)
    SELECT topic, event_id, expires_on FROM batch ORDER BY 1, 2 ON CONFLICT DO NOTHING
)
SELECT ts, topic, event_id FROM batch ORDER BY ts DESC, topic DESC, event_id DESC LIMIT 1
"""

# Migration 6, the switch: event_ids decides, the digest table and its function go. The
# locks in the order the digest statement takes them (event_keys, then events), so a
# writer and the switch wait for each other rather than deadlock.
SWITCH_TO_TEXT_KEYS = """
LOCK TABLE event_keys, events IN ACCESS EXCLUSIVE MODE;
DROP TRIGGER events_copy_ids ON events;
DROP FUNCTION events_copy_ids();
DROP TABLE event_keys;
DROP FUNCTION event_key(text, text);
"""


def prepare_text_keys(conn, settings):
    _in_lock_tries(conn, lambda cur: cur.execute(PREPARE_TEXT_KEYS))
    # A retention run now would remove a partition's keys before the copy below reads
    # them again from the partition it has not dropped yet: keys without events, which
    # no later run would remove. Retention runs skip while this lock is held.
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s)", (partitions.RETENTION_LOCK,))
    conn.commit()
    try:
        last = ("-infinity", "", "")
        while last is not None:
            with conn, conn.cursor() as cur:
                params = {"ts": last[0], "topic": last[1], "event_id": last[2], "limit": BACKFILL_BATCH}
                cur.execute(BACKFILL_IDS, params)
                last = cur.fetchone()
    finally:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock(%s)", (partitions.RETENTION_LOCK,))
        conn.commit()


def switch_to_text_keys(conn, settings):
    _in_lock_tries(conn, lambda cur: cur.execute(SWITCH_TO_TEXT_KEYS))


# (version, SQL or a step function, switch?)
MIGRATIONS = [
    *((version, statement, False) for version, statement in SQL_MIGRATIONS),
    (3, prepare_partitioning, False),
    (4, partition_events, True),
    (5, prepare_text_keys, False),
    (6, switch_to_text_keys, True),
]


def migrate(conn, settings=None, switch=True, through=None):
    """Apply pending migrations (without `switch`, stop before the first switch; with
    `through`, after that version); returns the versions applied. `settings`: the app's
    config (retention)."""
    settings = {**config.DEFAULTS, **(settings or {})}
    applied = []
    with conn, conn.cursor() as cur:
        cur.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
    conn.commit()
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT version FROM schema_migrations")
            done = {row[0] for row in cur.fetchall()}
        for version, step, is_switch in MIGRATIONS:
            if version in done:
                continue
            if (is_switch and not switch) or (through is not None and version > through):
                break
            if callable(step):
                step(conn, settings)
            with conn, conn.cursor() as cur:
                if not callable(step):  # SQL: in the same transaction as its record
                    cur.execute(step)
                cur.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
            applied.append(version)
    finally:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
        conn.commit()
    return applied
