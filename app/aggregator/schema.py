"""Schema migrations: numbered, applied once, under an advisory lock.

Run by `flask --app aggregator migrate` (the deployment does this once) and, when
AUTO_MIGRATE is on, when the ingestion pool starts. Never at import time.
"""

MIGRATION_LOCK = 7_364_221

MIGRATIONS = [
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


def migrate(conn):
    """Apply pending migrations; returns the versions applied."""
    applied = []
    with conn, conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        cur.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        cur.execute("SELECT version FROM schema_migrations")
        done = {row[0] for row in cur.fetchall()}
        for version, sql in MIGRATIONS:
            if version in done:
                continue
            cur.execute(sql)
            cur.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
            applied.append(version)
    return applied
