"""The events table's partitions: one per expiry day, created ahead, dropped whole.

Each event is stored with `expires_on` = the day it arrived (UTC) plus its topic's
retention, and `events` is range-partitioned on that column: every partition holds the
events that expire on one day, whatever their topic, so retention is always a whole
partition to drop, never a DELETE. Deduplication does not rely on the partitions:
`event_ids` holds one row per (topic, event_id) with the same expiry, and the retention
run removes a partition's keys just before it drops the partition, so a key is a
duplicate for as long as its event is kept. (Before schema 6 the digest table
`event_keys` decides; its keys are removed the same way while it exists.)
"""

import logging
from datetime import UTC, date, datetime, timedelta

import psycopg2
import psycopg2.errors
from psycopg2 import sql

log = logging.getLogger(__name__)

PREFIX = "events_expire_"
# One retention run at a time, whichever aggregator's timer fires.
RETENTION_LOCK = 7_364_222
# One creator of partitions at a time.
ATTACH_LOCK = 7_364_223
# Keys removed per transaction while a partition expires.
KEY_BATCH = 20_000
# How long DDL waits for a lock before giving way to the writers (and trying again).
LOCK_TIMEOUT = "2s"


def today():
    """The current UTC day: the clock every expiry is counted from (tests move it)."""
    return datetime.now(UTC).date()


def name(day):
    return f"{PREFIX}{day:%Y%m%d}"


def horizon(settings, day=None):
    """The last expiry day that must have a partition: an event arriving today with the
    longest retention, plus the days created ahead."""
    longest = max([settings["RETENTION_DAYS"], *settings["RETENTION_TOPIC_DAYS"].values()])
    return (day or today()) + timedelta(days=longest + settings["PARTITIONS_AHEAD_DAYS"])


def bounds(cur):
    """{partition name: first expiry day it holds} for every partition of events."""
    cur.execute(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i"
        " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'events'::regclass"
    )
    rows = cur.fetchall()
    found = {}
    for relname, bound in rows:
        # FOR VALUES FROM ('2027-01-05') TO ('2027-01-06')
        found[relname] = date.fromisoformat(bound.split("'")[1])
    return found


def ensure(conn, settings, day=None):
    """Create the missing partitions from `day` (today) through the horizon, in one
    transaction; returns the names created."""
    with conn, conn.cursor() as cur:
        created = attach_missing(cur, settings, day)
    if created:
        log.info("created partitions %s", ", ".join(created))
    return created


def attach_missing(cur, settings, day=None):
    """In the caller's transaction: CREATE + ATTACH, not CREATE ... PARTITION OF, since
    attaching takes a lock that inserts do not wait for."""
    cur.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
    # Writers that met a missing partition and the retention run may all get here.
    cur.execute("SELECT pg_advisory_xact_lock(%s)", (ATTACH_LOCK,))
    have = set(bounds(cur).values())
    created = []
    current, last = day or today(), horizon(settings, day)
    while current <= last:
        if current not in have:
            table = sql.Identifier(name(current))
            cur.execute(sql.SQL("CREATE TABLE {} (LIKE events INCLUDING DEFAULTS)").format(table))
            cur.execute(
                sql.SQL("ALTER TABLE events ATTACH PARTITION {} FOR VALUES FROM (%s) TO (%s)").format(table),
                (current, current + timedelta(days=1)),
            )
            created.append(name(current))
        current += timedelta(days=1)
    return created


def expired(conn, day=None):
    """[(partition, expiry day)] whose events have all expired, oldest first: every
    event in them expired before `day` (today)."""
    day = day or today()
    with conn, conn.cursor() as cur:
        found = bounds(cur)
    return sorted(((n, d) for n, d in found.items() if d < day), key=lambda item: item[1])


# A partition's keys as each key table holds them (event_keys only before schema 6).
KEY_DELETES = {
    "event_ids": ", gone_ids AS (DELETE FROM event_ids k USING batch b"
    " WHERE (k.topic, k.event_id) = (b.topic, b.event_id) AND k.expires_on = %(day)s)",
    "event_keys": ", gone_keys AS (DELETE FROM event_keys k USING batch b"
    " WHERE k.key = event_key(b.topic, b.event_id) AND k.expires_on = %(day)s)",
}


def drop(conn, partition, expires_on):
    """Remove the partition's keys (in batches, each its own transaction), then detach
    and drop it. Returns the rows it held. Safe to run again after a crash: the keys
    go first, so a partition never disappears leaving keys behind."""
    rows = 0
    table = sql.Identifier(partition)
    with conn, conn.cursor() as cur:
        cur.execute("SELECT to_regclass('event_ids') IS NOT NULL, to_regclass('event_keys') IS NOT NULL")
        exists = dict(zip(KEY_DELETES, cur.fetchone(), strict=True))
        deletes = [statement for key_table, statement in KEY_DELETES.items() if exists[key_table]]
    last = None
    while True:
        after = "" if last is None else "WHERE (ts, topic, event_id) > (%(ts)s, %(topic)s, %(event_id)s)"
        statement = sql.SQL(
            "WITH batch AS (SELECT ts, topic, event_id FROM {} "
            + after
            + " ORDER BY ts, topic, event_id LIMIT %(n)s)"
            + "".join(deletes)
            + " SELECT (SELECT count(*) FROM batch),"
            " (SELECT array[ts::text, topic, event_id] FROM batch ORDER BY ts DESC, topic DESC, event_id DESC LIMIT 1)"
        ).format(table)
        params = {"n": KEY_BATCH, "day": expires_on}
        if last is not None:
            params.update(ts=last[0], topic=last[1], event_id=last[2])
        with conn, conn.cursor() as cur:
            cur.execute(statement, params)
            seen, last = cur.fetchone()
        rows += seen
        if seen < KEY_BATCH:
            break
    _detach_and_drop(conn, partition)
    log.info("dropped partition %s (expired %s): %d rows", partition, expires_on, rows)
    return rows


def _detach_and_drop(conn, partition):
    table = sql.Identifier(partition)
    autocommit = conn.autocommit
    conn.autocommit = True  # DETACH ... CONCURRENTLY cannot run inside a transaction
    try:
        with conn.cursor() as cur:
            cur.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
            try:
                cur.execute(sql.SQL("ALTER TABLE events DETACH PARTITION {} CONCURRENTLY").format(table))
            except psycopg2.errors.ObjectNotInPrerequisiteState:
                # An earlier run was interrupted half-way through the detach.
                cur.execute(sql.SQL("ALTER TABLE events DETACH PARTITION {} FINALIZE").format(table))
            cur.execute(sql.SQL("DROP TABLE {}").format(table))
            cur.execute("RESET lock_timeout")
    finally:
        conn.autocommit = autocommit


def run(conn, settings, day=None):
    """One retention run: partitions ahead, expired ones dropped, the run recorded.
    Returns its summary, or None when another run holds the lock."""
    with conn.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_lock(%s)", (RETENTION_LOCK,))
        if not cur.fetchone()[0]:
            conn.rollback()
            return None
    conn.commit()
    try:
        created = ensure(conn, settings, day)
        dropped, rows = [], 0
        for partition, expires_on in expired(conn, day):
            rows += drop(conn, partition, expires_on)
            dropped.append(partition)
        with conn, conn.cursor() as cur:
            cur.execute(
                "INSERT INTO retention_runs (partitions_created, partitions_dropped, rows_dropped) VALUES (%s, %s, %s)",
                (len(created), len(dropped), rows),
            )
        return {"created": created, "dropped": dropped, "rows_dropped": rows}
    finally:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock(%s)", (RETENTION_LOCK,))
        conn.commit()


def status(cur):
    """What the metrics show: the partitions' expiry days and the retention runs' record."""
    found = bounds(cur)
    cur.execute(
        "SELECT max(ran_at), coalesce(sum(rows_dropped), 0), coalesce(sum(partitions_dropped), 0) FROM retention_runs"
    )
    last_run, rows_dropped, partitions_dropped = cur.fetchone()
    return {
        "oldest_expiry": min(found.values(), default=None),
        "newest_expiry": max(found.values(), default=None),
        "partitions": len(found),
        "last_run": last_run,
        "rows_dropped": int(rows_dropped),
        "partitions_dropped": int(partitions_dropped),
    }
